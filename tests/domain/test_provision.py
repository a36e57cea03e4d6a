"""Provision rules: methods, fields, queries, windows, projection."""

from __future__ import annotations

from datetime import date

import pytest

from jukinet.domain.codes import make_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, IdentityRecord, Sex
from jukinet.domain.provision import (
    DEFAULT_FIELDS,
    AffairGrant,
    ProvisionField,
    ProvisionMethod,
    ProvisionQuery,
    parse_fields,
    project,
    validate_query,
    year_month,
)


def _code() -> str:
    return make_resident_code("1234567890")


BAD_CODE = _code()[:-1] + str((int(_code()[-1]) + 1) % 10)


def test_method_labels() -> None:
    assert [m.label_ja for m in ProvisionMethod] == ["即時提供", "電気通信回線", "磁気媒体"]


def test_fields_parse_and_refuse_unknown() -> None:
    assert parse_fields("name, sex") == {ProvisionField.NAME, ProvisionField.SEX}
    with pytest.raises(RuleViolation) as exc:
        parse_fields(["name", "income"])
    assert exc.value.rule == "unknown_field"


GRANT = AffairGrant("A-1", "日本年金機構", date(2002, 8, 5), date(2013, 12, 31), DEFAULT_FIELDS)


@pytest.mark.parametrize(
    ("recipient", "on", "wanted", "rule"),
    [
        ("総務省", date(2013, 1, 1), DEFAULT_FIELDS, "affair_not_listed"),
        ("日本年金機構", date(2002, 8, 4), DEFAULT_FIELDS, "outside_window"),
        ("日本年金機構", date(2014, 1, 1), DEFAULT_FIELDS, "outside_window"),
        ("日本年金機構", date(2013, 1, 1), {ProvisionField.NAME_KANA}, "field_not_allowed"),
    ],
)
def test_grant_refusals(
    recipient: str, on: date, wanted: frozenset[ProvisionField], rule: str
) -> None:
    with pytest.raises(RuleViolation) as exc:
        GRANT.check(recipient, on, frozenset(wanted))
    assert exc.value.rule == rule


def test_grant_suspended_and_allowed() -> None:
    GRANT.check("日本年金機構", date(2013, 1, 1), frozenset({ProvisionField.NAME}))
    suspended = AffairGrant("A-1", "日本年金機構", date(2002, 8, 5), None, DEFAULT_FIELDS, True)
    with pytest.raises(RuleViolation) as exc:
        suspended.check("日本年金機構", date(2013, 1, 1), DEFAULT_FIELDS)
    assert exc.value.rule == "affair_suspended"


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"case_reference": " "}, "case_reference", "required"),
        ({"case_reference": "a\x00b"}, "case_reference", "invalid"),
        ({}, "name", "required"),
        ({"name": "鈴木一郎"}, "birth_date", "required"),
        (
            {"name": "鈴木一郎", "birth_date": date(1950, 1, 1), "sex": "male"},
            "address",
            "four_items",
        ),
        ({"resident_code": BAD_CODE}, "resident_code", "check_digit"),
        ({"resident_code": "x", "name": "a"}, "resident_code", "one_way"),
    ],
)
def test_query_refusals(kwargs: dict[str, object], field: str, rule: str) -> None:
    base: dict[str, object] = {"affair_id": "A-1", "case_reference": "case-1"}
    with pytest.raises(RuleViolation) as exc:
        validate_query(ProvisionQuery(**{**base, **kwargs}))  # type: ignore[arg-type]
    assert (exc.value.field, exc.value.rule) == (field, rule)


def test_valid_queries() -> None:
    validate_query(ProvisionQuery("A-1", "c", resident_code=_code()))
    validate_query(ProvisionQuery("A-1", "c", name="鈴木", birth_date=date(1950, 1, 1)))


def test_projection_only_allowed_fields_and_status() -> None:
    record = IdentityRecord(
        _code(),
        "131016",
        "鈴木一郎",
        date(1940, 1, 1),
        Sex.MALE,
        "東京都千代田区1番",
        ChangeReason.DEATH,
        date(2013, 5, 1),
        name_kana="スズキイチロウ",
    )
    out = project(record, frozenset({ProvisionField.NAME}))
    assert out == {"status": "deceased", "status_date": "2013-05-01", "name": "鈴木一郎"}
    full = project(record, DEFAULT_FIELDS)
    assert "name_kana" not in full
    assert full["change_reason_ja"] == "死亡"
    assert year_month(date(2013, 7, 31)) == "2013-07"
