"""Benchmark: changes across processes over HTTPS with mutual TLS, until visible nationally.

Three node processes (national, prefecture, a municipal host for 131016) as `jukinet serve`
runs them, each with its own SQLite database; this process registers births in the municipal
database (its serving process delivers them). Two runs: a steady rate (default 200 changes/s)
for the p50/p99 latency from the municipal commit to the national commit, and a burst as fast
as possible for changes/s. Results replace this benchmark's section of bench/RESULTS.md.

    .venv/bin/python -m bench.https [--rate 200] [--seconds 10] [--burst 2000] [--no-write]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from bench.report import machine_line, write_section
from jukinet.clock import SystemClock
from jukinet.domain.codes import draw_resident_codes
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import NewEntry
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NetworkPKI
from jukinet.services.municipal.network import MunicipalLink
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store import register as register_store
from jukinet.store.db import make_engine, read_transaction, sqlite_url
from jukinet.store.tables import national_identity_history, resident_history
from tests.nodes.procs import NodeProcess, configure_network, wait_until

LG = "131016"
NODE = f"municipality/{LG}"
GOAL_P99_S = 1.0


@contextmanager
def cluster(home: Path) -> Iterator[tuple[NetworkPKI, dict[str, NodeProcess]]]:
    processes = configure_network(home, [LG])
    pki = NetworkPKI.load(home / "pki")
    try:
        for p in processes.values():
            p.start()
        for p in processes.values():
            p.wait_ready(pki.credentials("national"), pki.trust_store())
        yield pki, processes
    finally:
        for p in processes.values():
            p.kill()


def count(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        return int(
            conn.execute(select(func.count()).select_from(national_identity_history)).scalar_one()
        )


def births(start: int, n: int) -> list[NewEntry]:
    day = date.today()
    return [
        NewEntry(ChangeReason.BIRTH, day, f"試験　{i}", day, Sex.FEMALE, f"東京都千代田区{i}番")
        for i in range(start, start + n)
    ]


def latencies(municipal: Engine, national: Engine, since: datetime) -> list[float]:
    with read_transaction(municipal) as conn:
        committed = dict(
            conn.execute(
                select(resident_history.c.resident_code, resident_history.c.recorded_at).where(
                    resident_history.c.recorded_at >= since
                )
            ).all()
        )
    with read_transaction(national) as conn:
        arrived = conn.execute(
            select(
                national_identity_history.c.resident_code, national_identity_history.c.received_at
            )
        ).all()
    return sorted((at - committed[c]).total_seconds() for c, at in arrived if c in committed)


def run(rate: float, seconds: float, burst: int) -> dict[str, float]:
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp, cluster(Path(tmp)) as (pki, _processes):
        home = Path(tmp)
        municipal = make_engine(sqlite_url(home / "municipality.db"))
        national = make_engine(sqlite_url(home / "national.db"))
        link = MunicipalLink(pki.credentials(NODE), Outbox(), clock)
        register = MunicipalRegister(municipal, LG, clock, notifier=link)
        steady_n = int(rate * seconds)
        # enough codes for both runs up front (standing in for pools from the national center)
        register.designate_codes(draw_resident_codes(random.Random(9), steady_n + burst + 300))
        with read_transaction(municipal) as conn:
            assert register_store.available_pool_size(conn, LG) >= steady_n + burst

        since = clock.now()
        start = time.perf_counter()
        for i, event in enumerate(births(0, steady_n)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            register.record(event)
        wait_until(lambda: count(national) >= steady_n, "steady changes at national")
        lat = latencies(municipal, national, since)

        before = count(national)
        burst_start = time.perf_counter()
        for event in births(steady_n, burst):
            register.record(event)
        recorded = time.perf_counter() - burst_start
        wait_until(lambda: count(national) >= before + burst, "burst changes at national")
        burst_elapsed = time.perf_counter() - burst_start
        municipal.dispose()
        national.dispose()
    return {
        "p50": statistics.median(lat),
        "p99": lat[max(0, int(len(lat) * 0.99) - 1)],
        "steady_n": steady_n,
        "burst_per_s": burst / burst_elapsed,
        "record_per_s": burst / recorded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    r = run(args.rate, args.seconds, args.burst)
    verdict = "met" if r["p99"] < GOAL_P99_S else "missed"
    p50, p99 = f"{r['p50'] * 1000:,.0f} ms", f"{r['p99'] * 1000:,.0f} ms"
    steady = f"p50 {p50}, p99 {p99} (goal p99 < 1 s: {verdict})"
    burst = (
        f"{r['burst_per_s']:,.0f} changes/s end to end "
        f"(registering alone {r['record_per_s']:,.0f}/s)"
    )
    section = f"""## Network over HTTPS: three processes, mutual TLS

`bench/run https --rate {args.rate:g} --seconds {args.seconds:g} --burst {args.burst}` — national,
prefecture and a municipal host (131016) as separate `jukinet serve` processes on loopback,
each with its own SQLite database; births registered in the municipal database travel
municipality → prefecture → national as sealed Ed25519 messages over HTTPS with mutual TLS.

| run | changes | result |
|---|---|---|
| steady {args.rate:g} changes/s | {r["steady_n"]:,.0f} | {steady} |
| burst, as fast as registered | {args.burst:,} | {burst} |

The delivery worker of a serving node polls its outbox every 50 ms when idle (rows written by
another process do not wake it), which bounds the added latency per hop.

{machine_line()}
"""
    print(section)
    if not args.no_write:
        write_section("https", section)


if __name__ == "__main__":
    main()
