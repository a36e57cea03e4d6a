"""Synthetic population: generation is reproducible and coherent; the bulk load is complete."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from sqlalchemy import Engine, select, text

from jukinet.domain.codes import make_resident_code, validate_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.names import address_search_key, name_search_key
from jukinet.services.population import PopulationFrame, generate_population, load_population
from jukinet.services.population.generate import draw_resident_codes
from jukinet.store import tables
from jukinet.store.db import make_engine, sqlite_url
from jukinet.store.migrate import upgrade

AS_OF = date(2014, 10, 1)
RECORDED_AT = datetime(2014, 10, 1, 9, 0, tzinfo=UTC)
CHIYODA = "131016"
SAPPORO = "011002"


@pytest.fixture(scope="module")
def frame() -> PopulationFrame:
    return generate_population(CHIYODA, 5000, 7, as_of=AS_OF)


def test_same_seed_same_people_other_seed_other_people(frame: PopulationFrame) -> None:
    again = generate_population(CHIYODA, 5000, 7, as_of=AS_OF)
    other = generate_population(CHIYODA, 5000, 8, as_of=AS_OF)
    assert frame.equals(again)
    assert not frame.equals(other)
    assert frame.table.column("name").to_pylist() != other.table.column("name").to_pylist()


def test_exact_count_and_household_size(frame: PopulationFrame) -> None:
    assert len(frame) == 5000
    assert 2.1 <= len(frame) / frame.households <= 2.7


def test_resident_codes_valid_and_distinct(frame: PopulationFrame) -> None:
    codes = frame.table.column("resident_code").to_pylist()
    assert len(set(codes)) == len(codes)
    for code in codes:
        validate_resident_code(code)


def test_vectorised_check_digit_matches_the_domain_formula() -> None:
    codes = draw_resident_codes(np.random.default_rng(1), 2000)
    for code in codes.tolist():
        text_code = f"{code:011d}"
        assert make_resident_code(text_code[:10]) == text_code


def test_households_are_coherent(frame: PopulationFrame) -> None:
    members: dict[int, list[dict[str, object]]] = defaultdict(list)
    for row in frame.table.to_pylist():
        members[int(row["household_index"])].append(row)
    assert len(members) == frame.households
    for rows in members.values():
        heads = [r for r in rows if r["relationship"] == "世帯主"]
        assert len(heads) == 1
        head = heads[0]
        assert {r["address"] for r in rows} == {head["address"]}
        for r in rows:
            if r["relationship"] == "子":
                assert r["birth_date"] > head["birth_date"]  # type: ignore[operator]
            if r["relationship"] in ("父", "母"):
                assert r["birth_date"] < head["birth_date"]  # type: ignore[operator]
            if r["relationship"] in ("妻", "夫"):
                assert r["sex"] != head["sex"]
            if r["kind"] == "national" and head["kind"] == "national":
                assert str(r["name"]).split("\u3000")[0] == str(head["name"]).split("\u3000")[0]


def test_foreign_share_and_items(frame: PopulationFrame) -> None:
    big = generate_population(CHIYODA, 20000, 3, as_of=AS_OF)
    foreign = big.table.filter(pc.equal(big.table.column("kind"), "foreign")).to_pylist()
    assert 0.010 <= len(foreign) / len(big) <= 0.023
    for row in foreign:
        assert row["nationality"]
        assert row["foreign_category"] in ("mid_long_term", "special_permanent")
        card = str(row["residence_card_number"])
        assert len(card) == 12 and card[:2].isalpha() and card[2:10].isdigit()
        assert card[10:].isalpha() and card.isupper()
        assert row["foreign_resident_since"] >= date(2012, 7, 9)
        assert row["registered_domicile"] is None
    nationals = big.table.filter(pc.equal(big.table.column("kind"), "national"))
    assert nationals.column("nationality").null_count == nationals.num_rows


def test_items_consistent(frame: PopulationFrame) -> None:
    for row in frame.table.to_pylist():
        assert row["address"].startswith("東京都千代田区")
        assert row["name_key"] == name_search_key(row["name"])
        assert row["address_key"] == address_search_key(row["address"])
        assert row["change_date"] == row["entry_date"] <= AS_OF
        assert row["birth_date"] <= row["entry_date"]
        if row["change_reason"] == "birth":
            assert row["entry_date"] == row["birth_date"]
        if row["change_reason"] == "move_in":
            assert row["previous_lg_code"] and row["previous_address"]
        assert (row["status"], row["version"]) == ("active", 1)
    reasons = set(frame.table.column("change_reason").to_pylist())
    assert {"birth", "move_in"} <= reasons


def test_designated_city_uses_its_wards_towns() -> None:
    people = generate_population(SAPPORO, 300, 1, as_of=AS_OF)
    assert all(a.startswith("北海道札幌市") for a in people.table.column("address").to_pylist())


@pytest.mark.parametrize(
    ("lg_code", "residents", "field", "rule"),
    [
        ("131017", 10, "lg_code", "check_digit"),
        ("13101", 10, "lg_code", "length"),
        ("139998", 10, "lg_code", "unknown_municipality"),
        (CHIYODA, 0, "residents", "positive"),
        (CHIYODA, -5, "residents", "positive"),
    ],
)
def test_bad_input_names_the_field(lg_code: str, residents: int, field: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        generate_population(lg_code, residents, 1, as_of=AS_OF)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_naive_recorded_at_is_refused(engine: Engine, frame: PopulationFrame) -> None:
    with pytest.raises(RuleViolation) as caught:
        load_population(engine, frame, recorded_at=datetime(2014, 10, 1))
    assert caught.value.field == "recorded_at"


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_load_writes_residents_history_and_pool(engine: Engine, frame: PopulationFrame) -> None:
    seen: list[tuple[int, int]] = []
    loaded = load_population(
        engine,
        frame,
        recorded_at=RECORDED_AT,
        progress=lambda done, total: seen.append((done, total)),
        batch_size=2000,
    )
    assert loaded == 5000
    assert seen == [(2000, 5000), (4000, 5000), (5000, 5000)]
    assert _count(engine, "SELECT count(*) FROM residents") == 5000
    assert _count(engine, "SELECT count(*) FROM resident_history") == 5000
    assert (
        _count(
            engine,
            "SELECT count(*) FROM resident_history h JOIN residents r ON r.id = h.resident_id "
            "AND r.resident_code = h.resident_code AND h.version = 1",
        )
        == 5000
    )
    assert (
        _count(
            engine,
            "SELECT count(*) FROM resident_code_pool p JOIN residents r "
            "ON r.resident_code = p.resident_code "
            "WHERE p.state = 'issued' AND p.lg_code = r.lg_code",
        )
        == 5000
    )
    assert _count(engine, "SELECT count(DISTINCT household_id) FROM residents") == frame.households
    history = tables.resident_history
    with engine.connect() as conn:
        row = conn.execute(
            select(history.c.name, history.c.birth_date, history.c.recorded_at)
            .order_by(history.c.id)
            .limit(1)
        ).one()
    first = frame.table.slice(0, 1).to_pylist()[0]
    assert row.name == first["name"]
    assert row.birth_date == first["birth_date"]
    assert row.recorded_at.replace(tzinfo=UTC) == RECORDED_AT
    # The dropped secondary indexes are back after a load into empty tables.
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = {
                r[0]
                for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            }
        else:
            names = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes"))}
    assert {"uq_residents_active_resident_code", "ix_resident_history_resident_code"} <= names
    if engine.dialect.name == "postgresql":  # the foreign key dropped for the load is back
        assert (
            _count(
                engine,
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid = 'resident_history'::regclass",
            )
            == 1
        )


def test_second_load_appends_with_fresh_codes_and_households(engine: Engine) -> None:
    first = generate_population(CHIYODA, 3000, 11, as_of=AS_OF)
    second = generate_population(CHIYODA, 2000, 12, as_of=AS_OF)
    load_population(engine, first, recorded_at=RECORDED_AT)
    # Make the second frame's codes clash with stored ones: the loader must redraw them.
    clashing = second.table.set_column(
        1, "resident_code", first.table.column("resident_code").slice(0, 2000)
    )
    second = PopulationFrame(second.lg_code, second.seed, second.as_of, second.households, clashing)
    load_population(engine, second, recorded_at=RECORDED_AT)
    assert _count(engine, "SELECT count(*) FROM residents") == 5000
    assert _count(engine, "SELECT count(DISTINCT resident_code) FROM residents") == 5000
    assert _count(engine, "SELECT count(*) FROM resident_code_pool WHERE state = 'issued'") == 5000
    assert _count(engine, "SELECT count(*) FROM resident_history") == 5000
    assert _count(engine, "SELECT count(DISTINCT household_id) FROM residents") == (
        first.households + second.households
    )
    assert _count(engine, "SELECT max(next_household_number) FROM households") == (
        1 + first.households + second.households
    )
    with engine.connect() as conn:
        for (code,) in conn.execute(text("SELECT resident_code FROM residents")):
            validate_resident_code(code)


def test_loaded_rows_equal_the_frame_item_by_item(engine: Engine, frame: PopulationFrame) -> None:
    # NULLs (bound as a marker on SQLite, sent as binary COPY on PostgreSQL), dates, numbers
    # and text come back as generated, in residents and history alike.
    load_population(engine, frame, recorded_at=RECORDED_AT, batch_size=1500)
    expected = frame.table.drop_columns(["household_index"]).to_pylist()
    items = [c for c in frame.table.column_names if c != "household_index"]
    for table in (tables.residents, tables.resident_history):
        with engine.connect() as conn:
            rows = conn.execute(select(*(table.c[c] for c in items)).order_by(table.c.id)).all()
        assert [dict(zip(items, row, strict=True)) for row in rows] == expected
    with engine.connect() as conn:
        stamps = conn.execute(
            text("SELECT DISTINCT state_changed_at FROM resident_code_pool")
        ).scalars()
        assert [s if isinstance(s, str) else s.replace(tzinfo=UTC) for s in stamps] in (
            [RECORDED_AT],
            [RECORDED_AT.strftime("%Y-%m-%d %H:%M:%S.%f")],
        )


def test_failed_load_changes_nothing(engine: Engine, frame: PopulationFrame) -> None:
    def fail(done: int, total: int) -> None:
        if done > 2000:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        load_population(engine, frame, recorded_at=RECORDED_AT, progress=fail, batch_size=1000)
    for name in ("residents", "resident_history", "resident_code_pool", "households"):
        assert _count(engine, f"SELECT count(*) FROM {name}") == 0
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = {
                r[0]
                for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            }
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        else:
            names = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes"))}
    assert {"uq_residents_active_resident_code", "ix_resident_code_pool_lg_code_state"} <= names
    assert "pk_resident_code_pool" in names or engine.dialect.name == "sqlite"


def test_sqlite_load_returns_the_file_to_wal(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "node.db"))
    upgrade(engine)
    people = generate_population(CHIYODA, 1500, 5, as_of=AS_OF)
    load_population(engine, people, recorded_at=RECORDED_AT)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    # With a second connection open the file stays in WAL throughout, and the load works.
    with engine.connect() as other:
        other.exec_driver_sql("SELECT 1").scalar()
        more = generate_population(CHIYODA, 1500, 6, as_of=AS_OF)
        load_population(engine, more, recorded_at=RECORDED_AT)
    assert _count(engine, "SELECT count(*) FROM residents") == 3000
    engine.dispose()
