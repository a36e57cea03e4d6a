"""The provision log at the national center: database rows for records provided one at a
time, Parquet segments for batch jobs, both made tamper-evident through the audit chain.

- A **seal** covers the rows appended since the last one (an id range, its row count, a
  SHA-256 over the rows' canonical bytes in id order, and the same per month so that a month
  dropped at retention leaves the rest verifiable). Seals tile the ids from 1 without gaps.
- A **segment** is one batch job's entries in one Parquet file; its SHA-256 is recorded in
  the job's own transaction.
- A **purge** drops the months past retention and says so.

Each of these is an entry of the node's hash-chained audit log, and each such entry names the
previous one (``prev``), so verification finds a seal, segment or purge whose row was removed
as well as one that was altered. ``verify`` recomputes every seal and every segment's digest;
given the trust store it also checks the audit chain and its signed checkpoints, which is what
makes rewriting a seal together with the rows it covers detectable.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, text

from jukinet.clock import JST, Clock, SystemClock, today_in_japan
from jukinet.domain.audit import AuditEntry, chain_digest
from jukinet.domain.errors import RuleViolation
from jukinet.net.messages import NATIONAL_NODE
from jukinet.net.pki import TrustStore
from jukinet.services.audit import AuditLog, verify_in
from jukinet.store import audit as audit_store
from jukinet.store import provision_log as store
from jukinet.store.db import is_sqlite, read_transaction, write_transaction
from jukinet.store.provision_log import (
    ProvisionEntry,
    Purge,
    RangeDigest,
    Seal,
    Segment,
    ensure_log_partitions,
)

__all__ = [
    "SEGMENT_COLUMNS",
    "LogFinding",
    "LogReport",
    "ProvisionEntry",
    "ProvisionLog",
    "ensure_log_partitions",
    "purge_before",
    "record_segment",
    "segment_path",
]

SEGMENT_COLUMNS: tuple[str, ...] = (
    "provided_at",
    "recipient",
    "affair_id",
    "method",
    "resident_code",
    "request_id",
    "job_id",
    "case_reference",
)
"""A segment's columns, in order: ``provided_at`` TIMESTAMP WITH TIME ZONE (UTC), the others
VARCHAR (``request_id`` NULL); rows sorted by ``resident_code`` so that a per-person look-up
reads one row group per file."""

RETENTION_YEARS = 7
SEAL_MAX_ROWS = 100_000
"""Rows per seal at most: a broken seal names a range this size."""
SEAL_EVERY = timedelta(hours=1)
SEAL_EVERY_ROWS = 10_000
"""The periodic seal runs when this long or this many rows have passed since the last."""
PARTITIONS_AHEAD_MONTHS = 3

_SEALERS = 0x6A6B_736C  # "jksl": one sealer at a time (PostgreSQL advisory lock)
_CHUNK = 1 << 20


def segment_path(directory: Path, year_month: str, job_id: str) -> Path:
    """Where a job's segment goes under the national center's files."""
    return directory / "provision_log" / f"year_month={year_month}" / f"job-{job_id}.parquet"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _vouch(
    conn: Connection,
    audit: AuditLog,
    action: str,
    *,
    obj: str,
    detail: dict[str, Any],
    at: datetime,
) -> int:
    """Record a seal, segment or purge in the audit chain, naming the previous one; returns
    the entry's seq. The head lock (taken first) orders these entries as it orders all."""
    audit_store.lock_head(conn)
    prev = store.latest_vouching_seq(conn)
    entry = audit.record(
        conn, actor=NATIONAL_NODE, action=action, obj=obj, detail={**detail, "prev": prev}, at=at
    )
    return entry.seq


def record_segment(
    conn: Connection,
    directory: Path,
    *,
    job_id: str,
    year_month: str,
    path: Path,
    entries: int,
    at: datetime | None = None,
) -> Segment:
    """Record a job's segment inside the job's transaction: its digest, its row, its audit
    entry. The file must sit at ``segment_path`` and have ``SEGMENT_COLUMNS`` and ``entries``
    rows. A file written but never recorded (the job rolled back) is an orphan: a re-run
    overwrites it, verification ignores it and reports it."""
    store.parse_month(year_month)
    expected = segment_path(directory, year_month, job_id)
    if path.resolve() != expected.resolve():
        raise ValueError(f"segment of job {job_id} must be at {expected}, not {path}")
    meta = pq.read_metadata(path)
    columns = tuple(meta.schema.names)
    if columns != SEGMENT_COLUMNS:
        raise ValueError(f"segment {path.name} has columns {columns}, not {SEGMENT_COLUMNS}")
    if int(meta.num_rows) != entries:
        raise ValueError(f"segment {path.name} has {meta.num_rows} rows, not {entries}")
    at = at or SystemClock().now()
    relative = expected.resolve().relative_to(directory.resolve()).as_posix()
    segment = Segment(job_id, year_month, relative, entries, file_sha256(path), at, 0)
    seq = _vouch(
        conn,
        AuditLog(SystemClock()),
        store.SEGMENT_ACTION,
        obj=f"provision_log/segment/{job_id}",
        detail=segment.detail(),
        at=at,
    )
    segment = Segment(job_id, year_month, relative, entries, segment.sha256, at, seq)
    store.insert_segment(conn, segment)
    return segment


def kept_from(today: date) -> str:
    """The oldest month retention still keeps (7 years back from this month)."""
    return f"{today.year - RETENTION_YEARS:04d}-{today.month:02d}"


def purge_before(
    conn: Connection,
    month: str,
    *,
    at: datetime | None = None,
    audit: AuditLog | None = None,
) -> Purge | None:
    """Drop every month before ``month`` (a partition drop on PostgreSQL) and record it, in the
    caller's transaction; None when those months were purged already. Refuses months retention
    still keeps. Segment files of purged months are deleted after commit (``sweep``)."""
    store.parse_month(month)
    at = at or SystemClock().now()
    oldest_kept = kept_from(at.astimezone(JST).date())
    if month > oldest_kept:
        raise RuleViolation(
            "month",
            "retention",
            f"records are kept {RETENTION_YEARS} years: months from {oldest_kept} stay",
        )
    floor = store.purge_floor(conn)
    if floor is not None and month <= floor:
        return None
    months, rows = store.drop_months_before(conn, month)
    segments = [
        s
        for s in store.list_segments(conn)
        if s.year_month < month and (floor is None or s.year_month >= floor)
    ]
    detail = {
        "before_month": month,
        "rows": rows + sum(s.entries for s in segments),
        "segments": len(segments),
        "months": months,
    }
    seq = _vouch(
        conn,
        audit or AuditLog(SystemClock()),
        store.PURGE_ACTION,
        obj=f"provision_log/before/{month}",
        detail=detail,
        at=at,
    )
    purge = Purge(seq, month, at, rows + sum(s.entries for s in segments), len(segments))
    store.insert_purge(conn, purge)
    return purge


@dataclass(frozen=True, slots=True)
class LogFinding:
    """Something wrong, named by where it is (``ids 101-200``, ``segment job-…``, …)."""

    where: str
    problem: str  # altered | removed | inserted | missing | unchecked
    message: str


@dataclass
class LogReport:
    rows: int = 0
    seals: int = 0
    segments: int = 0
    segment_entries: int = 0
    unsealed: int = 0
    audit_checked: bool = False
    findings: list[LogFinding] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return self.rows + self.segment_entries

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> LogFinding | None:
        return self.findings[0] if self.findings else None


class ProvisionLog:
    """Seal, verify and read the national center's provision log (rows and segments)."""

    def __init__(
        self, engine: Engine, directory: Path | None, clock: Clock, audit: AuditLog | None = None
    ) -> None:
        self.engine = engine
        self.directory = directory
        self.clock = clock
        self.audit = audit or AuditLog(clock)
        self._partitions_ensured: date | None = None
        self._upkeep = threading.Lock()

    # --- upkeep ----------------------------------------------------------------------------

    def ensure_partitions(self) -> list[str]:
        """Create this month's partition and the next few (PostgreSQL), in a short
        transaction of its own: appends then never wait on partition DDL."""
        today = today_in_japan(self.clock)
        through = _add_months(today, PARTITIONS_AHEAD_MONTHS)
        with write_transaction(self.engine) as conn:
            created = ensure_log_partitions(conn, through=through, since=today)
        self._partitions_ensured = today
        return created

    def upkeep(self) -> None:
        """The national node's periodic work: partitions ahead (once a day), the seal when
        due, files of purged months."""
        with self._upkeep:
            if self._partitions_ensured != today_in_japan(self.clock):
                self.ensure_partitions()
                self.sweep()
            self.seal_if_due()

    # --- seals -----------------------------------------------------------------------------

    def seal(self, max_rows: int = SEAL_MAX_ROWS) -> list[Seal]:
        """Seal every row appended since the last seal (several seals of at most
        ``max_rows``). The boundary is read under a brief lock that waits for in-flight
        appends, so no row below it can commit later; the hashing runs without it."""
        with write_transaction(self.engine) as conn:
            store.lock_for_seal(conn)
            boundary = store.max_id(conn)
        seals: list[Seal] = []
        while True:
            with write_transaction(self.engine) as conn:
                if not is_sqlite(conn):
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEALERS})
                last, _ = store.last_sealed_id(conn)
                if last >= boundary:
                    return seals
                digest = RangeDigest()
                for row in store.iter_rows(conn, last, boundary, limit=max_rows):
                    digest.add(row)
                last_id = digest.last_id if digest.rows == max_rows else boundary
                seals.append(self._record_seal(conn, last + 1, last_id, digest))

    def _record_seal(self, conn: Connection, first: int, last: int, digest: RangeDigest) -> Seal:
        at = self.clock.now()
        seal = Seal(0, first, last, digest.rows, digest.sha256, digest.months, at)
        seq = _vouch(
            conn,
            self.audit,
            store.SEAL_ACTION,
            obj=f"provision_log/ids/{first}-{last}",
            detail=seal.detail(),
            at=at,
        )
        seal = Seal(seq, first, last, digest.rows, digest.sha256, digest.months, at)
        store.insert_seal(conn, seal)
        return seal

    def seal_if_due(
        self, every: timedelta = SEAL_EVERY, every_rows: int = SEAL_EVERY_ROWS
    ) -> list[Seal]:
        with read_transaction(self.engine) as conn:
            last, sealed_at = store.last_sealed_id(conn)
            pending = store.max_id(conn) - last
        if pending <= 0:
            return []
        if pending < every_rows and sealed_at is not None and self.clock.now() - sealed_at < every:
            return []
        return self.seal()

    # --- segments and purges ---------------------------------------------------------------

    def record_segment(
        self, conn: Connection, *, job_id: str, year_month: str, path: Path, entries: int
    ) -> Segment:
        return record_segment(
            conn,
            self._files(),
            job_id=job_id,
            year_month=year_month,
            path=path,
            entries=entries,
            at=self.clock.now(),
        )

    def purge_before(self, month: str) -> Purge | None:
        """Drop the months before ``month`` and record it; then delete their segment files."""
        with write_transaction(self.engine) as conn:
            purge = purge_before(conn, month, at=self.clock.now(), audit=self.audit)
        self.sweep()
        return purge

    def sweep(self) -> list[Path]:
        """Delete the segment files of purged months (after the purge committed)."""
        if self.directory is None:
            return []
        with read_transaction(self.engine) as conn:
            floor = store.purge_floor(conn)
            if floor is None:
                return []
            old = [s for s in store.list_segments(conn) if s.year_month < floor]
        deleted = []
        for segment in old:
            path = self.directory / segment.path
            if path.exists():
                path.unlink()
                deleted.append(path)
        return deleted

    # --- reading ---------------------------------------------------------------------------

    def entries_for(self, resident_code: str) -> list[ProvisionEntry]:
        """Every provision of one person's record, rows and segments, newest first."""
        with read_transaction(self.engine) as conn:
            rows = store.entries_of_person(conn, resident_code)
            files = self._segment_files(conn)
        found = [*rows]
        if files:
            query = (
                f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM read_parquet($files) "
                "WHERE resident_code = $code"
            )
            with _duckdb() as con:
                result = con.execute(query, {"files": files, "code": resident_code}).fetchall()
            found.extend(ProvisionEntry(r[0].astimezone(UTC), *r[1:]) for r in result)
        return sorted(found, key=lambda e: (e.provided_at, e.log_id or 0), reverse=True)

    def counts(self) -> dict[tuple[str, str, str, str], int]:
        """Entries per (recipient, affair, month, method), rows and segments together (a
        segment counts in the month it was recorded for)."""
        with read_transaction(self.engine) as conn:
            totals = store.month_counts(conn)
            floor = store.purge_floor(conn)
            segments = store.list_segments(conn, from_month=floor)
        by_month: dict[str, list[str]] = {}
        for s in segments:
            by_month.setdefault(s.year_month, []).append(str(self._files() / s.path))
        with _duckdb() as con:
            for month, files in by_month.items():
                query = (
                    "SELECT recipient, affair_id, method, count(*) FROM read_parquet($files) "
                    "GROUP BY ALL"
                )
                for recipient, affair_id, method, n in con.execute(
                    query, {"files": files}
                ).fetchall():
                    key = (recipient, affair_id, month, method)
                    totals[key] = totals.get(key, 0) + int(n)
        return totals

    def _files(self) -> Path:
        if self.directory is None:
            raise ValueError("this provision log has no directory for segment files")
        return self.directory

    def _segment_files(self, conn: Connection) -> list[str]:
        floor = store.purge_floor(conn)
        segments = store.list_segments(conn, from_month=floor)
        return [str(self._files() / s.path) for s in segments]

    # --- verification ----------------------------------------------------------------------

    def verify(self, trust: TrustStore | None = None) -> LogReport:
        """Recompute every seal and segment digest and check each against its audit entry;
        with ``trust`` also the audit chain and checkpoints. Read-only, one snapshot."""
        with _snapshot(self.engine) as conn:
            return self._verify(conn, trust)

    def _verify(self, conn: Connection, trust: TrustStore | None) -> LogReport:
        report = LogReport()
        seals = store.list_seals(conn)
        segments = store.list_segments(conn)
        purges = store.list_purges(conn)
        floor = max((p.before_month for p in purges), default=None)
        report.seals = len(seals)
        report.findings.extend(_check_vouchers(conn, seals, segments, purges))
        report.findings.extend(self._check_rows(conn, seals, floor, report))
        report.findings.extend(self._check_segments(segments, floor, report))
        if trust is not None:
            audit = verify_in(conn, trust)
            report.audit_checked = True
            report.findings.extend(
                LogFinding(f"audit entry {f.seq}", str(f.problem), f.message)
                for f in audit.findings
            )
        return report

    def _check_rows(
        self, conn: Connection, seals: list[Seal], floor: str | None, report: LogReport
    ) -> list[LogFinding]:
        findings: list[LogFinding] = []
        expected = 1
        for seal in seals:
            if seal.first_id != expected:
                gap = f"ids {expected}-{seal.first_id - 1}"
                findings.append(
                    LogFinding(gap, "removed", f"{gap} are covered by no seal: a seal was removed")
                    if seal.first_id > expected
                    else LogFinding(
                        f"ids {seal.first_id}-{seal.last_id}",
                        "altered",
                        f"seal {seal.seq} overlaps the seal before it",
                    )
                )
            expected = seal.last_id + 1
        last = seals[-1].last_id if seals else 0
        rows = iter(store.iter_rows(conn, 0, last))
        pending: Any = next(rows, None)
        for seal in sorted(seals, key=lambda s: s.first_id):
            digest = RangeDigest()
            while pending is not None and int(pending.id) <= seal.last_id:
                if int(pending.id) >= seal.first_id:
                    digest.add(pending)
                pending = next(rows, None)
            report.rows += digest.rows
            finding = _compare_seal(seal, digest, floor)
            if finding is not None:
                findings.append(finding)
        report.unsealed = store.count_after(conn, last)
        return findings

    def _check_segments(
        self, segments: list[Segment], floor: str | None, report: LogReport
    ) -> list[LogFinding]:
        kept = [s for s in segments if floor is None or s.year_month >= floor]
        report.segments = len(kept)
        report.segment_entries = sum(s.entries for s in kept)
        if self.directory is None:
            if not kept:
                return []
            return [
                LogFinding(
                    "segments", "unchecked", f"{len(kept)} segments not checked: no directory"
                )
            ]
        findings = []
        for segment in kept:
            path = self.directory / segment.path
            where = f"segment {segment.path} (job {segment.job_id})"
            if not path.is_file():
                findings.append(LogFinding(where, "missing", f"{where} is missing"))
            elif file_sha256(path) != segment.sha256:
                findings.append(
                    LogFinding(where, "altered", f"{where} does not match its recorded digest")
                )
        recorded = {s.path for s in segments}
        for path in sorted((self.directory / "provision_log").glob("year_month=*/job-*.parquet")):
            relative = path.relative_to(self.directory).as_posix()
            if relative not in recorded:
                report.orphans.append(relative)
        return findings


def _compare_seal(seal: Seal, digest: RangeDigest, floor: str | None) -> LogFinding | None:
    """What differs between a seal and the rows now in its range (None: nothing)."""
    where = f"ids {seal.first_id}-{seal.last_id}"
    purged = floor is not None and any(m < floor for m in seal.months)
    if not purged and digest.rows == seal.rows and digest.sha256 == seal.sha256:
        return None
    now = digest.months
    for month in sorted(set(seal.months) | set(now)):
        if floor is not None and month < floor and month not in now:
            continue  # dropped at retention, as recorded
        sealed_rows, sealed_sha = seal.months.get(month, (0, ""))
        rows, sha = now.get(month, (0, ""))
        if rows == sealed_rows and sha == sealed_sha:
            continue
        if rows < sealed_rows:
            problem, what = "removed", f"{sealed_rows - rows} rows removed"
        elif rows > sealed_rows:
            problem, what = "inserted", f"{rows - sealed_rows} rows inserted"
        else:
            problem, what = "altered", "rows altered"
        return LogFinding(
            where, problem, f"{where}, month {month} (seal at audit entry {seal.seq}): {what}"
        )
    if purged:
        return None
    return LogFinding(where, "altered", f"{where} (seal at audit entry {seal.seq}): rows altered")


def _check_vouchers(
    conn: Connection, seals: list[Seal], segments: list[Segment], purges: list[Purge]
) -> list[LogFinding]:
    """Every seal, segment and purge row matches its audit entry, and every such entry of
    the chain (followed through ``prev`` from the newest) still has its row."""
    rows: dict[int, tuple[str, str, dict[str, Any]]] = {}
    for seal in seals:
        rows[seal.seq] = (
            store.SEAL_ACTION,
            f"seal of ids {seal.first_id}-{seal.last_id}",
            seal.detail(),
        )
    for segment in segments:
        rows[segment.seq] = (store.SEGMENT_ACTION, f"segment {segment.path}", segment.detail())
    for purge in purges:
        rows[purge.seq] = (store.PURGE_ACTION, f"purge before {purge.before_month}", purge.detail())
    findings: list[LogFinding] = []
    newest = max(rows, default=0)
    late_seqs = set()
    for late in store.vouching_entries_after(conn, newest):
        late_seqs.add(int(late.seq))
        findings.append(
            LogFinding(
                f"audit entry {late.seq}",
                "removed",
                f"audit entry {late.seq} records {late.object}, which has no row any more",
            )
        )
        newest = int(late.seq)
    entries = store.audit_entries(conn, [*rows, *(s + 1 for s in rows)])
    seen: set[int] = set()
    seq = newest
    while seq:
        if seq not in entries:
            entries.update(store.audit_entries(conn, [seq, seq + 1]))
        entry = entries.get(seq)
        if entry is None or entry.action not in store.ACTIONS or seq in seen:
            findings.append(
                LogFinding(
                    f"audit entry {seq}",
                    "removed",
                    f"the provision log's audit entry {seq} is missing or is not a seal, "
                    "segment or purge",
                )
            )
            break
        seen.add(seq)
        finding = _check_entry(entry, entries.get(seq + 1), rows.get(seq))
        if finding is not None and not (seq in late_seqs and finding.problem == "removed"):
            findings.append(finding)
        seq = int(entry.detail_data.get("prev", 0))
    for seq in sorted(set(rows) - seen):
        _, label, _ = rows[seq]
        findings.append(
            LogFinding(
                label, "altered", f"{label} claims audit entry {seq}, which does not list it"
            )
        )
    return findings


def _check_entry(
    entry: AuditEntry, following: AuditEntry | None, row: tuple[str, str, dict[str, Any]] | None
) -> LogFinding | None:
    """The entry still hashes to its digest and the next entry was chained to it (a rewrite
    of the whole tail of the chain is left to the checkpoints: ``verify(trust)``)."""
    where = f"audit entry {entry.seq}"
    if chain_digest(entry.prev_digest, entry.canonical()) != entry.digest or (
        following is not None and following.prev_digest != entry.digest
    ):
        return LogFinding(where, "altered", f"{where} ({entry.object}) was altered")
    if row is None:
        return LogFinding(
            where, "removed", f"{where} records {entry.object}, which has no row any more"
        )
    action, label, detail = row
    data = entry.detail_data
    recorded = {k: data.get(k) for k in detail}  # the entry may say more (``prev``, months)
    if action != entry.action or recorded != detail:
        return LogFinding(label, "altered", f"{label} differs from its audit entry {entry.seq}")
    return None


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@contextmanager
def _duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection in UTC."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one snapshot on PostgreSQL too (REPEATABLE READ)."""
    options: dict[str, Any] = {} if is_sqlite(engine) else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin() as tx:
        yield conn
        tx.rollback()
