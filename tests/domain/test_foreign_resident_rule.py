"""The applicable date as a rule of the register (pure): who has a resident code when, and
the code assignment of 2013-07-08."""

from __future__ import annotations

from datetime import date

import pytest

from jukinet.domain.codes import make_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import (
    FOREIGN_RESIDENT_RULE,
    ForeignCategory,
    ForeignResidentItems,
    ForeignResidentRule,
    ItemChange,
    NewEntry,
    RegisterEntry,
    ResidentKind,
    apply_change,
    move_in_notice_code,
)

LG = "131016"
BEFORE, ON = date(2013, 7, 7), date(2013, 7, 8)
CODE = make_resident_code("2472705960")
ITEMS = ForeignResidentItems("中国", ForeignCategory.MID_LONG_TERM, date(2012, 7, 9))


def foreign(
    today: date, code: str | None = None, kind: ResidentKind = ResidentKind.FOREIGN
) -> RegisterEntry:
    event = NewEntry(
        ChangeReason.BECAME_FOREIGN_RESIDENT
        if kind is ResidentKind.FOREIGN
        else ChangeReason.EX_OFFICIO_ENTRY,
        date(2012, 7, 9),
        "王　明",
        date(1985, 6, 15),
        Sex.MALE,
        "東京都千代田区1番",
        kind=kind,
        foreign=ITEMS if kind is ResidentKind.FOREIGN else None,
        alias="王　明男" if kind is ResidentKind.FOREIGN else None,
        resident_code=code,
        household_id="0000000001",
    )
    return apply_change(None, event, lg_code=LG, today=today)


def test_the_rule() -> None:
    assert FOREIGN_RESIDENT_RULE.applicable_date == ON
    assert not FOREIGN_RESIDENT_RULE.on_network(ResidentKind.FOREIGN, BEFORE)
    assert FOREIGN_RESIDENT_RULE.on_network(ResidentKind.FOREIGN, ON)
    assert FOREIGN_RESIDENT_RULE.on_network(ResidentKind.NATIONAL, BEFORE)
    with pytest.raises(RuleViolation) as refused:
        FOREIGN_RESIDENT_RULE.require_applicable(BEFORE, "assign-codes")
    assert refused.value.rule == "before_applicable_date"
    FOREIGN_RESIDENT_RULE.require_applicable(ON, "assign-codes")


def test_before_the_date_a_foreign_resident_has_no_code() -> None:
    entry = foreign(BEFORE)
    assert entry.resident_code is None and not entry.on_network
    with pytest.raises(RuleViolation) as no_record:
        entry.identity_record()
    assert no_record.value.rule == "not_on_network"
    assert move_in_notice_code(entry, BEFORE) is None
    with pytest.raises(RuleViolation) as brought:
        foreign(BEFORE, CODE)
    assert (brought.value.field, brought.value.rule) == ("resident_code", "before_applicable_date")
    national = foreign(BEFORE, CODE, ResidentKind.NATIONAL)
    assert national.resident_code == CODE
    with pytest.raises(RuleViolation) as national_needs_one:
        foreign(BEFORE, None, ResidentKind.NATIONAL)
    assert national_needs_one.value.rule == "required"


def test_from_the_date_a_code_is_required_and_carried() -> None:
    with pytest.raises(RuleViolation) as missing:
        foreign(ON)
    assert missing.value.rule == "required"
    entry = foreign(ON, CODE)
    assert move_in_notice_code(entry, ON) == CODE
    assert entry.identity_record().alias == "王　明男"


def test_code_assignment() -> None:
    entry = foreign(BEFORE)
    assign = ItemChange(ChangeReason.RESIDENT_CODE_ASSIGNMENT, ON, resident_code=CODE)
    with pytest.raises(RuleViolation) as early:
        apply_change(
            entry,
            ItemChange(ChangeReason.RESIDENT_CODE_ASSIGNMENT, BEFORE, resident_code=CODE),
            lg_code=LG,
            today=BEFORE,
        )
    assert early.value.rule == "before_applicable_date"
    assigned = apply_change(entry, assign, lg_code=LG, today=ON)
    assert (assigned.resident_code, assigned.change_reason, assigned.version) == (
        CODE,
        ChangeReason.RESIDENT_CODE_ASSIGNMENT,
        2,
    )
    with pytest.raises(RuleViolation) as twice:
        apply_change(assigned, assign, lg_code=LG, today=ON)
    assert twice.value.rule == "already_assigned"
    with pytest.raises(RuleViolation) as no_code:
        apply_change(
            entry,
            ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, ON, resident_code=CODE),
            lg_code=LG,
            today=ON,
        )
    assert no_code.value.rule == "no_code"
    # a network run on another applicable date follows its own rule
    later = ForeignResidentRule(date(2014, 1, 1))
    with pytest.raises(RuleViolation):
        apply_change(entry, assign, lg_code=LG, today=ON, rule=later)
