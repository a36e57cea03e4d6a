"""Data functions of the signed-message spine: outbox, inbox channels, rejections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jukinet.store.tables import inbox_channels, message_rejections, outbox, outbox_channels


def insert_ignoring_conflict(
    conn: Connection, table: Table, values: dict[str, Any] | list[dict[str, Any]]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING on either database (one row or many)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(), values)


def _locked(conn: Connection, query: Any) -> Any:
    """Row lock on PostgreSQL; SQLite's write transactions are already exclusive."""
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


# --- outbox --------------------------------------------------------------------------------


_CHANNEL = (
    outbox_channels.c.sender == bindparam("b_sender"),
    outbox_channels.c.receiver == bindparam("b_receiver"),
)
_TAKE_SEQ = (
    update(outbox_channels)
    .where(*_CHANNEL)
    .values(next_seq=outbox_channels.c.next_seq + 1)
    .returning(outbox_channels.c.next_seq)
)


def take_next_seq(conn: Connection, sender: str, receiver: str) -> int:
    """The channel's next sequence number (1, 2, ...), reserved in this transaction (the
    UPDATE locks the channel row, so concurrent writers queue up behind each other)."""
    after = conn.execute(
        _TAKE_SEQ, {"b_sender": sender, "b_receiver": receiver}
    ).scalar_one_or_none()
    if after is not None:
        return int(after) - 1
    insert_ignoring_conflict(
        conn, outbox_channels, {"sender": sender, "receiver": receiver, "next_seq": 1}
    )
    return (
        int(conn.execute(_TAKE_SEQ, {"b_sender": sender, "b_receiver": receiver}).scalar_one()) - 1
    )


def insert_outbox_message(
    conn: Connection,
    *,
    message_id: str,
    sender: str,
    receiver: str,
    seq: int,
    message_type: str,
    wire: bytes,
    created_at: datetime,
) -> None:
    conn.execute(
        outbox.insert(),
        {
            "message_id": message_id,
            "sender": sender,
            "receiver": receiver,
            "seq": seq,
            "type": message_type,
            "wire": wire,
            "created_at": created_at,
            "attempts": 0,
        },
    )


@dataclass(frozen=True, slots=True)
class PendingMessage:
    id: int
    message_id: str
    sender: str
    receiver: str
    seq: int
    type: str
    wire: bytes
    attempts: int


def due_channels(conn: Connection, senders: Sequence[str], now: datetime) -> list[tuple[str, str]]:
    """(sender, receiver) channels whose oldest undelivered message is due for sending."""
    head = (
        select(outbox.c.sender, outbox.c.receiver, func.min(outbox.c.seq).label("seq"))
        .where(outbox.c.delivered_at.is_(None), outbox.c.sender.in_(senders))
        .group_by(outbox.c.sender, outbox.c.receiver)
        .subquery()
    )
    rows = conn.execute(
        select(outbox.c.sender, outbox.c.receiver)
        .join(
            head,
            and_(
                outbox.c.sender == head.c.sender,
                outbox.c.receiver == head.c.receiver,
                outbox.c.seq == head.c.seq,
            ),
        )
        .where((outbox.c.next_attempt_at.is_(None)) | (outbox.c.next_attempt_at <= now))
    )
    return [(r.sender, r.receiver) for r in rows]


def pending_messages(
    conn: Connection, sender: str, receiver: str, limit: int
) -> list[PendingMessage]:
    rows = conn.execute(
        select(outbox)
        .where(
            outbox.c.sender == sender,
            outbox.c.receiver == receiver,
            outbox.c.delivered_at.is_(None),
        )
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    return [
        PendingMessage(r.id, r.message_id, r.sender, r.receiver, r.seq, r.type, r.wire, r.attempts)
        for r in rows
    ]


def mark_delivered(conn: Connection, outcomes: dict[int, str], at: datetime) -> None:
    """Record the receiver's acknowledgement per outbox row id (applied/duplicate/rejected)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == bindparam("row_id"))
        .values(
            delivered_at=bindparam("at"),
            outcome=bindparam("acked"),
            attempts=outbox.c.attempts + 1,
            next_attempt_at=None,
        ),
        [{"row_id": i, "acked": o, "at": at} for i, o in outcomes.items()],
    )


def mark_attempt_failed(conn: Connection, row_id: int, error: str, retry_at: datetime) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(attempts=outbox.c.attempts + 1, last_error=error[:2000], next_attempt_at=retry_at)
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where one outbox message stands: the delivery worker retries it until the receiver
    acknowledges; a pending request shows this to whoever waits for the answer."""

    delivered_at: datetime | None
    outcome: str | None  # applied | duplicate | rejected (quarantined by the receiver)
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


def delivery_of(conn: Connection, message_id: str) -> Delivery | None:
    row = conn.execute(
        select(
            outbox.c.delivered_at,
            outbox.c.outcome,
            outbox.c.attempts,
            outbox.c.next_attempt_at,
            outbox.c.last_error,
        ).where(outbox.c.message_id == message_id)
    ).first()
    if row is None:
        return None
    return Delivery(
        row.delivered_at, row.outcome, row.attempts, row.next_attempt_at, row.last_error
    )


@dataclass(frozen=True, slots=True)
class Backlog:
    sender: str
    pending: int
    oldest_created_at: datetime | None
    last_error: str | None


def outbox_backlog(conn: Connection, senders: Sequence[str]) -> dict[str, Backlog]:
    """Undelivered messages per sender: count, age of the oldest, the latest error."""
    rows = conn.execute(
        select(outbox.c.sender, func.count(), func.min(outbox.c.created_at))
        .where(outbox.c.delivered_at.is_(None), outbox.c.sender.in_(senders))
        .group_by(outbox.c.sender)
    ).all()
    errors: dict[str, str] = {}
    failed = conn.execute(
        select(outbox.c.sender, outbox.c.last_error)
        .where(
            outbox.c.delivered_at.is_(None),
            outbox.c.last_error.is_not(None),
            outbox.c.sender.in_(senders),
        )
        .order_by(outbox.c.next_attempt_at.desc())
    )
    for sender, error in failed:  # newest failure first: keep the first seen per sender
        errors.setdefault(sender, error)
    result = {s: Backlog(s, 0, None, None) for s in senders}
    for sender, count, oldest in rows:
        result[sender] = Backlog(sender, int(count), oldest, errors.get(sender))
    return result


# --- inbox ---------------------------------------------------------------------------------


_INBOX = (
    inbox_channels.c.receiver == bindparam("b_receiver"),
    inbox_channels.c.sender == bindparam("b_sender"),
)
_LAST_SEQ = select(inbox_channels.c.last_seq).where(*_INBOX)
_ADVANCE = update(inbox_channels).where(*_INBOX)


def lock_inbox_channel(conn: Connection, receiver: str, sender: str) -> int:
    """The last applied sequence number of the channel, locked for this transaction."""
    key = {"b_receiver": receiver, "b_sender": sender}
    last = conn.execute(_locked(conn, _LAST_SEQ), key).scalar_one_or_none()
    return 0 if last is None else int(last)


def advance_inbox_channel(
    conn: Connection, receiver: str, sender: str, *, seq: int, message_id: str, at: datetime
) -> None:
    values = {"last_seq": seq, "last_message_id": message_id, "updated_at": at}
    if seq == 1:
        conn.execute(inbox_channels.insert(), {"receiver": receiver, "sender": sender, **values})
        return
    conn.execute(_ADVANCE, {"b_receiver": receiver, "b_sender": sender, **values})


def record_rejection(
    conn: Connection,
    *,
    received_at: datetime,
    reason: str,
    quarantined: bool,
    header: dict[str, Any],
    wire: bytes | None,
) -> None:
    conn.execute(
        insert(message_rejections).values(
            received_at=received_at,
            receiver=header.get("receiver"),
            sender=header.get("sender"),
            message_id=header.get("id"),
            type=header.get("type"),
            seq=header.get("seq"),
            reason=reason[:2000],
            quarantined=quarantined,
            wire=wire,
        )
    )
