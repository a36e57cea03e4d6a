"""Disclosure of one's own identity record (本人確認情報の開示) at the national center or a
prefecture: intake, decision, delivery, correction requests and their answers, the overdue
list and the published statistics. Every step is recorded in the office's audit log, in the
step's own transaction; a step refused by a rule is recorded as refused.

What is disclosed (fixed when the disclosure is decided, kept with the request):

- the person's current identity record as the office holds it, and every version of it the
  office received (its history), following resident-code changes back to earlier codes;
- the provision history: every provision of the record — immediate and batch alike — from the
  national center's provision log (``ProvisionLog.entries_for``: database rows and Parquet
  segments), for the person's codes only, within the 7-year retention.

**A prefecture's answer.** A prefecture discloses its own tenant's copy of the record. The
provision log is the national center's: a prefecture's desk asks the national center for the
person's provisions when it receives the request (a signed message, in the intake's
transaction: ``services.prefectural.provision_history``) and discloses the answer, labelled as
the national center's records and dated as of the day the national center read its log. A
decision to disclose before the answer has arrived is refused as ``provisions_pending``, saying
where the question stands. The national center's own desk reads its log when it decides.

**Who the person is.** A request names the person's resident code, name and date of birth.
A held record matches when the code (or a code it was changed to) is held, and the date of
birth and the name or alias agree (on search keys). Otherwise the request is refused as
``person_not_found`` — whether the code exists is not said — and nothing is shown. Queries
are by the person's codes only, so nothing of anyone else appears.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from jukinet.clock import Clock, today_in_japan
from jukinet.domain.audit import Outcome
from jukinet.domain.disclosure import (
    STATISTICS_HEADER,
    CorrectionItem,
    CorrectionOutcome,
    Decision,
    DisclosedContent,
    DisclosedProvision,
    DisclosedVersion,
    DisclosureForm,
    Extension,
    Office,
    RefusalReason,
    RequestState,
    StatisticsRow,
    Step,
    check_correction_allowed,
    check_correction_answer,
    check_extension,
    check_fiscal_years,
    check_form,
    check_refusal,
    check_step_date,
    days_overdue,
    due_date,
    formal_refusals,
    next_state,
    person_matches,
    statistics_rows,
)
from jukinet.domain.eras import fiscal_year_range
from jukinet.domain.errors import RuleViolation
from jukinet.domain.reference import prefecture
from jukinet.services.audit import AuditLog
from jukinet.services.national.gazette import issuer_on
from jukinet.services.national.provision_history import NationalProvisionLog
from jukinet.services.national.provision_log import kept_from
from jukinet.services.prefectural.provision_history import NationalCenterProvisions, waiting
from jukinet.store import disclosure as store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.disclosure import Correction, StoredRequest
from jukinet.store.identity_records import NATIONAL, PREFECTURAL, Tier
from jukinet.store.spine import delivery_of
from jukinet.store.tenancy import tenant

__all__ = [
    "Correction",
    "DisclosureService",
    "NationalCenterProvisions",
    "NationalProvisionLog",
    "OverdueRequest",
    "ProvisionHistory",
    "StoredRequest",
    "disclosure_service",
    "issuer",
    "statistics_csv",
]


def issuer(office: Office, on: date) -> str:
    """Who decides at the office on ``on``: the designated processor for the national center
    (財団法人地方自治情報センター, from 2014-04-01 地方公共団体情報システム機構), the
    governor for a prefecture."""
    if office.national:
        return issuer_on(on)
    return f"{prefecture(office.code).name}知事"


def statistics_csv(rows: Sequence[StatisticsRow]) -> str:
    """The statistics table as CSV, header first (one line per row, LF)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATISTICS_HEADER)
    writer.writerows(r.as_csv() for r in rows)
    return out.getvalue()


# --- the provision history ------------------------------------------------------------------


class ProvisionHistory(Protocol):
    """Where a desk gets the provisions of a person's record: asked when a request is
    received (in its transaction), read when the disclosure is decided."""

    @property
    def held_by(self) -> str: ...

    def ask(
        self, conn: Connection, office: Office, request_id: int, resident_codes: Sequence[str]
    ) -> None: ...

    def read(
        self, conn: Connection, request: StoredRequest, resident_codes: Sequence[str], since: str
    ) -> tuple[tuple[DisclosedProvision, ...], date]:
        """Every provision of the person from month ``since`` on (oldest first), and the day
        the log was read."""
        ...


# --- the service ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OverdueRequest:
    request: StoredRequest
    days_overdue: int


class DisclosureService:
    """The disclosure desk of one office, over that office's node database."""

    def __init__(
        self,
        engine: Engine,
        office: Office,
        clock: Clock,
        provisions: ProvisionHistory,
        audit: AuditLog | None = None,
    ) -> None:
        self.engine = engine
        self.office = office
        self.clock = clock
        self.provisions = provisions
        self.audit = audit or AuditLog(clock)
        self.tier: Tier = NATIONAL if office.national else PREFECTURAL

    # --- steps -----------------------------------------------------------------------------

    def intake(self, form: DisclosureForm, *, actor: str) -> StoredRequest:
        """Record a request as received. A request with formal defects (not entitled, evidence
        missing, no matching record) is recorded and refused at once, naming every reason."""
        today = today_in_japan(self.clock)
        with self._refusals_recorded(actor, "disclosure.intake", None):
            if form.office != self.office:
                raise RuleViolation(
                    "office", "other_office", f"this desk is {self.office.code}, not {form.office}"
                )
            form = check_form(form, today)
        with write_transaction(self.engine) as conn, self._tenant(conn):
            code = self._find_person(conn, form)
            reasons = formal_refusals(form) + (
                () if code is not None else (RefusalReason.PERSON_NOT_FOUND,)
            )
            request_id = store.insert_request(
                conn,
                office=self.office.code,
                received_on=form.received_on,
                request_method=form.request_method.value,
                delivery_method=form.delivery_method.value,
                requester_kind=form.requester_kind.value,
                requester_name=form.requester_name,
                requester_address=form.requester_address,
                representation=None if form.representation is None else form.representation.value,
                subject_resident_code=form.subject_resident_code,
                subject_name=form.subject_name,
                subject_birth_date=form.subject_birth_date,
                resident_code=code,
                evidence=form.evidence,
                state=RequestState.RECEIVED.value,
                due_on=due_date(form.received_on),
                recorded_at=self.clock.now(),
            )
            self._record(
                conn,
                actor,
                "disclosure.intake",
                request_id,
                {
                    "received_on": form.received_on.isoformat(),
                    "request_method": form.request_method.value,
                    "delivery_method": form.delivery_method.value,
                    "requester_kind": form.requester_kind.value,
                    "evidence": sorted(e.value for e in form.evidence),
                    "due_on": due_date(form.received_on).isoformat(),
                },
            )
            if not reasons:
                assert code is not None
                codes = store.person_codes(conn, self.tier, [code], self.office.pref_code)
                self.provisions.ask(conn, self.office, request_id, codes)
            else:
                store.record_decision(
                    conn,
                    self.office.code,
                    request_id,
                    decision=Decision.REFUSE,
                    decided_on=today,
                    reasons=reasons,
                )
                self._record(
                    conn,
                    actor,
                    "disclosure.decide",
                    request_id,
                    {
                        "decision": Decision.REFUSE.value,
                        "refusal_reasons": [r.value for r in reasons],
                        "decided_on": today.isoformat(),
                        "at_intake": True,
                    },
                )
        return self.get(request_id)

    def extend(
        self,
        request_id: int,
        until: date,
        reason: str,
        *,
        actor: str,
        on: date | None = None,
    ) -> StoredRequest:
        """Extend the decision period (Act 30-38 proviso): the requester is notified in
        writing, within the 14 days, of the reason and the new deadline (the extension
        notice); the overdue list and the late flag then count from the new deadline."""
        today = today_in_japan(self.clock)
        with self._refusals_recorded(actor, "disclosure.extend", request_id):
            request = self.get(request_id)
            extension = check_extension(
                request.state,
                request.received_on,
                request.due_on,
                request.extension,
                wanted=Extension(until, reason, on or today),
                today=today,
            )
            with write_transaction(self.engine) as conn, self._tenant(conn):
                if not store.record_extension(conn, self.office.code, request_id, extension):
                    current = self.get(request_id)  # decided or extended meanwhile
                    check_extension(
                        current.state,
                        current.received_on,
                        current.due_on,
                        current.extension,
                        wanted=extension,
                        today=today,
                    )
                self._record(
                    conn,
                    actor,
                    "disclosure.extend",
                    request_id,
                    {
                        "from": request.due_on.isoformat(),
                        "until": extension.until.isoformat(),
                        "notified_on": extension.notified_on.isoformat(),
                    },
                )
        return self.get(request_id)

    def ask_provisions(self, request_id: int, *, actor: str) -> StoredRequest:
        """Ask the national center again for a received request's provisions (a question
        quarantined there, or a request received before prefectures asked); the earlier
        question's answer, should it still come, is then ignored."""
        with self._refusals_recorded(actor, "disclosure.ask_provisions", request_id):
            request = self.get(request_id)
            if request.state is not RequestState.RECEIVED or request.resident_code is None:
                raise RuleViolation(
                    "request_id",
                    "not_awaiting_decision",
                    f"request {request_id} is {request.state.value}"
                    + ("" if request.resident_code else " and names no record held here"),
                )
            if self.office.national:
                raise RuleViolation(
                    "office", "holds_the_log", "the national center reads its own log"
                )
            with write_transaction(self.engine) as conn, self._tenant(conn):
                codes = store.person_codes(
                    conn, self.tier, [request.resident_code], self.office.pref_code
                )
                self.provisions.ask(conn, self.office, request_id, codes)
                self._record(
                    conn, actor, "disclosure.ask_provisions", request_id, {"codes": len(codes)}
                )
        return self.get(request_id)

    def decide(
        self,
        request_id: int,
        decision: Decision,
        *,
        actor: str,
        reasons: Sequence[RefusalReason] = (),
        note: str | None = None,
        on: date | None = None,
    ) -> StoredRequest:
        """Disclose (the content is read and fixed now) or refuse with reasons."""
        today = today_in_japan(self.clock)
        content: DisclosedContent | None = None
        with self._refusals_recorded(actor, "disclosure.decide", request_id):
            request = self.get(request_id)
            next_state(request.state, Step.DECIDE)
            decided_on = check_step_date(on or today, request.received_on, today)
            refusal = tuple(dict.fromkeys(reasons))
            if decision is Decision.DISCLOSE:
                if refusal or note:
                    raise RuleViolation(
                        "refusal_reasons", "not_a_refusal", "a disclosure gives no refusal reasons"
                    )
                content = self.content_of(request, today)
            else:
                note = check_refusal(refusal, note)
            with write_transaction(self.engine) as conn, self._tenant(conn):
                if not store.record_decision(
                    conn,
                    self.office.code,
                    request_id,
                    decision=decision,
                    decided_on=decided_on,
                    reasons=refusal,
                    note=note,
                    content=content,
                ):
                    next_state(self.get(request_id).state, Step.DECIDE)  # decided meanwhile
                self._record(
                    conn,
                    actor,
                    "disclosure.decide",
                    request_id,
                    {
                        "decision": decision.value,
                        "refusal_reasons": [r.value for r in refusal],
                        "decided_on": decided_on.isoformat(),
                        "late": decided_on > request.due_on,
                        "versions": 0 if content is None else len(content.history),
                        "provisions": None
                        if content is None or content.provisions is None
                        else len(content.provisions),
                    },
                )
        return self.get(request_id)

    def deliver(self, request_id: int, *, actor: str, on: date | None = None) -> StoredRequest:
        """The decision notice (with the disclosure) handed over at a visit or mailed."""
        today = today_in_japan(self.clock)
        with self._refusals_recorded(actor, "disclosure.deliver", request_id):
            request = self.get(request_id)
            next_state(request.state, Step.DELIVER)
            assert request.decided_on is not None
            delivered_on = check_step_date(on or today, request.decided_on, today)
            with write_transaction(self.engine) as conn, self._tenant(conn):
                if not store.record_delivery(conn, self.office.code, request_id, delivered_on):
                    next_state(self.get(request_id).state, Step.DELIVER)
                self._record(
                    conn,
                    actor,
                    "disclosure.deliver",
                    request_id,
                    {
                        "delivery_method": request.delivery_method.value,
                        "delivered_on": delivered_on.isoformat(),
                    },
                )
        return self.get(request_id)

    def request_correction(
        self,
        request_id: int,
        item: CorrectionItem,
        claimed: str,
        *,
        actor: str,
        on: date | None = None,
    ) -> Correction:
        """The person says an item of the disclosed record is wrong; it is investigated."""
        today = today_in_japan(self.clock)
        with self._refusals_recorded(actor, "disclosure.correction_request", request_id):
            request = self.get(request_id)
            check_correction_allowed(request.state, request.decision)
            assert request.delivered_on is not None
            requested_on = check_step_date(on or today, request.delivered_on, today)
            text = claimed.strip()
            if not text:
                raise RuleViolation("claimed", "required", "say what the item should read")
            with write_transaction(self.engine) as conn, self._tenant(conn):
                correction_id = store.insert_correction(
                    conn,
                    office=self.office.code,
                    request_id=request_id,
                    requested_on=requested_on,
                    item=item.value,
                    claimed=text,
                    state="requested",
                    recorded_at=self.clock.now(),
                )
                self._record(
                    conn,
                    actor,
                    "disclosure.correction_request",
                    request_id,
                    {
                        "correction": correction_id,
                        "item": item.value,
                        "requested_on": requested_on.isoformat(),
                    },
                )
        return self.correction(request_id, correction_id)

    def answer_correction(
        self,
        request_id: int,
        correction_id: int,
        outcome: CorrectionOutcome,
        findings: str,
        *,
        actor: str,
        on: date | None = None,
    ) -> Correction:
        """The written answer: corrected (the municipality corrected its register and the
        correction came up the network) or not corrected, with what the investigation found."""
        today = today_in_japan(self.clock)
        with self._refusals_recorded(actor, "disclosure.correction_answer", request_id):
            correction = self.correction(request_id, correction_id)
            text = check_correction_answer(correction.state, findings)
            answered_on = check_step_date(on or today, correction.requested_on, today)
            with write_transaction(self.engine) as conn, self._tenant(conn):
                if not store.record_answer(
                    conn,
                    self.office.code,
                    correction_id,
                    answered_on=answered_on,
                    outcome=outcome,
                    findings=text,
                ):
                    check_correction_answer(self.correction(request_id, correction_id).state, text)
                self._record(
                    conn,
                    actor,
                    "disclosure.correction_answer",
                    request_id,
                    {
                        "correction": correction_id,
                        "outcome": outcome.value,
                        "answered_on": answered_on.isoformat(),
                    },
                )
        return self.correction(request_id, correction_id)

    # --- reads -----------------------------------------------------------------------------

    def get(self, request_id: int) -> StoredRequest:
        """A request of this office (another office's is not found)."""
        with read_transaction(self.engine) as conn, self._tenant(conn):
            request = store.get_request(conn, self.office.code, request_id)
        if request is None:
            raise RuleViolation(
                "request_id", "not_found", f"no disclosure request {request_id} at this office"
            )
        return request

    def correction(self, request_id: int, correction_id: int) -> Correction:
        for c in self.get(request_id).corrections:
            if c.id == correction_id:
                return c
        raise RuleViolation(
            "correction_id",
            "not_found",
            f"no correction {correction_id} of disclosure request {request_id}",
        )

    def question_state(self, request: StoredRequest) -> str | None:
        """Where a prefecture's question to the national center stands, in one sentence
        (None at the national center, or where nothing was asked)."""
        asked = request.provisions_asked
        if asked is None:
            return None
        if asked.answer is not None:
            return (
                f"answered by the national center on {asked.answer.as_of.isoformat()}: "
                f"{len(asked.answer.provisions)} provision(s)"
            )
        with read_transaction(self.engine) as conn:
            return "waiting for the national center: " + waiting(
                delivery_of(conn, asked.message_id)
            )

    def requests(self, state: RequestState | None = None) -> list[StoredRequest]:
        with read_transaction(self.engine) as conn, self._tenant(conn):
            return store.list_requests(conn, self.office.code, state)

    def overdue(self, today: date | None = None) -> list[OverdueRequest]:
        """Requests still waiting for a decision after their deadline, oldest deadline first."""
        day = today or today_in_japan(self.clock)
        with read_transaction(self.engine) as conn, self._tenant(conn):
            waiting = store.awaiting_decision(conn, self.office.code, due_before=day)
        return [OverdueRequest(r, days_overdue(r.state, r.due_on, day)) for r in waiting]

    def statistics(self, first: int, last: int) -> list[StatisticsRow]:
        """The published table: requests per fiscal year by request and delivery method."""
        check_fiscal_years(first, last)
        start, end = fiscal_year_range(first)[0], fiscal_year_range(last)[1]
        with read_transaction(self.engine) as conn, self._tenant(conn):
            recorded = store.recorded_requests(conn, self.office.code, start, end)
        return statistics_rows(recorded, first, last)

    def content_of(self, request: StoredRequest, today: date | None = None) -> DisclosedContent:
        """What disclosing this request's person shows today: the current record, its history
        over every code the person had, and the provisions of those codes within retention
        (read now at the national center; the national center's answer at a prefecture)."""
        day = today or today_in_japan(self.clock)
        if request.resident_code is None:
            raise RuleViolation(
                "decision",
                "person_not_found",
                "no record this office holds matches the request: refuse it",
            )
        since = kept_from(day)
        with read_transaction(self.engine) as conn, self._tenant(conn):
            held = store.held_record(conn, self.tier, request.resident_code, self.office.pref_code)
            if held is None:
                raise RuleViolation(
                    "resident_code", "person_not_found", "this office holds no such record"
                )
            codes, history = self._history(conn, request.resident_code)
            provisions, read_on = self.provisions.read(conn, request, codes, since)
        held_by = self.provisions.held_by
        return DisclosedContent(
            as_of=day,
            record=held.version,
            history=tuple(history),
            provisions=provisions,
            provisions_kept_from=since,
            provisions_held_by=held_by,
            provisions_note=None
            if self.office.national
            else f"提供状況は{held_by}が保有する提供記録から本人に係るものを記載しています。",
            provisions_as_of=read_on,
        )

    # --- inside ----------------------------------------------------------------------------

    def _history(
        self, conn: Connection, resident_code: str
    ) -> tuple[list[str], list[DisclosedVersion]]:
        """Every code of the person (following resident-code changes back) and every version
        received for them, ordered by change date (then as received)."""
        codes = store.person_codes(conn, self.tier, [resident_code], self.office.pref_code)
        versions = [v for v, _ in store.history_of(conn, self.tier, codes, self.office.pref_code)]
        ordered = sorted(enumerate(versions), key=lambda iv: (iv[1].change_date, iv[0]))
        return codes, [v for _, v in ordered]

    def _find_person(self, conn: Connection, form: DisclosureForm) -> str | None:
        """The current code of the held record the request names, or None."""
        code = form.subject_resident_code
        held = store.held_record(conn, self.tier, code, self.office.pref_code)
        seen = {code}
        while held is not None and held.superseded_by and held.superseded_by not in seen:
            seen.add(held.superseded_by)
            held = store.held_record(conn, self.tier, held.superseded_by, self.office.pref_code)
        if held is None or not person_matches(
            form.subject_name,
            form.subject_birth_date,
            (held.version.name, held.version.alias),
            held.version.birth_date,
        ):
            return None
        return held.version.resident_code

    @contextmanager
    def _tenant(self, conn: Connection) -> Iterator[None]:
        with tenant(conn, pref_code=self.office.pref_code, office=self.office.code):
            yield

    def _record(
        self,
        conn: Connection,
        actor: str,
        action: str,
        request_id: int | None,
        detail: dict[str, Any],
        *,
        outcome: Outcome = Outcome.OK,
    ) -> None:
        obj = f"disclosure/{self.office.code}" + ("" if request_id is None else f"/{request_id}")
        self.audit.record(conn, actor=actor, action=action, obj=obj, outcome=outcome, detail=detail)

    @contextmanager
    def _refusals_recorded(self, actor: str, action: str, request_id: int | None) -> Iterator[None]:
        """A step a rule refuses changes nothing and is recorded as refused, with the rule."""
        try:
            yield
        except RuleViolation as exc:
            with write_transaction(self.engine) as conn:
                self._record(
                    conn,
                    actor,
                    action,
                    request_id,
                    {"field": exc.field, "rule": exc.rule},
                    outcome=Outcome.REFUSED,
                )
            raise


def disclosure_service(
    office: Office,
    clock: Clock,
    *,
    national_engine: Engine | None,
    national_files: Path | None,
    prefectural_engine: Engine | None,
    national_center: NationalCenterProvisions | None,
) -> DisclosureService:
    """The desk of ``office`` in a process hosting its node (``not_hosted`` otherwise): the
    national center's reads its own log; a prefecture's asks the national center through
    ``national_center`` (its node's outbox and credentials)."""
    if office.national:
        if national_engine is None:
            raise RuleViolation("office", "not_hosted", "the national center is not hosted here")
        log = NationalProvisionLog(national_engine, national_files, clock)
        return DisclosureService(national_engine, office, clock, log)
    if prefectural_engine is None or national_center is None:
        raise RuleViolation("office", "not_hosted", "the prefectural center is not hosted here")
    return DisclosureService(prefectural_engine, office, clock, national_center)
