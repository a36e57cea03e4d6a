"""The provision-history exchange's bodies: round trips, and every malformed field named."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.codes import make_resident_code
from jukinet.domain.disclosure import DisclosedProvision, Office
from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision_history import (
    MAX_CODES,
    HistoryAnswer,
    check_answer,
    history_request,
    parse_answer,
    parse_request,
)
from jukinet.net.messages import MessageType, Role, may_send

OLD, NEW, OTHER = (make_resident_code(f"{n:010d}") for n in (11, 12, 21))
TOKYO = Office("13")
MANY = [make_resident_code(f"{n:010d}") for n in range(1, MAX_CODES + 2)]


def provision(code: str = NEW, **kw: Any) -> DisclosedProvision:
    values: dict[str, Any] = {
        "provided_on": date(2013, 9, 2),
        "recipient": "日本年金機構",
        "affair_id": "NENKIN-1",
        "affair": "被保険者に係る届出に関する事務",
        "method": "immediate",
        "case_reference": "NK-2013-9",
        "resident_code": code,
    }
    return DisclosedProvision(**(values | kw))


def answer(**kw: Any) -> HistoryAnswer:
    request = history_request(TOKYO, [NEW])
    values: dict[str, Any] = {
        "reference": request.reference,
        "office": TOKYO,
        "resident_codes": (NEW, OLD),
        "as_of": date(2014, 3, 31),
        "kept_from": "2007-03",
        "provisions": (provision(OLD), provision(NEW)),
    }
    return HistoryAnswer(**(values | kw))


def test_request_and_answer_round_trip() -> None:
    request = history_request(TOKYO, [NEW, OLD, NEW])
    assert request.resident_codes == (NEW, OLD)  # each code once
    assert parse_request(request.to_body()) == request
    sent = answer()
    assert parse_answer(sent.to_body()) == sent
    check_answer(sent, [NEW])


def test_only_prefectures_ask_and_only_the_national_center_answers() -> None:
    assert may_send(MessageType.PROVISION_HISTORY_REQUEST, Role.PREFECTURE, Role.NATIONAL)
    assert may_send(MessageType.PROVISION_HISTORY, Role.NATIONAL, Role.PREFECTURE)
    assert not may_send(MessageType.PROVISION_HISTORY_REQUEST, Role.MUNICIPALITY, Role.NATIONAL)
    assert not may_send(MessageType.PROVISION_HISTORY, Role.MUNICIPALITY, Role.PREFECTURE)
    with pytest.raises(RuleViolation) as national:
        history_request(Office("national"), [NEW])
    assert national.value.rule == "not_a_prefecture"


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"reference": "not-a-uuid"}, "reference", "malformed"),
        ({"office": "48"}, "office", "office"),
        ({"resident_codes": NEW}, "resident_codes", "malformed"),
        ({"resident_codes": []}, "resident_codes", "count"),
        ({"resident_codes": MANY}, "resident_codes", "count"),
        ({"resident_codes": ["00000000125"]}, "resident_codes", "check_digit"),
    ],
)
def test_a_malformed_request_names_its_field(change: dict[str, Any], field: str, rule: str) -> None:
    body = history_request(TOKYO, [NEW]).to_body() | change
    with pytest.raises(RuleViolation) as bad:
        parse_request(body)
    assert (bad.value.field, bad.value.rule) == (field, rule)


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"kept_from": "2007-13"}, "kept_from", "month"),
        ({"as_of": "yesterday"}, "as_of", "date"),
        ({"provisions": {}}, "provisions", "malformed"),
        ({"provisions": [{"resident_code": NEW}]}, "provisions[0].recipient", "malformed"),
        ({"provisions": [7]}, "provisions[0]", "type"),
        ({"resident_codes": [NEW, 5]}, "resident_codes", "malformed"),
        ({"reference": ""}, "reference", "malformed"),
    ],
)
def test_a_malformed_answer_names_its_field(change: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as bad:
        parse_answer(answer().to_body() | change)
    assert (bad.value.field, bad.value.rule) == (field, rule)


def test_an_answer_about_someone_else_or_missing_the_person_is_refused() -> None:
    with pytest.raises(RuleViolation) as other:
        check_answer(answer(provisions=(provision(NEW), provision(OTHER))), [NEW])
    assert (other.value.field, other.value.rule) == ("provisions[1]", "other_person")
    with pytest.raises(RuleViolation) as missing:
        check_answer(answer(resident_codes=(OLD,), provisions=()), [NEW])
    assert missing.value.rule == "not_answered"


LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
JSON = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
PROVISION_FIELDS = list(provision().to_dict())
GARBLED_PROVISION = st.builds(
    lambda field, value: provision().to_dict() | {field: value},
    st.sampled_from(PROVISION_FIELDS),
    LEAF,
)  # one field of a good provision replaced by anything


@given(
    st.just({})
    | st.dictionaries(
        st.sampled_from(["reference", "office", "resident_codes", "as_of", "kept_from", "x"]),
        JSON,
        max_size=2,
    ),
    st.lists(GARBLED_PROVISION, min_size=1, max_size=3) | JSON,
    st.booleans(),
)
def test_any_body_is_parsed_whole_or_refused_naming_a_field(
    body: dict[str, Any], provisions: Any, is_answer: bool
) -> None:
    """Whatever a peer sends, parsing ends in a well-typed value or a RuleViolation naming a
    field (the receiver then quarantines the message): never another exception."""
    if is_answer:
        sent = answer().to_body() | {"provisions": provisions} | body
        parsed = refused_or(parse_answer, sent)
        if parsed is not None:
            for p in parsed.provisions:
                assert isinstance(p.provided_on, date)
                assert all(isinstance(getattr(p, f), str) for f in PROVISION_FIELDS[1:])
    else:
        refused_or(parse_request, history_request(TOKYO, [NEW]).to_body() | body)


def refused_or(parse: Any, body: dict[str, Any]) -> Any:
    try:
        return parse(body)
    except RuleViolation as refused:
        assert refused.field  # noqa: PT017 (a property over many bodies, not one raise)
        return None
