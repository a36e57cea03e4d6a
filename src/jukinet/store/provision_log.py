"""The provision log's tables (national center database): one row per record provided, the
seals over its rows, the Parquet segments of batch jobs, and the purges of old months.

On PostgreSQL ``provision_log`` is range-partitioned by month of ``provided_at`` (Japan time,
the gazette's month), so a month past retention goes with one ``DROP TABLE``. There is no
DEFAULT partition: a row whose month has no partition fails loudly instead of landing in a
catch-all that retention drops would never reach; appends create their month first
(``ensure_months``) and the national node creates months ahead. SQLite keeps one table.

Every table here is append-only on PostgreSQL (trigger of migration 0006/0010); tampering is
detected by the seals (``services.national.provision_log``), not prevented by the trigger.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    select,
    text,
)

from jukinet.clock import JST
from jukinet.domain.audit import AuditEntry
from jukinet.store.audit import audit_log
from jukinet.store.tables import BigId, UTCDateTime, metadata

provision_log = Table(
    "provision_log",
    metadata,
    Column("id", BigId, autoincrement=True, nullable=False),
    Column("provided_at", UTCDateTime(), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("affair_id", String(40), nullable=False),
    Column("method", String(12), nullable=False),
    Column("resident_code", String(11), nullable=False),
    Column("request_id", String(64)),
    Column("job_id", String(64)),
    Column("case_reference", Text, nullable=False),
    # PostgreSQL wants the partition key in the primary key; SQLite keeps ``id INTEGER
    # PRIMARY KEY AUTOINCREMENT`` from its migration (Alembic does not compare keys).
    PrimaryKeyConstraint("id", "provided_at"),
    Index("ix_provision_log_resident_code", "resident_code", "provided_at"),
    postgresql_partition_by="RANGE (provided_at)",
)
"""One row per record provided one at a time (append-only; batch jobs write segments)."""

provision_log_seals = Table(
    "provision_log_seals",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # its audit entry
    Column("first_id", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("months", Text, nullable=False),  # canonical JSON {"YYYY-MM": [rows, sha256]}
    Column("sealed_at", UTCDateTime(), nullable=False),
)
"""A seal over the ids ``first_id..last_id`` (seals tile the ids from 1 without gaps)."""

provision_log_segments = Table(
    "provision_log_segments",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("year_month", String(7), nullable=False),
    Column("path", Text, nullable=False),  # relative to the national center's files
    Column("entries", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("seq", BigInteger, nullable=False),  # its audit entry
    Index("ix_provision_log_segments_year_month", "year_month"),
)
"""One Parquet file of a batch job's entries, with the digest of its bytes."""

provision_log_purges = Table(
    "provision_log_purges",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # its audit entry
    Column("before_month", String(7), nullable=False),
    Column("purged_at", UTCDateTime(), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("segments", BigInteger, nullable=False),
)
"""Months before ``before_month`` were dropped (past retention): verification skips them."""

provision_log_compactions = Table(
    "provision_log_compactions",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # its audit entry
    Column("year_month", String(7), nullable=False),
    Column("entries", BigInteger, nullable=False),
    Column("replaced", Text, nullable=False),  # canonical JSON [[job_id, entries, sha256], ...]
    # canonical JSON [[job_id, entries, sha256, first_code, last_code], ...]
    Column("produced", Text, nullable=False),
    Column("compacted_at", UTCDateTime(), nullable=False),
)
"""A month's segments rewritten as code-range files (themselves recorded as segments): the
segments ``replaced`` are read no more and their files go; each ``produced`` file holds the
codes ``first_code..last_code``."""

SEAL_ACTION = "provision_log.seal"
SEGMENT_ACTION = "provision_log.segment"
PURGE_ACTION = "provision_log.purge"
COMPACTION_ACTION = "provision_log.compaction"
ACTIONS = (SEAL_ACTION, SEGMENT_ACTION, PURGE_ACTION, COMPACTION_ACTION)
"""The audit actions that vouch for the rows of these tables."""

STREAM_ROWS = 10_000
PARTITION_PREFIX = "provision_log_p"


@dataclass(frozen=True, slots=True)
class ProvisionEntry:
    """One provision of one person's record; ``log_id`` is None for a segment's entry."""

    provided_at: datetime
    recipient: str
    affair_id: str
    method: str
    resident_code: str
    request_id: str | None
    job_id: str | None
    case_reference: str
    log_id: int | None = None


# --- months and partitions ----------------------------------------------------------------


def month_of(at: datetime) -> str:
    """``YYYY-MM`` of a time in Japan (the gazette's and the partitions' month)."""
    day = at.astimezone(JST)
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(year_month: str) -> tuple[int, int]:
    try:
        year, month = (int(p) for p in year_month.split("-"))
        date(year, month, 1)
    except ValueError:
        raise ValueError(f"{year_month!r} is not a month YYYY-MM") from None
    if len(year_month) != 7:
        raise ValueError(f"{year_month!r} is not a month YYYY-MM")
    return year, month


def next_month(year_month: str) -> str:
    year, month = parse_month(year_month)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def month_start(year_month: str) -> datetime:
    """The first instant of the month in Japan, in UTC."""
    year, month = parse_month(year_month)
    return datetime(year, month, 1, tzinfo=JST).astimezone(UTC)


def months_between(first: str, last: str) -> list[str]:
    out: list[str] = []
    month = first
    while month <= last:
        out.append(month)
        month = next_month(month)
    return out


def partition_name(year_month: str) -> str:
    year, month = parse_month(year_month)
    return f"{PARTITION_PREFIX}{year:04d}{month:02d}"


def is_partition_name(name: str) -> bool:
    """A monthly partition's name (Alembic's comparison leaves them out: not in metadata)."""
    suffix = name.removeprefix(PARTITION_PREFIX)
    return suffix != name and len(suffix) == 6 and suffix.isdigit()


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def log_partitions(conn: Connection) -> list[str]:
    """The months that have a partition, oldest first (PostgreSQL; none on SQLite)."""
    if not _is_postgres(conn):
        return []
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'provision_log'::regclass"
        )
    ).scalars()
    months = [f"{n[-6:-2]}-{n[-2:]}" for n in names if is_partition_name(n)]
    return sorted(months)


_PARTITION_LOCK = 0x6A6B_706C  # "jkpl": serialises creators of partitions (advisory lock)


def create_partitions(conn: Connection, year_months: Iterable[str]) -> list[str]:
    """Create the partitions of these months that are missing (PostgreSQL); returns those
    created. ``CREATE TABLE … PARTITION OF`` locks the parent exclusively until the
    transaction ends: create ahead of use, in a short transaction, where possible."""
    if not _is_postgres(conn):
        return []
    wanted = sorted(set(year_months))
    if not wanted:
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK})
    present = set(log_partitions(conn))
    created = []
    for month in wanted:
        if month in present:
            continue
        start = month_start(month).isoformat()
        end = month_start(next_month(month)).isoformat()
        conn.execute(
            text(
                f"CREATE TABLE {partition_name(month)} PARTITION OF provision_log "
                f"FOR VALUES FROM ('{start}') TO ('{end}')"
            )
        )
        created.append(month)
    return created


def ensure_log_partitions(conn: Connection, through: date, since: date | None = None) -> list[str]:
    """Create the partitions of every month from ``since`` (default: the month of
    ``through``) to the month of ``through`` that are missing; returns the months created.
    The migration and the national node call it ahead of use; appends call it for a month
    they find missing."""
    first = f"{(since or through).year:04d}-{(since or through).month:02d}"
    last = f"{through.year:04d}-{through.month:02d}"
    return create_partitions(conn, months_between(first, last))


_KNOWN_MONTHS: WeakKeyDictionary[Engine, set[str]] = WeakKeyDictionary()
_KNOWN_GUARD = threading.Lock()


def _known(engine: Engine) -> set[str]:
    with _KNOWN_GUARD:
        known = _KNOWN_MONTHS.get(engine)
        if known is None:
            known = _KNOWN_MONTHS[engine] = set()
        return known


def ensure_months(conn: Connection, months: Iterable[str]) -> None:
    """Make sure the months about to be appended to have a partition. Months seen committed
    are remembered per engine, so the usual append costs no catalog query; a month created
    here is not remembered until seen again (this transaction may still roll back)."""
    if not _is_postgres(conn):
        return
    known = _known(conn.engine)
    missing = set(months) - known
    if not missing:
        return
    present = set(log_partitions(conn))
    known.update(present)
    if missing - present:
        create_partitions(conn, missing - present)


def forget_months(engine: Engine) -> None:
    """Drop the remembered months (after partitions were dropped)."""
    _known(engine).clear()


# --- appending and reading ------------------------------------------------------------------


def append_log(
    conn: Connection,
    *,
    provided_at: datetime,
    recipient: str,
    affair_id: str,
    method: str,
    resident_code: str,
    case_reference: str,
    request_id: str | None = None,
    job_id: str | None = None,
) -> int:
    """Append one entry; returns its id."""
    ensure_months(conn, [month_of(provided_at)])
    result = conn.execute(
        provision_log.insert().values(
            provided_at=provided_at,
            recipient=recipient,
            affair_id=affair_id,
            method=method,
            resident_code=resident_code,
            request_id=request_id,
            job_id=job_id,
            case_reference=case_reference,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def append_logs_returning(conn: Connection, entries: list[dict[str, object]]) -> list[int]:
    """Append entries (keys: the columns but ``id``) in one statement; returns their ids in
    the order given."""
    if not entries:
        return []
    months = set()
    for entry in entries:
        at = entry["provided_at"]
        assert isinstance(at, datetime)
        months.add(month_of(at))
    ensure_months(conn, months)
    if len(entries) == 1:  # one row: the plain insert, no multi-row machinery
        result = conn.execute(provision_log.insert().values(**entries[0]))
        key = result.inserted_primary_key
        assert key is not None
        return [int(key[0])]
    rows = conn.execute(_INSERT_RETURNING_ID, entries)
    return [int(i) for i in rows.scalars()]


_INSERT_RETURNING_ID = provision_log.insert().returning(
    provision_log.c.id, sort_by_parameter_order=True
)


def append_logs(conn: Connection, entries: list[dict[str, object]]) -> None:
    """Append many entries in one statement (keys: the columns but ``id``)."""
    if not entries:
        return
    months = set()
    for entry in entries:
        at = entry["provided_at"]
        assert isinstance(at, datetime)
        months.add(month_of(at))
    ensure_months(conn, months)
    conn.execute(provision_log.insert(), entries)


def _entry(row: Any) -> ProvisionEntry:
    return ProvisionEntry(
        provided_at=row.provided_at,
        recipient=row.recipient,
        affair_id=row.affair_id,
        method=row.method,
        resident_code=row.resident_code,
        request_id=row.request_id,
        job_id=row.job_id,
        case_reference=row.case_reference,
        log_id=int(row.id),
    )


def log_of_person(conn: Connection, resident_code: str) -> list[Any]:
    """Every row of one person's record, oldest first (database rows only)."""
    return list(
        conn.execute(
            select(provision_log)
            .where(provision_log.c.resident_code == resident_code)
            .order_by(provision_log.c.provided_at, provision_log.c.id)
        )
    )


def entries_of_person(
    conn: Connection, resident_code: str, since: datetime | None = None
) -> list[ProvisionEntry]:
    """One person's rows (provided at ``since`` or later), oldest first."""
    if since is None:
        return [_entry(r) for r in log_of_person(conn, resident_code)]
    t = provision_log
    query = (
        select(t)
        .where(t.c.resident_code == resident_code, t.c.provided_at >= since)
        .order_by(t.c.provided_at, t.c.id)
    )
    return [_entry(r) for r in conn.execute(query)]


def has_rows_before(conn: Connection, year_month: str) -> bool:
    """Whether any row (or, on PostgreSQL, any month partition) lies before ``year_month``."""
    if any(m < year_month for m in log_partitions(conn)):
        return True
    t = provision_log
    query = select(t.c.id).where(t.c.provided_at < month_start(year_month)).limit(1)
    return conn.execute(query).first() is not None


def month_counts(conn: Connection) -> dict[tuple[str, str, str, str], int]:
    """Rows per (recipient, affair, month in Japan, method)."""
    t = provision_log
    if _is_postgres(conn):
        month = func.to_char(
            t.c.provided_at.op("AT TIME ZONE")(text("INTERVAL '+09:00'")), "YYYY-MM"
        )
    else:
        month = func.strftime("%Y-%m", t.c.provided_at, "+9 hours")
    query = select(
        t.c.recipient, t.c.affair_id, month.label("m"), t.c.method, func.count()
    ).group_by(t.c.recipient, t.c.affair_id, month, t.c.method)
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in conn.execute(query)}


def max_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(provision_log.c.id), 0))).scalar_one())


def count_after(conn: Connection, after_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(provision_log).where(provision_log.c.id > after_id)
        ).scalar_one()
    )


def iter_rows(
    conn: Connection, after_id: int, through_id: int, limit: int | None = None
) -> Iterator[Any]:
    """Rows with ``after_id < id <= through_id`` in id order (the first ``limit``), streamed."""
    query = (
        select(provision_log)
        .where(provision_log.c.id > after_id, provision_log.c.id <= through_id)
        .order_by(provision_log.c.id)
        .limit(limit)
        .execution_options(yield_per=STREAM_ROWS)
    )
    yield from conn.execute(query)


def lock_for_seal(conn: Connection) -> None:
    """Wait for every transaction appending to the log and hold new ones off until this one
    ends (PostgreSQL: ids are drawn before commit, so a row with a lower id can commit after
    a higher one). SQLite write transactions are serial already."""
    if _is_postgres(conn):
        conn.execute(text("LOCK TABLE provision_log IN SHARE ROW EXCLUSIVE MODE"))


# --- canonical encoding ------------------------------------------------------------------------


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def canonical_row(row: Any) -> bytes:
    """The bytes of one row a seal's digest covers: every column as a JSON array, one line."""
    at: datetime = row.provided_at
    values = [
        int(row.id),
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        row.recipient,
        row.affair_id,
        row.method,
        row.resident_code,
        row.request_id,
        row.job_id,
        row.case_reference,
    ]
    return (_ENCODER.encode(values) + "\n").encode()


class RangeDigest:
    """SHA-256 and count over rows in id order, overall and per month."""

    def __init__(self) -> None:
        self.rows = 0
        self.last_id = 0
        self._all = hashlib.sha256()
        self._months: dict[str, tuple[int, Any]] = {}
        self._month = ""
        self._start = self._end = datetime.min.replace(tzinfo=UTC)

    def add(self, row: Any) -> None:
        data = canonical_row(row)
        self.rows += 1
        self.last_id = int(row.id)
        self._all.update(data)
        at: datetime = row.provided_at
        if not self._start <= at < self._end:  # rows come in month runs: rarely recomputed
            self._month = month_of(at)
            self._start, self._end = month_start(self._month), month_start(next_month(self._month))
        count, digest = self._months.get(self._month) or (0, hashlib.sha256())
        digest.update(data)
        self._months[self._month] = (count + 1, digest)

    @property
    def sha256(self) -> str:
        return self._all.hexdigest()

    @property
    def months(self) -> dict[str, tuple[int, str]]:
        return {m: (n, d.hexdigest()) for m, (n, d) in sorted(self._months.items())}


def months_json(months: Mapping[str, tuple[int, str]]) -> str:
    return json.dumps(
        {m: [n, d] for m, (n, d) in sorted(months.items())}, separators=(",", ":"), sort_keys=True
    )


def parse_months_json(value: str) -> dict[str, tuple[int, str]]:
    data: dict[str, list[Any]] = json.loads(value)
    return {m: (int(v[0]), str(v[1])) for m, v in data.items()}


# --- seals, segments, purges --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seal:
    seq: int
    first_id: int
    last_id: int
    rows: int
    sha256: str
    months: dict[str, tuple[int, str]]
    sealed_at: datetime

    def detail(self) -> dict[str, Any]:
        """What its audit entry records (``months`` as its canonical JSON text)."""
        return {
            "first_id": self.first_id,
            "last_id": self.last_id,
            "rows": self.rows,
            "sha256": self.sha256,
            "months": months_json(self.months),
        }


@dataclass(frozen=True, slots=True)
class Segment:
    job_id: str
    year_month: str
    path: str
    entries: int
    sha256: str
    recorded_at: datetime
    seq: int

    def detail(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "year_month": self.year_month,
            "path": self.path,
            "entries": self.entries,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True)
class Purge:
    seq: int
    before_month: str
    purged_at: datetime
    rows: int
    segments: int

    def detail(self) -> dict[str, Any]:
        return {"before_month": self.before_month, "rows": self.rows, "segments": self.segments}


def insert_seal(conn: Connection, seal: Seal) -> None:
    conn.execute(
        provision_log_seals.insert().values(
            seq=seal.seq,
            first_id=seal.first_id,
            last_id=seal.last_id,
            rows=seal.rows,
            sha256=seal.sha256,
            months=months_json(seal.months),
            sealed_at=seal.sealed_at,
        )
    )


def list_seals(conn: Connection) -> list[Seal]:
    rows = conn.execute(select(provision_log_seals).order_by(provision_log_seals.c.first_id))
    return [
        Seal(
            int(r.seq),
            int(r.first_id),
            int(r.last_id),
            int(r.rows),
            r.sha256,
            parse_months_json(r.months),
            r.sealed_at,
        )
        for r in rows
    ]


def last_sealed_id(conn: Connection) -> tuple[int, datetime | None]:
    """The highest sealed id (0: none yet) and when it was sealed."""
    row = conn.execute(
        select(provision_log_seals.c.last_id, provision_log_seals.c.sealed_at)
        .order_by(provision_log_seals.c.seq.desc())  # seals are made one at a time, in order
        .limit(1)
    ).first()
    return (0, None) if row is None else (int(row.last_id), row.sealed_at)


def insert_segment(conn: Connection, segment: Segment) -> None:
    conn.execute(
        provision_log_segments.insert().values(
            job_id=segment.job_id,
            year_month=segment.year_month,
            path=segment.path,
            entries=segment.entries,
            sha256=segment.sha256,
            recorded_at=segment.recorded_at,
            seq=segment.seq,
        )
    )


def list_segments(conn: Connection, from_month: str | None = None) -> list[Segment]:
    """Recorded segments (of ``from_month`` on), by month then job."""
    t = provision_log_segments
    query = select(t).order_by(t.c.year_month, t.c.job_id)
    if from_month is not None:
        query = query.where(t.c.year_month >= from_month)
    return [
        Segment(r.job_id, r.year_month, r.path, int(r.entries), r.sha256, r.recorded_at, int(r.seq))
        for r in conn.execute(query)
    ]


def insert_purge(conn: Connection, purge: Purge) -> None:
    conn.execute(
        provision_log_purges.insert().values(
            seq=purge.seq,
            before_month=purge.before_month,
            purged_at=purge.purged_at,
            rows=purge.rows,
            segments=purge.segments,
        )
    )


def list_purges(conn: Connection) -> list[Purge]:
    t = provision_log_purges
    return [
        Purge(int(r.seq), r.before_month, r.purged_at, int(r.rows), int(r.segments))
        for r in conn.execute(select(t).order_by(t.c.seq))
    ]


def purge_floor(conn: Connection) -> str | None:
    """The first month still kept (None: nothing was ever purged)."""
    found = conn.execute(select(func.max(provision_log_purges.c.before_month))).scalar()
    return None if found is None else str(found)


@dataclass(frozen=True, slots=True)
class Compaction:
    """A month's segments ``replaced`` ((job_id, entries, sha256) each) by the segments
    ``produced`` ((job_id, entries, sha256, first_code, last_code) each, codes in order)."""

    seq: int
    year_month: str
    entries: int
    replaced: tuple[tuple[str, int, str], ...]
    produced: tuple[tuple[str, int, str, str, str], ...]
    compacted_at: datetime

    def detail(self) -> dict[str, Any]:
        return {
            "year_month": self.year_month,
            "entries": self.entries,
            "replaced": _compact_json(self.replaced),
            "produced": _compact_json(self.produced),
        }


def _compact_json(items: Iterable[tuple[Any, ...]]) -> str:
    return json.dumps([list(i) for i in items], separators=(",", ":"), ensure_ascii=False)


def insert_compaction(conn: Connection, compaction: Compaction) -> None:
    conn.execute(
        provision_log_compactions.insert().values(
            seq=compaction.seq,
            year_month=compaction.year_month,
            entries=compaction.entries,
            replaced=_compact_json(compaction.replaced),
            produced=_compact_json(compaction.produced),
            compacted_at=compaction.compacted_at,
        )
    )


def list_compactions(conn: Connection, from_month: str | None = None) -> list[Compaction]:
    """Recorded compactions (of ``from_month`` on), oldest first."""
    t = provision_log_compactions
    query = select(t).order_by(t.c.seq)
    if from_month is not None:
        query = query.where(t.c.year_month >= from_month)
    found = []
    for r in conn.execute(query):
        replaced = tuple((str(j), int(n), str(d)) for j, n, d in json.loads(r.replaced))
        produced = tuple(
            (str(j), int(n), str(d), str(a), str(b)) for j, n, d, a, b in json.loads(r.produced)
        )
        found.append(
            Compaction(int(r.seq), r.year_month, int(r.entries), replaced, produced, r.compacted_at)
        )
    return found


def catalogue_version(conn: Connection) -> tuple[int, int, int, int, str | None]:
    """Changes whenever a segment, compaction or purge is recorded (or a row of theirs
    disappears): readers cache the list of segment files under this key."""
    s, c, p = provision_log_segments, provision_log_compactions, provision_log_purges
    row = conn.execute(
        select(
            select(func.count()).select_from(s).scalar_subquery(),
            select(func.coalesce(func.max(s.c.seq), 0)).scalar_subquery(),
            select(func.count()).select_from(c).scalar_subquery(),
            select(func.coalesce(func.max(c.c.seq), 0)).scalar_subquery(),
            select(func.max(p.c.before_month)).scalar_subquery(),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), row[4]


def drop_months_before(conn: Connection, year_month: str) -> tuple[list[str], int]:
    """Remove the rows of every month before ``year_month``: drop their partitions on
    PostgreSQL, delete them on SQLite. Returns the months dropped and the rows removed."""
    if not _is_postgres(conn):
        cut = month_start(year_month)
        t = provision_log
        months = conn.execute(
            select(func.strftime("%Y-%m", t.c.provided_at, "+9 hours"))
            .where(t.c.provided_at < cut)
            .distinct()
        ).scalars()
        dropped = sorted(str(m) for m in months)
        result = conn.execute(t.delete().where(t.c.provided_at < cut))
        return dropped, int(result.rowcount)
    dropped = [m for m in log_partitions(conn) if m < year_month]
    removed = 0
    for month in dropped:
        name = partition_name(month)
        removed += int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
        conn.execute(text(f"DROP TABLE {name}"))
    forget_months(conn.engine)
    return dropped, removed


def vouching_entries_after(conn: Connection, seq: int) -> list[Any]:
    """Audit entries of the log's seals, segments and purges after ``seq`` (to find one whose
    row was removed from these tables)."""
    return list(
        conn.execute(
            select(audit_log.c.seq, audit_log.c.action, audit_log.c.object)
            .where(audit_log.c.seq > seq, audit_log.c.action.in_(ACTIONS))
            .order_by(audit_log.c.seq)
        )
    )


def latest_vouching_seq(conn: Connection) -> int:
    """The highest audit seq any seal, segment or purge row points at (0: none)."""
    seqs = [
        conn.execute(select(func.coalesce(func.max(t.c.seq), 0))).scalar_one()
        for t in (
            provision_log_seals,
            provision_log_segments,
            provision_log_purges,
            provision_log_compactions,
        )
    ]
    return int(max(seqs))


def audit_entries(conn: Connection, seqs: Iterable[int]) -> dict[int, AuditEntry]:
    """The audit entries with these sequence numbers (those that exist)."""
    wanted = sorted(set(seqs))
    found: dict[int, AuditEntry] = {}
    for i in range(0, len(wanted), 1000):
        chunk = wanted[i : i + 1000]
        for r in conn.execute(select(audit_log).where(audit_log.c.seq.in_(chunk))):
            found[int(r.seq)] = AuditEntry(
                int(r.seq),
                r.at,
                r.actor,
                r.action,
                r.object,
                r.outcome,
                r.detail,
                r.prev_digest,
                r.digest,
            )
    return found
