"""The certificate revocation feed at the national center: one notice per identity-record
change that revokes a resident's public-key certificate, in the order recorded.

The cursor is the notice's id. Notices are written only while an identity update from the
prefectural center is applied, and the receiver applies that channel's messages one at a time
under the channel's row lock, so ids are committed in increasing order: a consumer that reads
``after=<the last id it saw>`` never misses a notice committed later with a smaller id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Connection, Date, Index, String, Table, select

from jukinet.domain.identity import ChangeReason
from jukinet.domain.revocation import RevocationCause
from jukinet.store.spine import insert_ignoring_conflict
from jukinet.store.tables import BigId, UTCDateTime, metadata

revocation_notices = Table(
    "revocation_notices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),  # the feed's cursor
    Column("resident_code", String(11), nullable=False),
    Column("lg_code", String(6), nullable=False),  # the municipality that recorded the change
    Column("causes", String(60), nullable=False),  # comma-separated RevocationCause values
    Column("change_reason", String(40), nullable=False),
    Column("change_date", Date, nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("source", String(40), nullable=False),  # the municipal node of the change
    Column("source_seq", BigInteger, nullable=False),
    Index(
        "uq_revocation_notices_change",
        "resident_code",
        "change_reason",
        "change_date",
        unique=True,
    ),
)
"""Append-only; a change already noticed (a resend) is not noticed twice."""


@dataclass(frozen=True, slots=True)
class RevocationNotice:
    cursor: int
    resident_code: str
    lg_code: str
    causes: tuple[RevocationCause, ...]
    change_reason: ChangeReason
    change_date: date
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class NewNotice:
    resident_code: str
    lg_code: str
    causes: tuple[RevocationCause, ...]
    change_reason: ChangeReason
    change_date: date


def append_notices(
    conn: Connection, notices: list[NewNotice], *, source: str, source_seq: int, at: datetime
) -> None:
    if not notices:
        return
    insert_ignoring_conflict(
        conn,
        revocation_notices,
        [
            {
                "resident_code": n.resident_code,
                "lg_code": n.lg_code,
                "causes": ",".join(c.value for c in n.causes),
                "change_reason": n.change_reason.value,
                "change_date": n.change_date,
                "recorded_at": at,
                "source": source,
                "source_seq": source_seq,
            }
            for n in notices
        ],
    )


def notices_after(conn: Connection, after: int, limit: int) -> list[RevocationNotice]:
    rows = conn.execute(
        select(revocation_notices)
        .where(revocation_notices.c.id > after)
        .order_by(revocation_notices.c.id)
        .limit(limit)
    )
    return [
        RevocationNotice(
            cursor=int(r.id),
            resident_code=r.resident_code,
            lg_code=r.lg_code,
            causes=tuple(RevocationCause(c) for c in r.causes.split(",")),
            change_reason=ChangeReason(r.change_reason),
            change_date=r.change_date,
            recorded_at=r.recorded_at,
        )
        for r in rows
    ]
