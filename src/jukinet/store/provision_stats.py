"""Provision counts carried over from a previous system (引継ぎ統計), kept apart from live ones.

A gazette year can span an equipment renewal: the months before it were counted by the old
system. Its monthly counts are imported into ``imported_provision_counts`` (same key as the
live ``provision_counts``, plus where they came from) and the notice sums both. Live counters
are never touched by an import, so the log's own totals stay checkable on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    String,
    Table,
    Text,
    func,
    literal_column,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.sql import column, table

from jukinet.store.tables import UTCDateTime, metadata

imported_provision_counts = Table(
    "imported_provision_counts",
    metadata,
    Column("recipient", Text, primary_key=True),
    Column("affair_id", String(40), primary_key=True),
    Column("year_month", String(7), primary_key=True),  # 'YYYY-MM'
    Column("method", String(12), primary_key=True),  # immediate | batch_line | batch_media
    Column("count", BigInteger, nullable=False),
    Column("source_file", Text, nullable=False),
    Column("imported_at", UTCDateTime(), nullable=False),
)
"""Monthly counts per (recipient, affair, month, method) imported from a previous system."""

# The live counters belong to the provision log (``jukinet.store.provision``); read here through
# a lightweight construct so this module does not depend on that one.
live_provision_counts = table(
    "provision_counts",
    column("recipient", Text),
    column("affair_id", String(40)),
    column("year_month", String(7)),
    column("method", String(12)),
    column("count", BigInteger),
)


@dataclass(frozen=True, slots=True)
class CountRow:
    """One monthly count of a (recipient, affair, month, method)."""

    recipient: str
    affair_id: str
    year_month: str
    method: str
    count: int


@dataclass(frozen=True, slots=True)
class ImportedKey:
    """A key already imported, and the file it came from."""

    recipient: str
    affair_id: str
    year_month: str
    method: str
    source_file: str


def existing_imported(conn: Connection, rows: Sequence[CountRow]) -> list[ImportedKey]:
    """The keys among ``rows`` that an earlier import already holds."""
    t = imported_provision_counts
    found: list[ImportedKey] = []
    keys = [(r.recipient, r.affair_id, r.year_month, r.method) for r in rows]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for rec in conn.execute(
            select(t.c.recipient, t.c.affair_id, t.c.year_month, t.c.method, t.c.source_file).where(
                tuple_(t.c.recipient, t.c.affair_id, t.c.year_month, t.c.method).in_(chunk)
            )
        ):
            found.append(ImportedKey(*rec))
    return found


def insert_imported(
    conn: Connection, rows: Iterable[CountRow], *, source_file: str, at: datetime
) -> int:
    """Insert the rows (the caller has checked that none is held yet); returns how many."""
    values = [
        {
            "recipient": r.recipient,
            "affair_id": r.affair_id,
            "year_month": r.year_month,
            "method": r.method,
            "count": r.count,
            "source_file": source_file,
            "imported_at": at,
        }
        for r in rows
    ]
    if values:
        conn.execute(imported_provision_counts.insert(), values)
    return len(values)


def summed_counts(conn: Connection, months: Sequence[str]) -> list[CountRow]:
    """Live plus imported counts per key for the ``months`` ('YYYY-MM'), zero sums left out."""
    live = live_provision_counts
    imp = imported_provision_counts
    both = union_all(
        select(
            live.c.recipient, live.c.affair_id, live.c.year_month, live.c.method, live.c["count"]
        ).where(live.c.year_month.in_(months)),
        select(
            imp.c.recipient, imp.c.affair_id, imp.c.year_month, imp.c.method, imp.c["count"]
        ).where(imp.c.year_month.in_(months)),
    ).subquery("counts")
    total = func.sum(both.c["count"])
    query = (
        select(both.c.recipient, both.c.affair_id, both.c.year_month, both.c.method, total)
        .group_by(both.c.recipient, both.c.affair_id, both.c.year_month, both.c.method)
        .having(total > literal_column("0"))
    )
    return [CountRow(rec[0], rec[1], rec[2], rec[3], int(rec[4])) for rec in conn.execute(query)]
