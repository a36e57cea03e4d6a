"""Disclosure requests (開示請求) and correction requests, per office; and the reads of an
upper tier's identity records a disclosure needs.

A request belongs to an office (``office``: ``national``, or a prefecture's 2-digit code) and
lives in that office's node database: the national center's requests in the national
database, a prefecture's in the consolidated prefectural center's, next to its tenant's
identity records. On PostgreSQL both tables have row-level security on ``office`` against
``app.office`` (migration 0013, ``store.tenancy``), like the prefectural tenant tables.

A request's row carries every step (received, decided, delivered) in its own columns, each
written once by its step's guarded UPDATE (``WHERE state = …``); the audit log records who did
each step. The decided content (the record, its history and provisions) is kept as JSON, so
the letter shows what was decided whatever changes later.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    Row,
    String,
    Table,
    Text,
    select,
    update,
)

from jukinet.domain.disclosure import (
    Channel,
    CorrectionItem,
    CorrectionOutcome,
    CorrectionState,
    Decision,
    DisclosedContent,
    DisclosedVersion,
    EvidenceKind,
    Extension,
    RecordedRequest,
    RefusalReason,
    Representation,
    RequesterKind,
    RequestState,
    format_evidence,
    parse_evidence,
    parse_refusal_reasons,
)
from jukinet.domain.provision_history import HistoryAnswer, parse_answer
from jukinet.store.identity_records import Tier
from jukinet.store.provision import recipient_affairs
from jukinet.store.tables import BigId, UTCDateTime, metadata

CHAIN_LIMIT = 32  # resident-code changes followed at most (each is a request of the person)

disclosure_requests = Table(
    "disclosure_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("office", String(8), nullable=False),
    Column("received_on", Date, nullable=False),
    Column("request_method", String(5), nullable=False),
    Column("delivery_method", String(5), nullable=False),
    Column("requester_kind", String(24), nullable=False),
    Column("requester_name", Text, nullable=False),
    Column("requester_address", Text),
    Column("representation", String(12)),
    Column("subject_resident_code", String(11), nullable=False),  # as written on the request
    Column("subject_name", Text, nullable=False),
    Column("subject_birth_date", Date, nullable=False),
    Column("resident_code", String(11)),  # the person's current code, when a record matched
    Column("evidence", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("decision", String(8)),
    Column("refusal_reasons", Text),
    Column("refusal_note", Text),
    Column("decided_on", Date),
    Column("content", Text),  # DisclosedContent as JSON
    Column("delivered_on", Date),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("provisions_reference", String(36)),  # a prefecture's question to the national center
    Column("provisions_message_id", String(36)),  # its outbox message
    Column("provisions_answer", Text),  # the national center's answer (HistoryAnswer) as JSON
    Column("provisions_answered_at", UTCDateTime()),
    Column("extension_reason", Text),  # the decision period extended (``due_on`` moved)
    Column("extension_notified_on", Date),
    Index("ix_disclosure_requests_office_state", "office", "state", "due_on"),
    Index("ix_disclosure_requests_office_received_on", "office", "received_on"),
    Index("ix_disclosure_requests_provisions_reference", "provisions_reference", unique=True),
)
"""One row per request received at an office, refused ones included."""

disclosure_corrections = Table(
    "disclosure_corrections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("office", String(8), nullable=False),
    Column("request_id", BigId, ForeignKey("disclosure_requests.id"), nullable=False),
    Column("requested_on", Date, nullable=False),
    Column("item", String(16), nullable=False),
    Column("claimed", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("answered_on", Date),
    Column("outcome", String(16)),
    Column("findings", Text),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_disclosure_corrections_office_request_id", "office", "request_id"),
)
"""Correction requests after a disclosure, each investigated and answered in writing."""


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    request_id: int
    requested_on: date
    item: CorrectionItem
    claimed: str
    state: CorrectionState
    answered_on: date | None
    outcome: CorrectionOutcome | None
    findings: str | None


@dataclass(frozen=True, slots=True)
class ProvisionsAsked:
    """A prefecture's question to the national center for one request, and its answer."""

    reference: str
    message_id: str
    answer: HistoryAnswer | None
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredRequest:
    id: int
    office: str
    received_on: date
    request_method: Channel
    delivery_method: Channel
    requester_kind: RequesterKind
    requester_name: str
    requester_address: str | None
    representation: Representation | None
    subject_resident_code: str
    subject_name: str
    subject_birth_date: date
    resident_code: str | None
    evidence: frozenset[EvidenceKind]
    state: RequestState
    due_on: date
    decision: Decision | None
    refusal_reasons: tuple[RefusalReason, ...]
    refusal_note: str | None
    decided_on: date | None
    content: DisclosedContent | None
    delivered_on: date | None
    recorded_at: datetime
    corrections: tuple[Correction, ...] = ()
    provisions_asked: ProvisionsAsked | None = None
    extension: Extension | None = None  # ``due_on`` is then the extended deadline


def _request(row: Row[Any], corrections: tuple[Correction, ...] = ()) -> StoredRequest:
    m = row._mapping
    return StoredRequest(
        id=int(m["id"]),
        office=m["office"],
        received_on=m["received_on"],
        request_method=Channel(m["request_method"]),
        delivery_method=Channel(m["delivery_method"]),
        requester_kind=RequesterKind(m["requester_kind"]),
        requester_name=m["requester_name"],
        requester_address=m["requester_address"],
        representation=None if m["representation"] is None else Representation(m["representation"]),
        subject_resident_code=m["subject_resident_code"],
        subject_name=m["subject_name"],
        subject_birth_date=m["subject_birth_date"],
        resident_code=m["resident_code"],
        evidence=parse_evidence(m["evidence"]),
        state=RequestState(m["state"]),
        due_on=m["due_on"],
        decision=None if m["decision"] is None else Decision(m["decision"]),
        refusal_reasons=parse_refusal_reasons(m["refusal_reasons"] or ""),
        refusal_note=m["refusal_note"],
        decided_on=m["decided_on"],
        content=None
        if m["content"] is None
        else DisclosedContent.from_dict(json.loads(m["content"])),
        delivered_on=m["delivered_on"],
        recorded_at=m["recorded_at"],
        corrections=corrections,
        extension=None
        if m["extension_reason"] is None
        else Extension(m["due_on"], m["extension_reason"], m["extension_notified_on"]),
        provisions_asked=None
        if m["provisions_reference"] is None
        else ProvisionsAsked(
            m["provisions_reference"],
            m["provisions_message_id"],
            None
            if m["provisions_answer"] is None
            else parse_answer(json.loads(m["provisions_answer"])),
            m["provisions_answered_at"],
        ),
    )


def _correction(row: Row[Any]) -> Correction:
    m = row._mapping
    return Correction(
        id=int(m["id"]),
        request_id=int(m["request_id"]),
        requested_on=m["requested_on"],
        item=CorrectionItem(m["item"]),
        claimed=m["claimed"],
        state=CorrectionState(m["state"]),
        answered_on=m["answered_on"],
        outcome=None if m["outcome"] is None else CorrectionOutcome(m["outcome"]),
        findings=m["findings"],
    )


# --- requests -------------------------------------------------------------------------------


def insert_request(conn: Connection, **values: Any) -> int:
    if "evidence" in values:
        values["evidence"] = format_evidence(values["evidence"])
    result = conn.execute(disclosure_requests.insert().values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def get_request(conn: Connection, office: str, request_id: int) -> StoredRequest | None:
    t = disclosure_requests
    row = conn.execute(select(t).where(t.c.office == office, t.c.id == request_id)).first()
    if row is None:
        return None
    return _request(row, tuple(corrections_of(conn, office, request_id)))


def list_requests(
    conn: Connection, office: str, state: RequestState | None = None
) -> list[StoredRequest]:
    t = disclosure_requests
    query = select(t).where(t.c.office == office)
    if state is not None:
        query = query.where(t.c.state == state.value)
    return [_request(r) for r in conn.execute(query.order_by(t.c.received_on, t.c.id))]


def awaiting_decision(conn: Connection, office: str, due_before: date) -> list[StoredRequest]:
    """Received requests whose decision was due before ``due_before`` (oldest deadline first)."""
    t = disclosure_requests
    query = (
        select(t)
        .where(
            t.c.office == office,
            t.c.state == RequestState.RECEIVED.value,
            t.c.due_on < due_before,
        )
        .order_by(t.c.due_on, t.c.id)
    )
    return [_request(r) for r in conn.execute(query)]


def record_decision(
    conn: Connection,
    office: str,
    request_id: int,
    *,
    decision: Decision,
    decided_on: date,
    reasons: tuple[RefusalReason, ...] = (),
    note: str | None = None,
    content: DisclosedContent | None = None,
) -> bool:
    """Move a received request to decided; False when it was not (or no longer) received."""
    t = disclosure_requests
    result = conn.execute(
        update(t)
        .where(t.c.office == office, t.c.id == request_id, t.c.state == RequestState.RECEIVED.value)
        .values(
            state=RequestState.DECIDED.value,
            decision=decision.value,
            decided_on=decided_on,
            refusal_reasons=",".join(r.value for r in reasons) or None,
            refusal_note=note,
            content=None if content is None else json.dumps(content.to_dict(), ensure_ascii=False),
        )
    )
    return result.rowcount == 1


def record_extension(conn: Connection, office: str, request_id: int, extension: Extension) -> bool:
    """Move a received, not yet extended request's deadline; False when it was not."""
    t = disclosure_requests
    result = conn.execute(
        update(t)
        .where(
            t.c.office == office,
            t.c.id == request_id,
            t.c.state == RequestState.RECEIVED.value,
            t.c.extension_reason.is_(None),
        )
        .values(
            due_on=extension.until,
            extension_reason=extension.reason,
            extension_notified_on=extension.notified_on,
        )
    )
    return result.rowcount == 1


def record_delivery(conn: Connection, office: str, request_id: int, delivered_on: date) -> bool:
    t = disclosure_requests
    result = conn.execute(
        update(t)
        .where(t.c.office == office, t.c.id == request_id, t.c.state == RequestState.DECIDED.value)
        .values(state=RequestState.DELIVERED.value, delivered_on=delivered_on)
    )
    return result.rowcount == 1


def record_provisions_asked(
    conn: Connection, office: str, request_id: int, reference: str, message_id: str
) -> None:
    t = disclosure_requests
    conn.execute(
        update(t)
        .where(t.c.office == office, t.c.id == request_id)
        .values(provisions_reference=reference, provisions_message_id=message_id)
    )


def asked_with(conn: Connection, office: str, reference: str) -> StoredRequest | None:
    """The office's request whose question to the national center has this reference."""
    t = disclosure_requests
    query = select(t).where(t.c.office == office, t.c.provisions_reference == reference)
    row = conn.execute(query).first()
    return None if row is None else _request(row)


def record_provisions_answer(
    conn: Connection, office: str, reference: str, answer: HistoryAnswer, at: datetime
) -> bool:
    """Keep the first answer to the question; False when one was kept already."""
    t = disclosure_requests
    result = conn.execute(
        update(t)
        .where(
            t.c.office == office,
            t.c.provisions_reference == reference,
            t.c.provisions_answer.is_(None),
        )
        .values(
            provisions_answer=json.dumps(answer.to_body(), ensure_ascii=False),
            provisions_answered_at=at,
        )
    )
    return result.rowcount == 1


def recorded_requests(
    conn: Connection, office: str, first: date, last: date
) -> list[RecordedRequest]:
    """What the statistics count of the office's requests received from ``first`` to
    ``last``."""
    t = disclosure_requests
    query = select(t.c.received_on, t.c.request_method, t.c.delivery_method).where(
        t.c.office == office, t.c.received_on >= first, t.c.received_on <= last
    )
    return [
        RecordedRequest(r.received_on, Channel(r.request_method), Channel(r.delivery_method))
        for r in conn.execute(query)
    ]


# --- corrections ----------------------------------------------------------------------------


def insert_correction(conn: Connection, **values: Any) -> int:
    result = conn.execute(disclosure_corrections.insert().values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def corrections_of(conn: Connection, office: str, request_id: int) -> list[Correction]:
    t = disclosure_corrections
    query = select(t).where(t.c.office == office, t.c.request_id == request_id).order_by(t.c.id)
    return [_correction(r) for r in conn.execute(query)]


def record_answer(
    conn: Connection,
    office: str,
    correction_id: int,
    *,
    answered_on: date,
    outcome: CorrectionOutcome,
    findings: str,
) -> bool:
    t = disclosure_corrections
    result = conn.execute(
        update(t)
        .where(
            t.c.office == office,
            t.c.id == correction_id,
            t.c.state == CorrectionState.REQUESTED.value,
        )
        .values(
            state=CorrectionState.ANSWERED.value,
            answered_on=answered_on,
            outcome=outcome.value,
            findings=findings,
        )
    )
    return result.rowcount == 1


# --- the identity record an office holds ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldRecord:
    """The current row of a resident code at an upper tier."""

    version: DisclosedVersion
    superseded_by: str | None


def _version(m: Any) -> DisclosedVersion:
    return DisclosedVersion(
        resident_code=m["resident_code"],
        name=m["name"],
        alias=m["alias"],
        former_surname=m["former_surname"],
        birth_date=m["birth_date"],
        sex=m["sex"],
        address=m["address"],
        change_reason=m["change_reason"],
        change_date=m["change_date"],
        removed=bool(m["removed"]),
    )


def held_record(
    conn: Connection, tier: Tier, resident_code: str, tenant: str | None
) -> HeldRecord | None:
    t = tier.current
    row = conn.execute(
        select(t).where(t.c.resident_code == resident_code, *tier.tenant_filter(t, tenant))
    ).first()
    if row is None:
        return None
    return HeldRecord(_version(row._mapping), row._mapping["superseded_by"])


def history_of(
    conn: Connection, tier: Tier, resident_codes: list[str], tenant: str | None
) -> list[tuple[DisclosedVersion, str | None]]:
    """Every version the tier received for these codes, in the order received, each with the
    code it replaced (a resident-code change) if any."""
    t = tier.history
    query = (
        select(t)
        .where(t.c.resident_code.in_(resident_codes), *tier.tenant_filter(t, tenant))
        .order_by(t.c.received_at, t.c.id)
    )
    return [
        (_version(r._mapping), r._mapping["previous_resident_code"]) for r in conn.execute(query)
    ]


def person_codes(
    conn: Connection, tier: Tier, resident_codes: Sequence[str], tenant: str | None
) -> list[str]:
    """These codes and every code they replaced (resident-code changes, followed back through
    the tier's history, at most ``CHAIN_LIMIT`` steps). Codes are never reused, so all of them
    are the same person's."""
    codes = list(dict.fromkeys(resident_codes))
    pending = list(codes)
    while pending and len(codes) <= CHAIN_LIMIT:
        found = history_of(conn, tier, pending, tenant)
        pending = list(dict.fromkeys(p for _, p in found if p is not None and p not in codes))
        codes.extend(pending)
    return codes


def affair_names(conn: Connection) -> dict[str, str]:
    """The affairs' texts as the national center holds them (empty elsewhere)."""
    return {r.affair_id: r.affair for r in conn.execute(select(recipient_affairs))}
