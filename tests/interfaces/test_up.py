"""``jukinet up`` as a newcomer runs it: seeds, prints the demo operators' cards once, serves
to a logged-in operator, and resumes on the same data."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from jukinet.clock import SystemClock, today_in_japan
from tests.nodes.procs import wait_until

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


def log_text(home: Path, tail: int | None = 3000) -> str:
    text = (home.parent / "up.log").read_text()
    return text if tail is None else text[-tail:]


def wait_for(predicate: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def printed_card(home: Path, login: str) -> dict[str, str]:
    """The card number and password ``jukinet up`` printed for a demo operator."""
    found = re.search(
        rf"\s{re.escape(login)}\s+\S+\s+card (\S+)\s+password (\S+)", log_text(home, None)
    )
    assert found, f"no demo credentials for {login} in: {log_text(home)}"
    return {"card_number": found.group(1), "password": found.group(2)}


@contextmanager
def logged_in(base: str, card: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base) as client:
        response = client.post("/auth/legacy/login", json=card)
        assert response.status_code == 200, response.text
        yield client


def test_up_seeds_serves_and_resumes(tmp_path: Path) -> None:
    home = tmp_path / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_up(home, port):
        health = httpx.get(f"{base}/healthz").json()
        assert {"national", "prefecture", "municipality/131016"} <= set(health["nodes"])
        anonymous = httpx.get(f"{base}/municipalities/131016/residents", params={"name": "x"})
        assert anonymous.status_code == 401
        card = printed_card(home, "registrar-131016")
        with logged_in(base, card) as client:
            assert client.get("/auth/me").json()["organisation"] == "municipality/131016"
            found = client.get(
                "/municipalities/131016/residents", params={"address": "東京都千代田区"}
            ).json()
            assert len(found) == 50  # the default page of a seeded municipality
            code = found[0]["resident_code"]
            assert client.get(f"/municipalities/131016/residents/{code}").status_code == 200
            other = client.get("/municipalities/131130/residents", params={"name": "x"})
            assert other.status_code == 403 and other.json()["rule"] == "other_organisation"
        with logged_in(base, printed_card(home, "auditor-national")) as auditor:
            assert auditor.get("/network/status").status_code == 200
        # Tokyo's disclosure desk asks the national center over the network, and discloses
        with logged_in(base, printed_card(home, "disclosure-13")) as officer:
            person = found[0]
            asked = officer.post(
                "/disclosures/13/requests",
                json={
                    "received_on": today_in_japan(SystemClock()).isoformat(),
                    "request_method": "visit",
                    "delivery_method": "visit",
                    "requester_kind": "person",
                    "requester_name": person["name"],
                    "resident_code": code,
                    "name": person["name"],
                    "birth_date": person["birth_date"],
                    "evidence": ["drivers_licence"],
                },
            )
            assert asked.status_code == 201, asked.text
            assert asked.json()["refusal_reasons"] == []
            url = f"/disclosures/13/requests/{asked.json()['id']}"

            def answered() -> bool:
                question = officer.get(url).json()["provisions_question"]
                return str(question).startswith("answered by the national center")

            wait_until(answered, "the national center's answer at Tokyo's desk")
            decided = officer.post(f"{url}/decision", json={"decision": "disclose"})
            assert decided.status_code == 200, decided.text
            assert decided.json()["content"]["provisions"] == []  # never provided
        assert httpx.get(f"{base}/login").status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "jukinet"
        assert "jukinet_http_requests_total" in httpx.get(f"{base}/metrics").text
    assert (home / "national.db").exists()
    assert (home / "operators.db").exists()
    assert len(list((home / "municipalities").glob("*.db"))) == 3
    printed_once = log_text(home, None).count("password ")
    # a restart resumes: same people, nobody seeded twice, the same operators
    with running_up(home, port), logged_in(base, card) as client:
        again = client.get(f"/municipalities/131016/residents/{code}")
        assert again.status_code == 200
        assert again.json()[0]["current"]["resident_code"] == code
    assert log_text(home, None).count("password ") == printed_once  # not printed again
