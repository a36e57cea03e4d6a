"""Wide-area certificates at the municipal nodes: requests at the issuing municipality, the
answers the home municipality gave, and each municipality's fee.

Every table carries ``lg_code`` (the municipality the row belongs to: the issuing one for a
request and a fee, the home one for an answer) and is a tenant table on PostgreSQL (row-level
security on ``app.lg_code``, migration 0015).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    func,
    select,
    update,
)

from jukinet.domain.certificates import (
    CertificatePerson,
    Options,
    Requester,
    RequestStatus,
    WideAreaRequest,
    parse_person,
    person_body,
)
from jukinet.store.spine import insert_ignoring_conflict
from jukinet.store.tables import BigId, UTCDateTime, metadata

wide_area_certificates = Table(
    "wide_area_certificates",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),  # the certificate number
    Column("lg_code", String(6), nullable=False),  # the issuing municipality
    Column("request_id", String(36), nullable=False, unique=True),  # names it on the network
    Column("home_lg_code", String(6), nullable=False),
    Column("requester_code", String(11), nullable=False),
    Column("requester_name", Text, nullable=False),  # as on the photo ID
    Column("requester_birth_date", Date, nullable=False),
    Column("subject_codes", Text, nullable=False),  # comma-separated, in the order asked
    Column("include_household", Boolean, nullable=False),
    Column("include_resident_code", Boolean, nullable=False),
    Column("identity_document", Text, nullable=False),  # the photo ID shown
    Column("requested_by", String(80), nullable=False),  # operator login (or "cli")
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("request_message_id", String(36), nullable=False),  # the outbox message asking
    Column("status", String(10), nullable=False),  # pending | issued | refused | cancelled
    Column("refusal_rule", String(40)),
    Column("refusal_field", Text),
    Column("refusal_message", Text),
    Column("items", Text),  # JSON: the persons' items as the home municipality sent them
    Column("fee_yen", Integer),  # recorded with the issuance
    Column("issued_on", Date),  # Japan date of issuance (printed on the copy)
    Column("resolved_at", UTCDateTime()),
    Index("ix_wide_area_certificates_lg_code_status", "lg_code", "status", "requested_at"),
)
"""Every wide-area request taken at this municipality's counter, pending until answered."""

certificate_items_answers = Table(
    "certificate_items_answers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lg_code", String(6), nullable=False),  # the home municipality that answered
    Column("request_id", String(36), nullable=False),
    Column("issuing_lg_code", String(6), nullable=False),
    Column("requester_code", String(11), nullable=False),
    Column("subject_codes", Text, nullable=False),
    Column("outcome", String(10), nullable=False),  # items | refused
    Column("refusal_rule", String(40)),
    Column("answered_at", UTCDateTime(), nullable=False),
    Index("uq_certificate_items_answers_request", "lg_code", "request_id", unique=True),
)
"""Which municipality got whose items, and when (or why it was refused): the home
municipality's record of what left its register."""

certificate_fees = Table(
    "certificate_fees",
    metadata,
    Column("lg_code", String(6), primary_key=True),
    Column("fee_yen", Integer, nullable=False),
    Column("set_at", UTCDateTime(), nullable=False),
)
"""The fee a municipality charges for a wide-area copy (set by its ordinance)."""


@dataclass(frozen=True, slots=True)
class StoredRequest:
    id: int
    lg_code: str
    request_id: str
    request: WideAreaRequest
    requested_by: str
    requested_at: datetime
    request_message_id: str
    status: RequestStatus
    refusal_rule: str | None
    refusal_field: str | None
    refusal_message: str | None
    persons: tuple[CertificatePerson, ...]
    fee_yen: int | None
    issued_on: date | None
    resolved_at: datetime | None

    @property
    def certificate_number(self) -> str:
        return f"{self.lg_code}-{self.id:08d}"


def _to_request(row: Row[Any]) -> StoredRequest:
    m = row._mapping
    request = WideAreaRequest(
        home_lg_code=m["home_lg_code"],
        requester=Requester(m["requester_code"], m["requester_name"], m["requester_birth_date"]),
        subject_codes=tuple(m["subject_codes"].split(",")),
        options=Options(m["include_household"], m["include_resident_code"]),
        identity_document=m["identity_document"],
    )
    persons = tuple(parse_person(p) for p in json.loads(m["items"])) if m["items"] else ()
    return StoredRequest(
        id=m["id"],
        lg_code=m["lg_code"],
        request_id=m["request_id"],
        request=request,
        requested_by=m["requested_by"],
        requested_at=m["requested_at"],
        request_message_id=m["request_message_id"],
        status=RequestStatus(m["status"]),
        refusal_rule=m["refusal_rule"],
        refusal_field=m["refusal_field"],
        refusal_message=m["refusal_message"],
        persons=persons,
        fee_yen=m["fee_yen"],
        issued_on=m["issued_on"],
        resolved_at=m["resolved_at"],
    )


def insert_request(
    conn: Connection,
    *,
    lg_code: str,
    request_id: str,
    request: WideAreaRequest,
    requested_by: str,
    requested_at: datetime,
    request_message_id: str,
) -> int:
    values = {
        "lg_code": lg_code,
        "request_id": request_id,
        "home_lg_code": request.home_lg_code,
        "requester_code": request.requester.resident_code,
        "requester_name": request.requester.name,
        "requester_birth_date": request.requester.birth_date,
        "subject_codes": ",".join(request.subject_codes),
        "include_household": request.options.include_household,
        "include_resident_code": request.options.include_resident_code,
        "identity_document": request.identity_document,
        "requested_by": requested_by,
        "requested_at": requested_at,
        "request_message_id": request_message_id,
        "status": RequestStatus.PENDING.value,
    }
    statement = wide_area_certificates.insert().returning(wide_area_certificates.c.id)
    return int(conn.execute(statement, values).scalar_one())


def get_request(conn: Connection, lg_code: str, number: int) -> StoredRequest | None:
    row = conn.execute(
        select(wide_area_certificates).where(
            wide_area_certificates.c.lg_code == lg_code, wide_area_certificates.c.id == number
        )
    ).first()
    return None if row is None else _to_request(row)


def get_request_by_request_id(
    conn: Connection, lg_code: str, request_id: str
) -> StoredRequest | None:
    row = conn.execute(
        select(wide_area_certificates).where(
            wide_area_certificates.c.lg_code == lg_code,
            wide_area_certificates.c.request_id == request_id,
        )
    ).first()
    return None if row is None else _to_request(row)


def list_requests(
    conn: Connection, lg_code: str, status: RequestStatus | None = None, limit: int = 100
) -> list[StoredRequest]:
    query = select(wide_area_certificates).where(wide_area_certificates.c.lg_code == lg_code)
    if status is not None:
        query = query.where(wide_area_certificates.c.status == status.value)
    rows = conn.execute(query.order_by(wide_area_certificates.c.id.desc()).limit(limit))
    return [_to_request(r) for r in rows]


def count_by_status(conn: Connection, lg_code: str) -> dict[RequestStatus, int]:
    rows = conn.execute(
        select(wide_area_certificates.c.status, func.count())
        .where(wide_area_certificates.c.lg_code == lg_code)
        .group_by(wide_area_certificates.c.status)
    )
    counts = dict.fromkeys(RequestStatus, 0)
    counts.update({RequestStatus(s): int(n) for s, n in rows})
    return counts


def _resolve(conn: Connection, number: int, values: dict[str, Any]) -> bool:
    """Move a pending request on; False when it is no longer pending (nothing changes)."""
    result = conn.execute(
        update(wide_area_certificates)
        .where(
            wide_area_certificates.c.id == number,
            wide_area_certificates.c.status == RequestStatus.PENDING.value,
        )
        .values(**values)
    )
    return result.rowcount == 1


def mark_issued(
    conn: Connection,
    number: int,
    persons: list[CertificatePerson],
    *,
    fee_yen: int,
    issued_on: date,
    at: datetime,
) -> bool:
    return _resolve(
        conn,
        number,
        {
            "status": RequestStatus.ISSUED.value,
            "items": json.dumps([person_body(p) for p in persons], ensure_ascii=False),
            "fee_yen": fee_yen,
            "issued_on": issued_on,
            "resolved_at": at,
        },
    )


def mark_refused(
    conn: Connection, number: int, *, rule: str, field: str | None, message: str, at: datetime
) -> bool:
    return _resolve(
        conn,
        number,
        {
            "status": RequestStatus.REFUSED.value,
            "refusal_rule": rule[:40],
            "refusal_field": field,
            "refusal_message": message,
            "resolved_at": at,
        },
    )


def mark_cancelled(conn: Connection, number: int, at: datetime) -> bool:
    return _resolve(conn, number, {"status": RequestStatus.CANCELLED.value, "resolved_at": at})


# --- the home municipality's answers --------------------------------------------------------


def record_answer(
    conn: Connection,
    *,
    lg_code: str,
    request_id: str,
    issuing_lg_code: str,
    requester_code: str,
    subject_codes: list[str],
    outcome: str,
    refusal_rule: str | None,
    at: datetime,
) -> None:
    insert_ignoring_conflict(
        conn,
        certificate_items_answers,
        {
            "lg_code": lg_code,
            "request_id": request_id,
            "issuing_lg_code": issuing_lg_code,
            "requester_code": requester_code,
            "subject_codes": ",".join(subject_codes),
            "outcome": outcome,
            "refusal_rule": refusal_rule,
            "answered_at": at,
        },
    )


def answered(conn: Connection, lg_code: str, request_id: str) -> bool:
    return (
        conn.execute(
            select(certificate_items_answers.c.id).where(
                certificate_items_answers.c.lg_code == lg_code,
                certificate_items_answers.c.request_id == request_id,
            )
        ).first()
        is not None
    )


def answers(conn: Connection, lg_code: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(certificate_items_answers)
        .where(certificate_items_answers.c.lg_code == lg_code)
        .order_by(certificate_items_answers.c.id)
    )
    return [dict(r._mapping) for r in rows]


# --- fees -----------------------------------------------------------------------------------


def fee_of(conn: Connection, lg_code: str) -> int | None:
    value = conn.execute(
        select(certificate_fees.c.fee_yen).where(certificate_fees.c.lg_code == lg_code)
    ).scalar_one_or_none()
    return None if value is None else int(value)


def set_fee(conn: Connection, lg_code: str, fee_yen: int, at: datetime) -> None:
    updated = conn.execute(
        update(certificate_fees)
        .where(certificate_fees.c.lg_code == lg_code)
        .values(fee_yen=fee_yen, set_at=at)
    )
    if updated.rowcount == 0:
        conn.execute(certificate_fees.insert().values(lg_code=lg_code, fee_yen=fee_yen, set_at=at))


def fees_collected(conn: Connection, lg_code: str, start: date, end: date) -> tuple[int, int]:
    """Copies issued and fees recorded between two dates (inclusive)."""
    row = conn.execute(
        select(func.count(), func.coalesce(func.sum(wide_area_certificates.c.fee_yen), 0)).where(
            wide_area_certificates.c.lg_code == lg_code,
            wide_area_certificates.c.status == RequestStatus.ISSUED.value,
            wide_area_certificates.c.issued_on >= start,
            wide_area_certificates.c.issued_on <= end,
        )
    ).one()
    return int(row[0]), int(row[1])
