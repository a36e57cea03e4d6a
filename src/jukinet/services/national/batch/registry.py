"""The national registry as batch provision reads it: a columnar snapshot plus the changes since.

A month's pension check asks for 40 million people against 127 million records; reading them
through the database row by row would dominate the job. The national center therefore keeps a
Parquet snapshot of ``national_identity_records`` (refreshed when older than ``max_age``, by the
worker or ``jukinet provision snapshot``) and every job reads the snapshot *plus* the records
updated since it was taken (an indexed range on ``updated_at``), the newer version winning —
so a job always sees the registry as it is when the job runs, never a stale copy.

``since`` is the snapshot's start minus ``OVERLAP``: a change committed while the snapshot was
being written, stamped a little before it, is still in the delta; reading a record twice is
harmless (the delta wins).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, select

from jukinet.clock import Clock
from jukinet.store.db import read_transaction
from jukinet.store.tables import national_identity_records

SNAPSHOT_COLUMNS = (
    "resident_code",
    "name",
    "name_kana",
    "alias",
    "former_surname",
    "name_key",
    "birth_date",
    "sex",
    "address",
    "address_key",
    "change_reason",
    "change_date",
    "removed",
    "superseded_by",
)
_TYPES = {"birth_date": pa.date32(), "change_date": pa.date32(), "removed": pa.bool_()}
SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in SNAPSHOT_COLUMNS])
OVERLAP = timedelta(minutes=10)
MAX_AGE = timedelta(hours=24)
_BATCH = 200_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    path: Path
    taken_at: datetime
    records: int

    @property
    def since(self) -> datetime:
        return self.taken_at - OVERLAP


def _columns() -> list[Any]:
    return [national_identity_records.c[name] for name in SNAPSHOT_COLUMNS]


def _batch(rows: list[Any]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(SNAPSHOT_COLUMNS)
    arrays = [
        pa.array(values, SCHEMA.field(name).type)
        for name, values in zip(SNAPSHOT_COLUMNS, columns, strict=True)
    ]
    return pa.record_batch(arrays, schema=SCHEMA)


class RegistrySnapshots:
    """The snapshots of one national center, in ``directory``."""

    def __init__(self, engine: Engine, directory: Path, clock: Clock) -> None:
        self.engine = engine
        self.directory = directory
        self.clock = clock

    @property
    def _pointer(self) -> Path:
        return self.directory / "current.json"

    def current(self) -> Snapshot | None:
        try:
            raw = json.loads(self._pointer.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        path = self.directory / raw["file"]
        return Snapshot(path, datetime.fromisoformat(raw["taken_at"]), int(raw["records"]))

    def fresh(self, max_age: timedelta = MAX_AGE) -> Snapshot:
        """The current snapshot, refreshed first when missing or older than ``max_age``."""
        snapshot = self.current()
        if snapshot is None or not snapshot.path.exists():
            return self.refresh()
        if self.clock.now() - snapshot.taken_at > max_age:
            return self.refresh()
        return snapshot

    def refresh(self) -> Snapshot:
        """Write a new snapshot and point to it; the previous one stays until the next refresh
        (a job that opened it may still be reading)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        taken_at = self.clock.now()
        name = f"snapshot-{taken_at.strftime('%Y%m%dT%H%M%S%f')}-{os.getpid()}.parquet"
        partial = self.directory / f".{name}.partial"
        records = 0
        query = select(*_columns()).order_by(national_identity_records.c.resident_code)
        with read_transaction(self.engine) as conn, pq.ParquetWriter(partial, SCHEMA) as writer:
            result = conn.execution_options(yield_per=_BATCH).execute(query)
            for rows in result.partitions(_BATCH):
                writer.write_batch(_batch(list(rows)))
                records += len(rows)
        os.replace(partial, self.directory / name)
        previous = self.current()
        pointer = self.directory / ".current.json.partial"
        pointer.write_text(
            json.dumps({"file": name, "taken_at": taken_at.isoformat(), "records": records}),
            encoding="utf-8",
        )
        os.replace(pointer, self._pointer)
        for old in self.directory.glob("snapshot-*.parquet"):
            if old.name != name and (previous is None or old != previous.path):
                old.unlink(missing_ok=True)
        return Snapshot(self.directory / name, taken_at, records)


def changes_since(conn: Connection, since: datetime) -> pa.Table:
    """The records updated at or after ``since`` (the snapshot's delta)."""
    t = national_identity_records
    rows = list(conn.execute(select(*_columns()).where(t.c.updated_at >= since)))
    return pa.Table.from_batches([_batch(rows)], schema=SCHEMA)
