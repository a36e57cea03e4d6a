"""Tenant isolation: row-level security on PostgreSQL, proven with direct SQL as a tenant's
database role, and the service layer's own isolation on both databases."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime

import psycopg
import pytest
from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from jukinet.clock import FixedClock
from jukinet.domain.codes import draw_resident_codes
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import NewEntry
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.services.prefectural.identity import (
    identity_record,
    municipality_identity_records,
)
from jukinet.store import register as register_store
from jukinet.store.db import make_engine, read_transaction, write_transaction
from jukinet.store.identity_records import PREFECTURAL, apply_versions, get_current
from jukinet.store.tenancy import bypasses_row_security, current_tenant, tenant
from tests.conftest import _truncate_all
from tests.net.factories import identity_record as make_record

CHIYODA = "131016"  # Tokyo
SHINJUKU = "131041"  # Tokyo
OSAKA = "271004"  # Osaka
NOW = datetime(2014, 3, 31, 3, 0, tzinfo=UTC)
CLOCK = FixedClock(NOW)


def birth(name: str = "山田　花子") -> NewEntry:
    return NewEntry(
        reason=ChangeReason.BIRTH,
        change_date=date(2013, 4, 1),
        name=name,
        birth_date=date(2013, 4, 1),
        sex=Sex.FEMALE,
        address="東京都千代田区千代田1番1号",
    )


def seed_prefectures(engine: Engine) -> dict[str, str]:
    """One identity record in Tokyo's tenant and one in Osaka's; returns code per lg code."""
    codes = {}
    with write_transaction(engine) as conn:
        for seed, lg_code in enumerate((CHIYODA, OSAKA)):
            record = make_record(lg_code, seed=seed)
            with tenant(conn, pref_code=lg_code[:2]):
                apply_versions(
                    conn,
                    PREFECTURAL,
                    [(record, None)],
                    tenant=lg_code[:2],
                    source=f"m-{lg_code}",
                    source_seq=1,
                    at=NOW,
                )
            codes[lg_code] = record.resident_code
    return codes


# --- service layer, both databases --------------------------------------------------------


def test_prefectural_reads_return_only_the_tenants_rows(engine: Engine) -> None:
    codes = seed_prefectures(engine)
    tokyo_person = identity_record(engine, "13", codes[CHIYODA])
    assert tokyo_person is not None
    assert tokyo_person.lg_code == CHIYODA
    assert identity_record(engine, "27", codes[CHIYODA]) is None  # Osaka cannot see it
    assert [r.resident_code for r in municipality_identity_records(engine, "13", CHIYODA)] == [
        codes[CHIYODA]
    ]
    with pytest.raises(RuleViolation) as refused:
        municipality_identity_records(engine, "27", CHIYODA)
    assert refused.value.rule == "other_prefecture"


def test_prefectural_data_functions_without_a_tenant_find_nothing(engine: Engine) -> None:
    codes = seed_prefectures(engine)
    with read_transaction(engine) as conn:
        assert get_current(conn, PREFECTURAL, codes[CHIYODA]) is None  # tenant None
        assert get_current(conn, PREFECTURAL, codes[CHIYODA], "27") is None


def test_a_municipality_never_sees_another(engine: Engine) -> None:
    chiyoda = MunicipalRegister(engine, CHIYODA, CLOCK)
    shinjuku = MunicipalRegister(engine, SHINJUKU, CLOCK)
    chiyoda.designate_codes(draw_resident_codes(random.Random(1), 3))
    entry = chiyoda.record(birth())
    assert entry.resident_code is not None  # a birth always draws a code from the pool
    assert shinjuku.show(entry.resident_code) == []
    assert shinjuku.search(name="山田") == []
    assert [e.resident_code for e in chiyoda.search(name="山田")] == [entry.resident_code]


def test_tenant_is_restored_after_a_nested_block(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        if engine.dialect.name == "sqlite":
            with tenant(conn, lg_code=CHIYODA):
                assert current_tenant(conn) == (None, None)
            assert bypasses_row_security(conn)
            return
        with tenant(conn, lg_code=CHIYODA):
            with tenant(conn, lg_code=OSAKA, pref_code="27"):
                assert current_tenant(conn) == (OSAKA, "27")
            assert current_tenant(conn) == (CHIYODA, None)
        assert current_tenant(conn) == (None, None)


# --- PostgreSQL row-level security -------------------------------------------------------


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    eng = make_engine(postgres_url)
    _truncate_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def tenant_role(postgres_url: str) -> Iterator[str]:
    """A login role without BYPASSRLS that may read and write every table (as an application
    role would): only row-level security stands between it and other tenants."""
    database = make_url(postgres_url).database
    assert database is not None
    role = f"rls_{database}"[:63]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        if _role_exists(admin, role):  # left over from an interrupted run
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS')
        admin.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        admin.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
        )
        admin.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    yield role
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP OWNED BY "{role}"')
        admin.execute(f'DROP ROLE "{role}"')


def _role_exists(admin: psycopg.Connection[tuple[object, ...]], role: str) -> bool:
    return (
        admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None
    )


def _as(conn: Connection, role: str, **settings: str) -> None:
    conn.execute(text(f'SET LOCAL ROLE "{role}"'))
    for name, value in settings.items():
        conn.execute(text(f"SET LOCAL app.{name} = '{value}'"))


def _run_as(
    engine: Engine,
    role: str,
    settings: dict[str, str],
    statement: TextClause,
    params: dict[str, str] | None = None,
) -> None:
    with engine.begin() as conn:
        _as(conn, role, **settings)
        conn.execute(statement, params or {})


def _pref_codes(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            text("SELECT pref_code FROM prefectural_identity_records ORDER BY pref_code")
        ).scalars()
    )


def test_policies_are_forced_on_every_tenant_table(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace "
                "AND relname IN ('residents', 'resident_history', "
                "'prefectural_identity_records', 'prefectural_identity_history') ORDER BY relname"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("prefectural_identity_history", True, True),
        ("prefectural_identity_records", True, True),
        ("resident_history", True, True),
        ("residents", True, True),
    ]


def test_a_prefecture_role_reads_only_its_tenant(pg_engine: Engine, tenant_role: str) -> None:
    seed_prefectures(pg_engine)
    with pg_engine.begin() as conn:
        assert _pref_codes(conn) == ["13", "27"]  # the superuser bypasses RLS
        assert bypasses_row_security(conn)
    with pg_engine.begin() as conn:
        _as(conn, tenant_role, pref_code="13")
        assert not bypasses_row_security(conn)
        assert _pref_codes(conn) == ["13"]
        history = conn.execute(
            text("SELECT DISTINCT pref_code FROM prefectural_identity_history")
        ).scalars()
        assert list(history) == ["13"]
    with pg_engine.begin() as conn:
        _as(conn, tenant_role)  # no tenant set: nothing, and no error
        assert _pref_codes(conn) == []
    with pg_engine.begin() as conn:
        _as(conn, tenant_role, pref_code="27")
        updated = conn.execute(
            text("UPDATE prefectural_identity_records SET name = 'x' WHERE pref_code = '13'")
        )
        assert updated.rowcount == 0  # Tokyo's rows are invisible to Osaka, so untouched
        deleted = conn.execute(text("DELETE FROM prefectural_identity_history"))
        assert deleted.rowcount == 1  # only its own


def test_a_prefecture_role_cannot_write_into_another_tenant(
    pg_engine: Engine, tenant_role: str
) -> None:
    seed_prefectures(pg_engine)
    insert = text(
        "INSERT INTO prefectural_identity_records (pref_code, lg_code, resident_code, name, "
        "name_key, birth_date, sex, address, address_key, change_reason, change_date, removed, "
        "source, source_seq, updated_at) VALUES (:pref, '271004', '12345678901', 'x', 'x', "
        "'1980-01-01', 'male', 'x', 'x', 'move_in', '2014-03-01', false, 'm', 1, now())"
    )
    with pytest.raises(ProgrammingError, match="row-level security"):
        _run_as(pg_engine, tenant_role, {"pref_code": "13"}, insert, {"pref": "27"})
    with pytest.raises(ProgrammingError, match="row-level security"):  # nor move its own row
        _run_as(
            pg_engine,
            tenant_role,
            {"pref_code": "13"},
            text("UPDATE prefectural_identity_records SET pref_code = '27'"),
        )
    with pg_engine.begin() as conn:
        _as(conn, tenant_role, pref_code="27")
        conn.execute(insert, {"pref": "27"})
        assert _pref_codes(conn) == ["27", "27"]


def test_a_municipality_role_reads_only_its_residents(pg_engine: Engine, tenant_role: str) -> None:
    for lg_code in (CHIYODA, SHINJUKU):
        reg = MunicipalRegister(pg_engine, lg_code, CLOCK)
        reg.designate_codes(draw_resident_codes(random.Random(lg_code), 2))
        reg.record(birth())
    with pg_engine.begin() as conn:
        _as(conn, tenant_role, lg_code=SHINJUKU)
        lg_codes = conn.execute(text("SELECT lg_code FROM residents")).scalars()
        assert list(lg_codes) == [SHINJUKU]
        history = conn.execute(text("SELECT DISTINCT lg_code FROM resident_history")).scalars()
        assert list(history) == [SHINJUKU]
        # a query that forgets its filter still sees only the tenant's rows
        assert register_store.count_entries(conn, CHIYODA) == 0
    with pytest.raises(ProgrammingError, match="row-level security"):
        _run_as(
            pg_engine,
            tenant_role,
            {"lg_code": SHINJUKU},
            text(f"UPDATE residents SET lg_code = '{CHIYODA}'"),
        )


@pytest.fixture
def tenant_engine(postgres_url: str, tenant_role: str) -> Iterator[Engine]:
    """The application connecting as the tenant role: RLS applies to everything it does."""
    eng = make_engine(make_url(postgres_url).set(username=tenant_role).render_as_string(False))
    yield eng
    eng.dispose()


def test_services_set_the_tenant_for_rls(pg_engine: Engine, tenant_engine: Engine) -> None:
    for lg_code in (CHIYODA, SHINJUKU):
        MunicipalRegister(pg_engine, lg_code, CLOCK).designate_codes(
            draw_resident_codes(random.Random(lg_code), 2)
        )
    chiyoda = MunicipalRegister(tenant_engine, CHIYODA, CLOCK)
    shinjuku = MunicipalRegister(tenant_engine, SHINJUKU, CLOCK)
    entry = chiyoda.record(birth())
    assert entry.resident_code is not None  # a birth always draws a code from the pool
    [shown] = chiyoda.show(entry.resident_code)
    assert shown.current == entry
    assert shinjuku.show(entry.resident_code) == []
    # outside the service (no tenant set), the application role sees no register at all
    with read_transaction(tenant_engine) as conn:
        assert register_store.count_entries(conn, CHIYODA) == 0
    with read_transaction(pg_engine) as conn:
        assert register_store.count_entries(conn, CHIYODA) == 1

    seed_prefectures(pg_engine)
    assert len(municipality_identity_records(tenant_engine, "13", CHIYODA)) == 1
    assert len(municipality_identity_records(tenant_engine, "27", OSAKA)) == 1
