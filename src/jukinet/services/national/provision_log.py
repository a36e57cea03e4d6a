"""The provision log at the national center: database rows for records provided one at a
time, Parquet segments for batch jobs, both made tamper-evident through the audit chain.

- A **seal** covers the rows appended since the last one (an id range, its row count, a
  SHA-256 over the rows' canonical bytes in id order, and the same per month so that a month
  dropped at retention leaves the rest verifiable). Seals tile the ids from 1 without gaps.
- A **segment** is one batch job's entries in one Parquet file; its SHA-256 is recorded in
  the job's own transaction.
- A **purge** drops the months past retention and says so.
- A **compaction** rewrites a month's segments as files of consecutive code ranges
  (themselves recorded as segments) and names the digests of the files it replaced, so that
  a per-person look-up opens one file per month.

Each of these is an entry of the node's hash-chained audit log, and each such entry names the
previous one (``prev``), so verification finds a seal, segment or purge whose row was removed
as well as one that was altered. ``verify`` recomputes every seal and every segment's digest;
given the trust store it also checks the audit chain and its signed checkpoints, which is what
makes rewriting a seal together with the rows it covers detectable.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, text

from jukinet.clock import JST, Clock, SystemClock, today_in_japan
from jukinet.domain.audit import AuditEntry, chain_digest
from jukinet.domain.errors import RuleViolation
from jukinet.net.messages import NATIONAL_NODE
from jukinet.net.pki import TrustStore
from jukinet.ops.logging import get_logger
from jukinet.services.audit import AuditLog, verify_in
from jukinet.services.national import provision_segments as segment_files
from jukinet.services.national.provision_segments import SEGMENT_COLUMNS
from jukinet.store import audit as audit_store
from jukinet.store import provision_log as store
from jukinet.store.db import is_sqlite, read_transaction, write_transaction
from jukinet.store.provision_log import (
    Compaction,
    ProvisionEntry,
    Purge,
    RangeDigest,
    Seal,
    Segment,
    ensure_log_partitions,
)

__all__ = [
    "SEGMENT_COLUMNS",
    "Compaction",
    "LogFinding",
    "LogReport",
    "ProvisionEntry",
    "ProvisionLog",
    "SegmentAltered",
    "ensure_log_partitions",
    "purge_before",
    "record_segment",
    "segment_path",
]

RETENTION_YEARS = 7
SEAL_MAX_ROWS = 100_000
"""Rows per seal at most: a broken seal names a range this size."""
SEAL_EVERY = timedelta(hours=1)
SEAL_EVERY_ROWS = 10_000
"""The periodic seal runs when this long or this many rows have passed since the last."""
PARTITIONS_AHEAD_MONTHS = 3
COMPACT_GRACE = timedelta(days=2)
"""A month is compacted this long after it ended (a job started in it may record later)."""
OPEN_MONTH_FILES = 8
"""A month still open is compacted once it has this many job files (the pension check's)."""
COMPACT_POLL_SECONDS = 3600.0

_SEALERS = 0x6A6B_736C  # "jksl": one sealer at a time (PostgreSQL advisory lock)
_PURGERS = 0x6A6B_7067  # "jkpg": one purge at a time
_COMPACTORS = 0x6A6B_636D  # "jkcm": one compaction at a time (session lock, held while it runs)
_CHUNK = 1 << 20

log = get_logger("jukinet.provision_log")


class SegmentAltered(Exception):
    """A segment file no longer matches its recorded digest (compaction refuses it)."""


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
    if not is_sqlite(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PURGERS})
    floor = store.purge_floor(conn)
    if floor is not None and month <= floor:
        return None
    months, rows = store.drop_months_before(conn, month)
    segments = [
        s
        for s in live_segments(store.list_segments(conn), store.list_compactions(conn))
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


def replaced_jobs(compactions: list[Compaction]) -> set[str]:
    return {job_id for c in compactions for job_id, _, _ in c.replaced}


def live_segments(segments: list[Segment], compactions: list[Compaction]) -> list[Segment]:
    """The segments read and counted: those no compaction replaced."""
    replaced = replaced_jobs(compactions)
    return [s for s in segments if s.job_id not in replaced]


@dataclass(frozen=True)
class _Catalogue:
    """Which files hold whose entries: the live segments of each month kept, those a
    compaction produced with their code ranges (in code order, per compaction)."""

    version: tuple[int, int, int, int, str | None]
    floor: str | None
    whole: list[tuple[str, str]]  # (year_month, path): any code may be in them
    ranged: list[tuple[str, list[str], list[tuple[str, str]]]]  # month, firsts, (last, path)

    @classmethod
    def load(cls, conn: Connection, version: tuple[int, int, int, int, str | None]) -> _Catalogue:
        floor = version[4]
        compactions = store.list_compactions(conn, from_month=floor)
        live = {s.job_id: s for s in live_segments(store.list_segments(conn, floor), compactions)}
        ranged = []
        in_range: set[str] = set()
        for c in compactions:
            produced = sorted((p for p in c.produced if p[0] in live), key=lambda p: p[3])
            in_range.update(p[0] for p in produced)
            ranged.append(
                (
                    c.year_month,
                    [p[3] for p in produced],
                    [(p[4], live[p[0]].path) for p in produced],
                )
            )
        whole = [(s.year_month, s.path) for s in live.values() if s.job_id not in in_range]
        return cls(version, floor, whole, ranged)

    def paths_for(self, code: str, from_month: str) -> list[str]:
        """The files that may hold ``code``'s entries, of ``from_month`` on."""
        found = [path for month, path in self.whole if month >= from_month]
        for month, firsts, rest in self.ranged:
            if month < from_month:
                continue
            i = bisect_right(firsts, code) - 1
            if i >= 0 and code <= rest[i][0]:
                found.append(rest[i][1])
        return found


_CATALOGUES: WeakKeyDictionary[Engine, _Catalogue] = WeakKeyDictionary()
_CATALOGUE_GUARD = threading.Lock()


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
        self._housekept: date | None = None
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
        """The national node's periodic work: partitions ahead and the purge of months past
        retention (each once a day), files of purged or compacted segments, the seal when
        due. Compaction, longer, runs in its own loop (``loop``)."""
        with self._upkeep:
            today = today_in_japan(self.clock)
            if self._partitions_ensured != today:
                self.ensure_partitions()
            if self._housekept != today:
                self._housekept = today  # once a day at most, even when it fails
                self.purge_expired()
                self.sweep()
            self.seal_if_due()

    def loop(self, stop: threading.Event) -> None:
        """The national node's compaction worker: months compacted when due, checked hourly."""
        while not stop.is_set():
            try:
                self.compact_due()
            except Exception:  # a worker must outlive one bad month
                log.exception("provision_log_compaction_failed")
            stop.wait(COMPACT_POLL_SECONDS)

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

    def kept_from(self) -> str:
        """The oldest month retention keeps today."""
        return kept_from(today_in_japan(self.clock))

    def purge_expired(self) -> Purge | None:
        """Purge the months past retention, if any row, partition or segment is left of
        them (the daily upkeep; nothing is recorded when there is nothing to purge)."""
        month = self.kept_from()
        with read_transaction(self.engine) as conn:
            floor = store.purge_floor(conn)
            if floor is not None and month <= floor:
                return None
            due = store.has_rows_before(conn, month) or any(
                s.year_month < month for s in store.list_segments(conn, from_month=floor)
            )
        if not due:
            return None
        purge = self.purge_before(month)
        if purge is not None:
            log.info("provision_log_purged", before=month, rows=purge.rows, segments=purge.segments)
        return purge

    def sweep(self) -> list[Path]:
        """Delete the segment files of purged months and those a compaction replaced (after
        the purge or compaction committed)."""
        if self.directory is None:
            return []
        with read_transaction(self.engine) as conn:
            floor = store.purge_floor(conn)
            replaced = replaced_jobs(store.list_compactions(conn))
            old = [
                s
                for s in store.list_segments(conn)
                if (floor is not None and s.year_month < floor) or s.job_id in replaced
            ]
        deleted = []
        for segment in old:
            path = self.directory / segment.path
            if path.exists():
                path.unlink()
                deleted.append(path)
        return deleted

    # --- compaction --------------------------------------------------------------------------

    def compactable(self) -> list[str]:
        """Months within retention whose look-ups read more than one file, oldest first: a
        month ended ``COMPACT_GRACE`` ago or more with any job file or more than one
        compaction's files; a month still open (or within the grace) with
        ``OPEN_MONTH_FILES`` job files or more."""
        now = self.clock.now()
        kept = self.kept_from()
        with read_transaction(self.engine) as conn:
            floor = store.purge_floor(conn)
            compactions = store.list_compactions(conn, from_month=floor)
            segments = live_segments(store.list_segments(conn, from_month=floor), compactions)
        made_by = {p[0]: c.seq for c in compactions for p in c.produced}
        jobs: dict[str, int] = {}
        sets: dict[str, set[int]] = {}
        for segment in segments:
            if segment.job_id in made_by:
                sets.setdefault(segment.year_month, set()).add(made_by[segment.job_id])
            else:
                jobs[segment.year_month] = jobs.get(segment.year_month, 0) + 1

        def due(month: str) -> bool:
            closed = store.month_start(store.next_month(month)) + COMPACT_GRACE <= now
            if closed:
                return jobs.get(month, 0) > 0 or len(sets.get(month, ())) > 1
            return jobs.get(month, 0) >= OPEN_MONTH_FILES

        return sorted(m for m in {*jobs, *sets} if m >= kept and due(m))

    def compact_due(self) -> list[Compaction]:
        """Compact every month ``compactable`` names."""
        done = []
        for month in self.compactable():
            compaction = self.compact_month(month)
            if compaction is not None:
                done.append(compaction)
        return done

    def compact_month(
        self,
        month: str,
        *,
        file_rows: int = segment_files.COMPACT_FILE_ROWS,
    ) -> Compaction | None:
        """Rewrite a month's segments (job files and earlier compactions' files) as one set of
        files of consecutive code ranges and record them: each new file as a segment (digest,
        row, audit entry), and the compaction (the replaced files' jobs, entries and digests,
        the new files' code ranges) as a row and an audit entry, in one transaction; the
        replaced files are deleted after it commits. Each replaced file is checked against
        its digest first (``SegmentAltered``): compaction never launders an altered file.
        A job recording into the month meanwhile stays a file of its own. None when the month
        is one set already or another process is compacting."""
        store.parse_month(month)
        files = self._files()
        with _exclusive(self.engine, _COMPACTORS) as mine:
            if not mine:
                return None
            with read_transaction(self.engine) as conn:
                floor = store.purge_floor(conn)
                if floor is not None and month < floor:
                    return None
                compactions = store.list_compactions(conn, from_month=month)
                segments = live_segments(store.list_segments(conn, from_month=month), compactions)
            made_by = {p[0]: c.seq for c in compactions for p in c.produced}
            sources = [s for s in segments if s.year_month == month]
            jobs = [s for s in sources if s.job_id not in made_by]
            if not jobs and len({made_by[s.job_id] for s in sources}) <= 1:
                return None  # nothing, or one compaction's files only
            for segment in sources:
                if file_sha256(files / segment.path) != segment.sha256:
                    raise SegmentAltered(
                        f"segment {segment.path} (job {segment.job_id}) does not match its "
                        "recorded digest: not compacted"
                    )
            number = 1 + sum(1 for c in compactions if c.year_month == month)
            prefix = f"compact-{month}-{number}"
            written = segment_files.compact_files(
                [files / s.path for s in sources],
                lambda i: segment_path(files, month, f"{prefix}-{i:04d}"),
                file_rows=file_rows,
            )
            try:
                return self._record_compaction(month, sources, written, prefix)
            except BaseException:
                for w in written:
                    w.path.unlink(missing_ok=True)
                raise
            finally:
                self.sweep()

    def _record_compaction(
        self,
        month: str,
        sources: list[Segment],
        written: list[segment_files.Produced],
        prefix: str,
    ) -> Compaction:
        files = self._files()
        now = self.clock.now()
        with write_transaction(self.engine) as conn:  # under the compactors' lock
            replaced = replaced_jobs(store.list_compactions(conn, from_month=month))
            recorded = {s.job_id: s for s in store.list_segments(conn, from_month=month)}
            for s in sources:
                if s.job_id in replaced or recorded.get(s.job_id) != s:
                    raise RuleViolation("segment", "changed", f"job {s.job_id} changed meanwhile")
            produced = []
            for i, w in enumerate(written):
                segment = record_segment(
                    conn,
                    files,
                    job_id=f"{prefix}-{i:04d}",
                    year_month=month,
                    path=w.path,
                    entries=w.entries,
                    at=now,
                )
                produced.append(
                    (segment.job_id, segment.entries, segment.sha256, w.first_code, w.last_code)
                )
            compaction = Compaction(
                0,
                month,
                sum(s.entries for s in sources),
                tuple((s.job_id, s.entries, s.sha256) for s in sources),
                tuple(produced),
                now,
            )
            seq = _vouch(
                conn,
                self.audit,
                store.COMPACTION_ACTION,
                obj=f"provision_log/compaction/{prefix}",
                detail=compaction.detail(),
                at=now,
            )
            compaction = Compaction(
                seq,
                compaction.year_month,
                compaction.entries,
                compaction.replaced,
                compaction.produced,
                now,
            )
            store.insert_compaction(conn, compaction)
        return compaction

    # --- reading ---------------------------------------------------------------------------

    def entries_for(self, resident_code: str) -> list[ProvisionEntry]:
        """Every provision of one person's record within retention, rows and segments,
        newest first. Rows come by the index ``(resident_code, provided_at)``; segment files
        are those that may hold the code (every job file of a month not compacted yet, one
        file per compaction), each read at one row group (``provision_segments``)."""
        for attempt in (1, 2):
            with read_transaction(self.engine) as conn:
                catalogue = self._catalogue(conn)
                since = max(self.kept_from(), catalogue.floor or "")
                rows = store.entries_of_person(conn, resident_code, since=store.month_start(since))
            paths = [self._files() / p for p in catalogue.paths_for(resident_code, since)]
            try:
                entries = segment_files.find_entries(paths, resident_code)
            except FileNotFoundError:
                if attempt == 2:
                    raise
                continue  # replaced by a compaction that committed meanwhile: look again
            found = [*rows, *(ProvisionEntry(r[0].astimezone(UTC), *r[1:]) for r in entries)]
            return sorted(found, key=_newest_first, reverse=True)
        raise AssertionError("unreachable")

    def _catalogue(self, conn: Connection) -> _Catalogue:
        """The segment files by month and code range, cached per engine until a segment,
        compaction or purge is recorded."""
        version = store.catalogue_version(conn)
        with _CATALOGUE_GUARD:
            cached = _CATALOGUES.get(self.engine)
        if cached is not None and cached.version == version:
            return cached
        catalogue = _Catalogue.load(conn, version)
        with _CATALOGUE_GUARD:
            _CATALOGUES[self.engine] = catalogue
        return catalogue

    def counts(self) -> dict[tuple[str, str, str, str], int]:
        """Entries per (recipient, affair, month, method), rows and segments together (a
        segment counts in the month it was recorded for)."""
        with read_transaction(self.engine) as conn:
            totals = store.month_counts(conn)
            floor = store.purge_floor(conn)
            segments = live_segments(
                store.list_segments(conn, from_month=floor),
                store.list_compactions(conn, from_month=floor),
            )
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
        compactions = store.list_compactions(conn)
        floor = max((p.before_month for p in purges), default=None)
        report.seals = len(seals)
        report.findings.extend(_check_vouchers(conn, seals, segments, purges, compactions))
        report.findings.extend(self._check_rows(conn, seals, floor, report))
        report.findings.extend(self._check_segments(segments, compactions, floor, report))
        report.findings.extend(self._check_compactions(segments, compactions, floor))
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
        self,
        segments: list[Segment],
        compactions: list[Compaction],
        floor: str | None,
        report: LogReport,
    ) -> list[LogFinding]:
        kept = [
            s
            for s in live_segments(segments, compactions)
            if floor is None or s.year_month >= floor
        ]
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

    def _check_compactions(
        self, segments: list[Segment], compactions: list[Compaction], floor: str | None
    ) -> list[LogFinding]:
        """Each compaction still names segments that exist as it saw them: the files it
        replaced (their rows keep entries and digest; the files themselves are gone) and the
        files it produced, whose entries add up to the replaced ones' and whose codes lie in
        the range it records (a look-up reads a produced file only for codes in its range)."""
        findings: list[LogFinding] = []
        by_job = {s.job_id: s for s in segments}
        for c in compactions:
            if floor is not None and c.year_month < floor:
                continue
            where = f"compaction {c.year_month} (audit entry {c.seq})"
            listed = [(j, n, d, "replaced") for j, n, d in c.replaced] + [
                (j, n, d, "produced") for j, n, d, _, _ in c.produced
            ]
            for job_id, entries, sha256, role in listed:
                segment = by_job.get(job_id)
                if segment is None or segment.year_month != c.year_month:
                    findings.append(
                        LogFinding(where, "removed", f"{where}: {role} segment {job_id} missing")
                    )
                elif (segment.entries, segment.sha256) != (entries, sha256):
                    findings.append(
                        LogFinding(
                            where, "altered", f"{where}: {role} segment {job_id} differs from it"
                        )
                    )
            replaced = sum(n for _, n, _ in c.replaced)
            produced = sum(n for _, n, _, _, _ in c.produced)
            if not replaced == produced == c.entries:
                findings.append(
                    LogFinding(
                        where,
                        "altered",
                        f"{where}: {replaced} entries replaced, {produced} produced, "
                        f"{c.entries} recorded",
                    )
                )
            if self.directory is None:
                continue
            for job_id, _, _, first, last in c.produced:
                segment = by_job.get(job_id)
                path = None if segment is None else self.directory / segment.path
                if path is None or not path.is_file():
                    continue  # reported as missing above or by the segment check
                found = segment_files.code_range(path)
                if found is not None and not (first <= found[0] and found[1] <= last):
                    findings.append(
                        LogFinding(
                            where,
                            "altered",
                            f"{where}: segment {job_id} holds codes {found[0]}-{found[1]} "
                            f"outside its recorded range {first}-{last}",
                        )
                    )
        return findings


def _newest_first(e: ProvisionEntry) -> tuple[datetime, int, str, str]:
    """Sort key (reversed): time, then row id, job and case reference, so that entries of
    the same instant come in the same order whichever files hold them."""
    return (e.provided_at, e.log_id or 0, e.job_id or "", e.case_reference)


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
    conn: Connection,
    seals: list[Seal],
    segments: list[Segment],
    purges: list[Purge],
    compactions: list[Compaction],
) -> list[LogFinding]:
    """Every seal, segment, purge and compaction row matches its audit entry, and every
    such entry of the chain (followed through ``prev`` from the newest) still has its row."""
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
    for c in compactions:
        rows[c.seq] = (store.COMPACTION_ACTION, f"compaction {c.year_month}", c.detail())
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
                    "segment, purge or compaction",
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


_LOCAL_LOCKS: dict[int, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


@contextmanager
def _exclusive(engine: Engine, key: int) -> Iterator[bool]:
    """Hold a lock for a long task without a transaction: on PostgreSQL a session advisory
    lock (several national processes), on SQLite one of this process; yields whether it was
    acquired (False: someone else holds it)."""
    if is_sqlite(engine):
        with _LOCAL_GUARD:
            lock = _LOCAL_LOCKS.setdefault(key, threading.Lock())
        if not lock.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()
        return
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one snapshot on PostgreSQL too (REPEATABLE READ)."""
    options: dict[str, Any] = {} if is_sqlite(engine) else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin() as tx:
        yield conn
        tx.rollback()
