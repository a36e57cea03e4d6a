"""Benchmark: the provision log, database rows against Parquet segments.

The same synthetic entries (``--entries``, default 1,000,000: one month of a batch recipient,
random resident codes, ``request_id`` NULL) are written two ways on a fresh PostgreSQL
database migrated to head: as rows of the partitioned ``provision_log`` (``append_logs`` in
transactions of 10,000) and as one segment (DuckDB ``COPY … TO … (FORMAT parquet)`` sorted by
resident code, as a batch job writes it, then ``record_segment``). Also timed: single appends
of one row per transaction (the immediate-provision path), sealing every row, verifying rows,
seals and the segment, one person's look-up across both, and the monthly counts. Bytes per
entry on disk: heap + indexes + TOAST of every partition, and the Parquet file.

    .venv/bin/python -m bench.provision_log [--entries N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from bench.report import PG_ADMIN, machine_line, write_section
from jukinet.clock import FixedClock
from jukinet.services.national.provision_log import (
    SEGMENT_COLUMNS,
    ProvisionLog,
    file_sha256,
    record_segment,
    segment_path,
)
from jukinet.store import provision_log as store
from jukinet.store.db import make_engine, write_transaction
from jukinet.store.migrate import upgrade

START = datetime(2013, 8, 1, tzinfo=UTC)  # 09:00 on 1 August in Japan
CLOCK = FixedClock(datetime(2013, 9, 1, tzinfo=UTC))
RECIPIENTS = [
    "日本年金機構",
    "地方公務員共済組合",
    "国家公務員共済組合",
    "全国市町村職員共済組合連合会",
]
BATCH = 10_000
YEARLY = 540_000_000
YEARS = 7
IMMEDIATE_SHARE = 0.003  # DOMAIN.md §5: ~0.3% immediate, the rest by batch
T = TypeVar("T")


def entries(count: int, seed: int = 2013) -> pa.Table:
    """Synthetic entries of one month, in the segment's columns."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(10**10, 10**11, size=count)
    seconds = np.sort(rng.integers(0, 29 * 86_400, size=count))
    recipient = rng.integers(0, len(RECIPIENTS), size=count)
    jobs = [
        str(uuid.UUID(int=int(rng.integers(0, 2**63)))) for _ in range(max(1, count // 100_000))
    ]
    return pa.table(
        {
            "provided_at": pa.array(
                [START + timedelta(seconds=int(s)) for s in seconds], pa.timestamp("us", "UTC")
            ),
            "recipient": pa.array([RECIPIENTS[r] for r in recipient]),
            "affair_id": pa.array([f"AFFAIR-{r + 1}" for r in recipient]),
            "method": pa.array(["batch_line"] * count),
            "resident_code": pa.array([f"{c:011d}" for c in codes]),
            "request_id": pa.nulls(count, pa.string()),
            "job_id": pa.array([jobs[i * len(jobs) // count] for i in range(count)]),
            "case_reference": pa.array([f"{i:010d}" for i in range(count)]),
        }
    )


def batches(table: pa.Table) -> Iterator[list[dict[str, object]]]:
    for batch in table.to_batches(max_chunksize=BATCH):
        yield batch.to_pylist()


def fresh_database() -> tuple[sa.Engine, str]:
    name = f"jukinet_bench_provision_log_{os.getpid()}"
    admin = sa.create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    upgrade(engine)
    return engine, name


def drop_database(name: str) -> None:
    admin = sa.create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def db_sizes(engine: sa.Engine) -> dict[str, int]:
    """Heap, indexes and total (with TOAST) of every partition of the log."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE provision_log")
        row = conn.execute(
            sa.text(
                "SELECT sum(pg_relation_size(i.inhrelid)), sum(pg_indexes_size(i.inhrelid)), "
                "sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i "
                "WHERE i.inhparent = 'provision_log'::regclass"
            )
        ).one()
    return {"heap": int(row[0]), "indexes": int(row[1]), "total": int(row[2])}


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def measure_rows(engine: sa.Engine, table: pa.Table, singles: int) -> dict[str, float]:
    """Append as rows (batched, then one per transaction) and measure their size."""

    def append_rows() -> None:
        for batch in batches(table):
            with write_transaction(engine) as conn:
                store.append_logs(conn, batch)

    _, append_s = timed(append_rows)
    sizes = db_sizes(engine)
    single_rows = table.slice(0, singles).to_pylist()

    def append_singles() -> None:
        for row in single_rows:
            with write_transaction(engine) as conn:
                store.append_logs(conn, [row])

    _, single_s = timed(append_singles)
    return {"append_s": append_s, "single_s": single_s, **sizes}


def measure_segment(engine: sa.Engine, files: Path, table: pa.Table) -> dict[str, float]:
    """Write the entries as a batch job's segment and record it."""
    path = segment_path(files, "2013-08", "bench")
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(SEGMENT_COLUMNS)

    def write_segment() -> None:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.register("entries", table)
        con.execute(
            f"COPY (SELECT {columns} FROM entries ORDER BY resident_code) "
            f"TO '{path}' (FORMAT parquet)"
        )
        con.close()

    def record() -> None:
        with write_transaction(engine) as conn:
            record_segment(
                conn,
                files,
                job_id="bench",
                year_month="2013-08",
                path=path,
                entries=table.num_rows,
                at=CLOCK.now(),
            )

    _, segment_s = timed(write_segment)
    _, record_s = timed(record)
    _, hash_s = timed(lambda: file_sha256(path))
    return {
        "segment_s": segment_s,
        "record_s": record_s,
        "hash_s": hash_s,
        "segment_bytes": path.stat().st_size,
    }


def measure_reading(log: ProvisionLog, table: pa.Table, rows: int) -> dict[str, float]:
    """Verify everything, look people up, count."""
    report, verify_s = timed(log.verify)
    assert report.ok, report.findings
    assert report.rows == rows
    assert report.segment_entries == table.num_rows
    codes = table.column("resident_code").to_pylist()
    lookups = []
    for code in codes[:: max(1, len(codes) // 20)][:20]:
        started = time.perf_counter()
        found = log.entries_for(code)
        lookups.append(time.perf_counter() - started)
        assert len(found) >= 2  # the row and the segment's entry
    _, counts_s = timed(log.counts)
    return {
        "verify_s": verify_s,
        "verified": report.entries,
        "lookup_ms": statistics.median(lookups) * 1000,
        "lookups": len(lookups),
        "counts_s": counts_s,
    }


def run(args: argparse.Namespace) -> str:
    n = args.entries
    singles = min(n, args.singles)
    home = Path(tempfile.mkdtemp(prefix="jukinet-bench-log-", dir=args.workdir))
    engine, name = fresh_database()
    try:
        table = entries(n)
        log = ProvisionLog(engine, home / "national", CLOCK)
        m = measure_rows(engine, table, singles)
        sealed, m["seal_s"] = timed(log.seal)
        m["seals"] = len(sealed)
        m.update(measure_segment(engine, home / "national", table))
        m.update(measure_reading(log, table, n + singles))
    finally:
        engine.dispose()
        drop_database(name)
        shutil.rmtree(home, ignore_errors=True)
    return section(n, singles, m)


def section(n: int, singles: int, m: dict[str, float]) -> str:
    db_entry = m["total"] / n
    seg_entry = m["segment_bytes"] / n
    total = YEARLY * YEARS
    immediate = total * IMMEDIATE_SHARE
    mixed = immediate * db_entry + (total - immediate) * seg_entry
    tib = 2**40
    gib = 2**30
    return "\n".join(
        [
            f"## Provision log: {n:,} entries as database rows and as a segment",
            "",
            f"`bench/run provision_log --entries {n}` — PostgreSQL, migrated to head (month "
            "partitions, primary key `(id, provided_at)`, index `(resident_code, provided_at)`); "
            "the same synthetic entries (one month, 4 recipients, random codes, "
            "`request_id` NULL) written as rows and as one Parquet segment.",
            "",
            machine_line(),
            "",
            "| measure | value |",
            "|---|---|",
            f"| append rows (`append_logs`, {BATCH:,} per transaction) | "
            f"{n / m['append_s']:,.0f} rows/s ({m['append_s']:.1f} s) |",
            f"| append one row per transaction (immediate path, {singles:,} rows) | "
            f"{singles / m['single_s']:,.0f} rows/s |",
            f"| write the segment (DuckDB sort + COPY to Parquet) | "
            f"{n / m['segment_s']:,.0f} entries/s ({m['segment_s']:.2f} s) |",
            f"| record the segment (SHA-256 of the file, row, audit entry) | "
            f"{m['record_s']:.2f} s |",
            f"| seal every row ({m['seals']:.0f} seals of ≤ 100,000) | "
            f"{(n + singles) / m['seal_s']:,.0f} rows/s ({m['seal_s']:.1f} s) |",
            f"| verify rows, seals and segment | {m['verified'] / m['verify_s']:,.0f} entries/s "
            f"({m['verify_s']:.1f} s; the segment's SHA-256 alone "
            f"{m['segment_bytes'] / m['hash_s'] / 2**20:,.0f} MiB/s) |",
            f"| one person's entries, rows + segment (`entries_for`, median of "
            f"{m['lookups']:.0f}) | {m['lookup_ms']:.1f} ms |",
            f"| counts over rows + segment | {m['counts_s']:.2f} s |",
            f"| bytes per entry, database row (heap {m['heap'] / n:.0f} + indexes "
            f"{m['indexes'] / n:.0f} + TOAST/maps) | **{db_entry:.0f}** |",
            f"| bytes per entry, Parquet segment (DuckDB defaults) | **{seg_entry:.1f}** |",
            "",
            f"Capacity for {YEARLY:,} entries a year kept {YEARS} years "
            f"({total / 1e9:.2f} billion entries): all as database rows "
            f"{total * db_entry / tib:,.2f} TiB; all as segments {total * seg_entry / tib:,.2f} "
            f"TiB; as provided ({IMMEDIATE_SHARE:.1%} immediate as rows, the rest in segments) "
            f"{mixed / tib:,.2f} TiB — {mixed / YEARS / gib:,.0f} GiB a year.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--singles", type=int, default=5_000)
    parser.add_argument("--workdir", default=None, help="where the temporary files go")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    section = run(args)
    print(section)
    if not args.no_write:
        write_section("provision_log", section)


if __name__ == "__main__":
    main()
