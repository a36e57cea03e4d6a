"""What every benchmark shares: the machine it ran on, and its own section of RESULTS.md."""

from __future__ import annotations

import os
import platform
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg

RESULTS = Path(__file__).parent / "RESULTS.md"
PG_ADMIN = os.environ.get("JUKINET_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def machine() -> dict[str, str]:
    """CPU, cores, memory and the versions that shape the figures."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    with psycopg.connect(PG_ADMIN) as admin:
        row = admin.execute("SHOW server_version").fetchone()
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": str(row[0]) if row else "?",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line() -> str:
    return "Machine: " + "; ".join(f"{k} {v}" for k, v in machine().items())


def write_section(name: str, section: str) -> None:
    """Replace the text between ``<!-- bench:NAME -->`` markers (or append the section)."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    body = f"{begin}\n{section.strip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + body + tail
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    RESULTS.write_text(text)
