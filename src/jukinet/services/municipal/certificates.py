"""Wide-area certificates (住民票の写しの広域交付) between municipalities.

At the **issuing** municipality a clerk takes a request (``request``): in one transaction the
request is stored as *pending* and a ``certificate_items_request`` is queued for the home
municipality. The outbox retries it until the home municipality acknowledges, so an
unreachable home municipality leaves the request visibly pending (``view``: attempts, last
error, next attempt) and nothing else; the clerk may cancel it. When the answer
(``certificate_items``) arrives, the request is issued (items stored, fee recorded) or
refused (rule and message stored), in the transaction that applies the answer. A late answer to
a cancelled request changes nothing.

At the **home** municipality the request is decided by ``domain.certificates.check_request``
and answered in the transaction that applies it: the items of each person (never the
registered domicile; household and code only when asked for) or the refusal. Every answer is
recorded (``certificate_items_answers``), so the home municipality knows whose items left its
register, to whom and when.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from jukinet.clock import today_in_japan
from jukinet.domain.certificates import (
    DEFAULT_FEE_YEN,
    CertificatePerson,
    RequestStatus,
    WideAreaRequest,
    check_answer,
    check_request,
    items_of,
    parse_persons,
    parse_request_body,
    person_body,
    request_body,
    validate_request,
)
from jukinet.domain.errors import RuleViolation
from jukinet.domain.register import HEAD_OF_HOUSEHOLD, RegisterEntry
from jukinet.domain.storable import storable_text
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import MessageType, lg_code_of, municipal_node
from jukinet.services.audit import AuditLog
from jukinet.services.municipal.network import MunicipalLink
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store import certificates as store
from jukinet.store import register as register_store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.spine import Delivery, delivery_of
from jukinet.store.tenancy import tenant

MAX_FEE_YEN = 10_000


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as the counter sees it, with how its message is doing while pending."""

    stored: store.StoredRequest
    delivery: Delivery | None
    home_node: str

    @property
    def status(self) -> RequestStatus:
        return self.stored.status

    @property
    def state(self) -> str:
        """One line a clerk can act on."""
        stored = self.stored
        if stored.status is RequestStatus.ISSUED:
            return f"issued on {stored.issued_on} (fee ¥{stored.fee_yen})"
        if stored.status is RequestStatus.REFUSED:
            return f"refused by {self.home_node}: {stored.refusal_message} [{stored.refusal_rule}]"
        if stored.status is RequestStatus.CANCELLED:
            return "cancelled at the counter; a late answer is ignored"
        return f"pending: {self._pending_state()}"

    def _pending_state(self) -> str:
        delivery = self.delivery
        if delivery is None or (delivery.delivered_at is None and delivery.attempts == 0):
            return f"queued for {self.home_node}"
        if delivery.delivered_at is None:
            retry = delivery.next_attempt_at
            return (
                f"{self.home_node} not reached after {delivery.attempts} attempt(s) "
                f"({delivery.last_error}); retrying"
                + (f", next attempt at {retry:%Y-%m-%d %H:%M:%S} UTC" if retry else "")
            )
        if delivery.outcome == "rejected":
            return f"{self.home_node} quarantined the request (see its rejections)"
        return f"delivered to {self.home_node}, waiting for its answer"


class WideAreaCertificates:
    """One municipality's side of wide-area issuance: as issuer and as home municipality."""

    def __init__(
        self,
        register: MunicipalRegister,
        link: MunicipalLink,
        audit: AuditLog | None = None,
    ) -> None:
        self.register = register
        self.link = link
        self.audit = audit

    @property
    def lg_code(self) -> str:
        return self.register.lg_code

    # --- the issuing municipality ---------------------------------------------------------

    def request(self, request: WideAreaRequest, requested_by: str) -> RequestView:
        """Take a request at the counter: stored pending, the home municipality asked, in one
        transaction. Bad input is refused before anything is written."""
        request = validate_request(request, self.lg_code)
        request_id = str(uuid.uuid4())
        now = self.register.clock.now()
        with write_transaction(self.register.engine) as conn, tenant(conn, lg_code=self.lg_code):
            envelope = self.link.outbox.enqueue(
                conn,
                self.link.credentials,
                receiver=municipal_node(request.home_lg_code),
                message_type=MessageType.CERTIFICATE_ITEMS_REQUEST,
                body=request_body(request_id, request),
                now=now,
            )
            number = store.insert_request(
                conn,
                lg_code=self.lg_code,
                request_id=request_id,
                request=request,
                requested_by=requested_by,
                requested_at=now,
                request_message_id=envelope.id,
            )
            self._audit(conn, requested_by, "certificate.request", number, request_id)
            return self._view(conn, number)

    def view(self, number: int) -> RequestView:
        with read_transaction(self.register.engine) as conn, tenant(conn, lg_code=self.lg_code):
            return self._view(conn, number)

    def requests(self, status: RequestStatus | None = None, limit: int = 100) -> list[RequestView]:
        with read_transaction(self.register.engine) as conn, tenant(conn, lg_code=self.lg_code):
            found = store.list_requests(conn, self.lg_code, status, limit)
            return [self._view_of(conn, s) for s in found]

    def cancel(self, number: int, cancelled_by: str) -> RequestView:
        """Withdraw a pending request (idempotent); an answered one cannot be cancelled."""
        now = self.register.clock.now()
        with write_transaction(self.register.engine) as conn, tenant(conn, lg_code=self.lg_code):
            current = self._view(conn, number)
            if current.status is RequestStatus.CANCELLED:
                return current
            if current.status is not RequestStatus.PENDING:
                raise RuleViolation(
                    "number",
                    "already_answered",
                    f"request {number} is {current.status.value}: it can no longer be cancelled",
                )
            store.mark_cancelled(conn, number, now)
            self._audit(conn, cancelled_by, "certificate.cancel", number, current.stored.request_id)
            return self._view(conn, number)

    def issued(self, number: int) -> tuple[store.StoredRequest, list[CertificatePerson]]:
        """An issued request and its persons (what the copy prints); refused otherwise."""
        stored = self.view(number).stored
        if stored.status is not RequestStatus.ISSUED:
            raise RuleViolation(
                "number", "not_issued", f"request {number} is {stored.status.value}, not issued"
            )
        return stored, list(stored.persons)

    def fee(self) -> int:
        with read_transaction(self.register.engine) as conn, tenant(conn, lg_code=self.lg_code):
            return _fee_in_force(conn, self.lg_code)

    def set_fee(self, fee_yen: int, set_by: str) -> None:
        if not 0 <= fee_yen <= MAX_FEE_YEN:
            raise RuleViolation("fee_yen", "range", f"a fee of 0..{MAX_FEE_YEN} yen")
        now = self.register.clock.now()
        with write_transaction(self.register.engine) as conn, tenant(conn, lg_code=self.lg_code):
            store.set_fee(conn, self.lg_code, fee_yen, now)
            if self.audit is not None:
                self.audit.record(
                    conn,
                    actor=set_by,
                    action="certificate.fee",
                    obj=self.lg_code,
                    detail={"fee_yen": fee_yen},
                )

    def on_certificate_items(self, conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        """The home municipality's answer: issue or refuse the pending request."""
        body: dict[str, Any] = opened.envelope.body
        request_id = body.get("request_id")
        if not isinstance(request_id, str):
            raise RuleViolation("request_id", "unknown_request", "no such request here")
        with tenant(conn, lg_code=self.lg_code):
            stored = store.get_request_by_request_id(
                conn, self.lg_code, storable_text(request_id, "request_id")
            )
            if stored is None:
                raise RuleViolation("request_id", "unknown_request", "no such request here")
            if opened.envelope.sender != municipal_node(stored.request.home_lg_code):
                raise RuleViolation("sender", "not_home", "answer from another municipality")
            if stored.status is not RequestStatus.PENDING:
                return  # cancelled meanwhile (or already answered): the answer changes nothing
            outcome = body.get("outcome")
            if outcome == "refused":
                rule, field, message = _refusal_of(body)
                store.mark_refused(conn, stored.id, rule=rule, field=field, message=message, at=now)
                return
            try:
                if outcome != "items" or not isinstance(body.get("persons"), list):
                    raise RuleViolation("outcome", "unknown_value", f"{outcome!r}")
                persons = parse_persons(body["persons"])
                check_answer(stored.request, persons)
            except RuleViolation as bad:  # recorded on the request, never printed
                store.mark_refused(
                    conn,
                    stored.id,
                    rule="invalid_answer",
                    field=bad.field,
                    message=f"the home municipality's answer was unusable: {bad.message}",
                    at=now,
                )
                return
            fee = _fee_in_force(conn, self.lg_code)
            store.mark_issued(
                conn,
                stored.id,
                persons,
                fee_yen=fee,
                issued_on=today_in_japan(self.register.clock),
                at=now,
            )
            self._audit(conn, "network", "certificate.issue", stored.id, stored.request_id)

    # --- the home municipality -----------------------------------------------------------

    def on_certificate_items_request(
        self, conn: Connection, opened: OpenedMessage, now: datetime
    ) -> None:
        """Decide and answer in this transaction. A refusal is an answer, not an error: only a
        malformed message is quarantined."""
        env = opened.envelope
        issuing = lg_code_of(env.sender)
        request_id, request = parse_request_body(env.body, self.lg_code)
        with tenant(conn, lg_code=self.lg_code):
            if store.answered(conn, self.lg_code, request_id):
                return  # the same request sent again: it was answered once already
            codes = dict.fromkeys((request.requester.resident_code, *request.subject_codes))
            entries_of = {
                code: [
                    s.entry for s in register_store.get_entries_by_code(conn, self.lg_code, code)
                ]
                for code in codes
            }
            answer: dict[str, Any] = {"request_id": request_id}
            try:
                subjects = check_request(
                    request, entries_of, today_in_japan(self.register.clock), self.register.rule
                )
            except RuleViolation as refusal:
                answer |= {
                    "outcome": "refused",
                    "rule": refusal.rule,
                    "field": refusal.field,
                    "message": refusal.message,
                }
            else:
                persons = [items_of(e, self._head_of(conn, e), request.options) for e in subjects]
                answer |= {"outcome": "items", "persons": [person_body(p) for p in persons]}
            store.record_answer(
                conn,
                lg_code=self.lg_code,
                request_id=request_id,
                issuing_lg_code=issuing,
                requester_code=request.requester.resident_code,
                subject_codes=list(request.subject_codes),
                outcome=answer["outcome"],
                refusal_rule=answer.get("rule"),
                at=now,
            )
            self.link.outbox.enqueue(
                conn,
                self.link.credentials,
                receiver=env.sender,
                message_type=MessageType.CERTIFICATE_ITEMS,
                body=answer,
                now=now,
            )

    def _head_of(self, conn: Connection, entry: RegisterEntry) -> RegisterEntry | None:
        members = register_store.household_members(conn, self.lg_code, entry.household_id)
        heads = [m.entry for m in members if m.entry.relationship == HEAD_OF_HOUSEHOLD]
        return heads[0] if heads else None

    # --- helpers ------------------------------------------------------------------------

    def _view(self, conn: Connection, number: int) -> RequestView:
        stored = store.get_request(conn, self.lg_code, number)
        if stored is None:
            raise RuleViolation("number", "not_found", f"no wide-area request {number} here")
        return self._view_of(conn, stored)

    def _view_of(self, conn: Connection, stored: store.StoredRequest) -> RequestView:
        delivery = None
        if stored.status is RequestStatus.PENDING:
            delivery = delivery_of(conn, stored.request_message_id)
        return RequestView(stored, delivery, municipal_node(stored.request.home_lg_code))

    def _audit(
        self, conn: Connection, actor: str, action: str, number: int, request_id: str
    ) -> None:
        if self.audit is not None:
            self.audit.record(
                conn,
                actor=actor,
                action=action,
                obj=f"wide_area_certificate/{self.lg_code}/{number}",
                detail={"request_id": request_id},
            )


def _refusal_of(body: dict[str, Any]) -> tuple[str, str | None, str]:
    """The rule, field and message of the home municipality's refusal, as text to record."""
    rule, field, message = body.get("rule"), body.get("field"), body.get("message")
    if not isinstance(rule, str):
        raise RuleViolation("rule", "type", "a refusal names its rule as text")
    if field is not None and not isinstance(field, str):
        raise RuleViolation("field", "type", "must be text, or null")
    if not isinstance(message, str):
        raise RuleViolation("message", "type", "a refusal says why, as text")
    return (
        storable_text(rule, "rule", max_length=40),
        None if field is None else storable_text(field, "field"),
        storable_text(message, "message"),
    )


def _fee_in_force(conn: Connection, lg_code: str) -> int:
    """The municipality's fee (0 is a fee too), or the default when it has set none."""
    fee = store.fee_of(conn, lg_code)
    return DEFAULT_FEE_YEN if fee is None else fee
