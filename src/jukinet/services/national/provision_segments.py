"""The provision log's Parquet segments: finding one person's entries in them fast, and
rewriting a closed month's segments as files of consecutive code ranges (compaction).

A segment's rows are sorted by resident code, so each row group's min/max statistics on the
code bound the codes it holds. A per-person look-up therefore reads, per file, the footer
(kept in a process-wide cache, checked against the file's size and modification time), picks
the one row group whose range holds the code, reads that row group's code column, and only
when the code is there the other columns. Its cost is per file, so a month of many job files
is compacted, once closed, into files of ``COMPACT_FILE_ROWS`` consecutive codes: a look-up
then opens one small file per month (``docs/provision-log.md``, measured in
``bench/provision_history.py``).
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "COMPACT_FILE_ROWS",
    "COMPACT_ROW_GROUP_ROWS",
    "SEGMENT_COLUMNS",
    "SEGMENT_ROW_GROUP_ROWS",
    "SEGMENT_SCHEMA",
    "Produced",
    "code_range",
    "compact_files",
    "find_entries",
    "footers",
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

SEGMENT_SCHEMA = pa.schema(
    [
        ("provided_at", pa.timestamp("us", tz="UTC")),
        *((name, pa.string()) for name in SEGMENT_COLUMNS[1:]),
    ]
)

SEGMENT_ROW_GROUP_ROWS = 16_384
"""Rows per row group of a batch job's segment: a look-up reads one row group per file."""
COMPACT_ROW_GROUP_ROWS = 8_192
COMPACT_FILE_ROWS = 262_144
"""Rows per compacted file (about): a file's footer stays small enough to read at each
look-up (~32 row groups, ~30 KB) instead of being cached."""

READ_THREADS = min(4, os.cpu_count() or 1)
"""Threads a look-up reads its files with (measured: 2 threads halve it on 2 cores)."""
FOOTER_BUDGET_ROW_GROUPS = 16_384
"""Row groups whose footers the process keeps (~7 KB of memory each in pyarrow): the open
month's job files, and the compacted files last read."""

_CODE = SEGMENT_COLUMNS.index("resident_code")
_LOWEST, _HIGHEST = "", "\U0010ffff"
_FEW_VALUES = ["recipient", "affair_id", "method", "request_id", "job_id"]
"""Columns of few distinct values: dictionary-encoded in compacted files, and read as
dictionaries by look-ups (no string per row materialised)."""
_OTHER_COLUMNS = [c for c in SEGMENT_COLUMNS if c != "resident_code"]
_SORT_KEYS = [
    ("resident_code", "ascending"),
    ("provided_at", "ascending"),
    ("job_id", "ascending"),
    ("case_reference", "ascending"),
]


@dataclass(frozen=True, slots=True)
class Footer:
    """A file's metadata and the code range of each of its row groups."""

    stamp: tuple[int, int]  # size, mtime_ns
    metadata: pq.FileMetaData
    mins: list[str]
    maxs: list[str]
    ordered: bool  # row groups in code order (a sorted file): bisect instead of scanning

    @classmethod
    def read(cls, path: Path, stamp: tuple[int, int] | None = None) -> Footer:
        if stamp is None:
            stat = path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
        metadata = pq.read_metadata(path)
        mins, maxs = [], []
        for i in range(metadata.num_row_groups):
            group = metadata.row_group(i)
            if group.num_rows == 0:
                mins.append(_HIGHEST)  # never a candidate
                maxs.append(_LOWEST)
                continue
            stats = group.column(_CODE).statistics
            if stats is not None and stats.has_min_max:
                mins.append(str(stats.min))
                maxs.append(str(stats.max))
            else:
                mins.append(_LOWEST)
                maxs.append(_HIGHEST)
        ordered = all(a <= b for a, b in zip(maxs, mins[1:], strict=False))
        return cls(stamp, metadata, mins, maxs, ordered)

    def groups_for(self, code: str) -> list[int]:
        """The row groups whose code range holds ``code``."""
        if not self.ordered:
            return [
                i
                for i, (lo, hi) in enumerate(zip(self.mins, self.maxs, strict=True))
                if lo <= code <= hi
            ]
        found = []
        i = bisect_left(self.maxs, code)
        while i < len(self.mins) and self.mins[i] <= code:
            found.append(i)
            i += 1
        return found

    @property
    def row_groups(self) -> int:
        return len(self.mins)


class FooterCache:
    """Footers of recently read files, least recently used out first, within a budget of
    row groups; an entry is used only while the file's size and mtime are unchanged."""

    def __init__(self, budget_row_groups: int = FOOTER_BUDGET_ROW_GROUPS) -> None:
        self.budget = budget_row_groups
        self._entries: OrderedDict[str, Footer] = OrderedDict()
        self._row_groups = 0
        self._lock = threading.Lock()

    def get(self, path: Path) -> Footer:
        stat = path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
        key = str(path)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached.stamp == stamp:
                self._entries.move_to_end(key)
                return cached
        footer = Footer.read(path, stamp)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._row_groups -= old.row_groups
            self._entries[key] = footer
            self._row_groups += footer.row_groups
            while self._row_groups > self.budget and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                self._row_groups -= evicted.row_groups
        return footer

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._row_groups = 0


footers = FooterCache()
"""The process's footer cache (segments are written once: a file replaced is re-read)."""


def find_entries(
    paths: Sequence[Path], code: str, cache: FooterCache | None = None
) -> list[tuple[Any, ...]]:
    """Every entry of ``code`` in these segment files, as tuples in ``SEGMENT_COLUMNS``
    order (``provided_at`` timezone-aware). The files are shared out among
    ``READ_THREADS`` threads (pyarrow decodes without the GIL)."""
    cache = cache or footers
    if len(paths) < 2 or READ_THREADS < 2:
        return _find_in(paths, code, cache)
    shares = [paths[i::READ_THREADS] for i in range(READ_THREADS)]
    found: list[tuple[Any, ...]] = []
    for part in _readers().map(lambda share: _find_in(share, code, cache), shares):
        found.extend(part)
    return found


def _find_in(paths: Iterable[Path], code: str, cache: FooterCache) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for path in paths:
        footer = cache.get(path)
        groups = footer.groups_for(code)
        if not groups:
            continue
        with pq.ParquetFile(path, metadata=footer.metadata, read_dictionary=_FEW_VALUES) as f:
            for group in groups:
                codes = f.read_row_group(group, columns=["resident_code"], use_threads=False)
                hits = pc.indices_nonzero(pc.equal(codes.column(0), code))
                if len(hits) == 0:
                    continue
                rest = f.read_row_group(group, columns=_OTHER_COLUMNS, use_threads=False)
                rest = rest.take(hits)
                values = {name: rest.column(name).to_pylist() for name in _OTHER_COLUMNS}
                values["resident_code"] = [code] * len(hits)
                found.extend(zip(*(values[c] for c in SEGMENT_COLUMNS), strict=True))
    return found


_READERS: ThreadPoolExecutor | None = None
_READERS_GUARD = threading.Lock()


def _readers() -> ThreadPoolExecutor:
    global _READERS  # noqa: PLW0603 - one pool for the process, made on first use
    with _READERS_GUARD:
        if _READERS is None:
            _READERS = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="segment-read")
        return _READERS


def code_range(path: Path) -> tuple[str, str] | None:
    """The lowest and highest code of a file by its statistics (None: no rows or no
    statistics)."""
    footer = Footer.read(path)
    lows = [m for m, n in zip(footer.mins, footer.maxs, strict=True) if m <= n]
    if not lows or _LOWEST in lows or _HIGHEST in footer.maxs:
        return None
    return min(lows), max(n for m, n in zip(footer.mins, footer.maxs, strict=True) if m <= n)


# --- compaction ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Produced:
    """A file written by ``compact_files``: its rows and the codes it holds."""

    path: Path
    entries: int
    first_code: str
    last_code: str


@dataclass(frozen=True, slots=True)
class _Group:
    source: int
    index: int
    low: str
    high: str
    rows: int


def _boundaries(groups: Sequence[_Group], file_rows: int) -> list[str]:
    """Codes that cut the sources' rows into ranges of about ``file_rows``: row groups by
    their lowest code, a cut each time their rows add up to another ``file_rows``."""
    cuts: list[str] = []
    total = 0
    for group in sorted(groups, key=lambda g: g.low):
        due = total >= file_rows * (len(cuts) + 1) and group.low != _LOWEST
        if due and (not cuts or group.low > cuts[-1]):
            cuts.append(group.low)
        total += group.rows
    return cuts


def compact_files(
    sources: Sequence[Path],
    output: Callable[[int], Path],
    *,
    file_rows: int = COMPACT_FILE_ROWS,
    row_group_rows: int = COMPACT_ROW_GROUP_ROWS,
) -> list[Produced]:
    """Rewrite the entries of ``sources`` as files of consecutive code ranges (``output(i)``
    is where the i-th goes), each sorted by code, then time, job and case reference. Each
    source row group is read once (sorted sources: a row group is needed by one or two
    ranges and dropped once passed); memory stays at a few ranges' rows."""
    footer_of = [Footer.read(path) for path in sources]
    groups = [
        _Group(s, i, footer.mins[i], footer.maxs[i], footer.metadata.row_group(i).num_rows)
        for s, footer in enumerate(footer_of)
        for i in range(footer.row_groups)
        if footer.metadata.row_group(i).num_rows > 0
    ]
    expected = sum(g.rows for g in groups)
    cuts = _boundaries(groups, file_rows)
    ranges = list(zip([None, *cuts], [*cuts, None], strict=True))
    files = [
        pq.ParquetFile(path, metadata=f.metadata)
        for path, f in zip(sources, footer_of, strict=True)
    ]
    held: dict[tuple[int, int], pa.Table] = {}
    produced: list[Produced] = []
    try:
        for low, high in ranges:
            parts = []
            for g in groups:
                if (high is not None and g.low >= high) or (low is not None and g.high < low):
                    continue
                key = (g.source, g.index)
                table = held.get(key)
                if table is None:
                    table = files[g.source].read_row_group(g.index, columns=list(SEGMENT_COLUMNS))
                    held[key] = table = table.select(list(SEGMENT_COLUMNS)).cast(SEGMENT_SCHEMA)
                codes = table.column("resident_code")
                keep = None
                if low is not None:
                    keep = pc.greater_equal(codes, low)
                if high is not None:
                    below = pc.less(codes, high)
                    keep = below if keep is None else pc.and_(keep, below)
                parts.append(table if keep is None else table.filter(keep))
                if high is None or g.high < high:
                    del held[key]  # every code of it is below the next range
            rows = pa.concat_tables(parts) if parts else SEGMENT_SCHEMA.empty_table()
            if rows.num_rows == 0:
                continue
            rows = rows.sort_by(_SORT_KEYS)
            path = output(len(produced))
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                rows,
                path,
                row_group_size=row_group_rows,
                compression="zstd",  # sorted codes share prefixes: a third of snappy's size
                use_dictionary=_FEW_VALUES,
            )
            codes = rows.column("resident_code")
            produced.append(
                Produced(path, rows.num_rows, str(codes[0].as_py()), str(codes[-1].as_py()))
            )
    finally:
        for f in files:
            f.close()
    written = sum(p.entries for p in produced)
    if written != expected:
        raise ValueError(f"compaction wrote {written} entries of {expected}")
    return produced
