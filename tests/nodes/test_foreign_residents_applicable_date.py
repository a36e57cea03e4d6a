"""Foreign residents before, on and after the applicable date (2013-07-08), end to end on an
embedded network driven by an injectable clock.

- before: on the municipal register without a resident code, nothing upward, a move-in notice
  with a blank code (the former municipality still completes the removal), code assignment
  refused;
- on the date: ``assign-codes`` gives every active foreign resident a code from the pool, the
  identity records (alias and former surname included) reach the prefectural and national
  centers, the tiers agree, a second run does nothing;
- after: a foreign resident gets a code on entry, move-in notices carry it, a wide-area copy
  and immediate provision work as for nationals, an alias change feeds the revocation feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from jukinet.clock import FixedClock
from jukinet.domain.certificates import Options, Requester, RequestStatus, WideAreaRequest
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.provision import MatchOutcome, ProvisionQuery
from jukinet.domain.register import (
    EntryStatus,
    ForeignCategory,
    ForeignResidentItems,
    ItemChange,
    NewEntry,
    RegisterEntry,
    ResidentKind,
)
from jukinet.domain.revocation import RevocationCause
from jukinet.net.envelope import open_message
from jukinet.net.messages import MessageType
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.consistency import check_municipality
from jukinet.services.national.provision import ProvisionService
from jukinet.services.national.revocation_feed import read_feed
from jukinet.store import register as register_store
from jukinet.store.db import read_transaction
from jukinet.store.identity_records import NATIONAL, PREFECTURAL, count_current, get_current
from jukinet.store.tables import outbox
from tests.conftest import postgres_schema_per_node
from tests.support.provision import PENSION, first_affair

CHIYODA, KAMAKURA = "131016", "142042"
BEFORE, ON, AFTER = date(2013, 7, 5), date(2013, 7, 8), date(2013, 7, 10)
CHINA = ForeignResidentItems(
    nationality="中国",
    category=ForeignCategory.MID_LONG_TERM,
    foreign_resident_since=date(2012, 7, 9),
    residence_status="技術",
    period_of_stay="3年",
    stay_expiry=date(2015, 7, 9),
    residence_card_number="AB12345678CD",
)
KOREA = ForeignResidentItems(
    nationality="韓国",
    category=ForeignCategory.SPECIAL_PERMANENT,
    foreign_resident_since=date(2012, 7, 9),
)


def set_day(clock: FixedClock, day: date) -> None:
    """Noon in Japan on ``day``."""
    clock.current = datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedNetwork]:
    clock = FixedClock(datetime(2013, 7, 1, tzinfo=UTC))  # the network's keys date from here
    database_url = None
    if request.param == "postgresql":
        database_url = postgres_schema_per_node(request.getfixturevalue("postgres_url"))
    net = build_embedded(tmp_path, clock, [CHIYODA, KAMAKURA], database_url=database_url)
    for m in net.municipal:
        m.request_initial_pools()
    net.drain()
    yield net
    net.dispose()


def clock_of(net: EmbeddedNetwork) -> FixedClock:
    clock = net.national.clock
    assert isinstance(clock, FixedClock)
    return clock


def foreign(name: str, items: ForeignResidentItems, **kw: object) -> NewEntry:
    return NewEntry(
        ChangeReason.BECAME_FOREIGN_RESIDENT,
        date(2012, 7, 9),
        name,
        date(1985, 6, 15),
        Sex.MALE,
        "東京都千代田区神田1番",
        kind=ResidentKind.FOREIGN,
        foreign=items,
        **kw,  # type: ignore[arg-type]
    )


def move_in(person: RegisterEntry, day: date, address: str, former: str) -> NewEntry:
    return NewEntry(
        ChangeReason.MOVE_IN,
        day,
        person.name,
        person.birth_date,
        person.sex,
        address,
        kind=person.kind,
        foreign=person.foreign,
        alias=person.alias,
        resident_code=person.resident_code,
        previous_address=person.address,
        previous_lg_code=former,
    )


def notices_of(net: EmbeddedNetwork, lg_code: str) -> list[dict[str, object]]:
    node = net.municipality(lg_code).node
    with read_transaction(node.engine) as conn:
        wires = conn.execute(
            select(outbox.c.wire)
            .where(outbox.c.type == MessageType.MOVE_IN_NOTICE)
            .order_by(outbox.c.id)
        ).scalars()
        return [open_message(node.trust, w, net.national.clock.now()).envelope.body for w in wires]


def national_count(net: EmbeddedNetwork) -> int:
    with read_transaction(net.national.engine) as conn:
        return count_current(conn, NATIONAL)


def test_before_on_and_after_the_applicable_date(network: EmbeddedNetwork) -> None:
    clock = clock_of(network)
    chiyoda = network.municipality(CHIYODA).register(CHIYODA)
    kamakura = network.municipality(KAMAKURA).register(KAMAKURA)
    codes_chiyoda = network.municipality(CHIYODA).foreign_residents[CHIYODA]
    codes_kamakura = network.municipality(KAMAKURA).foreign_residents[KAMAKURA]

    # --- before: on the municipal register only ----------------------------------------------
    set_day(clock, BEFORE)
    national = chiyoda.record(
        NewEntry(ChangeReason.BIRTH, BEFORE, "田中　一郎", BEFORE, Sex.MALE, "東京都千代田区1番")
    )
    wang = chiyoda.record(foreign("王　明", CHINA, alias="王　明男", former_surname="李"))
    kim = chiyoda.record(foreign("金　哲", KOREA, alias="金田　哲"))
    assert wang.resident_code is None and kim.resident_code is None
    assert national.resident_code is not None
    # a foreign resident cannot be given a code, or bring one, before the date
    with pytest.raises(RuleViolation) as early:
        chiyoda.record(foreign("張　三", CHINA, resident_code=national.resident_code))
    assert early.value.rule == "before_applicable_date"
    # kim moves to Kamakura: the notice's code is blank, Chiyoda finds him by name and birth
    kim_in_kamakura = kamakura.record(move_in(kim, BEFORE, "神奈川県鎌倉市御成町1番", CHIYODA))
    assert kim_in_kamakura.resident_code is None
    network.drain()
    [notice] = notices_of(network, KAMAKURA)
    assert notice["resident_code"] is None
    [kim_at_chiyoda] = chiyoda.search(name="金　哲", include_removed=True)
    assert kim_at_chiyoda.status is EntryStatus.REMOVED
    assert kim_at_chiyoda.destination_lg_code == KAMAKURA
    # nothing of either foreign resident went upward: only the national's record is there
    assert national_count(network) == 1
    with read_transaction(network.prefecture.engine) as conn:
        assert count_current(conn, PREFECTURAL) == 1
    with pytest.raises(RuleViolation) as refused:
        codes_chiyoda.assign_codes()
    assert (refused.value.rule, refused.value.field) == ("before_applicable_date", "date")
    assert "2013-07-08" in refused.value.message
    assert codes_chiyoda.without_code() == 1 and codes_kamakura.without_code() == 1

    # --- on the date: every existing foreign resident gets a code, sent upward -----------------
    set_day(clock, ON)
    seen: list[tuple[int, int]] = []
    outcome = codes_chiyoda.assign_codes(lambda done, total: seen.append((done, total)))
    assert (outcome.assigned, outcome.remaining, outcome.pool_exhausted) == (1, 0, False)
    assert seen[0] == (0, 1) and seen[-1] == (1, 1)
    assert codes_kamakura.assign_codes().assigned == 1
    assert codes_chiyoda.assign_codes().assigned == 0  # idempotent: nothing left to do
    network.drain()

    wang_now = only_entry(chiyoda.search(name="王　明"))
    kim_now = only_entry(kamakura.search(name="金　哲"))
    assert wang_now.resident_code is not None and kim_now.resident_code is not None
    assert wang_now.change_reason is ChangeReason.RESIDENT_CODE_ASSIGNMENT
    assert wang_now.change_date == ON
    with read_transaction(network.municipality(CHIYODA).node.engine) as conn:
        assert (
            register_store.pool_code_state(conn, wang_now.resident_code)
            == register_store.PoolState.ISSUED
        )
    with read_transaction(network.national.engine) as conn:
        at_national = get_current(conn, NATIONAL, wang_now.resident_code)
    with read_transaction(network.prefecture.engine) as conn:
        at_prefecture = get_current(conn, PREFECTURAL, wang_now.resident_code, "13")
    assert at_national == at_prefecture == wang_now.identity_record()
    assert at_national is not None
    assert (at_national.alias, at_national.former_surname) == ("王　明男", "李")
    assert at_national.change_reason is ChangeReason.RESIDENT_CODE_ASSIGNMENT
    assert national_count(network) == 3
    for lg_code in (CHIYODA, KAMAKURA):
        report = check_municipality(
            lg_code,
            municipal=network.municipality(lg_code).node.engine,
            prefectural=network.prefecture.engine,
            national=network.national.engine,
        )
        assert report.clean, report.differing_codes

    # --- after: every service nationals have ---------------------------------------------------
    set_day(clock, AFTER)
    newcomer = kamakura.record(
        NewEntry(
            ChangeReason.MOVE_IN_FROM_ABROAD,
            AFTER,
            "グエン　ヴァン",
            date(1995, 1, 1),
            Sex.MALE,
            "神奈川県鎌倉市御成町3番",
            kind=ResidentKind.FOREIGN,
            foreign=ForeignResidentItems("ベトナム", ForeignCategory.MID_LONG_TERM, AFTER, "留学"),
        )
    )
    assert newcomer.resident_code is not None
    wang_moved = kamakura.record(move_in(wang_now, AFTER, "神奈川県鎌倉市御成町2番", CHIYODA))
    assert wang_moved.resident_code == wang_now.resident_code
    network.drain()
    assert notices_of(network, KAMAKURA)[-1]["resident_code"] == wang_now.resident_code
    wang_left = chiyoda.show(str(wang_now.resident_code))[0].current
    assert wang_left.status is EntryStatus.REMOVED

    # a wide-area copy of his Kamakura entry, issued at Chiyoda
    certificates = network.municipality(CHIYODA).certificates[CHIYODA]
    assert wang_moved.resident_code is not None
    view = certificates.request(
        WideAreaRequest(
            KAMAKURA,
            Requester(wang_moved.resident_code, "王　明", wang_moved.birth_date),
            (),
            Options(include_resident_code=True),
            "在留カード",
        ),
        "operator:clerk",
    )
    network.drain()
    stored, [person] = certificates.issued(view.stored.id)
    assert stored.status is RequestStatus.ISSUED
    assert (person.nationality, person.alias, person.residence_card_number) == (
        "中国",
        "王　明男",
        "AB12345678CD",
    )
    assert person.foreign_category is ForeignCategory.MID_LONG_TERM
    assert person.resident_code == wang_moved.resident_code

    # immediate provision finds him by his code, as it would a national
    provision = ProvisionService(network.national.engine, clock)
    provision.seed()
    affair = first_affair(network.national.engine, PENSION)
    found = provision.immediate(
        PENSION,
        ProvisionQuery(affair, "CASE-F1", resident_code=wang_moved.resident_code),
    )
    assert found.outcome is MatchOutcome.FOUND
    assert found.record is not None and found.record["name"] == "王　明"

    # an alias change is a change of name for his public-key certificate
    kamakura.record(
        ItemChange(ChangeReason.ALIAS_CHANGE, AFTER, alias="王　明夫"), wang_moved.resident_code
    )
    network.drain()
    page = read_feed(network.national.engine)
    mine = [n for n in page.notices if n.resident_code == wang_moved.resident_code]
    assert [n.causes for n in mine] == [
        (RevocationCause.ADDRESS_CHANGE,),  # the move to Kamakura
        (RevocationCause.NAME_CHANGE,),
    ]


def only_entry(entries: list[RegisterEntry]) -> RegisterEntry:
    [entry] = [e for e in entries if e.active]
    return entry
