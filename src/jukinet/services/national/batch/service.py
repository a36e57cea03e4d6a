"""Batch provision jobs (一括提供): submitted, queued, run by a worker, recorded all or nothing.

A recipient submits a request file through the API (batch over the line, ``batch_line``) or the
national operator imports one from a media directory (batch on media, ``batch_media``). The file
is checked whole (encoding, header; see ``request_file``), kept in the national center's file
directory and queued as a job; the same file (same SHA-256) submitted again by the same
recipient for the same affair returns the earlier job and provides nothing.

A worker (a thread of the national node, or the CLI) claims the oldest queued job under a lease,
re-checks the affair on the day it runs (listed, in its window, not suspended), reads the file,
matches it set-based (``matcher``) against the registry snapshot plus the changes since
(``registry``), writes the result file and the provision-log segment, and then — in one
transaction — records the segment in the provision log, adds the job's count to the monthly
counter, marks the job done and writes the audit entry. A job is provided completely or not
at all: a worker that dies leaves files nothing points to, and the job is taken over when its
lease expires. Progress is the job's ``phase`` (reading, matching, recording) and row counts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from jukinet.clock import JST, Clock
from jukinet.domain.audit import Outcome
from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision import AffairGrant, ProvisionMethod, year_month
from jukinet.ops.logging import get_logger
from jukinet.services.audit import AuditLog
from jukinet.services.national.batch.matcher import LogStamp, match_job, registry_relation
from jukinet.services.national.batch.registry import RegistrySnapshots, changes_since
from jukinet.services.national.batch.request_file import (
    RequestFormat,
    check_request_file,
    read_request_file,
)
from jukinet.services.national.provision import listed_grant
from jukinet.services.national.provision_log import record_segment, segment_path
from jukinet.store import provision as store
from jukinet.store import provision_jobs as jobs
from jukinet.store.db import read_transaction, write_transaction

log = get_logger("jukinet.provision.batch")

LEASE = timedelta(minutes=10)
"""A running job whose lease is older than this belonged to a worker that died."""
POLL_SECONDS = 2.0
DUCKDB_MEMORY_SHARE = 0.4
"""Of the machine's memory, what a job's DuckDB may hold before spilling to disk (the rest is
the result slices, the request table and the node's other work)."""
_CHUNK = 1 << 20

Progress = Callable[[jobs.ProvisionJob], None]


@dataclass(frozen=True, slots=True)
class Submission:
    job: jobs.ProvisionJob
    created: bool  # False: the same file was submitted before; this is the earlier job


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A request file received into the national center's incoming area, not yet a job."""

    path: Path
    sha256: str
    size: int


class BatchProvisionService:
    """Batch provision on the national center's database and file directory ``files``."""

    def __init__(
        self, engine: Engine, clock: Clock, files: Path, audit: AuditLog | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.files = files
        self.audit = audit or AuditLog(clock)
        self.snapshots = RegistrySnapshots(engine, files / "registry", clock)

    # --- files -----------------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        path = self.files / "provision" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def incoming(self) -> Path:
        """A new path in the incoming area, for a request file being received."""
        return self._dir("incoming") / f"{uuid.uuid4()}.partial"

    def stage_file(self, source: Path) -> StagedFile:
        """Copy a request file (from media) into the incoming area, hashing it on the way."""
        target = self.incoming()
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as src, target.open("wb") as dst:
            while block := src.read(_CHUNK):
                digest.update(block)
                dst.write(block)
                size += len(block)
        return StagedFile(target, digest.hexdigest(), size)

    def stage_bytes(self, data: bytes) -> StagedFile:
        target = self.incoming()
        target.write_bytes(data)
        return StagedFile(target, hashlib.sha256(data).hexdigest(), len(data))

    def result_file(self, job: jobs.ProvisionJob) -> Path | None:
        """The result file of a done job."""
        return None if job.result_path is None else self.files / job.result_path

    # --- submission ------------------------------------------------------------------------

    def submit(
        self,
        recipient: str,
        affair_id: str,
        staged: StagedFile,
        *,
        fmt: RequestFormat = RequestFormat.CSV,
        method: ProvisionMethod,
        source_name: str | None = None,
        actor: str | None = None,
    ) -> Submission:
        """Queue the staged request file of ``recipient`` for ``affair_id`` as a job, or return
        the earlier job of the same file. Refusals raise a RuleViolation after an audit entry;
        the staged file is consumed either way."""
        if method is ProvisionMethod.IMMEDIATE:
            raise ValueError("batch provision is batch_line or batch_media")
        actor = actor or f"recipient:{recipient}"
        try:
            with read_transaction(self.engine) as conn:
                self._grant(conn, recipient, affair_id)
                earlier = jobs.job_by_hash(conn, recipient, affair_id, staged.sha256)
            if earlier is not None:
                return Submission(earlier, created=False)
            check_request_file(staged.path, fmt)
            job_id = str(uuid.uuid4())
            request_path = self._dir("requests") / f"{job_id}.{fmt.value}"
            os.replace(staged.path, request_path)
            with write_transaction(self.engine) as conn:
                jobs.insert_job(
                    conn,
                    id=job_id,
                    recipient=recipient,
                    affair_id=affair_id,
                    method=method.value,
                    content_hash=staged.sha256,
                    source_name=source_name,
                    status="queued",
                    total_rows=0,
                    processed_rows=0,
                    provided_rows=0,
                    invalid_rows=0,
                    submitted_at=self.clock.now(),
                    request_format=fmt.value,
                    request_path=str(request_path.relative_to(self.files)),
                )
                self.audit.record(
                    conn,
                    actor=actor,
                    action=f"provision.{method.value}.submit",
                    obj=f"affair/{affair_id}",
                    detail={"job_id": job_id, "content_hash": staged.sha256, "bytes": staged.size},
                )
                job = jobs.get_job(conn, job_id)
            assert job is not None
            return Submission(job, created=True)
        except IntegrityError:
            # the same file submitted concurrently: the other submission's job stands
            with read_transaction(self.engine) as conn:
                earlier = jobs.job_by_hash(conn, recipient, affair_id, staged.sha256)
            if earlier is None:
                raise
            return Submission(earlier, created=False)
        except RuleViolation as exc:
            self._refused(actor, method, affair_id, exc, {"content_hash": staged.sha256})
            raise
        finally:
            staged.path.unlink(missing_ok=True)

    def _refused(
        self,
        actor: str,
        method: ProvisionMethod,
        affair_id: str,
        exc: RuleViolation,
        detail: dict[str, object],
    ) -> None:
        with write_transaction(self.engine) as conn:
            self.audit.record(
                conn,
                actor=actor,
                action=f"provision.{method.value}",
                obj=f"affair/{affair_id}",
                outcome=Outcome.REFUSED,
                detail={"field": exc.field, "rule": exc.rule, **detail},
            )

    def _grant(self, conn: Connection, recipient: str, affair_id: str) -> AffairGrant:
        grant = listed_grant(store.TransactionReads(conn), recipient, affair_id)
        today = self.clock.now().astimezone(JST).date()
        grant.check(recipient, today, grant.allowed_fields)
        return grant

    # --- running ---------------------------------------------------------------------------

    def run_next(self, progress: Progress | None = None) -> jobs.ProvisionJob | None:
        """Claim and run the oldest waiting job; None when there is none."""
        now = self.clock.now()
        with write_transaction(self.engine) as conn:
            job = jobs.next_claimable(conn, now - LEASE)
            if job is None or not jobs.claim(conn, job, now):
                return None
        return self._run(job.id, progress)

    def run_pending(self, progress: Progress | None = None) -> list[jobs.ProvisionJob]:
        """Run every waiting job (the CLI's and the tests' worker)."""
        done: list[jobs.ProvisionJob] = []
        while (job := self.run_next(progress)) is not None:
            done.append(job)
        return done

    def loop(self, stop: threading.Event) -> None:
        """The national node's worker: run jobs as they arrive until ``stop`` is set."""
        while not stop.is_set():
            try:
                ran = self.run_next()
            except Exception:  # a worker must outlive one bad job
                log.exception("batch_worker_failed")
                ran = None
            if ran is None:
                stop.wait(POLL_SECONDS)

    def _progress(self, job_id: str, progress: Progress | None, **values: object) -> None:
        with write_transaction(self.engine) as conn:
            jobs.renew(conn, job_id, self.clock.now(), **values)
            job = jobs.get_job(conn, job_id)
        if progress is not None and job is not None:
            progress(job)

    def _run(self, job_id: str, progress: Progress | None) -> jobs.ProvisionJob:
        job = self.job(job_id)
        assert job is not None
        method = ProvisionMethod(job.method)
        actor = f"recipient:{job.recipient}" if method is ProvisionMethod.BATCH_LINE else "operator"
        try:
            counts_job = self._match_and_record(job, method, actor, progress)
        except RuleViolation as exc:
            self._refused(actor, method, job.affair_id, exc, {"job_id": job.id})
            return self._fail(job, f"{exc.field}:{exc.rule}: {exc.message}")
        except (OSError, duckdb.Error) as exc:
            log.exception("batch_job_failed", job=job.id)
            return self._fail(job, f"{type(exc).__name__}: {exc}")
        return counts_job

    def _fail(self, job: jobs.ProvisionJob, error: str) -> jobs.ProvisionJob:
        with write_transaction(self.engine) as conn:
            jobs.update_job(
                conn,
                job.id,
                status="failed",
                phase=None,
                error=error,
                finished_at=self.clock.now(),
            )
            failed = jobs.get_job(conn, job.id)
        assert failed is not None
        return failed

    def _match_and_record(
        self,
        job: jobs.ProvisionJob,
        method: ProvisionMethod,
        actor: str,
        progress: Progress | None,
    ) -> jobs.ProvisionJob:
        request = read_request_file(
            self.files / job.request_path, RequestFormat(job.request_format)
        )
        self._progress(job.id, progress, phase="matching", total_rows=request.num_rows)
        snapshot = self.snapshots.fresh()
        now = self.clock.now()
        month = year_month(now.astimezone(JST).date())
        with read_transaction(self.engine) as conn:
            grant = self._grant(conn, job.recipient, job.affair_id)
            delta = changes_since(conn, snapshot.since)
        result = self._dir("results") / f"{job.id}.csv"
        partial = result.with_name(f"{result.name}.partial")
        segment = segment_path(self.files, month, job.id)
        segment.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(config=self._duckdb_config()) as con:
            registry_relation(con, snapshot.path, delta)
            counts = match_job(
                con,
                request,
                grant.allowed_fields,
                LogStamp(now, job.recipient, job.affair_id, method.value, job.id),
                result_path=partial,
                segment_path=segment,
            )
        self._progress(job.id, progress, phase="recording", processed_rows=counts.rows)
        result_sha256 = _sha256(partial)
        os.replace(partial, result)
        with write_transaction(self.engine) as conn:
            record_segment(
                conn,
                self.files,
                job_id=job.id,
                year_month=month,
                path=segment,
                entries=counts.provided,
                at=now,
            )
            if counts.provided:
                store.increment_count(
                    conn,
                    recipient=job.recipient,
                    affair_id=job.affair_id,
                    year_month=month,
                    method=method.value,
                    by=counts.provided,
                )
            jobs.update_job(
                conn,
                job.id,
                status="done",
                phase=None,
                processed_rows=counts.rows,
                provided_rows=counts.provided,
                invalid_rows=counts.invalid,
                finished_at=now,
                result_path=str(result.relative_to(self.files)),
                result_sha256=result_sha256,
            )
            self.audit.record(
                conn,
                actor=actor,
                action=f"provision.{method.value}",
                obj=f"affair/{job.affair_id}",
                detail={
                    "job_id": job.id,
                    "content_hash": job.content_hash,
                    "rows": counts.rows,
                    "provided": counts.provided,
                    "invalid": counts.invalid,
                    "result_sha256": result_sha256,
                },
                at=now,
            )
            done = jobs.get_job(conn, job.id)
        assert done is not None
        if progress is not None:
            progress(done)
        return done

    def _duckdb_config(self) -> dict[str, str | bool | int | float | list[str]]:
        """Bounded memory: a national-size job spills to the file directory, not to swap."""
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * DUCKDB_MEMORY_SHARE
        return {
            "memory_limit": f"{int(limit) // 2**20}MB",
            "temp_directory": str(self._dir("spill")),
        }

    # --- queries ---------------------------------------------------------------------------

    def job(self, job_id: str, recipient: str | None = None) -> jobs.ProvisionJob | None:
        """The job, or None when unknown (or, given ``recipient``, not that recipient's)."""
        with read_transaction(self.engine) as conn:
            job = jobs.get_job(conn, job_id)
        if job is None or (recipient is not None and job.recipient != recipient):
            return None
        return job


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def copy_result(service: BatchProvisionService, job: jobs.ProvisionJob, target: Path) -> bool:
    """Copy a done job's result file to ``target`` (media import writes it beside the request)."""
    source = service.result_file(job)
    if source is None or not source.exists():
        return False
    shutil.copyfile(source, target)
    return True
