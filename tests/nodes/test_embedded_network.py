"""A whole network in one process: changes reach the prefecture and the national center."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jukinet.clock import FixedClock
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import (
    EntryStatus,
    ForeignCategory,
    ForeignResidentItems,
    ItemChange,
    NewEntry,
    RegisterEntry,
    Removal,
    ResidentKind,
)
from jukinet.net.envelope import open_message
from jukinet.net.messages import MessageType
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store.db import read_transaction
from jukinet.store.identity_records import NATIONAL, PREFECTURAL, get_current
from jukinet.store.tables import national_code_designations, outbox
from tests.conftest import postgres_schema_per_node

CHIYODA, SHIBUYA, KAMAKURA = "131016", "131130", "142042"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2014, 3, 3, 1, 0, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "postgresql"])
def network(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[EmbeddedNetwork]:
    """Every node with its own database: SQLite files, or one PostgreSQL schema per node."""
    database_url = None
    if request.param == "postgresql":
        database_url = postgres_schema_per_node(request.getfixturevalue("postgres_url"))
    net = build_embedded(tmp_path, clock, [CHIYODA, SHIBUYA, KAMAKURA], database_url=database_url)
    for m in net.municipal:
        m.request_initial_pools()
    net.drain()
    yield net
    net.dispose()


def birth(name: str = "山田　花子", day: date = date(2014, 3, 1)) -> NewEntry:
    return NewEntry(ChangeReason.BIRTH, day, name, day, Sex.FEMALE, "東京都千代田区千代田1番1号")


def code_of(entry: RegisterEntry) -> str:
    """The resident code of a newly recorded entry (a birth always draws one from the pool)."""
    assert entry.resident_code is not None
    return entry.resident_code


def test_pools_are_allocated_without_overlap(network: EmbeddedNetwork) -> None:
    with read_transaction(network.national.engine) as conn:
        rows = conn.execute(
            select(national_code_designations.c.lg_code, func.count()).group_by(
                national_code_designations.c.lg_code
            )
        ).all()
    assert dict(rows) == {CHIYODA: 1000, SHIBUYA: 1000, KAMAKURA: 1000}


def test_a_birth_reaches_prefecture_and_national(network: EmbeddedNetwork) -> None:
    entry = network.municipality(CHIYODA).register(CHIYODA).record(birth())
    assert entry.resident_code is not None  # a birth always draws a code from the pool
    network.drain()
    with read_transaction(network.prefecture.engine) as conn:
        at_pref = get_current(conn, PREFECTURAL, entry.resident_code, "13")
        assert get_current(conn, PREFECTURAL, entry.resident_code, "14") is None
    with read_transaction(network.national.engine) as conn:
        at_national = get_current(conn, NATIONAL, entry.resident_code)
    assert at_pref == at_national == entry.identity_record()


def test_every_change_reason_flows_in_order(network: EmbeddedNetwork, clock: FixedClock) -> None:
    register = network.municipality(CHIYODA).register(CHIYODA)
    code = register.record(birth()).resident_code
    assert code is not None  # a birth always draws a code from the pool
    register.record(
        ItemChange(ChangeReason.MOVE_WITHIN, date(2014, 3, 2), address="東京都千代田区神田1番"),
        code,
    )
    new = register.record(ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, date(2014, 3, 2)), code)
    assert new.resident_code is not None  # the change draws the new code from the pool
    register.record(Removal(ChangeReason.DEATH, date(2014, 3, 3)), new.resident_code)
    network.drain()
    with read_transaction(network.national.engine) as conn:
        current = get_current(conn, NATIONAL, new.resident_code)
        old = get_current(conn, NATIONAL, code)
    assert current is not None and current.change_reason is ChangeReason.DEATH
    assert current.removed
    assert old is not None and old.resident_code == code  # kept, marked superseded


def test_move_between_municipalities_completes_removal(network: EmbeddedNetwork) -> None:
    chiyoda = network.municipality(CHIYODA).register(CHIYODA)
    kamakura = network.municipality(KAMAKURA).register(KAMAKURA)
    person = chiyoda.record(birth(name="佐藤　一郎", day=date(2014, 1, 10)))
    assert person.resident_code is not None  # a birth always draws a code from the pool
    moved_in = kamakura.record(
        NewEntry(
            ChangeReason.MOVE_IN,
            date(2014, 3, 2),
            person.name,
            person.birth_date,
            person.sex,
            "神奈川県鎌倉市御成町1番",
            resident_code=person.resident_code,
            previous_address=person.address,
            previous_lg_code=CHIYODA,
        )
    )
    network.drain()
    [old_entry] = chiyoda.show(person.resident_code)
    assert old_entry.current.status is EntryStatus.REMOVED
    assert old_entry.current.change_reason is ChangeReason.MOVE_OUT
    assert old_entry.current.destination_lg_code == KAMAKURA
    with read_transaction(network.national.engine) as conn:
        national = get_current(conn, NATIONAL, person.resident_code)
    assert national is not None and national.lg_code == KAMAKURA and not national.removed
    assert national == moved_in.identity_record()


def test_node_down_delays_but_loses_nothing(network: EmbeddedNetwork, clock: FixedClock) -> None:
    register = network.municipality(CHIYODA).register(CHIYODA)
    network.transport.down.add("prefecture")
    codes = [code_of(register.record(birth(name=f"人{i}"))) for i in range(5)]
    network.drain()
    with read_transaction(network.national.engine) as conn:
        assert all(get_current(conn, NATIONAL, c) is None for c in codes)
    network.transport.down.clear()
    clock.advance(timedelta(minutes=5))  # past the retry backoff
    network.drain()
    with read_transaction(network.national.engine) as conn:
        assert all(get_current(conn, NATIONAL, c) is not None for c in codes)


def foreign_move(network: EmbeddedNetwork, day: date) -> tuple[str | None, MunicipalRegister]:
    """A foreign resident registered in Chiyoda moves to Kamakura on ``day``."""
    chiyoda = network.municipality(CHIYODA).register(CHIYODA)
    kamakura = network.municipality(KAMAKURA).register(KAMAKURA)
    foreign = ForeignResidentItems(
        nationality="中国",
        category=ForeignCategory.MID_LONG_TERM,
        foreign_resident_since=date(2012, 7, 9),
        residence_status="留学",
    )
    person = chiyoda.record(
        NewEntry(
            ChangeReason.BECAME_FOREIGN_RESIDENT,
            date(2012, 7, 9),
            "王　明",
            date(1990, 4, 1),
            Sex.MALE,
            "東京都千代田区神田1番",
            kind=ResidentKind.FOREIGN,
            foreign=foreign,
        )
    )
    kamakura.record(
        NewEntry(
            ChangeReason.MOVE_IN,
            day,
            person.name,
            person.birth_date,
            person.sex,
            "神奈川県鎌倉市御成町2番",
            kind=ResidentKind.FOREIGN,
            foreign=foreign,
            resident_code=person.resident_code,
            previous_address=person.address,
            previous_lg_code=CHIYODA,
        )
    )
    return person.resident_code, chiyoda


@pytest.mark.parametrize(
    ("today", "carries_code"),
    [(date(2013, 7, 7), False), (date(2013, 7, 8), True), (date(2014, 3, 3), True)],
)
def test_foreign_move_in_notice_carries_a_code_from_the_applicable_date(
    tmp_path: Path, today: date, carries_code: bool
) -> None:
    clock = FixedClock(datetime(2013, 7, 1, tzinfo=UTC))  # the network's keys date from here
    network = build_embedded(tmp_path, clock, [CHIYODA, KAMAKURA])
    for m in network.municipal:
        m.request_initial_pools()
    network.drain()
    clock.current = datetime(today.year, today.month, today.day, 3, 0, tzinfo=UTC)
    code, chiyoda = foreign_move(network, today)
    kamakura = network.municipality(KAMAKURA).node
    with read_transaction(kamakura.engine) as conn:
        [wire] = conn.execute(
            select(outbox.c.wire).where(outbox.c.type == MessageType.MOVE_IN_NOTICE)
        ).scalars()
    body = open_message(kamakura.trust, wire, clock.now()).envelope.body
    # before the applicable date the person has no code at all, and the notice a blank one
    assert (code is not None) is carries_code
    assert body["resident_code"] == code
    network.drain()
    # either way the former municipality finds the person (by code, or by name and birth
    # date when the code is blank) and completes the removal
    [entry] = chiyoda.search(name="王　明", include_removed=True)
    network.dispose()
    assert entry.status is EntryStatus.REMOVED
    assert entry.destination_lg_code == KAMAKURA
