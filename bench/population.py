"""Benchmark: generate and bulk-load a synthetic population (default 1,000,000 residents).

Reports residents/s for generation alone, load alone and generate+load on SQLite and
PostgreSQL, and a baseline per database: the same residents, history and pool rows inserted
with the fastest plain method into tables with the same columns and no secondary indexes
(sqlite3 ``executemany`` in one transaction; PostgreSQL ``COPY`` with ``write_row``). Row
tuples for the baseline are built before its clock starts. Results replace this benchmark's
section of bench/RESULTS.md.

    .venv/bin/python -m bench.population [--residents N] [--lg-code 131016] [--no-write]
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from sqlalchemy import Engine
from sqlalchemy.schema import CreateTable

from bench.report import PG_ADMIN, machine_line, write_section
from jukinet.services.population import PopulationFrame, generate_population, load_population
from jukinet.services.population.load import REGISTER_COLUMNS
from jukinet.store import tables
from jukinet.store.db import make_engine, sqlite_url
from jukinet.store.migrate import upgrade

HERE = Path(__file__).parent
OUT = HERE / "out"
PG_DB = "jukinet_bench"
AS_OF = date(2014, 10, 1)
RECORDED_AT = datetime(2014, 10, 1, tzinfo=UTC)
GOAL = 100_000
WHERE_TIME_GOES = (
    "Where the time goes (CPU seconds per million residents, profiled 2026-11-26 on this "
    "machine): SQLite — `executemany` of residents 5.4 (Python's sqlite3 binding ≈ 0.3 µs "
    "a value, 0.5 µs a None), turning Arrow columns into Python lists 2.9, history "
    "`INSERT … SELECT` 1.8, pool 2.1, six index builds 6.1, COMMIT 1.6: ≈ 20 s, nearly all "
    "on one core inside one connection. PostgreSQL backend — binary `COPY` of residents "
    "3.4-4.0, history `INSERT … SELECT` 3.1-3.8, pool `COPY` 0.7 + primary key 0.4, index "
    "builds ≈ 4.7 (plus parallel workers), foreign-key check 0.9: ≈ 14 s in one backend (one "
    "transaction, one core), ≈ 1 GB of WAL. 100,000 residents/s end to end would need "
    "generation (2.6-3.9 s) plus load within 10 s: out of reach on 2 cores for both."
)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@contextmanager
def sqlite_engine(name: str, *, migrate: bool = True) -> Iterator[Engine]:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    for old in OUT.glob(name + "*"):
        old.unlink()
    engine = make_engine(sqlite_url(path))
    if migrate:
        upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        for old in OUT.glob(name + "*"):
            old.unlink()


@contextmanager
def postgres_engine(*, migrate: bool = True) -> Iterator[Engine]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_DB}"')
    engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}")
    if migrate:
        upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def baseline_rows(
    frame: PopulationFrame, *, iso: bool
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows our loader writes, as plain tuples (dates as ISO text for SQLite)."""
    table = frame.table
    n = len(frame)
    household = pa.compute.utf8_lpad(
        pa.compute.add(table.column("household_index"), 1).cast(pa.string()), 10, "0"
    )
    columns: list[list[Any]] = [list(range(1, n + 1))]
    for name in REGISTER_COLUMNS:
        column = household if name == "household_id" else table.column(name)
        if iso and pa.types.is_date32(column.type):
            column = column.cast(pa.string())
        columns.append(column.to_pylist())
    stamp: Any = RECORDED_AT.strftime("%Y-%m-%d %H:%M:%S.%f") if iso else RECORDED_AT
    residents = list(zip(*columns, strict=True))
    history = [(r[0], r[0], *r[1:], stamp) for r in residents]
    lg = frame.lg_code
    pool = [(r[2], lg, "issued", stamp) for r in residents]
    return residents, history, pool


def create_unindexed(engine: Engine) -> None:
    """The three tables with the same columns and keys but no secondary indexes."""
    with engine.begin() as conn:
        for table in (tables.residents, tables.resident_history, tables.resident_code_pool):
            conn.execute(CreateTable(table))


def baseline_sqlite(frame: PopulationFrame) -> float:
    rows = baseline_rows(frame, iso=True)
    with sqlite_engine("baseline.db", migrate=False) as engine:
        create_unindexed(engine)
        raw = sqlite3.connect(str(OUT / "baseline.db"), isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA cache_size=-262144")
        raw.execute("PRAGMA temp_store=MEMORY")
        items = ", ".join(REGISTER_COLUMNS)
        marks = ", ".join("?" * (len(REGISTER_COLUMNS) + 1))

        def run() -> None:
            raw.execute("BEGIN")
            raw.executemany(f"INSERT INTO residents (id, {items}) VALUES ({marks})", rows[0])
            raw.executemany(
                f"INSERT INTO resident_history (id, resident_id, {items}, recorded_at) "
                f"VALUES (?, {marks}, ?)",
                rows[1],
            )
            raw.executemany(
                "INSERT INTO resident_code_pool (resident_code, lg_code, state, state_changed_at) "
                "VALUES (?, ?, ?, ?)",
                rows[2],
            )
            raw.execute("COMMIT")

        seconds, _ = timed(run)
        raw.close()
    return seconds


def baseline_postgres(frame: PopulationFrame) -> float:
    rows = baseline_rows(frame, iso=False)
    with postgres_engine(migrate=False) as engine:
        create_unindexed(engine)
        items = ", ".join(REGISTER_COLUMNS)
        raw = engine.raw_connection()
        conn: Any = raw.driver_connection

        def run() -> None:
            with conn.cursor() as cur:
                targets = (
                    f"residents (id, {items})",
                    f"resident_history (id, resident_id, {items}, recorded_at)",
                    "resident_code_pool (resident_code, lg_code, state, state_changed_at)",
                )
                for target, data in zip(targets, rows, strict=True):
                    with cur.copy(f"COPY {target} FROM STDIN") as copy:
                        for row in data:
                            copy.write_row(row)
            conn.commit()

        seconds, _ = timed(run)
        raw.close()
    return seconds


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


def run(residents: int, lg_code: str, seed: int) -> str:
    warm, _ = timed(lambda: generate_population(lg_code, 1000, seed, as_of=AS_OF))
    print(f"reference data warm-up: {warm:.2f} s")
    gen_s, frame = timed(lambda: generate_population(lg_code, residents, seed, as_of=AS_OF))
    print(f"generation: {gen_s:.2f} s ({rate(residents, gen_s)}/s)")
    lines = []
    backends: list[tuple[str, Callable[[], Any], Callable[[PopulationFrame], float]]] = [
        ("SQLite", lambda: sqlite_engine("population.db"), baseline_sqlite),
        ("PostgreSQL", postgres_engine, baseline_postgres),
    ]
    for backend, engine_of, baseline in backends:
        with engine_of() as engine:

            def load(e: Engine = engine) -> int:
                return load_population(e, frame, recorded_at=RECORDED_AT)

            load_s, _ = timed(load)
        print(f"{backend} load: {load_s:.2f} s ({rate(residents, load_s)}/s)")
        with engine_of() as engine:

            def both(e: Engine = engine) -> int:
                people = generate_population(lg_code, residents, seed + 1, as_of=AS_OF)
                return load_population(e, people, recorded_at=RECORDED_AT)

            e2e_s, _ = timed(both)
        print(f"{backend} generate+load: {e2e_s:.2f} s ({rate(residents, e2e_s)}/s)")
        base_s = baseline(frame)
        print(f"{backend} baseline: {base_s:.2f} s ({rate(residents, base_s)}/s)")
        lines.append(
            f"| {backend} | {rate(residents, gen_s)} | {rate(residents, load_s)} | "
            f"{rate(residents, e2e_s)} | {rate(residents, base_s)} | "
            f"{base_s / load_s:.2f} | {base_s / e2e_s:.2f} |"
        )
    return "\n".join(
        [
            "## Synthetic population: generate and bulk-load",
            "",
            f"`bench/run population` — {residents:,} residents of {lg_code}, seed {seed}. "
            "Each resident is one `residents` row, one `resident_history` row and one "
            "`resident_code_pool` row. Figures are residents per second (higher is better); "
            '"ratio" is ours ÷ baseline in residents/s (≥ 0.5 means within 2× of the baseline; '
            "above 1 means faster). Goal: ≥ 100,000 residents/s, within 2× of the baseline.",
            "",
            "| database | generation | load | generate+load | baseline insert | "
            "ratio load | ratio generate+load |",
            "|---|---|---|---|---|---|---|",
            *lines,
            "",
            "Baseline: the same rows as prepared tuples (not timed), into tables with the same "
            "columns, primary and foreign keys but no secondary indexes — SQLite `executemany` "
            "in one transaction, PostgreSQL `COPY … FROM STDIN` with `write_row`. Ours: the "
            "migrated schema, indexes rebuilt after the load. SQLite: `executemany` with "
            "constants as literals and NULLs bound as a marker, history and pool rows by "
            "`INSERT … SELECT`, a rollback journal instead of WAL when the loader is alone on "
            "the file (no double write through the WAL). PostgreSQL: residents and pool rows "
            "by binary `COPY` encoded column-wise by pyarrow one batch ahead in a thread, "
            "history by `INSERT … SELECT`, the empty pool's primary key built after the load. "
            "Generate+load is sequential (generation, then load). "
            f"Reference data warm-up (towns, names; once per process): {warm:.1f} s, not counted.",
            "",
            WHERE_TIME_GOES,
            "",
            machine_line(),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--lg-code", default="131016")
    parser.add_argument("--seed", type=int, default=2014)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    section = run(args.residents, args.lg_code, args.seed)
    print(section)
    if not args.no_write:
        write_section("population", section)


if __name__ == "__main__":
    main()
