"""Every event rule of the municipal register, accepted and refused (pure domain)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from jukinet.domain.codes import make_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeEffect, ChangeReason, Sex
from jukinet.domain.register import (
    EntryStatus,
    ForeignCategory,
    ForeignResidentItems,
    ItemChange,
    NewEntry,
    RegisterEntry,
    Removal,
    ResidentKind,
    apply_change,
    event_for,
)

LG = "131016"
OTHER_LG = "271004"
TODAY = date(2014, 3, 31)
CODE = make_resident_code("2472705960")
NEW_CODE = make_resident_code("1234567890")
FOREIGN = ForeignResidentItems(
    nationality="中国",
    category=ForeignCategory.MID_LONG_TERM,
    foreign_resident_since=date(2012, 7, 9),
    residence_status="留学",
    period_of_stay="2年",
    stay_expiry=date(2015, 4, 1),
    residence_card_number="AB12345678CD",
)


def new_entry(reason: ChangeReason = ChangeReason.MOVE_IN, **kw: object) -> NewEntry:
    base: dict[str, object] = {
        "reason": reason,
        "change_date": date(2013, 4, 1),
        "name": "山田　太郎",
        "birth_date": date(1980, 5, 17),
        "sex": Sex.MALE,
        "address": "東京都千代田区千代田1番1号",
        "resident_code": CODE,
        "household_id": "0000000001",
        "previous_address": "大阪府大阪市北区梅田1丁目1番",
        "previous_lg_code": OTHER_LG,
    }
    base.update(kw)
    return NewEntry(**base)  # type: ignore[arg-type]


def apply(current: RegisterEntry | None, event: object) -> RegisterEntry:
    return apply_change(current, event, lg_code=LG, today=TODAY)  # type: ignore[arg-type]


@pytest.fixture
def active() -> RegisterEntry:
    return apply(None, new_entry())


def refused(current: RegisterEntry | None, event: object, field: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as err:
        apply(current, event)
    assert (err.value.field, err.value.rule) == (field, rule)


# --- the enumeration ---------------------------------------------------------------------


def test_every_reason_has_an_effect_and_a_japanese_label() -> None:
    for reason in ChangeReason:
        assert reason.effect in ChangeEffect
        assert reason.label_ja
    creates = {r for r in ChangeReason if r.effect is ChangeEffect.CREATES}
    assert ChangeReason.BIRTH in creates
    assert ChangeReason.DEATH.effect is ChangeEffect.REMOVES


def test_wrong_event_kind_for_reason_is_refused(active: RegisterEntry) -> None:
    refused(
        active,
        Removal(ChangeReason.NAME_CHANGE, date(2013, 5, 1)),
        "change_reason",
        "wrong_event_kind",
    )


# --- creating entries --------------------------------------------------------------------


def test_move_in_creates_active_entry_keeping_the_code(active: RegisterEntry) -> None:
    assert active.status is EntryStatus.ACTIVE
    assert active.resident_code == CODE
    assert active.version == 1
    assert active.entry_date == date(2013, 4, 1)
    assert active.identity_record().change_reason is ChangeReason.MOVE_IN


def test_create_when_active_entry_exists_is_refused(active: RegisterEntry) -> None:
    refused(active, new_entry(), "resident_code", "already_registered")


def test_create_after_removal_is_accepted(active: RegisterEntry) -> None:
    gone = apply(active, Removal(ChangeReason.MOVE_OUT, date(2013, 6, 1), "大阪市北区", OTHER_LG))
    back = apply(gone, new_entry(change_date=date(2013, 9, 1)))
    assert back.active and back.version == 1


def test_bad_resident_code_check_digit_is_refused() -> None:
    refused(None, new_entry(resident_code=CODE[:-1] + "0"), "resident_code", "check_digit")


def test_birth_must_be_recorded_on_the_birth_date() -> None:
    birth = new_entry(
        ChangeReason.BIRTH,
        birth_date=date(2013, 4, 1),
        previous_address=None,
        previous_lg_code=None,
    )
    assert apply(None, birth).change_reason is ChangeReason.BIRTH
    refused(None, replace(birth, birth_date=date(2013, 3, 1)), "change_date", "birth_on_birth_date")


def test_birth_has_no_previous_address() -> None:
    refused(
        None,
        new_entry(ChangeReason.BIRTH, birth_date=date(2013, 4, 1)),
        "previous_address",
        "only_for_move_in",
    )


def test_impossible_birth_dates_are_refused() -> None:
    refused(None, new_entry(birth_date=date(2013, 4, 2)), "birth_date", "after_change_date")
    refused(None, new_entry(birth_date=date(1850, 1, 1)), "birth_date", "too_early")


def test_future_change_date_is_refused() -> None:
    refused(None, new_entry(change_date=date(2014, 4, 1)), "change_date", "future")


def test_move_in_needs_former_municipality() -> None:
    refused(None, new_entry(previous_lg_code=None), "previous_lg_code", "required")
    refused(None, new_entry(previous_address=" "), "previous_address", "required")
    refused(None, new_entry(previous_lg_code="131017"), "previous_lg_code", "check_digit")
    refused(None, new_entry(previous_lg_code=LG), "previous_lg_code", "same_municipality")


def test_move_in_from_abroad_may_omit_former_municipality() -> None:
    entry = apply(
        None,
        new_entry(
            ChangeReason.MOVE_IN_FROM_ABROAD,
            previous_lg_code=None,
            previous_address="アメリカ合衆国",
        ),
    )
    assert entry.previous_address == "アメリカ合衆国"


def test_empty_name_or_address_is_refused() -> None:
    refused(None, new_entry(name=""), "name", "required")
    refused(None, new_entry(address="　"), "address", "required")


def test_foreign_resident_needs_foreign_items_and_no_domicile() -> None:
    foreign = apply(None, new_entry(kind=ResidentKind.FOREIGN, foreign=FOREIGN, alias="王 明"))
    assert foreign.foreign == FOREIGN and foreign.alias == "王 明"
    refused(None, new_entry(kind=ResidentKind.FOREIGN), "foreign", "required")
    refused(
        None,
        new_entry(kind=ResidentKind.FOREIGN, foreign=FOREIGN, registered_domicile="東京"),
        "registered_domicile",
        "not_for_foreign",
    )
    refused(
        None,
        new_entry(
            kind=ResidentKind.FOREIGN, foreign=replace(FOREIGN, stay_expiry=date(2011, 1, 1))
        ),
        "stay_expiry",
        "before_since",
    )


def test_national_has_no_foreign_items_or_alias() -> None:
    refused(None, new_entry(foreign=FOREIGN), "foreign", "not_for_national")
    refused(None, new_entry(alias="通称"), "alias", "not_for_national")


def test_nationality_events_need_the_matching_kind() -> None:
    refused(
        None,
        new_entry(ChangeReason.NATIONALITY_LOSS, previous_address=None, previous_lg_code=None),
        "kind",
        "reason_needs_kind",
    )
    entry = apply(
        None,
        new_entry(
            ChangeReason.NATIONALITY_LOSS,
            previous_address=None,
            previous_lg_code=None,
            kind=ResidentKind.FOREIGN,
            foreign=FOREIGN,
        ),
    )
    assert entry.kind is ResidentKind.FOREIGN


# --- modifying entries -------------------------------------------------------------------


def test_move_within_changes_address(active: RegisterEntry) -> None:
    moved = apply(
        active,
        ItemChange(ChangeReason.MOVE_WITHIN, date(2013, 5, 1), address="東京都千代田区神田1番"),
    )
    assert moved.address == "東京都千代田区神田1番"
    assert moved.version == 2 and moved.change_reason is ChangeReason.MOVE_WITHIN
    assert moved.entry_date == active.entry_date


def test_move_within_to_the_same_address_is_refused(active: RegisterEntry) -> None:
    refused(
        active,
        ItemChange(ChangeReason.MOVE_WITHIN, date(2013, 5, 1), address=active.address),
        "address",
        "unchanged",
    )


def test_reason_cannot_change_items_outside_its_scope(active: RegisterEntry) -> None:
    refused(
        active,
        ItemChange(ChangeReason.MOVE_WITHIN, date(2013, 5, 1), name="別名"),
        "name",
        "not_changed_by_reason",
    )
    refused(
        active,
        ItemChange(ChangeReason.NAME_CHANGE, date(2013, 5, 1), birth_date=date(1981, 1, 1)),
        "birth_date",
        "not_changed_by_reason",
    )


def test_name_change_keeps_former_surname(active: RegisterEntry) -> None:
    changed = apply(
        active,
        ItemChange(
            ChangeReason.NAME_CHANGE, date(2013, 5, 1), name="佐藤　太郎", former_surname="山田"
        ),
    )
    assert (changed.name, changed.former_surname) == ("佐藤　太郎", "山田")
    refused(
        active,
        ItemChange(ChangeReason.NAME_CHANGE, date(2013, 5, 1), name=active.name),
        "name",
        "unchanged",
    )


def test_sex_change(active: RegisterEntry) -> None:
    assert (
        apply(active, ItemChange(ChangeReason.SEX_CHANGE, date(2013, 5, 1), sex=Sex.FEMALE)).sex
        is Sex.FEMALE
    )
    refused(
        active,
        ItemChange(ChangeReason.SEX_CHANGE, date(2013, 5, 1), sex=Sex.MALE),
        "sex",
        "unchanged",
    )


def test_correction_may_fix_birth_date_but_must_change_something(active: RegisterEntry) -> None:
    fixed = apply(
        active, ItemChange(ChangeReason.CORRECTION, date(2013, 5, 1), birth_date=date(1980, 5, 18))
    )
    assert fixed.birth_date == date(1980, 5, 18)
    refused(
        active,
        ItemChange(ChangeReason.EX_OFFICIO_CORRECTION, date(2013, 5, 1), name=active.name),
        "change",
        "nothing_changed",
    )
    refused(
        active,
        ItemChange(ChangeReason.CORRECTION, date(2013, 5, 1), birth_date=date(2013, 6, 1)),
        "birth_date",
        "after_change_date",
    )


def test_alias_change_only_for_foreign_residents(active: RegisterEntry) -> None:
    refused(
        active,
        ItemChange(ChangeReason.ALIAS_CHANGE, date(2013, 5, 1), alias="通称"),
        "alias",
        "not_for_national",
    )
    foreign = apply(None, new_entry(kind=ResidentKind.FOREIGN, foreign=FOREIGN, alias="王 明"))
    cleared = apply(
        foreign, ItemChange(ChangeReason.ALIAS_CHANGE, date(2013, 5, 1), clear_alias=True)
    )
    assert cleared.alias is None


def test_resident_code_change_needs_a_new_valid_code(active: RegisterEntry) -> None:
    changed = apply(
        active,
        ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, date(2013, 5, 1), resident_code=NEW_CODE),
    )
    assert changed.resident_code == NEW_CODE
    refused(
        active,
        ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, date(2013, 5, 1), resident_code=CODE),
        "resident_code",
        "unchanged",
    )
    refused(
        active,
        ItemChange(
            ChangeReason.RESIDENT_CODE_CHANGE, date(2013, 5, 1), resident_code="12345678901"
        ),
        "resident_code",
        "check_digit",
    )


def test_change_before_the_last_change_is_refused(active: RegisterEntry) -> None:
    refused(
        active,
        ItemChange(ChangeReason.MOVE_WITHIN, date(2013, 3, 1), address="別の住所"),
        "change_date",
        "before_last_change",
    )


def test_change_of_missing_entry_is_refused() -> None:
    refused(
        None,
        ItemChange(ChangeReason.MOVE_WITHIN, date(2013, 5, 1), address="x"),
        "resident_code",
        "not_active",
    )


# --- removing entries --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "destination", "destination_lg"),
    [
        (ChangeReason.MOVE_OUT, "大阪府大阪市北区梅田1丁目", OTHER_LG),
        (ChangeReason.MOVE_ABROAD, "フランス共和国", None),
        (ChangeReason.DEATH, None, None),
        (ChangeReason.EX_OFFICIO_DELETION, None, None),
        (ChangeReason.NATIONALITY_LOSS_REMOVAL, None, None),
    ],
)
def test_removal_keeps_the_entry_as_removed(
    active: RegisterEntry,
    reason: ChangeReason,
    destination: str | None,
    destination_lg: str | None,
) -> None:
    gone = apply(active, Removal(reason, date(2013, 6, 1), destination, destination_lg))
    assert gone.status is EntryStatus.REMOVED
    assert gone.identity_record().removed
    assert gone.name == active.name and gone.version == 2


def test_removed_entry_accepts_no_further_event(active: RegisterEntry) -> None:
    dead = apply(active, Removal(ChangeReason.DEATH, date(2013, 6, 1)))
    refused(dead, Removal(ChangeReason.DEATH, date(2013, 6, 2)), "resident_code", "not_active")
    refused(
        dead,
        ItemChange(ChangeReason.MOVE_WITHIN, date(2013, 6, 2), address="x"),
        "resident_code",
        "not_active",
    )


def test_removal_destination_rules(active: RegisterEntry) -> None:
    refused(
        active,
        Removal(ChangeReason.MOVE_OUT, date(2013, 6, 1), "大阪"),
        "destination_lg_code",
        "required",
    )
    refused(
        active,
        Removal(ChangeReason.MOVE_OUT, date(2013, 6, 1), None, OTHER_LG),
        "destination_address",
        "required",
    )
    refused(
        active,
        Removal(ChangeReason.MOVE_OUT, date(2013, 6, 1), "千代田", LG),
        "destination_lg_code",
        "same_municipality",
    )
    refused(
        active,
        Removal(ChangeReason.MOVE_ABROAD, date(2013, 6, 1), "パリ", OTHER_LG),
        "destination_lg_code",
        "abroad",
    )
    refused(
        active,
        Removal(ChangeReason.DEATH, date(2013, 6, 1), "天国"),
        "destination_address",
        "only_for_moves",
    )


def test_nationality_acquisition_removal_needs_a_foreign_entry(active: RegisterEntry) -> None:
    refused(
        active,
        Removal(ChangeReason.NATIONALITY_ACQUISITION_REMOVAL, date(2013, 6, 1)),
        "kind",
        "reason_needs_kind",
    )


def test_death_before_birth_is_refused() -> None:
    baby = apply(
        None,
        new_entry(
            ChangeReason.BIRTH,
            birth_date=date(2013, 4, 1),
            previous_address=None,
            previous_lg_code=None,
        ),
    )
    refused(
        baby, Removal(ChangeReason.DEATH, date(2013, 3, 31)), "change_date", "before_last_change"
    )


# --- building events from forms ----------------------------------------------------------


def test_event_for_builds_the_right_kind_and_refuses_foreign_fields() -> None:
    event = event_for(ChangeReason.DEATH, {"change_date": date(2013, 6, 1), "name": None})
    assert isinstance(event, Removal)
    with pytest.raises(RuleViolation) as err:
        event_for(ChangeReason.DEATH, {"change_date": date(2013, 6, 1), "name": "x"})
    assert (err.value.field, err.value.rule) == ("name", "not_for_reason")
    with pytest.raises(RuleViolation) as err:
        event_for(ChangeReason.BIRTH, {"change_date": date(2013, 6, 1), "name": "x"})
    assert err.value.field == "birth_date"
    with pytest.raises(RuleViolation) as err:
        event_for(ChangeReason.MOVE_WITHIN, {"address": "x"})
    assert err.value.field == "change_date"
