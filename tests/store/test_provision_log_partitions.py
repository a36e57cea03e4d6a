"""The provision log's storage: monthly partitions on PostgreSQL (created ahead and on demand,
no catch-all, append-only on every one) and migration 0010 carrying existing rows over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from jukinet.store import provision_log as store
from jukinet.store.db import make_engine, read_transaction, sqlite_url, write_transaction
from jukinet.store.migrate import upgrade
from tests.conftest import postgres_schema_per_node

AUG = datetime(2013, 8, 10, 3, 0, tzinfo=UTC)


def append(engine: Engine, at: datetime, resident_code: str = "00000000001") -> int:
    with write_transaction(engine) as conn:
        return store.append_log(
            conn,
            provided_at=at,
            recipient="日本年金機構",
            affair_id="NENKIN-1",
            method="immediate",
            resident_code=resident_code,
            case_reference="c",
        )


def partition_of(engine: Engine, log_id: int) -> str:
    with read_transaction(engine) as conn:
        return str(
            conn.execute(
                text("SELECT tableoid::regclass::text FROM provision_log WHERE id = :i"),
                {"i": log_id},
            ).scalar_one()
        )


def test_months_in_japan_time() -> None:
    assert store.month_of(datetime(2013, 8, 31, 14, 59, tzinfo=UTC)) == "2013-08"
    assert store.month_of(datetime(2013, 8, 31, 15, 0, tzinfo=UTC)) == "2013-09"
    assert store.month_start("2013-09") == datetime(2013, 8, 31, 15, 0, tzinfo=UTC)
    assert store.months_between("2013-11", "2014-02") == [
        "2013-11",
        "2013-12",
        "2014-01",
        "2014-02",
    ]
    assert store.partition_name("2013-08") == "provision_log_p201308"
    assert store.is_partition_name("provision_log_p201308")
    assert not store.is_partition_name("provision_log_seals")
    with pytest.raises(ValueError, match="not a month"):
        store.parse_month("2013-13")


def test_an_append_lands_in_its_month_and_creates_a_missing_one(postgres_engine: Engine) -> None:
    with postgres_engine.begin() as conn:  # partitions outlive a test's TRUNCATE: start clean
        for name in ("provision_log_p201105", "provision_log_p201106"):
            conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        kind = conn.execute(
            text("SELECT relkind FROM pg_class WHERE oid = 'provision_log'::regclass")
        ).scalar_one()
    assert kind == "p"  # partitioned
    store.forget_months(postgres_engine)
    first = append(postgres_engine, datetime(2011, 5, 10, tzinfo=UTC))
    # 2011-05-31 23:30 in Japan is May; 2011-06-01 00:30 in Japan is June
    late = append(postgres_engine, datetime(2011, 5, 31, 14, 30, tzinfo=UTC))
    next_month = append(postgres_engine, datetime(2011, 5, 31, 15, 30, tzinfo=UTC))
    assert partition_of(postgres_engine, first) == "provision_log_p201105"
    assert partition_of(postgres_engine, late) == "provision_log_p201105"
    assert partition_of(postgres_engine, next_month) == "provision_log_p201106"


def test_there_is_no_catch_all_partition(postgres_engine: Engine) -> None:
    """A row of a month without a partition is refused, not kept where a drop never goes."""
    with read_transaction(postgres_engine) as conn:
        default = conn.execute(
            text(
                "SELECT count(*) FROM pg_partitioned_table "
                "WHERE partrelid = 'provision_log'::regclass AND partdefid <> 0"
            )
        ).scalar_one()
    assert default == 0
    with pytest.raises(DBAPIError, match="no partition"), postgres_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO provision_log (provided_at, recipient, affair_id, method, "
                "resident_code, case_reference) VALUES ('1999-01-15T00:00:00Z', 'r', 'a', "
                "'immediate', '00000000001', 'c')"
            )
        )


def test_partitions_are_created_ahead(postgres_engine: Engine) -> None:
    months = ["2010-10", "2010-11", "2010-12", "2011-01"]
    with postgres_engine.begin() as conn:
        for month in months:
            conn.execute(text(f"DROP TABLE IF EXISTS {store.partition_name(month)}"))
    with write_transaction(postgres_engine) as conn:
        created = store.ensure_log_partitions(
            conn, through=date(2011, 1, 5), since=date(2010, 10, 20)
        )
    assert created == months
    with write_transaction(postgres_engine) as conn:
        assert store.ensure_log_partitions(conn, through=date(2011, 1, 5)) == []  # idempotent
        assert set(months) <= set(store.log_partitions(conn))


def test_every_partition_is_append_only(postgres_engine: Engine) -> None:
    append(postgres_engine, AUG)
    append(postgres_engine, datetime(2013, 9, 10, tzinfo=UTC))
    with write_transaction(postgres_engine) as conn:
        store.ensure_log_partitions(conn, through=date(2013, 12, 1))  # empty, made ahead
        months = store.log_partitions(conn)
    assert {"2013-08", "2013-09", "2013-12"} <= set(months)
    for table in ["provision_log", "provision_log_p201308", "provision_log_p201309"]:
        for statement in (f"UPDATE {table} SET recipient = 'x'", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"), postgres_engine.begin() as conn:
                conn.execute(text(statement))
    tables = [
        *(store.partition_name(m) for m in months),
        "provision_log_seals",
        "provision_log_segments",
        "provision_log_purges",
    ]
    with read_transaction(postgres_engine) as conn:
        guarded = set(
            conn.execute(
                text(
                    "SELECT tgrelid::regclass::text FROM pg_trigger t JOIN pg_proc p "
                    "ON p.oid = t.tgfoid WHERE p.proname = 'jukinet_audit_append_only'"
                )
            ).scalars()
        )
    assert set(tables) <= guarded  # future partitions get the trigger too


def test_dropping_a_month_is_dropping_its_partition(postgres_engine: Engine) -> None:
    append(postgres_engine, AUG)
    kept = append(postgres_engine, datetime(2013, 9, 10, tzinfo=UTC))
    with write_transaction(postgres_engine) as conn:
        months, rows = store.drop_months_before(conn, "2013-09")
    assert "2013-08" in months and "2013-09" not in months
    assert rows == 1
    with read_transaction(postgres_engine) as conn:
        assert "2013-08" not in store.log_partitions(conn)
        assert [r.id for r in store.iter_rows(conn, 0, 100)] == [kept]
    again = append(postgres_engine, AUG)  # the month comes back if something is appended
    assert partition_of(postgres_engine, again) == "provision_log_p201308"


# --- migration 0010 ---------------------------------------------------------------------------

OLD_ROWS = [
    (1, "2013-08-10T03:00:00+00:00", "00000000001"),
    (2, "2013-08-31T15:30:00+00:00", "00000000002"),  # September in Japan
    (5, "2013-10-01T00:00:00+00:00", "00000000003"),
]


def _stored_time(engine: Engine, at: str) -> str:
    """SQLite holds naive UTC text (``UTCDateTime``)."""
    return at if engine.dialect.name == "postgresql" else at[:19].replace("T", " ") + ".000000"


def _fill_old_table(engine: Engine) -> None:
    with engine.begin() as conn:
        for log_id, at, resident_code in OLD_ROWS:
            conn.execute(
                text(
                    "INSERT INTO provision_log (id, provided_at, recipient, affair_id, method, "
                    "resident_code, case_reference) VALUES (:i, :at, 'r', 'a', 'immediate', "
                    ":c, 'case')"
                ),
                {"i": log_id, "at": _stored_time(engine, at), "c": resident_code},
            )


@pytest.fixture
def at_0009_postgres(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_schema_per_node(postgres_url)("migration_0010"))
    upgrade(engine, "0009")
    yield engine
    engine.dispose()


def test_migration_moves_existing_rows_into_partitions(at_0009_postgres: Engine) -> None:
    engine = at_0009_postgres
    _fill_old_table(engine)
    with engine.begin() as conn:
        conn.execute(text("SELECT setval('provision_log_id_seq', 5)"))  # as appends left it
    upgrade(engine, "0010")
    assert partition_of(engine, 1) == "provision_log_p201308"
    assert partition_of(engine, 2) == "provision_log_p201309"
    assert partition_of(engine, 5) == "provision_log_p201310"
    with read_transaction(engine) as conn:
        assert [(r.id, r.resident_code) for r in store.iter_rows(conn, 0, 10)] == [
            (1, "00000000001"),
            (2, "00000000002"),
            (5, "00000000003"),
        ]
        assert {"2013-08", "2013-09", "2013-10"} <= set(store.log_partitions(conn))
    assert append(engine, AUG) == 6  # the id sequence carries on


def test_migration_on_sqlite_never_reuses_an_id(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "node.db"))
    upgrade(engine, "0009")
    _fill_old_table(engine)
    upgrade(engine)
    with write_transaction(engine) as conn:
        assert [r.id for r in store.iter_rows(conn, 0, 10)] == [1, 2, 5]
        conn.execute(text("DELETE FROM provision_log"))  # everything purged ...
    assert append(engine, AUG) == 6  # ... and the next id is still new
    engine.dispose()
