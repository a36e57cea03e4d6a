"""Disclosure requests on SQLite and PostgreSQL: what a person is shown (every provision of
their record, batch ones included, nothing of anyone else), refusals, deadlines and the
overdue list, the states, corrections, the statistics, and a prefecture's desk."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from jukinet.domain.audit import AuditEntry
from jukinet.domain.disclosure import (
    Channel,
    CorrectionItem,
    CorrectionOutcome,
    Decision,
    EvidenceKind,
    Office,
    RefusalReason,
    Representation,
    RequesterKind,
    RequestState,
)
from jukinet.domain.eras import fiscal_year
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.services.disclosure import DisclosureService, NationalProvisionLog
from jukinet.services.national.provision_log import ProvisionLog
from jukinet.store import audit as audit_store
from jukinet.store.db import read_transaction
from jukinet.store.disclosure import disclosure_requests
from jukinet.store.provision_log import month_of
from tests.support.disclosure import (
    SUZUKI,
    TANAKA,
    TODAY,
    World,
    build_national,
    clock,
    form,
    prefecture_desk,
    store_prefectural,
)
from tests.support.provision import national_record

ACTOR = "operator:desk"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path / "national"


@pytest.fixture
def world(engine: Engine, files: Path) -> World:
    return build_national(engine, files, clock())


@pytest.fixture
def desk(engine: Engine, files: Path) -> DisclosureService:
    c = clock()
    return DisclosureService(engine, Office("national"), c, NationalProvisionLog(engine, files, c))


def _entries(engine: Engine) -> list[AuditEntry]:
    with read_transaction(engine) as conn:
        return [e for e in audit_store.iter_entries(conn) if e.action.startswith("disclosure.")]


# --- what is disclosed -----------------------------------------------------------------------


def test_a_person_sees_every_provision_of_their_record_and_nothing_else(
    desk: DisclosureService, world: World, engine: Engine, files: Path
) -> None:
    request = desk.intake(form(world.suzuki), actor=ACTOR)
    assert request.state is RequestState.RECEIVED
    assert request.resident_code == world.suzuki
    decided = desk.decide(request.id, Decision.DISCLOSE, actor=ACTOR)
    content = decided.content
    assert content is not None and content.provisions is not None
    assert content.record.resident_code == world.suzuki
    assert content.record.change_reason == ChangeReason.RESIDENT_CODE_CHANGE
    # the history follows the resident-code change back to the old code
    assert [(v.resident_code, v.change_reason) for v in content.history] == [
        (world.suzuki_old, ChangeReason.BIRTH),
        (world.suzuki_old, ChangeReason.MOVE_WITHIN),
        (world.suzuki, ChangeReason.RESIDENT_CODE_CHANGE),
    ]
    shown = {(p.resident_code, p.method, p.case_reference) for p in content.provisions}
    assert shown == {
        (world.suzuki_old, "immediate", "NK-2011-1"),
        (world.suzuki, "immediate", "NK-2013-9"),
        (world.suzuki, "batch_line", "p1"),  # the batch job's segment
    }
    # every provision of either code the log holds within retention (the 2006 one is beyond)
    log = ProvisionLog(engine, files, clock())
    everything = {
        (e.resident_code, e.method, e.case_reference)
        for code in (world.suzuki_old, world.suzuki)
        for e in log.entries_for(code)
        if month_of(e.provided_at) >= content.provisions_kept_from
    }
    assert everything == shown
    assert "too-old" not in {p.case_reference for p in content.provisions}
    assert content.provisions_kept_from == "2007-03"
    assert [p.provided_on for p in content.provisions] == sorted(
        p.provided_on for p in content.provisions
    )
    assert all(p.affair and p.recipient == "日本年金機構" for p in content.provisions)
    # nothing of the other person in the same batch job, or of anyone else
    text = json.dumps(content.to_dict(), ensure_ascii=False)
    for foreign in (world.tanaka, TANAKA, "TANAKA-ONLY", "p2", world.sato):
        assert foreign not in text


def test_a_request_naming_the_old_code_finds_the_person_under_the_new(
    desk: DisclosureService, world: World
) -> None:
    request = desk.intake(form(world.suzuki_old), actor=ACTOR)
    assert (request.state, request.resident_code) == (RequestState.RECEIVED, world.suzuki)


def test_content_is_fixed_when_decided(
    desk: DisclosureService, world: World, engine: Engine
) -> None:
    request = desk.intake(
        form(world.tanaka, TANAKA, subject_birth_date=date(1960, 1, 2)), actor=ACTOR
    )
    decided = desk.decide(request.id, Decision.DISCLOSE, actor=ACTOR)
    assert decided.content is not None and decided.content.provisions is not None
    assert {p.case_reference for p in decided.content.provisions} == {"TANAKA-ONLY", "p2"}
    assert desk.get(request.id).content == decided.content


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        (
            {"requester_kind": RequesterKind.VOLUNTARY_AGENT, "requester_name": "代理　太郎"},
            [RefusalReason.NOT_ENTITLED],
        ),
        ({"requester_name": "別人　三郎"}, [RefusalReason.NOT_ENTITLED]),
        (
            {"evidence": frozenset({EvidenceKind.HEALTH_INSURANCE_CARD})},
            [RefusalReason.NO_IDENTITY_EVIDENCE],
        ),
        ({"evidence": frozenset()}, [RefusalReason.NO_IDENTITY_EVIDENCE]),
        (
            {
                "requester_kind": RequesterKind.LEGAL_REPRESENTATIVE,
                "requester_name": "後見　花子",
                "representation": Representation.GUARDIAN,
            },
            [RefusalReason.NO_REPRESENTATION_EVIDENCE],
        ),
        (
            {"request_method": Channel.MAIL, "requester_address": "東京都千代田区1番"},
            [RefusalReason.NO_ADDRESS_EVIDENCE],
        ),
        ({"subject_birth_date": date(1950, 5, 6)}, [RefusalReason.PERSON_NOT_FOUND]),
        (
            {"subject_name": "鈴木　二郎", "requester_name": "鈴木　二郎"},
            [RefusalReason.PERSON_NOT_FOUND],
        ),
        (
            {
                "requester_kind": RequesterKind.VOLUNTARY_AGENT,
                "requester_name": "代理　太郎",
                "evidence": frozenset(),
            },
            [RefusalReason.NOT_ENTITLED, RefusalReason.NO_IDENTITY_EVIDENCE],
        ),
    ],
)
def test_requests_with_defects_are_refused_and_recorded(
    desk: DisclosureService,
    world: World,
    engine: Engine,
    changes: dict[str, object],
    reasons: list[RefusalReason],
) -> None:
    request = desk.intake(form(world.suzuki, SUZUKI, **changes), actor=ACTOR)
    assert (request.state, request.decision) == (RequestState.DECIDED, Decision.REFUSE)
    assert list(request.refusal_reasons) == reasons
    assert request.decided_on == TODAY
    assert request.content is None
    entries = _entries(engine)
    assert [e.action for e in entries] == ["disclosure.intake", "disclosure.decide"]
    assert entries[1].detail_data["refusal_reasons"] == [r.value for r in reasons]
    assert SUZUKI not in "".join(e.detail for e in entries)  # no personal data in the log
    # a refused request can be delivered (the refusal notice), never disclosed
    with pytest.raises(RuleViolation) as illegal:
        desk.decide(request.id, Decision.DISCLOSE, actor=ACTOR)
    assert illegal.value.rule == "illegal_transition"
    assert desk.deliver(request.id, actor=ACTOR).state is RequestState.DELIVERED


def test_a_request_for_a_code_nobody_has_is_refused(desk: DisclosureService, world: World) -> None:
    request = desk.intake(form("24727059608"), actor=ACTOR)
    assert request.refusal_reasons == (RefusalReason.PERSON_NOT_FOUND,)
    assert request.resident_code is None


def test_a_legal_representative_with_proof_is_accepted(
    desk: DisclosureService, world: World
) -> None:
    request = desk.intake(
        form(
            world.suzuki,
            requester_kind=RequesterKind.LEGAL_REPRESENTATIVE,
            requester_name="後見　花子",
            representation=Representation.GUARDIAN,
            request_method=Channel.MAIL,
            delivery_method=Channel.MAIL,
            requester_address="東京都千代田区丸の内1番",
            evidence=frozenset(
                {
                    EvidenceKind.HEALTH_INSURANCE_CARD,
                    EvidenceKind.RESIDENCE_CERTIFICATE,
                    EvidenceKind.GUARDIANSHIP_CERTIFICATE,
                }
            ),
        ),
        actor=ACTOR,
    )
    assert request.state is RequestState.RECEIVED


@pytest.mark.parametrize(
    "case",
    [
        ({"received_on": TODAY + timedelta(days=1)}, "received_on", "future_date"),
        ({"received_on": date(2002, 8, 4)}, "received_on", "before_juki_net"),
        ({"subject_resident_code": "24727059609"}, "resident_code", "check_digit"),
        ({"requester_name": "  "}, "requester_name", "required"),
        ({"delivery_method": Channel.MAIL}, "requester_address", "required"),
        (
            {"requester_kind": RequesterKind.LEGAL_REPRESENTATIVE},
            "representation",
            "required",
        ),
        ({"office": Office("13")}, "office", "other_office"),
    ],
)
def test_malformed_requests_change_nothing_and_the_refusal_is_recorded(
    desk: DisclosureService,
    world: World,
    engine: Engine,
    case: tuple[dict[str, object], str, str],
) -> None:
    changes, field, rule = case
    with pytest.raises(RuleViolation) as refused:
        desk.intake(form(world.suzuki, SUZUKI, **changes), actor=ACTOR)
    assert (refused.value.field, refused.value.rule) == (field, rule)
    with read_transaction(engine) as conn:
        count = conn.execute(select(func.count()).select_from(disclosure_requests)).scalar_one()
    assert count == 0
    (entry,) = _entries(engine)
    assert (entry.action, entry.outcome) == ("disclosure.intake", "refused")
    assert entry.detail_data == {"field": field, "rule": rule}


# --- states, deadlines ---------------------------------------------------------------------


def test_deadline_is_fourteen_calendar_days_and_overdue_requests_are_listed(
    desk: DisclosureService, world: World
) -> None:
    late = desk.intake(form(world.suzuki, received_on=date(2014, 3, 10)), actor=ACTOR)
    due_today = desk.intake(form(world.suzuki, received_on=date(2014, 3, 17)), actor=ACTOR)
    fresh = desk.intake(form(world.suzuki, received_on=date(2014, 3, 30)), actor=ACTOR)
    refused = desk.intake(
        form(world.suzuki, received_on=date(2014, 3, 1), evidence=frozenset()), actor=ACTOR
    )
    assert late.due_on == date(2014, 3, 24)
    assert due_today.due_on == TODAY
    assert fresh.due_on == date(2014, 4, 13)
    overdue = desk.overdue()
    assert [(o.request.id, o.days_overdue) for o in overdue] == [(late.id, 7)]
    assert refused.id not in {o.request.id for o in overdue}  # decided at intake
    later = desk.overdue(date(2014, 4, 14))
    assert [(o.request.id, o.days_overdue) for o in later] == [
        (late.id, 21),
        (due_today.id, 14),
        (fresh.id, 1),
    ]
    decided = desk.decide(late.id, Decision.DISCLOSE, actor=ACTOR)
    assert decided.decided_on == TODAY
    assert [o.request.id for o in desk.overdue()] == []
    assert [o.request.id for o in desk.overdue(date(2014, 4, 14))] == [due_today.id, fresh.id]


def test_an_extended_request_counts_from_its_new_deadline(
    desk: DisclosureService, world: World, engine: Engine
) -> None:
    waiting = desk.intake(form(world.suzuki, received_on=date(2014, 3, 20)), actor=ACTOR)
    other = desk.intake(form(world.suzuki, received_on=date(2014, 3, 10)), actor=ACTOR)
    reason = "記録の確認に時間を要するため"
    extended = desk.extend(waiting.id, date(2014, 4, 30), reason, actor=ACTOR)
    assert extended.due_on == date(2014, 4, 30)
    assert extended.extension is not None
    assert (extended.extension.reason, extended.extension.notified_on) == (reason, TODAY)
    assert [o.request.id for o in desk.overdue(date(2014, 4, 14))] == [other.id]  # not waiting
    assert [o.days_overdue for o in desk.overdue(date(2014, 5, 2))] == [39, 2]
    with pytest.raises(RuleViolation) as twice:
        desk.extend(waiting.id, date(2014, 5, 1), reason, actor=ACTOR)
    assert twice.value.rule == "already_extended"
    with pytest.raises(RuleViolation) as too_late:  # its 14 days ran out on 2014-03-24
        desk.extend(other.id, date(2014, 4, 30), reason, actor=ACTOR)
    assert too_late.value.rule == "period_passed"
    assert desk.get(other.id).extension is None  # the refused step changed nothing
    steps = [(e.action, e.outcome) for e in _entries(engine) if e.action == "disclosure.extend"]
    assert steps == [("disclosure.extend", "ok"), *[("disclosure.extend", "refused")] * 2]
    decided = desk.decide(waiting.id, Decision.DISCLOSE, actor=ACTOR)
    assert decided.decided_on == TODAY and decided.decided_on <= decided.due_on  # not late


def test_states_move_forward_only(desk: DisclosureService, world: World, engine: Engine) -> None:
    request = desk.intake(form(world.suzuki), actor=ACTOR)
    with pytest.raises(RuleViolation) as early:
        desk.deliver(request.id, actor=ACTOR)
    assert early.value.rule == "illegal_transition"
    assert "deliver" in early.value.message and "received" in early.value.message
    with pytest.raises(RuleViolation) as before:
        desk.decide(request.id, Decision.DISCLOSE, actor=ACTOR, on=date(2014, 3, 19))
    assert before.value.rule == "before_previous_step"
    with pytest.raises(RuleViolation) as future:
        desk.decide(request.id, Decision.DISCLOSE, actor=ACTOR, on=date(2014, 4, 1))
    assert future.value.rule == "future_date"
    with pytest.raises(RuleViolation) as reasonless:
        desk.decide(request.id, Decision.REFUSE, actor=ACTOR)
    assert reasonless.value.rule == "required"
    with pytest.raises(RuleViolation) as unexplained:
        desk.decide(request.id, Decision.REFUSE, actor=ACTOR, reasons=[RefusalReason.OTHER])
    assert (unexplained.value.field, unexplained.value.rule) == ("note", "required")
    with pytest.raises(RuleViolation) as correction:
        desk.request_correction(request.id, CorrectionItem.ADDRESS, "x", actor=ACTOR)
    assert correction.value.rule == "illegal_transition"
    decided = desk.decide(request.id, Decision.DISCLOSE, actor=ACTOR, on=date(2014, 3, 25))
    assert (decided.state, decided.decided_on) == (RequestState.DECIDED, date(2014, 3, 25))
    with pytest.raises(RuleViolation) as twice:
        desk.decide(request.id, Decision.REFUSE, actor=ACTOR, reasons=[RefusalReason.OTHER])
    assert twice.value.rule == "illegal_transition"
    with pytest.raises(RuleViolation) as undelivered:
        desk.deliver(request.id, actor=ACTOR, on=date(2014, 3, 24))
    assert undelivered.value.rule == "before_previous_step"
    delivered = desk.deliver(request.id, actor=ACTOR)
    assert (delivered.state, delivered.delivered_on) == (RequestState.DELIVERED, TODAY)
    with pytest.raises(RuleViolation) as again:
        desk.deliver(request.id, actor=ACTOR)
    assert again.value.rule == "illegal_transition"
    entries = _entries(engine)
    refused = [e for e in entries if e.outcome == "refused"]
    assert len(refused) == 9  # every refused step is recorded too
    ok = [e.action for e in entries if e.outcome == "ok"]
    assert ok == ["disclosure.intake", "disclosure.decide", "disclosure.deliver"]


def test_a_correction_after_disclosure_is_investigated_and_answered(
    desk: DisclosureService, world: World, engine: Engine
) -> None:
    request = desk.intake(
        form(
            world.suzuki,
            delivery_method=Channel.MAIL,
            requester_address="東京都千代田区永田町一丁目7番1号",
        ),
        actor=ACTOR,
    )
    desk.decide(request.id, Decision.DISCLOSE, actor=ACTOR)
    desk.deliver(request.id, actor=ACTOR)
    correction = desk.request_correction(
        request.id, CorrectionItem.ADDRESS, "東京都千代田区永田町一丁目7番2号", actor=ACTOR
    )
    assert correction.state.value == "requested"
    with pytest.raises(RuleViolation) as empty:
        desk.answer_correction(
            request.id, correction.id, CorrectionOutcome.NOT_CORRECTED, " ", actor=ACTOR
        )
    assert (empty.value.field, empty.value.rule) == ("findings", "required")
    answered = desk.answer_correction(
        request.id,
        correction.id,
        CorrectionOutcome.NOT_CORRECTED,
        "千代田区に照会した結果、住民票の記載どおりであることを確認しました。",
        actor=ACTOR,
    )
    assert (answered.state.value, answered.outcome, answered.answered_on) == (
        "answered",
        CorrectionOutcome.NOT_CORRECTED,
        TODAY,
    )
    with pytest.raises(RuleViolation) as twice:
        desk.answer_correction(
            request.id, correction.id, CorrectionOutcome.CORRECTED, "x", actor=ACTOR
        )
    assert twice.value.rule == "illegal_transition"
    assert [c.id for c in desk.get(request.id).corrections] == [correction.id]
    with pytest.raises(RuleViolation) as missing:
        desk.correction(request.id, correction.id + 1)
    assert missing.value.rule == "not_found"
    actions = [e.action for e in _entries(engine) if e.outcome == "ok"]
    assert actions[-2:] == ["disclosure.correction_request", "disclosure.correction_answer"]


def test_a_refusal_cannot_be_corrected(desk: DisclosureService, world: World) -> None:
    request = desk.intake(form(world.suzuki, evidence=frozenset()), actor=ACTOR)
    desk.deliver(request.id, actor=ACTOR)
    with pytest.raises(RuleViolation) as refused:
        desk.request_correction(request.id, CorrectionItem.NAME, "鈴木一郎", actor=ACTOR)
    assert refused.value.rule == "illegal_transition"


# --- statistics ----------------------------------------------------------------------------


def test_statistics_equal_the_recorded_requests(
    desk: DisclosureService, world: World, engine: Engine, files: Path, tmp_path: Path
) -> None:
    visit, mail = Channel.VISIT, Channel.MAIL
    address = {"requester_address": "東京都千代田区1番"}
    mailed = frozenset({EvidenceKind.PASSPORT, EvidenceKind.RESIDENCE_CERTIFICATE})
    cases = [
        (date(2002, 8, 5), visit, visit),
        (date(2003, 3, 31), mail, mail),  # FY2002
        (date(2003, 4, 1), mail, visit),  # FY2003
        (date(2012, 6, 1), visit, mail),
        (date(2013, 3, 29), visit, visit),
        (date(2013, 4, 1), mail, mail),
        (date(2014, 3, 31), visit, visit),  # FY2013, its last day
    ]
    for received, how, answer in cases:
        desk.intake(
            form(
                world.suzuki,
                received_on=received,
                request_method=how,
                delivery_method=answer,
                evidence=mailed,
                **address,
            ),
            actor=ACTOR,
        )
    desk.intake(form(world.suzuki, evidence=frozenset()), actor=ACTOR)  # refused: counted
    prefecture = prefecture_desk(engine, tmp_path)  # another office in the same database
    store_prefectural(
        engine, "13", national_record(12, SUZUKI, birth_date=date(1950, 5, 5)), clock()
    )
    prefecture.intake(replace(form(world.suzuki), office=Office("13")), actor=ACTOR)  # not ours

    rows = desk.statistics(2002, 2013)
    assert [r.fiscal_year for r in rows] == [*map(str, range(2002, 2014)), "total"]
    assert rows[0].era_year == "平成14年度" and rows[11].era_year == "平成25年度"
    assert rows[-1].era_year == "合計"
    recorded = [(r.received_on, r.request_method, r.delivery_method) for r in desk.requests()]
    assert len(recorded) == len(cases) + 1
    for row in rows[:-1]:
        mine = [r for r in recorded if fiscal_year(r[0]) == int(row.fiscal_year)]
        assert row.request_visit == sum(1 for r in mine if r[1] is visit)
        assert row.request_mail == sum(1 for r in mine if r[1] is mail)
        assert row.delivery_visit == sum(1 for r in mine if r[2] is visit)
        assert row.delivery_mail == sum(1 for r in mine if r[2] is mail)
        assert row.total == len(mine)
    total = rows[-1]
    assert (total.request_visit, total.request_mail, total.total) == (5, 3, 8)
    assert (total.delivery_visit, total.delivery_mail) == (5, 3)
    assert [r.total for r in rows[:-1]] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3]
    assert prefecture.statistics(2013, 2013)[0].total == 1
    with pytest.raises(RuleViolation) as order:
        desk.statistics(2013, 2012)
    assert order.value.rule == "order"
    with pytest.raises(RuleViolation) as early:
        desk.statistics(2001, 2013)
    assert early.value.rule == "before_juki_net"
