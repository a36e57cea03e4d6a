"""Batch provision jobs (一括提供) on the national center's database.

One row per submitted request file: who submitted it for which affair and by which method,
the SHA-256 of its bytes (unique per recipient and affair, so a re-submitted file finds its
earlier job instead of providing twice), status and progress, and — once done — the result
file. The result is kept in the row (``result_csv``) in this slice; very large results would
move to a file store keyed by the job id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    String,
    Table,
    Text,
    UniqueConstraint,
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
    Column("result_csv", Text),
    UniqueConstraint("recipient", "affair_id", "content_hash"),
)
"""Jobs of batch provision; ``status`` is ``running``, ``done`` or ``failed``."""


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


_SUMMARY = [c for c in provision_jobs.c if c.name != "result_csv"]


def _job(row: Any) -> ProvisionJob:
    m = row._mapping
    return ProvisionJob(**{c.name: m[c.name] for c in _SUMMARY})


def insert_job(conn: Connection, **values: Any) -> None:
    conn.execute(provision_jobs.insert().values(**values))


def get_job(conn: Connection, job_id: str) -> ProvisionJob | None:
    row = conn.execute(select(*_SUMMARY).where(provision_jobs.c.id == job_id)).first()
    return None if row is None else _job(row)


def job_by_hash(
    conn: Connection, recipient: str, affair_id: str, content_hash: str
) -> ProvisionJob | None:
    row = conn.execute(
        select(*_SUMMARY).where(
            provision_jobs.c.recipient == recipient,
            provision_jobs.c.affair_id == affair_id,
            provision_jobs.c.content_hash == content_hash,
        )
    ).first()
    return None if row is None else _job(row)


def job_result(conn: Connection, job_id: str) -> str | None:
    return conn.execute(
        select(provision_jobs.c.result_csv).where(provision_jobs.c.id == job_id)
    ).scalar_one_or_none()


def update_job(conn: Connection, job_id: str, **values: Any) -> None:
    conn.execute(update(provision_jobs).where(provision_jobs.c.id == job_id).values(**values))
