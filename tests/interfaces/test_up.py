"""``jukinet up`` as a newcomer runs it: seeds, serves, and resumes on the same data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

RESIDENTS = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_up(home: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "JUKINET_HOME": str(home)}
    command = [
        str(Path(sys.executable).parent / "jukinet"),
        "up",
        "--port",
        str(port),
        "--residents",
        str(RESIDENTS),
        "--no-progress",
    ]
    log = (home.parent / "up.log").open("a")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"jukinet up exited: {log_text(home)}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("jukinet up did not answer /healthz in time")
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def log_text(home: Path) -> str:
    return (home.parent / "up.log").read_text()[-3000:]


def wait_for(predicate: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def test_up_seeds_serves_and_resumes(tmp_path: Path) -> None:
    home = tmp_path / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_up(home, port):
        health = httpx.get(f"{base}/healthz").json()
        assert {"national", "prefecture", "municipality/131016"} <= set(health["nodes"])
        found = httpx.get(
            f"{base}/municipalities/131016/residents", params={"address": "東京都千代田区"}
        ).json()
        assert len(found) == 50  # the default page of a seeded municipality
        code = found[0]["resident_code"]
        assert httpx.get(f"{base}/municipalities/131016/residents/{code}").status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "jukinet"
        assert "jukinet_http_requests_total" in httpx.get(f"{base}/metrics").text
    assert (home / "national.db").exists()
    assert len(list((home / "municipalities").glob("*.db"))) == 3
    with running_up(home, port):  # a restart resumes: same people, nobody seeded twice
        again = httpx.get(f"{base}/municipalities/131016/residents/{code}")
        assert again.status_code == 200
        assert again.json()[0]["current"]["resident_code"] == code
