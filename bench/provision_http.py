"""Benchmark: immediate provision over HTTP (``POST /provision/immediate``), 16 clients.

A national center holding a synthetic population (loaded at a municipality and uploaded
through the embedded network, drained) is served by the real application (``create_app``,
one uvicorn worker, plain HTTP on 127.0.0.1) in a subprocess; 16 concurrent clients (threads,
one ``httpx.Client`` each, in this process) ask for random resident codes of the loaded set,
for a fixed duration after a warm-up. Baseline in the same run: a minimal ASGI endpoint, served
the same way, doing the same primary-key lookup on the same SQLite file and answering JSON.
Results replace this benchmark's section of bench/RESULTS.md.

    .venv/bin/python -m bench.provision_http [--residents 20000] [--seconds 10] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select

from bench.report import machine_line, write_section
from jukinet.clock import SystemClock
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.deps import AppServices
from jukinet.nodes.demo import load_and_upload
from jukinet.nodes.embedded import build_embedded
from jukinet.ops.logging import configure_logging
from jukinet.services.national.provision import ProvisionService
from jukinet.store import provision as store
from jukinet.store.db import make_engine, read_transaction, sqlite_url
from jukinet.store.tables import national_identity_records

LG = "131016"
RECIPIENT = "日本年金機構"
CLIENTS = 16
GOAL_PER_S = 1500
GOAL_P99_MS = 20.0
BASELINE_COLUMNS = (
    "resident_code, lg_code, name, birth_date, sex, address, change_reason, change_date"
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# --- servers (run in a subprocess: ``--serve ours|baseline``) ----------------------------------


def baseline_app(db: Path) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A plain ASGI app: read the JSON body, one primary-key SELECT, answer JSON."""
    conn = sqlite3.connect(db, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    query = f"SELECT {BASELINE_COLUMNS} FROM national_identity_records WHERE resident_code = ?"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        code = json.loads(body or b"{}").get("resident_code") if body else None
        row = conn.execute(query, (code,)).fetchone() if code else None
        out = {"outcome": "found", "record": dict(row)} if row else {"outcome": "not_found"}
        payload = json.dumps(out, ensure_ascii=False).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def serve(kind: str, db: Path, port: int) -> None:
    app: Any
    if kind == "ours":
        configure_logging()  # as `jukinet serve` does
        engine = make_engine(sqlite_url(db))
        clock = SystemClock()
        app = create_app(AppServices(clock=clock, engines=[engine], national_engine=engine))
    else:
        app = baseline_app(db)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(kind: str, db: Path) -> Iterator[str]:
    """Serve ``kind`` in a subprocess; its stderr (the JSON log, as in production) to a file."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.provision_http", "--serve", kind, "--db", str(db)]
    log_path = db.with_name(f"{kind}.log")
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(url + "/", timeout=1)
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err = log_path.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"{kind} server did not start: {err}") from None
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


# --- load ------------------------------------------------------------------------------------


def load(
    url: str, headers: dict[str, str], body: dict[str, str], codes: list[str], args: Any
) -> dict[str, float]:
    """16 clients for warm-up + measured seconds; figures over the measured window only."""
    start = time.perf_counter()
    measure_from = start + args.warmup
    stop = measure_from + args.seconds
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors = [0] * CLIENTS

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
            while (t0 := time.perf_counter()) < stop:
                response = http.post(
                    "/provision/immediate", json={**body, "resident_code": rng.choice(codes)}
                )
                t1 = time.perf_counter()
                ok = response.status_code == 200 and response.json()["outcome"] == "found"
                if t0 >= measure_from and t1 <= stop:
                    latencies[i].append(t1 - t0)
                    errors[i] += 0 if ok else 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = sorted(x for per in latencies for x in per)
    return {
        "requests": len(lat),
        "per_s": len(lat) / args.seconds,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
        "errors": sum(errors),
    }


def prepare(home: Path, residents: int) -> tuple[Path, str, str, list[str], float]:
    """Load and upload the population, drain; a recipient key and an affair of its own."""
    network = build_embedded(home, SystemClock(), [LG])
    try:
        started = time.perf_counter()
        load_and_upload(network, LG, residents, seed=16)
        network.drain(max_rounds=100_000)
        loaded_s = time.perf_counter() - started
        engine = network.national.engine
        key = ProvisionService(engine, network.national.clock).issue_key(RECIPIENT)
        with read_transaction(engine) as conn:
            affair = store.affairs_of(conn, RECIPIENT)[0].affair_id
            codes = list(conn.execute(select(national_identity_records.c.resident_code)).scalars())
        url = engine.url.database
    finally:
        network.dispose()
    if len(codes) < residents:
        raise RuntimeError(
            f"only {len(codes)} of {residents} residents reached the national center"
        )
    assert url is not None
    return Path(url), key, affair, codes, loaded_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--serve", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.port)
        return

    with tempfile.TemporaryDirectory() as tmp:
        db, key, affair, codes, loaded_s = prepare(Path(tmp) / "home", args.residents)
        headers = {"Authorization": f"Bearer {key}"}
        body = {"affair_id": affair, "case_reference": "BENCH-1"}
        with server("baseline", db) as url:
            base = load(url, headers, body, codes, args)
        with server("ours", db) as url:
            ours = load(url, headers, body, codes, args)

    met_rate = ours["per_s"] >= GOAL_PER_S
    met_p99 = ours["p99_ms"] < GOAL_P99_MS
    verdict = "met" if met_rate and met_p99 else "not met"
    section = f"""## Immediate provision over HTTP: 16 clients

`bench/run provision_http --residents {args.residents}` — {len(codes):,} residents of {LG}
loaded at the municipality and uploaded through the embedded network ({loaded_s:.1f} s,
drained); the national SQLite file is then served by the real application (`create_app`,
`POST /provision/immediate`, recipient {RECIPIENT} with its bearer credential) under uvicorn,
one worker, plain HTTP on 127.0.0.1, in its own process. {CLIENTS} client threads (one
`httpx.Client` each, in the benchmark process) ask for random resident codes of the loaded set:
{args.warmup:g} s warm-up, then {args.seconds:g} s measured. Baseline in the same run: a
minimal ASGI endpoint served the same way doing the same primary-key lookup
(`SELECT … FROM national_identity_records WHERE resident_code = ?`) on the same file and
answering JSON (no authentication, no rules, no provision log or audit). Goal: ≥ {GOAL_PER_S:,}
requests/s with p99 < {GOAL_P99_MS:g} ms.

| endpoint | requests | requests/s | p50 | p99 | errors |
|---|---|---|---|---|---|
| ours: `POST /provision/immediate` | {ours["requests"]:,.0f} | {ours["per_s"]:,.0f} | \
{ours["p50_ms"]:.1f} ms | {ours["p99_ms"]:.1f} ms | {ours["errors"]:.0f} |
| baseline: minimal ASGI PK lookup | {base["requests"]:,.0f} | {base["per_s"]:,.0f} | \
{base["p50_ms"]:.1f} ms | {base["p99_ms"]:.1f} ms | {base["errors"]:.0f} |

Ratio ours ÷ baseline: {ours["per_s"] / base["per_s"]:.3f} (requests/s),
{ours["p99_ms"] / base["p99_ms"]:.1f}× the baseline's p99. Goal {verdict}
(requests/s {"met" if met_rate else "not met"}, p99 {"met" if met_p99 else "not met"}).
Clients and server share this machine's cores, so the baseline's figure is also bounded by the
clients; every answered request of ours is a write transaction (provision log, counts, audit).

{machine_line()}
"""
    print(section)
    if not args.no_write:
        write_section("provision_http", section)


if __name__ == "__main__":
    main()
