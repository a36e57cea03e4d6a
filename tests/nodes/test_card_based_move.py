"""The card-based move (転入届の特例) across the network: a card-based move-out at the former
municipality, the move-in with card and PIN at the new one, the move-out certificate
information requested and answered over the network, the move-in notice back, the card
continuing — and every refusal and fault, each clear, recorded and leaving nothing half-done."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jukinet.clock import FixedClock, today_in_japan
from jukinet.domain.cards import CardMoveState, CardStatus, CardType, FiledBy, MoveOutState
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import EntryStatus, ItemChange, NewEntry, Removal
from jukinet.net.messages import MessageType, municipal_node
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.municipal.card_move import CardMoveService
from jukinet.services.municipal.cards import ResidentCardService
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store.db import read_transaction
from jukinet.store.identity_records import NATIONAL, get_current
from jukinet.store.tables import message_rejections, outbox, residents
from tests.conftest import postgres_schema_per_node

CHIYODA, SHIBUYA, KAMAKURA = "131016", "131130", "142042"  # Tokyo, Tokyo, Kanagawa
PIN = "2580"
OLD_ADDRESS = "東京都千代田区千代田1番1号"
NEW_ADDRESS = "神奈川県鎌倉市御成町18番10号"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2014, 3, 3, 1, 0, tzinfo=UTC))  # 2014-03-03 10:00 JST


def build(tmp_path: Path, clock: FixedClock, database_url: object = None) -> EmbeddedNetwork:
    net = build_embedded(
        tmp_path,
        clock,
        [CHIYODA, SHIBUYA, KAMAKURA],
        database_url=database_url,  # type: ignore[arg-type]
    )
    for m in net.municipal:
        m.request_initial_pools()
    net.drain()
    return net


@pytest.fixture
def network(tmp_path: Path, clock: FixedClock) -> Iterator[EmbeddedNetwork]:
    net = build(tmp_path, clock)
    yield net
    net.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_network(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[EmbeddedNetwork]:
    """Every node with its own database: SQLite files, or one PostgreSQL schema per node."""
    database_url = None
    if request.param == "postgresql":
        database_url = postgres_schema_per_node(request.getfixturevalue("postgres_url"))
    net = build(tmp_path, clock, database_url)
    yield net
    net.dispose()


def register(network: EmbeddedNetwork, lg_code: str) -> MunicipalRegister:
    return network.municipality(lg_code).register(lg_code)


def cards(network: EmbeddedNetwork, lg_code: str) -> ResidentCardService:
    return network.municipality(lg_code).cards[lg_code]


def moves(network: EmbeddedNetwork, lg_code: str) -> CardMoveService:
    return network.municipality(lg_code).card_moves[lg_code]


@dataclass(frozen=True)
class Household:
    head: str
    spouse: str
    child: str
    neighbour: str  # another household at the same address
    card: str  # the head's card


def household(network: EmbeddedNetwork) -> Household:
    """A household of three in Chiyoda, its head holding a type B card, and a neighbour."""
    reg = register(network, CHIYODA)

    def person(name: str, born: date, sex: Sex, **kw: object) -> str:
        entry = reg.record(
            NewEntry(
                ChangeReason.EX_OFFICIO_ENTRY,
                date(2014, 1, 6),
                name,
                born,
                sex,
                OLD_ADDRESS,
                registered_domicile="東京都千代田区千代田1番",
                **kw,  # type: ignore[arg-type]
            )
        )
        assert entry.resident_code is not None
        return entry.resident_code

    head = person("山田　太郎", date(1975, 4, 1), Sex.MALE)
    [stored] = reg.show(head)
    home = stored.current.household_id
    spouse = person(
        "山田　花子", date(1977, 8, 9), Sex.FEMALE, household_id=home, relationship="妻"
    )
    child = person("山田　一郎", date(2008, 5, 5), Sex.MALE, household_id=home, relationship="子")
    neighbour = person("佐藤　次郎", date(1960, 2, 2), Sex.MALE)
    card = cards(network, CHIYODA).issue(head, CardType.B, PIN, photo_ref="photos/yamada.jpg")
    network.drain()
    return Household(head, spouse, child, neighbour, card.card_number)


def move_out(
    network: EmbeddedNetwork,
    h: Household,
    *,
    to: str = KAMAKURA,
    declared: date = date(2014, 3, 3),
    members: tuple[str, ...] | None = None,
    filed_by: FiledBy = FiledBy.VISIT,
) -> None:
    moves(network, CHIYODA).file_special_move_out(
        h.head,
        h.card,
        destination_lg_code=to,
        destination_address=NEW_ADDRESS,
        declared_move_date=declared,
        members=(h.spouse, h.child) if members is None else members,
        filed_by=filed_by,
    )


def move_in(
    network: EmbeddedNetwork,
    h: Household,
    *,
    to: str = KAMAKURA,
    pin: str = PIN,
    moved_on: date = date(2014, 3, 3),
    members: tuple[str, ...] | None = None,
    card: str | None = None,
    former: str = CHIYODA,
) -> str:
    """File the card-based move-in, deliver everything, return the request id."""
    request = moves(network, to).move_in_with_card(
        former_lg_code=former,
        card_number=card or h.card,
        pin=pin,
        holder_resident_code=h.head,
        new_address=NEW_ADDRESS,
        moved_on=moved_on,
        members=(h.spouse, h.child) if members is None else members,
        actor="operator:registrar-kamakura",
    )
    assert request.state is CardMoveState.PENDING
    network.drain()
    return request.request_id


def entries(network: EmbeddedNetwork, lg_code: str, code: str) -> list[EntryStatus]:
    return [e.current.status for e in register(network, lg_code).show(code)]


def assert_nothing_moved(network: EmbeddedNetwork, h: Household, to: str = KAMAKURA) -> None:
    """Refused: nobody registered at the new municipality, everybody still at the old one."""
    for code in (h.head, h.spouse, h.child):
        assert entries(network, to, code) == []
        assert entries(network, CHIYODA, code) == [EntryStatus.ACTIVE]
    with read_transaction(network.municipality(to).node.engine) as conn:
        notices = conn.execute(
            select(func.count()).where(outbox.c.type == MessageType.MOVE_IN_NOTICE)
        ).scalar_one()
    assert notices == 0


def refusal(network: EmbeddedNetwork, request_id: str, to: str = KAMAKURA) -> tuple[str, str]:
    status = moves(network, to).status(request_id)
    assert status.request.state is CardMoveState.REFUSED, status.explanation
    assert status.explanation.startswith(f"refused [{status.request.rule}]")
    return str(status.request.rule), str(status.request.message)


def old_events(network: EmbeddedNetwork, h: Household) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.outcome, e.rule) for e in cards(network, CHIYODA).show(h.card).events]


# --- the whole flow -----------------------------------------------------------------------


def test_card_based_move_of_a_household_across_prefectures(
    any_network: EmbeddedNetwork, clock: FixedClock
) -> None:
    network = any_network
    h = household(network)
    move_out(network, h, filed_by=FiledBy.MAIL)
    [declared] = moves(network, CHIYODA).special_move_outs(h.head)
    assert (declared.state, declared.filed_by) == (MoveOutState.DECLARED, FiledBy.MAIL)
    assert entries(network, CHIYODA, h.head) == [EntryStatus.ACTIVE]  # 転出予定: still here

    request_id = move_in(network, h)

    status = moves(network, KAMAKURA).status(request_id)
    assert status.request.state is CardMoveState.COMPLETED, status.explanation
    assert sorted(status.request.registered) == sorted([h.head, h.spouse, h.child])
    assert status.delivery is not None and status.delivery.outcome == "applied"
    # registered at the new municipality, one household headed by the head, no paper
    kamakura = register(network, KAMAKURA)
    new = {code: kamakura.show(code)[0].current for code in (h.head, h.spouse, h.child)}
    assert {e.household_id for e in new.values()} == {new[h.head].household_id}
    assert [new[c].relationship for c in (h.head, h.spouse, h.child)] == ["世帯主", "妻", "子"]
    assert all(e.change_reason is ChangeReason.MOVE_IN for e in new.values())
    assert all(e.previous_lg_code == CHIYODA and e.address == NEW_ADDRESS for e in new.values())
    assert new[h.head].previous_address == OLD_ADDRESS
    assert new[h.head].registered_domicile == "東京都千代田区千代田1番"
    # the move-in notices went back: the former municipality completed every removal
    chiyoda = register(network, CHIYODA)
    for code in (h.head, h.spouse, h.child):
        [old] = chiyoda.show(code)
        assert old.current.status is EntryStatus.REMOVED
        assert old.current.change_reason is ChangeReason.MOVE_OUT
        assert old.current.destination_lg_code == KAMAKURA
    with read_transaction(network.municipality(CHIYODA).node.engine) as conn:
        confirmed = conn.execute(
            select(func.count()).where(residents.c.move_out_confirmed_on.is_not(None))
        ).scalar_one()
    assert confirmed == 3
    [done] = moves(network, CHIYODA).special_move_outs(h.head)
    assert done.state is MoveOutState.COMPLETED
    # the card continues: left with its holder at the old one, active at the new one
    old_card = cards(network, CHIYODA).show(h.card).card
    assert (old_card.status, old_card.continued_to) == (CardStatus.CONTINUED_ELSEWHERE, KAMAKURA)
    new_card = cards(network, KAMAKURA).show(h.card)
    assert new_card.card.status is CardStatus.ACTIVE
    assert (new_card.card.continued_from, new_card.card.issuer_lg_code) == (CHIYODA, CHIYODA)
    assert new_card.card.expires_on == old_card.expires_on
    assert new_card.face["address"] == NEW_ADDRESS  # type B: the new address on the face
    assert [action for action, _, _ in old_events(network, h)] == [
        "issue",
        "special_move_out",
        "move_out_certificate",
        "continued_elsewhere",
        "special_move_out_completed",
    ]
    # the upper tiers follow: the national center has everyone in Kamakura
    with read_transaction(network.national.engine) as conn:
        for code in (h.head, h.spouse, h.child):
            record = get_current(conn, NATIONAL, code)
            assert record is not None and record.lg_code == KAMAKURA and not record.removed


def test_the_card_continues_and_serves_the_next_move(network: EmbeddedNetwork) -> None:
    """Chiyoda → Kamakura (another prefecture), then Kamakura → Shibuya with the same card
    and PIN: the continued card carries its PIN hash, and the PIN is reset only where the
    card is held."""
    h = household(network)
    move_out(network, h, members=())
    first = move_in(network, h, members=())
    assert moves(network, KAMAKURA).status(first).request.state is CardMoveState.COMPLETED
    with pytest.raises(RuleViolation) as refused:  # Chiyoda no longer holds it
        cards(network, CHIYODA).reset_pin(h.card, "1111", "運転免許証")
    assert refused.value.rule == "card_moved"

    moves(network, KAMAKURA).file_special_move_out(
        h.head,
        h.card,
        destination_lg_code=SHIBUYA,
        destination_address="東京都渋谷区宇田川町1番1号",
        declared_move_date=date(2014, 3, 3),
    )
    second = moves(network, SHIBUYA).move_in_with_card(
        former_lg_code=KAMAKURA,
        card_number=h.card,
        pin=PIN,
        holder_resident_code=h.head,
        new_address="東京都渋谷区宇田川町1番1号",
        moved_on=date(2014, 3, 3),
    )
    network.drain()
    status = moves(network, SHIBUYA).status(second.request_id)
    assert status.request.state is CardMoveState.COMPLETED, status.explanation
    assert entries(network, KAMAKURA, h.head) == [EntryStatus.REMOVED]
    assert entries(network, SHIBUYA, h.head) == [EntryStatus.ACTIVE]
    assert cards(network, SHIBUYA).show(h.card).card.continued_from == KAMAKURA
    assert cards(network, KAMAKURA).show(h.card).card.status is CardStatus.CONTINUED_ELSEWHERE
    # family left behind in Chiyoda keeps living there
    assert entries(network, CHIYODA, h.spouse) == [EntryStatus.ACTIVE]


def test_a_regular_move_out_voids_the_card_and_cancels_the_card_based_one(
    network: EmbeddedNetwork,
) -> None:
    h = household(network)
    move_out(network, h)
    register(network, CHIYODA).record(
        Removal(ChangeReason.MOVE_OUT, date(2014, 3, 3), "大阪市北区", "271004"), h.head
    )
    card = cards(network, CHIYODA).show(h.card).card
    assert (card.status, card.void_reason) == (CardStatus.VOID, "move_out")
    [cancelled] = moves(network, CHIYODA).special_move_outs(h.head)
    assert cancelled.state is MoveOutState.CANCELLED


# --- refusals -------------------------------------------------------------------------------


def test_wrong_pin_counts_locks_and_is_reset_only_at_the_home_municipality(
    network: EmbeddedNetwork,
) -> None:
    h = household(network)
    move_out(network, h)
    first = move_in(network, h, pin="0000")
    rule, message = refusal(network, first)
    assert rule == "wrong_pin" and "2 attempt(s) left" in message
    assert message.startswith(f"{CHIYODA} refused: wrong PIN")
    assert_nothing_moved(network, h)
    assert cards(network, CHIYODA).show(h.card).card.pin_failures == 1
    assert old_events(network, h)[-1] == ("move_out_certificate", "refused", "wrong_pin")

    assert refusal(network, move_in(network, h, pin="1111"))[0] == "wrong_pin"
    assert refusal(network, move_in(network, h, pin="2222"))[0] == "pin_locked"
    locked = refusal(network, move_in(network, h))  # the right PIN, too late
    assert locked[0] == "pin_locked" and "resets it after checking" in locked[1]
    assert_nothing_moved(network, h)

    cards(network, CHIYODA).reset_pin(h.card, "3690", "運転免許証 第301234567890号")
    done = move_in(network, h, pin="3690")
    assert moves(network, KAMAKURA).status(done).request.state is CardMoveState.COMPLETED
    assert cards(network, KAMAKURA).show(h.card).card.pin_failures == 0


def test_a_right_pin_clears_the_count(network: EmbeddedNetwork) -> None:
    h = household(network)
    move_out(network, h)
    refusal(network, move_in(network, h, pin="0000"))
    refusal(network, move_in(network, h, pin="0001"))
    done = move_in(network, h)
    assert moves(network, KAMAKURA).status(done).request.state is CardMoveState.COMPLETED


def test_pin_format_is_refused_at_once_and_recorded(network: EmbeddedNetwork) -> None:
    h = household(network)
    move_out(network, h)
    with pytest.raises(RuleViolation) as refused:
        move_in(network, h, pin="25801")
    assert (refused.value.field, refused.value.rule) == ("pin", "pin_format")
    [recorded] = moves(network, KAMAKURA).requests()
    assert (recorded.request.state, recorded.request.rule) == (CardMoveState.REFUSED, "pin_format")
    assert recorded.delivery is None  # nothing was sent


def test_deadline_14_days_after_the_move_is_refused_at_once(
    network: EmbeddedNetwork, clock: FixedClock
) -> None:
    h = household(network)
    move_out(network, h, declared=date(2014, 3, 3))
    clock.advance(timedelta(days=15))
    with pytest.raises(RuleViolation) as refused:
        move_in(network, h, moved_on=date(2014, 3, 3))
    assert (refused.value.field, refused.value.rule) == ("move_date", "deadline_passed")
    assert "within 14 days after the move (2014-03-03), i.e. by 2014-03-17" in str(refused.value)
    assert "paper move-out certificate" in refused.value.message
    assert_nothing_moved(network, h)


def test_deadline_30_days_after_the_declared_date_is_refused_by_the_former_municipality(
    network: EmbeddedNetwork, clock: FixedClock
) -> None:
    h = household(network)
    move_out(network, h, declared=date(2014, 3, 3))
    clock.advance(timedelta(days=33))  # 2014-04-05
    rule, message = refusal(network, move_in(network, h, moved_on=date(2014, 3, 30)))
    assert rule == "deadline_passed"
    assert "30 days after the move date declared at the move-out (2014-03-03)" in message
    assert_nothing_moved(network, h)


def test_suspended_card(network: EmbeddedNetwork) -> None:
    h = household(network)
    move_out(network, h)
    cards(network, CHIYODA).suspend(h.card)
    rule, message = refusal(network, move_in(network, h))
    assert rule == "card_suspended" and "reported lost" in message
    assert_nothing_moved(network, h)
    assert cards(network, CHIYODA).show(h.card).card.pin_failures == 0  # the PIN was not tried
    cards(network, CHIYODA).resume(h.card, "パスポート")
    done = move_in(network, h)
    assert moves(network, KAMAKURA).status(done).request.state is CardMoveState.COMPLETED


@pytest.mark.parametrize("voided_by", ["return", "resident_code_change"])
def test_void_card(network: EmbeddedNetwork, voided_by: str) -> None:
    h = household(network)
    move_out(network, h)
    if voided_by == "return":
        cards(network, CHIYODA).give_back(h.card)
    else:
        register(network, CHIYODA).record(
            ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, date(2014, 3, 3)), h.head
        )
    rule, message = refusal(network, move_in(network, h))
    assert rule == "card_void"
    assert ("returned" if voided_by == "return" else "resident_code_change") in message
    for code in (h.head, h.spouse, h.child):
        assert entries(network, KAMAKURA, code) == []


def test_removed_entry(network: EmbeddedNetwork) -> None:
    h = household(network)
    move_out(network, h)
    register(network, CHIYODA).record(Removal(ChangeReason.DEATH, date(2014, 3, 3)), h.child)
    rule, message = refusal(network, move_in(network, h))
    assert rule == "entry_removed" and h.child in message and "death" in message
    assert entries(network, KAMAKURA, h.head) == []
    # the holder's own entry removed: named as such (the card is void with it)
    register(network, CHIYODA).record(
        Removal(ChangeReason.EX_OFFICIO_DELETION, date(2014, 3, 3)), h.head
    )
    rule, message = refusal(network, move_in(network, h, members=(h.spouse,)))
    assert rule == "entry_removed" and "ex_officio_deletion" in message


def test_a_person_from_another_household(network: EmbeddedNetwork) -> None:
    h = household(network)
    with pytest.raises(RuleViolation) as refused:  # at the card-based move-out
        move_out(network, h, members=(h.spouse, h.neighbour))
    assert refused.value.rule == "other_household"
    assert refused.value.field == f"members[{h.neighbour}]"
    assert old_events(network, h)[-1] == ("special_move_out", "refused", "other_household")
    assert moves(network, CHIYODA).special_move_outs(h.head) == []

    move_out(network, h)
    # at the move-in: someone the move-out did not name
    rule, _ = refusal(network, move_in(network, h, members=(h.spouse, h.neighbour)))
    assert rule == "not_declared"
    # a named member who has since left the household
    register(network, CHIYODA).record(
        ItemChange(
            ChangeReason.MOVE_WITHIN,
            date(2014, 3, 3),
            address="東京都千代田区神田1番",
            household_id="new",
        ),
        h.child,
    )
    rule, message = refusal(network, move_in(network, h))
    assert rule == "other_household" and h.child in message
    assert_nothing_moved(network, h)


def test_no_card_based_move_out_filed(network: EmbeddedNetwork) -> None:
    h = household(network)
    rule, message = refusal(network, move_in(network, h))
    assert rule == "no_special_move_out" and "付記転出届" in message
    move_out(network, h, to=SHIBUYA)
    rule, _ = refusal(network, move_in(network, h))  # declared for Shibuya, not Kamakura
    assert rule == "other_destination"


def test_a_card_unknown_to_the_former_municipality(network: EmbeddedNetwork) -> None:
    h = household(network)
    rule, _ = refusal(network, move_in(network, h, card="1310160000000000"))
    assert rule == "card_unknown"


def test_refusals_at_the_new_municipality(network: EmbeddedNetwork, clock: FixedClock) -> None:
    h = household(network)
    move_out(network, h)
    cases = [
        ({"former": KAMAKURA}, "same_municipality"),
        ({"former": "019992"}, "unknown_municipality"),
        ({"moved_on": date(2014, 3, 4)}, "future"),
        ({"members": (h.spouse, h.spouse)}, "duplicate"),
    ]
    for kwargs, rule in cases:
        with pytest.raises(RuleViolation) as refused:
            move_in(network, h, **kwargs)  # type: ignore[arg-type]
        assert refused.value.rule == rule
    network.transport.down.add(municipal_node(CHIYODA))
    move_in(network, h)  # pending
    with pytest.raises(RuleViolation) as refused:
        move_in(network, h)
    assert refused.value.rule == "request_pending"
    recorded = moves(network, KAMAKURA).requests(CardMoveState.REFUSED)
    assert sorted(r.request.rule or "" for r in recorded) == sorted(
        [rule for _, rule in cases] + ["request_pending"]
    )


# --- faults ---------------------------------------------------------------------------------


def test_unreachable_former_municipality_stays_pending_and_completes_later(
    any_network: EmbeddedNetwork, clock: FixedClock
) -> None:
    network = any_network
    h = household(network)
    move_out(network, h)
    network.transport.down.add(municipal_node(CHIYODA))
    request_id = move_in(network, h)
    clock.advance(timedelta(minutes=1))
    network.drain()  # retried, still down

    status = moves(network, KAMAKURA).status(request_id)
    assert status.request.state is CardMoveState.PENDING
    assert status.delivery is not None and status.delivery.delivered_at is None
    assert status.delivery.attempts >= 2
    assert "unreachable" in str(status.delivery.last_error)
    assert status.explanation.startswith(f"pending: the request has not reached {CHIYODA} yet")
    assert "retried automatically" in status.explanation
    assert [
        s.request.request_id for s in moves(network, KAMAKURA).requests(CardMoveState.PENDING)
    ] == [request_id]
    assert_nothing_moved(network, h)

    # days go by; the request was filed in time, so the deadline counts from the filing
    clock.advance(timedelta(days=20))
    network.transport.down.clear()
    network.drain()
    status = moves(network, KAMAKURA).status(request_id)
    assert status.request.state is CardMoveState.COMPLETED, status.explanation
    assert entries(network, CHIYODA, h.head) == [EntryStatus.REMOVED]
    assert entries(network, KAMAKURA, h.head) == [EntryStatus.ACTIVE]


def test_answer_that_cannot_be_registered_leaves_nothing_half_done(
    network: EmbeddedNetwork, clock: FixedClock
) -> None:
    """While the request waits, the spouse is registered at the new municipality by a paper
    move-in: the answer then registers nobody, and says why."""
    h = household(network)
    move_out(network, h)
    network.transport.down.add(municipal_node(CHIYODA))
    request_id = move_in(network, h)
    spouse = register(network, CHIYODA).show(h.spouse)[0].current
    register(network, KAMAKURA).record(
        NewEntry(
            ChangeReason.MOVE_IN,
            date(2014, 3, 3),
            spouse.name,
            spouse.birth_date,
            spouse.sex,
            NEW_ADDRESS,
            resident_code=h.spouse,
            registered_domicile=spouse.registered_domicile,
            previous_address=OLD_ADDRESS,
            previous_lg_code=CHIYODA,
        )
    )
    network.transport.down.clear()
    clock.advance(timedelta(minutes=5))
    network.drain()
    rule, message = refusal(network, request_id)
    assert rule == "already_registered"
    assert message.startswith("the move-in could not be registered here")
    assert entries(network, KAMAKURA, h.head) == []
    assert entries(network, KAMAKURA, h.child) == []
    assert entries(network, CHIYODA, h.head) == [EntryStatus.ACTIVE]
    assert cards(network, CHIYODA).show(h.card).card.status is CardStatus.ACTIVE


def test_today_in_japan_is_the_filing_date(network: EmbeddedNetwork, clock: FixedClock) -> None:
    """A move-in filed at 23:30 JST on the last day is in time (the clock runs in UTC)."""
    h = household(network)
    move_out(network, h)
    clock.current = datetime(2014, 3, 17, 14, 30, tzinfo=UTC)  # 2014-03-17 23:30 JST
    assert today_in_japan(clock) == date(2014, 3, 17)
    done = move_in(network, h, moved_on=date(2014, 3, 3))
    assert moves(network, KAMAKURA).status(done).request.state is CardMoveState.COMPLETED


def test_a_quarantined_request_is_never_silently_pending(
    network: EmbeddedNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the former municipality quarantine the request (a bug there, say), the new one
    shows it: still not registered, and why."""
    h = household(network)
    move_out(network, h)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuleViolation("body", "malformed", "cannot read the request")

    monkeypatch.setattr(moves(network, CHIYODA), "_answer", broken)
    request_id = move_in(network, h)
    status = moves(network, KAMAKURA).status(request_id)
    assert status.request.state is CardMoveState.PENDING
    assert status.delivery is not None and status.delivery.outcome == "rejected"
    assert f"{CHIYODA} quarantined the request" in status.explanation
    with read_transaction(network.municipality(CHIYODA).node.engine) as conn:
        quarantined = conn.execute(
            select(message_rejections.c.type).where(message_rejections.c.quarantined.is_(True))
        ).scalars()
        assert list(quarantined) == [MessageType.MOVE_OUT_CERTIFICATE_REQUEST]
    assert_nothing_moved(network, h)
