"""Benchmark: one batch-provision job end to end against a national registry.

A synthetic national registry (``--residents``, default 10,000,000; the population generator's
people, with their search keys) is written as the registry snapshot of a national center whose
database (SQLite or PostgreSQL) holds the recipients, jobs, counters and provision log. A request
file (``--requests``, default 1,000,000; CSV as a recipient's system writes it) asks 95% by
resident code (1% of them unknown codes) and 5% by name and birth date, with a few invalid
rows. Timed end to end: stage the file, submit it (whole-file checks), the worker's run (read,
validate, match against snapshot + delta, write the result file and the log segment, record the
segment, the counter and the job in one transaction).

Baseline in the same run: a bare DuckDB join of the same request file with the same snapshot on
the resident code, written to a CSV file — the floor any implementation pays to read, join and
write. Also reported: peak memory of the process, the sizes on disk, and the time to refresh a
snapshot from the database (``--refresh-records`` loaded into the national table first).

    .venv/bin/python -m bench.batch_provision [--residents N] [--requests N]
        [--database sqlite|postgresql] [--no-write]

The national target (a month's pension check, 40,000,000 requests against 127,000,000 residents)
is the same command with ``--residents 127000000 --requests 40000000 --section national``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa
from rich.console import Console

from bench.report import PG_ADMIN, machine_line, write_section
from jukinet.clock import FixedClock
from jukinet.domain.provision import ProvisionMethod
from jukinet.services.national.batch.registry import SCHEMA, RegistrySnapshots
from jukinet.services.national.batch.request_file import COLUMNS, RequestFormat
from jukinet.services.national.batch.service import BatchProvisionService
from jukinet.services.national.provision import ProvisionService
from jukinet.services.population.generate import (
    format_codes,
    generate_population,
    resident_codes_from_bodies,
)
from jukinet.store import provision as store
from jukinet.store.db import make_engine, read_transaction, sqlite_url, write_transaction
from jukinet.store.migrate import upgrade
from jukinet.store.tables import national_identity_records

RECIPIENT = "日本年金機構"
CLOCK = FixedClock(datetime(2013, 7, 10, 1, 0, tzinfo=UTC))
CHUNK = 1_000_000
console = Console(stderr=True)


_SCATTER = 3_779_240_983  # coprime to 10**10: distinct numbers map to distinct code bodies


def registry_chunk(start: int, n: int, seed: int) -> pa.Table:
    """People ``start`` … ``start + n`` of the registry: the population generator's names,
    dates and addresses (with their search keys) under codes unique across the registry."""
    frame = generate_population("131016", n, seed, as_of=date(2013, 7, 1)).table.slice(0, n)
    bodies = (np.arange(start, start + n, dtype=np.int64) * _SCATTER) % 10**10
    return pa.table(
        {
            "resident_code": format_codes(resident_codes_from_bodies(bodies)),
            "name": frame["name"],
            "name_kana": frame["name_kana"],
            "alias": pa.nulls(n, pa.string()),
            "former_surname": pa.nulls(n, pa.string()),
            "name_key": frame["name_key"],
            "birth_date": frame["birth_date"],
            "sex": frame["sex"],
            "address": frame["address"],
            "address_key": frame["address_key"],
            "change_reason": pa.array(["birth"] * n, pa.string()),
            "change_date": frame["birth_date"],
            "removed": pa.array(np.zeros(n, dtype=bool)),
            "superseded_by": pa.nulls(n, pa.string()),
        }
    ).cast(SCHEMA)


def write_registry(files: Path, residents: int, seed: int) -> tuple[Path, float]:
    """The registry snapshot of ``residents`` people; returns its path and generation time."""
    directory = files / "registry"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "snapshot-bench.parquet"
    started = time.perf_counter()
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for i, start in enumerate(range(0, residents, CHUNK)):
            chunk = registry_chunk(start, min(CHUNK, residents - start), seed * 1000 + i)
            writer.write_table(chunk)
            console.print(f"registry: {start + chunk.num_rows:,} / {residents:,}", end="\r")
    pointer = {"file": path.name, "taken_at": CLOCK.now().isoformat(), "records": residents}
    (directory / "current.json").write_text(json.dumps(pointer), encoding="utf-8")
    return path, time.perf_counter() - started


def reuse_registry(files: Path, source: Path) -> Path:
    """Point the national center at an existing snapshot file (hard-linked, not copied)."""
    directory = files / "registry"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "snapshot-bench.parquet"
    os.link(source, path)
    records = pq.ParquetFile(path).metadata.num_rows
    pointer = {"file": path.name, "taken_at": CLOCK.now().isoformat(), "records": records}
    (directory / "current.json").write_text(json.dumps(pointer), encoding="utf-8")
    return path


def write_request(snapshot: Path, path: Path, requests: int, seed: int) -> dict[str, int]:
    """A request file: 95% by code (1% unknown), 5% by name and birth date, 0.1% invalid."""
    rng = np.random.default_rng(seed)
    with duckdb.connect() as con:
        ((total,),) = con.execute(f"SELECT count(*) FROM read_parquet('{snapshot}')").fetchall()
        residents = int(total)
        picks = np.sort(rng.choice(residents, size=requests, replace=requests > residents))
        con.register("picks", pa.table({"i": picks}))
        people = con.sql(
            f"""SELECT resident_code, name, birth_date FROM
                (SELECT row_number() OVER () - 1 AS i, * FROM read_parquet('{snapshot}'))
                JOIN picks USING (i)"""
        ).to_arrow_table()
    people = people.take(pa.array(rng.permutation(requests)))
    kind = rng.random(requests)
    by_items = kind < 0.05
    unknown = (kind >= 0.05) & (kind < 0.06)
    invalid = kind >= 0.999
    codes = np.array(people["resident_code"].to_pylist(), dtype=object)
    strangers = residents + np.arange(int(unknown.sum()), dtype=np.int64)  # nobody's codes
    codes[unknown] = format_codes(
        resident_codes_from_bodies((strangers * _SCATTER) % 10**10)
    ).to_pylist()
    codes[invalid] = "12345"
    codes[by_items] = ""
    names = np.where(by_items, np.array(people["name"].to_pylist(), dtype=object), "")
    births = np.where(
        by_items, np.array([d.isoformat() for d in people["birth_date"].to_pylist()]), ""
    )
    table = pa.table(
        {
            "row_id": pa.array([f"P{i:09d}" for i in range(requests)]),
            "resident_code": pa.array(codes.tolist(), pa.string()),
            "name": pa.array(names.tolist(), pa.string()),
            "birth_date": pa.array(births.tolist(), pa.string()),
            "sex": pa.array([""] * requests, pa.string()),
            "address": pa.array([""] * requests, pa.string()),
        }
    ).select(list(COLUMNS))
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
    return {
        "by_code": int((~by_items & ~invalid).sum()),
        "by_items": int(by_items.sum()),
        "unknown": int(unknown.sum()),
        "invalid": int(invalid.sum()),
    }


def bare_join(request: Path, snapshot: Path, out: Path) -> float:
    """The baseline: read the request, join the snapshot on the code, write CSV."""
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (
                SELECT q.row_id, r.* EXCLUDE (name_key, address_key, superseded_by)
                FROM read_csv('{request}', header = true, all_varchar = true) q
                JOIN read_parquet('{snapshot}') r ON r.resident_code = q.resident_code
            ) TO '{out}' (FORMAT csv, HEADER true)"""
        )
    return time.perf_counter() - started


def national_engine(kind: str, home: Path) -> sa.Engine:
    if kind == "sqlite":
        return make_engine(sqlite_url(home / "national.db"))
    name = f"jukinet_bench_batch_{os.getpid()}"
    admin = sa.create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")


def refresh_rate(engine: sa.Engine, files: Path, records: int) -> float:
    """Records per second of a snapshot refresh from the national table."""
    rows = registry_chunk(0, records, 7).to_pylist()
    now = CLOCK.now()
    for r in rows:
        r.update(lg_code="131016", source="bench", source_seq=1, updated_at=now)
    with write_transaction(engine) as conn:
        conn.execute(national_identity_records.insert(), rows)
    snapshots = RegistrySnapshots(engine, files / "refresh", CLOCK)
    started = time.perf_counter()
    snapshots.refresh()
    return records / (time.perf_counter() - started)


def run(args: argparse.Namespace) -> str:
    home = Path(tempfile.mkdtemp(prefix="jukinet-bench-batch-", dir=args.workdir))
    files = home / "national"
    try:
        engine = national_engine(args.database, home)
        upgrade(engine)
        ProvisionService(engine, CLOCK).seed()
        with read_transaction(engine) as conn:
            affair = store.affairs_of(conn, RECIPIENT)[0].affair_id
        if args.registry is not None:  # a snapshot written by an earlier run of this bench
            snapshot, gen_seconds = reuse_registry(files, Path(args.registry)), 0.0
        else:
            snapshot, gen_seconds = write_registry(files, args.residents, args.seed)
        request = home / "request.csv"
        # in a child process: the peak memory reported below is the job's, not the set-up's
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            making = pool.submit(write_request, snapshot, request, args.requests, args.seed + 1)
            mix = making.result()
        console.print(f"registry {args.residents:,} ({gen_seconds:.0f} s), request {mix}")

        service = BatchProvisionService(engine, CLOCK, files)
        started = time.perf_counter()
        staged = service.stage_file(request)
        submitted = service.submit(
            RECIPIENT, affair, staged, fmt=RequestFormat.CSV, method=ProvisionMethod.BATCH_MEDIA
        )
        job = service.run_next()
        ours = time.perf_counter() - started
        assert job is not None
        assert job.status == "done", job
        assert job.id == submitted.job.id
        assert job.total_rows == args.requests
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
        result = service.result_file(job)
        assert result is not None
        segment = next((files / "provision_log").rglob(f"job-{job.id}.parquet"))

        baseline = min(bare_join(request, snapshot, home / f"bare-{i}.csv") for i in range(2))
        refresh = refresh_rate(engine, files, args.refresh_records) if args.refresh_records else 0.0
        engine.dispose()
        size = {
            "request": request.stat().st_size,
            "result": result.stat().st_size,
            "segment": segment.stat().st_size,
            "snapshot": snapshot.stat().st_size,
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)
    rate = args.requests / ours
    mib = {k: f"{v / 2**20:,.0f} MiB" for k, v in size.items()}
    lines = [
        f"## Batch provision: {args.requests:,} requests against {args.residents:,} residents "
        f"({args.database})",
        "",
        machine_line(),
        "",
        f"Request mix: {mix['by_code']:,} by code ({mix['unknown']:,} unknown codes), "
        f"{mix['by_items']:,} by name and birth date, {mix['invalid']:,} invalid.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| end to end (stage, submit, run, record) | {ours:.1f} s |",
        f"| records/s end to end | **{rate:,.0f}** (goal ≥ 300,000) |",
        f"| provided | {job.provided_rows:,}; invalid {job.invalid_rows:,} |",
        f"| bare DuckDB join (baseline) | {baseline:.1f} s "
        f"({args.requests / baseline:,.0f} records/s) |",
        f"| ratio ours / bare join | **{ours / baseline:.2f}×** (goal ≤ 4×) |",
        f"| peak memory of the process | {peak_gib:.1f} GiB |",
        f"| disk | request {mib['request']}, result {mib['result']}, "
        f"log segment {mib['segment']}, registry snapshot {mib['snapshot']} |",
        f"| registry snapshot generation (bench set-up, not timed above) | "
        f"{f'{gen_seconds:.0f} s' if gen_seconds else 'reused from an earlier run'} |",
    ]
    if refresh:
        lines.append(
            f"| snapshot refresh from the national table ({args.refresh_records:,} records) | "
            f"{refresh:,.0f} records/s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--refresh-records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--section", default=None, help="RESULTS.md section name")
    parser.add_argument("--workdir", default=None, help="where the temporary files go")
    parser.add_argument("--registry", default=None, help="reuse this snapshot file")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    section = run(args)
    print(section)
    if not args.no_write:
        write_section(args.section or f"batch_provision_{args.database}", section)


if __name__ == "__main__":
    main()
