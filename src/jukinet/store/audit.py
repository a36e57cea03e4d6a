"""The audit log of a node's database: an append-only, hash-chained list of entries, the head
that serialises appends, and the node's signed checkpoints.

Appends run in the transaction of the change they record (the entry commits or rolls back with
it). The chain needs the previous digest, so appends serialise on the row lock of the one
``audit_head`` row (as ``outbox_channels`` does for a channel); on SQLite write transactions
are serial anyway.

On PostgreSQL migration 0006 adds a trigger that refuses UPDATE and DELETE on ``audit_log``
and ``audit_checkpoints``. It stops mistakes and ordinary roles, not the table owner or a
superuser (who can disable triggers): detection does not depend on it, verification does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from jukinet.domain.audit import GENESIS_DIGEST, AuditEntry, canonical_entry, chain_digest
from jukinet.store.tables import UTCDateTime, metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(80), nullable=False),  # operator id or node id
    Column("action", String(60), nullable=False),
    Column("object", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=False),  # canonical JSON text (what the digest covers)
    Column("prev_digest", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
)
"""Append-only: ``digest = sha256(prev_digest + canonical entry)`` (``domain.audit``)."""

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("seq", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
)
"""The last entry's seq and digest: its row lock orders appends; verification compares it
with the log to notice entries removed from the end."""

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("node_id", String(40), nullable=False),
    Column("algorithm", String(40), nullable=False),
    Column("cert_fingerprint", String(64), nullable=False),
    Column("certificate", LargeBinary, nullable=False),  # DER, so verification is offline
    Column("signature", LargeBinary, nullable=False),
)
"""The node's signature over (node, seq, digest, at): ``domain.audit.checkpoint_payload``."""

_HEAD_ID = 1


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    seq: int
    digest: str
    at: datetime
    node_id: str
    algorithm: str
    cert_fingerprint: str
    certificate: bytes
    signature: bytes


def _insert_head_if_missing(conn: Connection) -> None:
    values = {"id": _HEAD_ID, "seq": 0, "digest": GENESIS_DIGEST}
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(postgresql.insert(audit_head).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        conn.execute(sqlite.insert(audit_head).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - only the two supported dialects
        raise NotImplementedError(dialect)


_LOCK_HEAD = (
    select(audit_head.c.seq, audit_head.c.digest)
    .where(audit_head.c.id == _HEAD_ID)
    .with_for_update()
)


def lock_head(conn: Connection) -> tuple[int, str]:
    """The chain's head, locked until the transaction ends (created on first use)."""
    row = conn.execute(_LOCK_HEAD).first()
    if row is None:
        _insert_head_if_missing(conn)
        row = conn.execute(_LOCK_HEAD).one()
    return int(row.seq), str(row.digest)


def read_head(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(select(audit_head.c.seq, audit_head.c.digest)).first()
    return None if row is None else (int(row.seq), str(row.digest))


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to append: everything but its place in the chain (``detail`` canonical)."""

    at: datetime
    actor: str
    action: str
    obj: str
    outcome: str
    detail: str


def append_entry(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    obj: str,
    outcome: str,
    detail: str,
) -> AuditEntry:
    """Append one entry after the head (``detail``: canonical JSON text)."""
    return append_entries(conn, [NewEntry(at, actor, action, obj, outcome, detail)])[0]


def append_entries(conn: Connection, new: Sequence[NewEntry]) -> list[AuditEntry]:
    """Append entries after the head, in order: one head lock, one insert, one head update
    however many (a transaction recording several decisions holds the head only once, and
    as late as its caller appends)."""
    if not new:
        return []
    seq, prev = lock_head(conn)
    entries: list[AuditEntry] = []
    for item in new:
        seq += 1
        canonical = canonical_entry(
            seq,
            item.at,
            actor=item.actor,
            action=item.action,
            obj=item.obj,
            outcome=item.outcome,
            detail=item.detail,
        )
        digest = chain_digest(prev, canonical)
        entries.append(
            AuditEntry(
                seq,
                item.at,
                item.actor,
                item.action,
                item.obj,
                item.outcome,
                item.detail,
                prev,
                digest,
            )
        )
        prev = digest
    conn.execute(
        audit_log.insert(),
        [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "object": e.object,
                "outcome": e.outcome,
                "detail": e.detail,
                "prev_digest": e.prev_digest,
                "digest": e.digest,
            }
            for e in entries
        ],
    )
    conn.execute(_UPDATE_HEAD, {"head_seq": seq, "head_digest": prev})
    return entries


_UPDATE_HEAD = (
    audit_head.update()
    .where(audit_head.c.id == _HEAD_ID)
    .values(seq=bindparam("head_seq"), digest=bindparam("head_digest"))
)


def _row_to_entry(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=int(row.seq),
        at=row.at,
        actor=row.actor,
        action=row.action,
        object=row.object,
        outcome=row.outcome,
        detail=row.detail,
        prev_digest=row.prev_digest,
        digest=row.digest,
    )


STREAM_ROWS = 10_000


def iter_entries(conn: Connection, after_seq: int = 0) -> Iterator[AuditEntry]:
    """Every entry in sequence order, streamed."""
    query = (
        select(audit_log)
        .where(audit_log.c.seq > after_seq)
        .order_by(audit_log.c.seq)
        .execution_options(yield_per=STREAM_ROWS)
    )
    for row in conn.execute(query):
        yield _row_to_entry(row)


def get_entry(conn: Connection, seq: int) -> AuditEntry | None:
    row = conn.execute(select(audit_log).where(audit_log.c.seq == seq)).first()
    return None if row is None else _row_to_entry(row)


def seq_with_digest(conn: Connection, digest: str) -> int | None:
    """The entry whose digest this is (to say where a moved entry came from)."""
    found = conn.execute(
        select(audit_log.c.seq).where(audit_log.c.digest == digest).limit(1)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def insert_checkpoint(conn: Connection, checkpoint: StoredCheckpoint) -> None:
    conn.execute(
        audit_checkpoints.insert(),
        {
            "seq": checkpoint.seq,
            "digest": checkpoint.digest,
            "at": checkpoint.at,
            "node_id": checkpoint.node_id,
            "algorithm": checkpoint.algorithm,
            "cert_fingerprint": checkpoint.cert_fingerprint,
            "certificate": checkpoint.certificate,
            "signature": checkpoint.signature,
        },
    )


def _row_to_checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(
        seq=int(row.seq),
        digest=row.digest,
        at=row.at,
        node_id=row.node_id,
        algorithm=row.algorithm,
        cert_fingerprint=row.cert_fingerprint,
        certificate=bytes(row.certificate),
        signature=bytes(row.signature),
    )


def list_checkpoints(conn: Connection) -> list[StoredCheckpoint]:
    rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))
    return [_row_to_checkpoint(r) for r in rows]


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    row = conn.execute(
        select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)
    ).first()
    return None if row is None else _row_to_checkpoint(row)
