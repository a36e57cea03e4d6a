"""Wide-area certificate rules (pure): the home municipality's decision, the items it sends,
the issuing municipality's check of the answer, and the bodies on the wire."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from jukinet.domain.certificates import (
    Options,
    Requester,
    WideAreaRequest,
    check_answer,
    check_request,
    items_of,
    parse_person,
    parse_request_body,
    person_body,
    request_body,
    validate_request,
)
from jukinet.domain.codes import make_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import (
    ForeignCategory,
    ForeignResidentItems,
    ForeignResidentRule,
    NewEntry,
    RegisterEntry,
    Removal,
    ResidentKind,
    apply_change,
)

HOME, ISSUING = "131016", "142042"
TODAY = date(2014, 3, 3)
HEAD_CODE, WIFE_CODE, OTHER_CODE = (make_resident_code(f"{n}" * 10) for n in (1, 2, 3))


def entry(code: str, name: str, household: str = "0000000001", **kw: object) -> RegisterEntry:
    event = NewEntry(
        ChangeReason.MOVE_IN_FROM_ABROAD,
        date(2013, 4, 1),
        name,
        date(1970, 1, 1),
        Sex.MALE,
        "東京都千代田区1番",
        resident_code=code,
        household_id=household,
        **kw,  # type: ignore[arg-type]
    )
    return apply_change(None, event, lg_code=HOME, today=TODAY)


HEAD = entry(HEAD_CODE, "山田　太郎", registered_domicile="東京都千代田区千代田1番")
WIFE = entry(WIFE_CODE, "山田　花子", relationship="妻")
OTHER = entry(OTHER_CODE, "鈴木　次郎", household="0000000002")
HOLDINGS = {HEAD_CODE: [HEAD], WIFE_CODE: [WIFE], OTHER_CODE: [OTHER]}
PLAIN = Options()


def request(*subjects: str, name: str = "山田 花子", options: Options = PLAIN) -> WideAreaRequest:
    return WideAreaRequest(
        HOME, Requester(WIFE_CODE, name, date(1970, 1, 1)), subjects, options, "旅券"
    )


def refusal(req: WideAreaRequest, holdings: dict[str, list[RegisterEntry]]) -> str:
    with pytest.raises(RuleViolation) as refused:
        check_request(req, holdings, TODAY)
    return refused.value.rule


def test_household_members_are_granted_names_compared_on_keys() -> None:
    assert check_request(request(WIFE_CODE, HEAD_CODE), HOLDINGS, TODAY) == [WIFE, HEAD]


def test_refusals() -> None:
    assert refusal(request(WIFE_CODE, OTHER_CODE), HOLDINGS) == "other_household"
    assert refusal(request(name="山田　良子"), HOLDINGS) == "identity_mismatch"
    assert refusal(request(make_resident_code("4444444444")), HOLDINGS) == "not_found"
    died = apply_change(HEAD, Removal(ChangeReason.DEATH, TODAY), lg_code=HOME, today=TODAY)
    assert refusal(request(HEAD_CODE), {**HOLDINGS, HEAD_CODE: [died]}) == "removed"
    assert refusal(request(), {**HOLDINGS, WIFE_CODE: []}) == "not_found"


def test_foreign_resident_before_the_applicable_date_is_refused() -> None:
    foreign = replace(
        WIFE,
        kind=ResidentKind.FOREIGN,
        foreign=ForeignResidentItems("中国", ForeignCategory.MID_LONG_TERM, date(2012, 7, 9)),
    )
    with pytest.raises(RuleViolation) as refused:
        check_request(request(WIFE_CODE), {WIFE_CODE: [foreign]}, date(2013, 7, 7))
    assert refused.value.rule == "before_applicable_date"
    later = ForeignResidentRule(date(2015, 1, 1))  # the date is a rule, not a constant
    with pytest.raises(RuleViolation):
        check_request(request(WIFE_CODE), {WIFE_CODE: [foreign]}, TODAY, later)
    assert check_request(request(WIFE_CODE), {WIFE_CODE: [foreign]}, TODAY) == [foreign]


def test_items_never_carry_the_domicile_and_options_decide_the_rest() -> None:
    plain = items_of(HEAD, HEAD, Options())
    assert (plain.household_head, plain.relationship, plain.resident_code) == (None, None, None)
    assert "registered_domicile" not in person_body(plain)
    full = items_of(WIFE, HEAD, Options(include_household=True, include_resident_code=True))
    assert (full.household_head, full.relationship, full.resident_code) == (
        "山田　太郎",
        "妻",
        WIFE_CODE,
    )
    assert parse_person(person_body(full)) == full


def test_answers_are_checked_before_printing() -> None:
    plain = items_of(WIFE, HEAD, Options())
    check_answer(request(WIFE_CODE), [plain])
    with pytest.raises(RuleViolation) as extra:
        check_answer(request(WIFE_CODE), [items_of(WIFE, HEAD, Options(include_household=True))])
    assert extra.value.rule == "not_requested"
    with pytest.raises(RuleViolation) as count:
        check_answer(request(WIFE_CODE, HEAD_CODE), [plain])
    assert count.value.rule == "count"
    with pytest.raises(RuleViolation) as domicile:
        parse_person({**person_body(plain), "registered_domicile": "東京都"})
    assert domicile.value.rule == "never_sent"


def test_request_bodies_round_trip_and_bad_ones_are_refused() -> None:
    req = validate_request(request(), ISSUING)
    assert req.subject_codes == (WIFE_CODE,)  # the requester by default
    request_id, parsed = parse_request_body(request_body("r-1", req), HOME)
    assert request_id == "r-1"
    assert (parsed.requester, parsed.subject_codes, parsed.options) == (
        req.requester,
        req.subject_codes,
        req.options,
    )
    for broken, field in (
        ({"subject_codes": []}, "subject_codes"),
        ({"include_household": "yes"}, "include_household"),
        ({"requester": None}, "requester"),
        ({"request_id": ""}, "request_id"),
    ):
        with pytest.raises(RuleViolation) as bad:
            parse_request_body({**request_body("r-1", req), **broken}, HOME)
        assert bad.value.field == field
