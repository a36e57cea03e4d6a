"""The pure rules of disclosure requests: offices, the form, refusals, states, the deadline,
the statistics table."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.disclosure import (
    STATISTICS_HEADER,
    Channel,
    CorrectionState,
    Decision,
    DisclosedContent,
    DisclosedProvision,
    DisclosedVersion,
    DisclosureForm,
    EvidenceKind,
    Extension,
    Office,
    RecordedRequest,
    RefusalReason,
    Representation,
    RequesterKind,
    RequestState,
    Step,
    check_correction_allowed,
    check_correction_answer,
    check_extension,
    check_form,
    check_refusal,
    check_step_date,
    days_overdue,
    due_date,
    formal_refusals,
    next_state,
    parse_evidence,
    parse_office,
    person_matches,
    statistics_rows,
)
from jukinet.domain.errors import RuleViolation

TODAY = date(2014, 3, 31)


def form(**kw: object) -> DisclosureForm:
    base = DisclosureForm(
        office=Office("national"),
        received_on=date(2014, 3, 20),
        request_method=Channel.VISIT,
        delivery_method=Channel.VISIT,
        requester_kind=RequesterKind.PERSON,
        requester_name="鈴木　一郎",
        subject_resident_code="24727059608",
        subject_name="鈴木一郎",
        subject_birth_date=date(1950, 5, 5),
        evidence=frozenset({EvidenceKind.PASSPORT}),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_offices() -> None:
    assert parse_office("national").organisation == "national"
    tokyo = parse_office(" 13 ")
    assert (tokyo.pref_code, tokyo.organisation, tokyo.label_ja) == (
        "13",
        "prefecture/13",
        "東京都",
    )
    for bad in ("48", "00", "131016", "prefecture/13", ""):
        with pytest.raises(RuleViolation) as refused:
            parse_office(bad)
        assert refused.value.rule == "office"


def test_a_well_formed_request_passes_and_is_normalised() -> None:
    checked = check_form(form(requester_name="  鈴木　一郎 ", requester_address=" "), TODAY)
    assert checked.requester_name == "鈴木　一郎"
    assert checked.requester_address is None
    assert formal_refusals(checked) == ()


def test_the_received_date_is_never_in_the_future() -> None:
    assert check_form(form(received_on=TODAY), TODAY).received_on == TODAY
    with pytest.raises(RuleViolation) as refused:
        check_form(form(received_on=TODAY + timedelta(days=1)), TODAY)
    assert (refused.value.field, refused.value.rule) == ("received_on", "future_date")


def test_voluntary_agents_are_refused_and_legal_representatives_prove_it() -> None:
    agent = form(requester_kind=RequesterKind.VOLUNTARY_AGENT, requester_name="代理　太郎")
    assert formal_refusals(agent) == (RefusalReason.NOT_ENTITLED,)
    parent = form(
        requester_kind=RequesterKind.LEGAL_REPRESENTATIVE,
        requester_name="鈴木　花子",
        representation=Representation.PARENT,
    )
    assert formal_refusals(parent) == (RefusalReason.NO_REPRESENTATION_EVIDENCE,)
    proven = replace(parent, evidence=parent.evidence | {EvidenceKind.FAMILY_REGISTER})
    assert formal_refusals(proven) == ()
    guardian_with_family_register = replace(proven, representation=Representation.GUARDIAN)
    assert formal_refusals(guardian_with_family_register) == (
        RefusalReason.NO_REPRESENTATION_EVIDENCE,
    )
    with pytest.raises(RuleViolation) as refused:
        check_form(form(representation=Representation.PARENT), TODAY)
    assert refused.value.rule == "not_a_representative"


def test_identity_evidence_is_one_photo_document_or_two_others() -> None:
    assert formal_refusals(form(evidence=frozenset({EvidenceKind.RESIDENT_CARD}))) == ()
    two = frozenset({EvidenceKind.HEALTH_INSURANCE_CARD, EvidenceKind.PENSION_BOOK})
    assert formal_refusals(form(evidence=two)) == ()
    one = frozenset({EvidenceKind.HEALTH_INSURANCE_CARD})
    assert formal_refusals(form(evidence=one)) == (RefusalReason.NO_IDENTITY_EVIDENCE,)
    representation_only = frozenset({EvidenceKind.FAMILY_REGISTER})
    assert formal_refusals(form(evidence=representation_only)) == (
        RefusalReason.NO_IDENTITY_EVIDENCE,
    )


def test_a_mailed_request_encloses_the_residence_certificate() -> None:
    mailed = form(request_method=Channel.MAIL)
    assert formal_refusals(mailed) == (RefusalReason.NO_ADDRESS_EVIDENCE,)
    enclosed = replace(mailed, evidence=mailed.evidence | {EvidenceKind.RESIDENCE_CERTIFICATE})
    assert formal_refusals(enclosed) == ()


def test_evidence_text() -> None:
    assert parse_evidence("passport, drivers_licence,") == {
        EvidenceKind.PASSPORT,
        EvidenceKind.DRIVERS_LICENCE,
    }
    with pytest.raises(RuleViolation) as refused:
        parse_evidence("passport,library_card")
    assert refused.value.rule == "evidence_kind"


def test_the_person_is_matched_on_search_keys() -> None:
    born = date(1950, 5, 5)
    assert person_matches("鈴木一郎", born, ["鈴木　一郎", None], born)
    assert person_matches("Ｊｏｈｎ　Ｓｍｉｔｈ", born, ["スミス", "John Smith"], born)
    assert not person_matches("鈴木一郎", born + timedelta(days=1), ["鈴木　一郎"], born)
    assert not person_matches("鈴木二郎", born, ["鈴木　一郎"], born)


def test_states_and_illegal_transitions() -> None:
    assert next_state(RequestState.RECEIVED, Step.DECIDE) is RequestState.DECIDED
    assert next_state(RequestState.DECIDED, Step.DELIVER) is RequestState.DELIVERED
    for state, step in (
        (RequestState.RECEIVED, Step.DELIVER),
        (RequestState.DECIDED, Step.DECIDE),
        (RequestState.DELIVERED, Step.DECIDE),
        (RequestState.DELIVERED, Step.DELIVER),
    ):
        with pytest.raises(RuleViolation) as refused:
            next_state(state, step)
        assert refused.value.rule == "illegal_transition"
        assert step.value in refused.value.message and state.value in refused.value.message


def test_corrections_follow_a_delivered_disclosure_only() -> None:
    check_correction_allowed(RequestState.DELIVERED, Decision.DISCLOSE)
    for state, decision in (
        (RequestState.DELIVERED, Decision.REFUSE),
        (RequestState.DECIDED, Decision.DISCLOSE),
        (RequestState.RECEIVED, None),
    ):
        with pytest.raises(RuleViolation):
            check_correction_allowed(state, decision)
    assert check_correction_answer(CorrectionState.REQUESTED, " 確認済み ") == "確認済み"
    with pytest.raises(RuleViolation):
        check_correction_answer(CorrectionState.ANSWERED, "x")


def test_refusals_name_reasons() -> None:
    assert check_refusal((RefusalReason.NOT_ENTITLED,), " ") is None
    with pytest.raises(RuleViolation):
        check_refusal((), None)
    with pytest.raises(RuleViolation) as unexplained:
        check_refusal((RefusalReason.OTHER,), None)
    assert unexplained.value.field == "note"


def test_deadline_and_overdue() -> None:
    received = date(2014, 3, 17)
    assert due_date(received) == date(2014, 3, 31)  # 14 calendar days, weekends included
    assert due_date(date(2013, 12, 25)) == date(2014, 1, 8)
    due = due_date(received)
    assert days_overdue(RequestState.RECEIVED, due, due) == 0
    assert days_overdue(RequestState.RECEIVED, due, due + timedelta(days=3)) == 3
    assert days_overdue(RequestState.DECIDED, due, due + timedelta(days=3)) == 0


def test_an_extension_is_notified_in_time_once_with_a_reason_and_a_later_deadline() -> None:
    received = date(2014, 3, 17)
    due = due_date(received)  # 2014-03-31
    wanted = Extension(date(2014, 4, 30), "  全国センターからの回答を待っているため ", due)
    ok = check_extension(
        RequestState.RECEIVED, received, due, None, wanted=wanted, today=date(2014, 4, 2)
    )
    assert ok == Extension(date(2014, 4, 30), "全国センターからの回答を待っているため", due)

    def refused(
        state: RequestState = RequestState.RECEIVED,
        extended: Extension | None = None,
        asked: Extension = wanted,
        today: date = due,
    ) -> tuple[str, str | None]:
        with pytest.raises(RuleViolation) as bad:
            check_extension(state, received, due, extended, wanted=asked, today=today)
        return bad.value.field, bad.value.rule

    assert refused(state=RequestState.DECIDED) == ("state", "illegal_transition")
    assert refused(extended=ok) == ("until", "already_extended")
    late = replace(wanted, notified_on=due + timedelta(days=1))
    assert refused(asked=late, today=due + timedelta(days=1)) == ("notified_on", "period_passed")
    assert refused(today=due - timedelta(days=1)) == ("notified_on", "future_date")
    assert refused(asked=replace(wanted, until=due)) == ("until", "range")
    too_far = replace(wanted, until=received + timedelta(days=61))
    assert refused(asked=too_far) == ("until", "range")
    assert refused(asked=replace(wanted, reason=" ")) == ("reason", "required")


def test_step_dates() -> None:
    assert check_step_date(TODAY, TODAY, TODAY) == TODAY
    with pytest.raises(RuleViolation) as future:
        check_step_date(TODAY + timedelta(days=1), TODAY, TODAY)
    assert future.value.rule == "future_date"
    with pytest.raises(RuleViolation) as before:
        check_step_date(TODAY - timedelta(days=1), TODAY, TODAY)
    assert before.value.rule == "before_previous_step"


def test_statistics_table() -> None:
    requests = [
        RecordedRequest(date(2013, 3, 31), Channel.VISIT, Channel.MAIL),  # FY2012
        RecordedRequest(date(2013, 4, 1), Channel.MAIL, Channel.MAIL),  # FY2013
        RecordedRequest(date(2014, 3, 31), Channel.VISIT, Channel.VISIT),  # FY2013
        RecordedRequest(date(2014, 4, 1), Channel.VISIT, Channel.VISIT),  # FY2014: outside
    ]
    rows = statistics_rows(requests, 2012, 2013)
    assert [r.as_csv() for r in rows] == [
        ("2012", "平成24年度", "1", "0", "0", "1", "1"),
        ("2013", "平成25年度", "1", "1", "1", "1", "2"),
        ("total", "合計", "2", "1", "1", "2", "3"),
    ]
    assert len(STATISTICS_HEADER) == len(rows[0].as_csv())
    assert statistics_rows([], 2018, 2019)[1].era_year == "令和元年度"


@given(
    st.lists(
        st.tuples(
            st.dates(date(2002, 8, 5), date(2014, 3, 31)),
            st.sampled_from(Channel),
            st.sampled_from(Channel),
        ),
        max_size=40,
    )
)
def test_statistics_count_every_request_once(
    drawn: list[tuple[date, Channel, Channel]],
) -> None:
    rows = statistics_rows([RecordedRequest(*d) for d in drawn], 2002, 2013)
    total = rows[-1]
    assert total.total == len(drawn)
    assert total.delivery_visit + total.delivery_mail == len(drawn)
    assert sum(r.total for r in rows[:-1]) == len(drawn)
    for row in rows:
        assert row.request_visit + row.request_mail == row.delivery_visit + row.delivery_mail


def test_content_round_trips() -> None:
    version = DisclosedVersion(
        "24727059608",
        "𠮷田　一郎",
        None,
        None,
        date(1950, 5, 5),
        "male",
        "東京都千代田区1番",
        "birth",
        date(1950, 5, 5),
        False,
    )
    provision = DisclosedProvision(
        date(2013, 9, 2), "日本年金機構", "NENKIN-1", "年金", "batch_line", "p1", "24727059608"
    )
    content = DisclosedContent(TODAY, version, (version,), (provision,), "2007-03", "全国センター")
    assert DisclosedContent.from_dict(content.to_dict()) == content
    without = replace(content, provisions=None, provisions_note="全国センターに請求してください")
    assert DisclosedContent.from_dict(without.to_dict()) == without
