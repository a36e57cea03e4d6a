"""Network documents every node keeps: the CRLs and crypto policies the national center sent.

A node must enforce them from its first message after a restart, so they live in its own
database (not only in memory). Every version received is kept; the newest per kind is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Column, Connection, LargeBinary, String, Table, func, select

from jukinet.store.spine import insert_ignoring_conflict
from jukinet.store.tables import UTCDateTime, metadata

POLICY_KIND = "policy"


def crl_kind(purpose: str) -> str:
    """One CRL per issuing CA: ``crl:nodes``, ``crl:recipients``."""
    return f"crl:{purpose}"


network_documents = Table(
    "network_documents",
    metadata,
    Column("kind", String(40), primary_key=True),  # policy | crl:<purpose>
    Column("version", BigInteger, primary_key=True),  # policy version / CRL number
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("content", LargeBinary, nullable=False),  # signed policy JSON / CRL DER
    Column("stored_at", UTCDateTime(), nullable=False),
)
"""Signed documents from the national center, every version received."""


@dataclass(frozen=True, slots=True)
class Document:
    kind: str
    version: int
    issued_at: datetime
    content: bytes


def store_if_newer(
    conn: Connection, kind: str, version: int, issued_at: datetime, content: bytes, *, at: datetime
) -> bool:
    """Keep a document unless a version as new is already held; returns whether stored."""
    newest = conn.execute(
        select(func.max(network_documents.c.version)).where(network_documents.c.kind == kind)
    ).scalar_one_or_none()
    if newest is not None and newest >= version:
        return False
    insert_ignoring_conflict(
        conn,
        network_documents,
        {
            "kind": kind,
            "version": version,
            "issued_at": issued_at,
            "content": content,
            "stored_at": at,
        },
    )
    return True


def newest_documents(conn: Connection) -> dict[str, Document]:
    """The newest version of each kind held."""
    newest = (
        select(network_documents.c.kind, func.max(network_documents.c.version).label("version"))
        .group_by(network_documents.c.kind)
        .subquery()
    )
    rows = conn.execute(
        select(network_documents).join(
            newest,
            (network_documents.c.kind == newest.c.kind)
            & (network_documents.c.version == newest.c.version),
        )
    )
    return {r.kind: Document(r.kind, int(r.version), r.issued_at, bytes(r.content)) for r in rows}


def newest_document(conn: Connection, kind: str) -> Document | None:
    return newest_documents(conn).get(kind)


_NEWEST_VERSIONS = select(network_documents.c.kind, func.max(network_documents.c.version)).group_by(
    network_documents.c.kind
)  # built once: it runs in every transaction of immediate provision


def newest_versions(conn: Connection) -> dict[str, int]:
    """The newest version number of each kind held, without the contents (a cheap "has
    anything changed since" check for processes that did not receive the document)."""
    return {str(kind): int(version) for kind, version in conn.execute(_NEWEST_VERSIONS)}
