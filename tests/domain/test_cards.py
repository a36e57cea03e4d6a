"""Resident-card rules: types, validity, PIN hashing and lockout, the card's life, the
card-based move's deadline and who may move under one card."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain import cards
from jukinet.domain.cards import (
    MAX_PIN_FAILURES,
    CardStatus,
    CardType,
    ResidentCard,
    VoidReason,
)
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import (
    EntryStatus,
    ForeignCategory,
    ForeignResidentItems,
    RegisterEntry,
    ResidentKind,
)

TODAY = date(2014, 3, 3)
NUMBER = "1310160000000001"


def entry(**kw: object) -> RegisterEntry:
    base: dict[str, object] = {
        "lg_code": "131016",
        "resident_code": "24727059608",
        "status": EntryStatus.ACTIVE,
        "name": "山田　太郎",
        "birth_date": date(1980, 1, 1),
        "sex": Sex.MALE,
        "address": "東京都千代田区千代田1番1号",
        "household_id": "0000000001",
        "relationship": "世帯主",
        "kind": ResidentKind.NATIONAL,
        "entry_date": date(1980, 1, 1),
        "change_reason": ChangeReason.BIRTH,
        "change_date": date(1980, 1, 1),
        "version": 1,
    }
    base.update(kw)
    return RegisterEntry(**base)  # type: ignore[arg-type]


def card(**kw: object) -> ResidentCard:
    issued = cards.new_card(
        entry(),
        card_number=NUMBER,
        card_type=CardType.A,
        pin_hash=cards.pin_proof(NUMBER, "1234"),
        today=TODAY,
    )
    return replace(issued, **kw)  # type: ignore[arg-type]


def test_type_a_has_no_photo_type_b_needs_one() -> None:
    a = card()
    assert a.card_type is CardType.A and not a.usable_as_photo_id
    b = cards.new_card(
        entry(),
        card_number=NUMBER,
        card_type=CardType.B,
        pin_hash="00",
        today=TODAY,
        photo_ref="photo/2014/0001.jpg",
    )
    assert b.usable_as_photo_id and b.photo_ref == "photo/2014/0001.jpg"
    with pytest.raises(RuleViolation) as refused:
        cards.new_card(entry(), card_number=NUMBER, card_type=CardType.B, pin_hash="", today=TODAY)
    assert (refused.value.field, refused.value.rule) == ("photo_ref", "required")
    with pytest.raises(RuleViolation) as refused:
        cards.new_card(
            entry(),
            card_number=NUMBER,
            card_type=CardType.A,
            pin_hash="",
            today=TODAY,
            photo_ref="x",
        )
    assert refused.value.rule == "not_for_type_a"


def test_valid_ten_years() -> None:
    issued = card()
    assert issued.issued_on == TODAY
    assert issued.expires_on == date(2024, 3, 2)
    assert not issued.expired(date(2024, 3, 2))
    assert issued.expired(date(2024, 3, 3))
    assert cards.expiry_of(date(2012, 2, 29)) == date(2022, 2, 27)
    with pytest.raises(RuleViolation) as refused:
        cards.check_usable(issued, date(2024, 3, 3))
    assert refused.value.rule == "card_expired"


def test_one_card_per_person_and_only_for_active_entries() -> None:
    with pytest.raises(RuleViolation) as refused:
        cards.new_card(
            entry(), card_number=NUMBER, card_type=CardType.A, pin_hash="", today=TODAY, held=card()
        )
    assert refused.value.rule == "card_exists"
    with pytest.raises(RuleViolation) as refused:
        cards.check_may_hold_card(entry(status=EntryStatus.REMOVED), TODAY)
    assert refused.value.rule == "not_active"


def test_foreign_residents_get_cards_from_the_applicable_date() -> None:
    foreign = entry(
        kind=ResidentKind.FOREIGN,
        foreign=ForeignResidentItems("中国", ForeignCategory.MID_LONG_TERM, date(2012, 7, 9)),
    )
    with pytest.raises(RuleViolation) as refused:
        cards.check_may_hold_card(foreign, date(2013, 7, 7))
    assert refused.value.rule == "foreign_before_applicable_date"
    assert cards.check_may_hold_card(foreign, date(2013, 7, 8)) is foreign


@pytest.mark.parametrize("pin", ["123", "12345", "abcd", "１２３４", ""])
def test_pin_is_four_ascii_digits(pin: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        cards.validate_pin(pin)
    assert (refused.value.field, refused.value.rule) == ("pin", "pin_format")


def test_pin_hash_is_salted_per_card_and_never_the_pin() -> None:
    first = cards.pin_proof(NUMBER, "1234")
    assert first == cards.pin_proof(NUMBER, "1234")  # reproducible from the card alone
    assert "1234" not in first and len(first) == 64
    assert first != cards.pin_proof("1310160000000002", "1234")  # salted per card
    assert first != cards.pin_proof(NUMBER, "1235")


def test_wrong_pins_lock_and_a_right_one_clears_the_count() -> None:
    current = card()
    wrong = cards.pin_proof(NUMBER, "9999")
    assert cards.pin_matches(current, cards.PIN_KDF, cards.pin_proof(NUMBER, "1234"))
    assert not cards.pin_matches(current, "scrypt:1024:8:1", current.pin_hash)
    for attempt in range(1, MAX_PIN_FAILURES):
        current = cards.after_pin_check(current, cards.pin_matches(current, cards.PIN_KDF, wrong))
        assert current.pin_failures == attempt and not current.pin_locked
        refusal = cards.wrong_pin_refusal(current)
        assert refusal.rule == "wrong_pin"
        assert f"{MAX_PIN_FAILURES - attempt} attempt(s) left" in refusal.message
    cleared = cards.after_pin_check(current, True)
    assert cleared.pin_failures == 0
    current = cards.after_pin_check(current, False)
    assert current.pin_locked
    assert cards.wrong_pin_refusal(current).rule == "pin_locked"
    with pytest.raises(RuleViolation) as refused:
        cards.reset_pin(current, "ff", "", TODAY)
    assert refused.value.rule == "identity_check_required"
    reset = cards.reset_pin(current, cards.pin_proof(NUMBER, "4321"), "運転免許証", TODAY)
    assert not reset.pin_locked and reset.pin_failures == 0


def test_suspend_resume_return() -> None:
    active = card()
    suspended = cards.suspend(active, TODAY)
    assert suspended.status is CardStatus.SUSPENDED and suspended.version == active.version + 1
    for refusal, action in (
        ("card_suspended", lambda c: cards.check_usable(c, TODAY)),
        ("card_suspended", lambda c: cards.suspend(c, TODAY)),
        ("identity_check_required", lambda c: cards.resume(c, " ", TODAY)),
    ):
        with pytest.raises(RuleViolation) as refused:
            action(suspended)
        assert refused.value.rule == refusal
    assert cards.resume(suspended, "パスポート", TODAY).status is CardStatus.ACTIVE
    with pytest.raises(RuleViolation) as refused:
        cards.resume(active, "パスポート", TODAY)
    assert refused.value.rule == "not_suspended"
    returned = cards.give_back(suspended, VoidReason.LOST, TODAY)
    assert (returned.status, returned.void_reason) == (CardStatus.VOID, VoidReason.LOST)
    with pytest.raises(RuleViolation) as refused:
        cards.give_back(returned, VoidReason.RETURNED, TODAY)
    assert refused.value.rule == "card_void"
    with pytest.raises(RuleViolation) as refused:
        cards.give_back(active, VoidReason.DEATH, TODAY)
    assert refused.value.rule == "not_a_return"


@pytest.mark.parametrize(
    ("reason", "active", "voids"),
    [
        (ChangeReason.MOVE_OUT, False, VoidReason.MOVE_OUT),
        (ChangeReason.DEATH, False, VoidReason.DEATH),
        (ChangeReason.MOVE_ABROAD, False, VoidReason.ENTRY_REMOVED),
        (ChangeReason.EX_OFFICIO_DELETION, False, VoidReason.ENTRY_REMOVED),
        (ChangeReason.RESIDENT_CODE_CHANGE, True, VoidReason.RESIDENT_CODE_CHANGE),
        (ChangeReason.MOVE_WITHIN, True, None),
        (ChangeReason.NAME_CHANGE, True, None),
    ],
)
def test_register_events_that_void_a_card(
    reason: ChangeReason, active: bool, voids: VoidReason | None
) -> None:
    before = entry()
    after = entry(
        status=EntryStatus.ACTIVE if active else EntryStatus.REMOVED,
        change_reason=reason,
        version=2,
    )
    assert cards.void_reason_for_change(after, before) == voids
    assert cards.void_reason_for_change(before, None) is None


def test_deadline_is_the_earlier_of_30_days_after_the_declared_date_and_14_after_the_move() -> None:
    declared, moved = date(2014, 3, 10), date(2014, 3, 20)
    assert cards.card_move_deadline(declared, moved) == date(2014, 4, 3)  # 14 after the move
    assert cards.card_move_deadline(declared, date(2014, 3, 31)) == date(2014, 4, 9)  # 30 after
    cards.check_card_move_deadline(declared, moved, date(2014, 4, 3))
    with pytest.raises(RuleViolation) as refused:
        cards.check_card_move_deadline(declared, moved, date(2014, 4, 4))
    assert (refused.value.field, refused.value.rule) == ("move_date", "deadline_passed")
    assert "14 days after the move" in refused.value.message
    with pytest.raises(RuleViolation) as refused:
        cards.check_card_move_deadline(declared, date(2014, 3, 31), date(2014, 4, 10))
    assert "30 days after the move date declared" in refused.value.message
    cards.check_card_move_deadline(None, moved, date(2014, 4, 3))  # the new one's own check


@given(
    declared=st.dates(date(2003, 8, 25), date(2015, 12, 28)),
    after=st.integers(0, 60),
    filed_after=st.integers(0, 60),
)
def test_deadline_property(declared: date, after: int, filed_after: int) -> None:
    moved = date.fromordinal(declared.toordinal() + after - 20)
    filed = date.fromordinal(moved.toordinal() + filed_after)
    deadline = cards.card_move_deadline(declared, moved)
    if filed <= deadline:
        cards.check_card_move_deadline(declared, moved, filed)
    else:
        with pytest.raises(RuleViolation):
            cards.check_card_move_deadline(declared, moved, filed)


def test_movers_are_active_members_of_the_holders_household() -> None:
    holder = entry()
    child = entry(resident_code="12345678906", relationship="子", name="山田　花子")
    cards.check_special_move_out(
        holder, [child], destination_lg_code="142042", declared_move_date=TODAY, today=TODAY
    )
    neighbour = replace(child, household_id="0000000002")
    with pytest.raises(RuleViolation) as refused:
        cards.check_movers(holder, [neighbour])
    assert (refused.value.field, refused.value.rule) == ("members[12345678906]", "other_household")
    with pytest.raises(RuleViolation) as refused:
        cards.check_movers(holder, [replace(child, status=EntryStatus.REMOVED)])
    assert refused.value.rule == "entry_removed"
    with pytest.raises(RuleViolation) as refused:
        cards.check_movers(holder, [child, child])
    assert refused.value.rule == "duplicate"
    with pytest.raises(RuleViolation) as refused:
        cards.check_special_move_out(
            holder, [], destination_lg_code="131016", declared_move_date=TODAY, today=TODAY
        )
    assert refused.value.rule == "same_municipality"


def test_head_of_movers() -> None:
    assert cards.head_of_movers("A", {"A": "子", "B": "世帯主"}) == "B"
    assert cards.head_of_movers("A", {"A": "子", "B": "妻"}) == "A"


def test_card_continues_in_the_new_municipality() -> None:
    left = cards.left_with_holder(card(), "142042", TODAY)
    assert (left.status, left.continued_to) == (CardStatus.CONTINUED_ELSEWHERE, "142042")
    with pytest.raises(RuleViolation) as refused:
        cards.check_usable(left, TODAY)
    assert refused.value.rule == "card_moved"
    moved = cards.continue_card(card(pin_failures=1), "142042", "24727059608", TODAY)
    assert (moved.lg_code, moved.status, moved.continued_from) == (
        "142042",
        CardStatus.ACTIVE,
        "131016",
    )
    assert moved.card_number == NUMBER and moved.issuer_lg_code == "131016"
    assert moved.pin_failures == 1  # the count travels with the card
