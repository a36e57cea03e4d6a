"""Batch provision jobs (一括提供) on the national center's database.

One row per submitted request file: who submitted it for which affair and by which method,
the SHA-256 of its bytes (unique per recipient and affair, so a re-submitted file finds its
earlier job instead of providing twice), status, phase and progress, the worker's lease, and
where its request and result files are. The files stay outside the database (a month's pension
check is 40 million rows): ``request_path`` and ``result_path`` are relative to the national
center's file directory, and the result's SHA-256 is kept here to prove it unaltered.

``status``: ``queued`` → ``running`` → ``done`` or ``failed``. A ``running`` job whose lease
(``claimed_at``) is older than the worker's lease time belonged to a worker that died: another
worker takes it over and runs it from the start (nothing of it was recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    or_,
    select,
    update,
)

from jukinet.store.tables import UTCDateTime, metadata

provision_jobs = Table(
    "provision_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("recipient", Text, nullable=False),
    Column("affair_id", String(40), nullable=False),
    Column("method", String(12), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("source_name", Text),
    Column("status", String(12), nullable=False),
    Column("total_rows", BigInteger, nullable=False),
    Column("processed_rows", BigInteger, nullable=False),
    Column("provided_rows", BigInteger, nullable=False),
    Column("invalid_rows", BigInteger, nullable=False),
    Column("submitted_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("error", Text),
    Column("request_format", String(8), nullable=False),
    Column("request_path", Text, nullable=False),
    Column("result_path", Text),
    Column("result_sha256", String(64)),
    Column("phase", String(12)),
    Column("claimed_at", UTCDateTime()),
    UniqueConstraint("recipient", "affair_id", "content_hash"),
    Index("ix_provision_jobs_status", "status", "submitted_at"),
)
"""Jobs of batch provision."""


@dataclass(frozen=True, slots=True)
class ProvisionJob:
    id: str
    recipient: str
    affair_id: str
    method: str
    content_hash: str
    source_name: str | None
    status: str
    total_rows: int
    processed_rows: int
    provided_rows: int
    invalid_rows: int
    submitted_at: datetime
    finished_at: datetime | None
    error: str | None
    request_format: str
    request_path: str
    result_path: str | None
    result_sha256: str | None
    phase: str | None
    claimed_at: datetime | None


def _job(row: Any) -> ProvisionJob:
    m = row._mapping
    return ProvisionJob(**{c.name: m[c.name] for c in provision_jobs.c})


def insert_job(conn: Connection, **values: Any) -> None:
    conn.execute(provision_jobs.insert().values(**values))


def get_job(conn: Connection, job_id: str) -> ProvisionJob | None:
    row = conn.execute(select(provision_jobs).where(provision_jobs.c.id == job_id)).first()
    return None if row is None else _job(row)


def job_by_hash(
    conn: Connection, recipient: str, affair_id: str, content_hash: str
) -> ProvisionJob | None:
    row = conn.execute(
        select(provision_jobs).where(
            provision_jobs.c.recipient == recipient,
            provision_jobs.c.affair_id == affair_id,
            provision_jobs.c.content_hash == content_hash,
        )
    ).first()
    return None if row is None else _job(row)


def update_job(conn: Connection, job_id: str, **values: Any) -> None:
    conn.execute(update(provision_jobs).where(provision_jobs.c.id == job_id).values(**values))


def next_claimable(conn: Connection, stale_before: datetime) -> ProvisionJob | None:
    """The oldest job waiting for a worker: queued, or running under an expired lease."""
    t = provision_jobs
    row = conn.execute(
        select(t)
        .where(
            or_(
                t.c.status == "queued",
                and_(t.c.status == "running", t.c.claimed_at < stale_before),
            )
        )
        .order_by(t.c.submitted_at, t.c.id)
        .limit(1)
    ).first()
    return None if row is None else _job(row)


def claim(conn: Connection, job: ProvisionJob, at: datetime) -> bool:
    """Take ``job`` as it was read; False when another worker took it first."""
    t = provision_jobs
    same_lease = (
        t.c.claimed_at.is_(None) if job.claimed_at is None else t.c.claimed_at == job.claimed_at
    )
    result = conn.execute(
        update(t)
        .where(t.c.id == job.id, t.c.status == job.status, same_lease)
        .values(status="running", phase="reading", claimed_at=at, error=None)
    )
    return result.rowcount == 1


def renew(conn: Connection, job_id: str, at: datetime, **values: Any) -> None:
    """Extend the lease of a running job (with progress ``values``)."""
    conn.execute(
        update(provision_jobs)
        .where(provision_jobs.c.id == job_id, provision_jobs.c.status == "running")
        .values(claimed_at=at, **values)
    )
