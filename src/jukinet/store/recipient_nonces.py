"""Nonces of signed recipient requests (national center database), for replay refusal.

The primary key (recipient, nonce) makes "seen before" a database fact, so every process and
worker of the national center refuses a replay, not only the one that saw the first request.
A nonce is kept while its request's ``created`` is inside the acceptance window; after that
the request is refused as stale anyway, so older rows are purged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Index, PrimaryKeyConstraint, String, Table, Text, delete
from sqlalchemy.dialects import postgresql, sqlite

from jukinet.store.tables import UTCDateTime, metadata

recipient_request_nonces = Table(
    "recipient_request_nonces",
    metadata,
    Column("recipient", Text, nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),  # the signature's ``created``
    Column("certificate", String(64), nullable=False),  # fingerprint of the signer
    PrimaryKeyConstraint("recipient", "nonce"),
    Index("ix_recipient_request_nonces_created_at", "created_at"),
)
"""One row per accepted signed request, while its ``created`` is within the window."""


_RECORD = {
    # Built once: this runs on every signed request, and building it cost more than running it.
    name: dialect.insert(recipient_request_nonces)
    .on_conflict_do_nothing()
    .returning(recipient_request_nonces.c.nonce)  # rowcount is -1 here with psycopg 3
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def record_nonce(
    conn: Connection, *, recipient: str, nonce: str, created_at: datetime, certificate: str
) -> bool:
    """Remember a nonce; False when the recipient used it before (a replay)."""
    statement = _RECORD["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    values = {
        "recipient": recipient,
        "nonce": nonce,
        "created_at": created_at,
        "certificate": certificate,
    }
    return conn.execute(statement, values).first() is not None


def record_nonces(conn: Connection, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Remember many nonces in one statement (keys as :func:`record_nonce`); returns the
    (recipient, nonce) pairs recorded now. A pair held before is not returned (a replay),
    nor twice when given twice: the caller admits its first occurrence only."""
    if len(rows) <= 1:
        if rows and record_nonce(conn, **rows[0]):
            return {(rows[0]["recipient"], rows[0]["nonce"])}
        return set()
    statement = _RECORD_MANY["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    return {(str(r), str(n)) for r, n in conn.execute(statement, rows)}  # one multi-row insert


_RECORD_MANY = {
    name: dialect.insert(recipient_request_nonces)
    .on_conflict_do_nothing()
    .returning(recipient_request_nonces.c.recipient, recipient_request_nonces.c.nonce)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def purge_nonces(conn: Connection, created_before: datetime) -> int:
    """Forget nonces of requests that would now be refused as stale; returns how many."""
    result = conn.execute(
        delete(recipient_request_nonces).where(
            recipient_request_nonces.c.created_at < created_before
        )
    )
    return result.rowcount
