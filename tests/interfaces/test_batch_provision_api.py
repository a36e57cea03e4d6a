"""Batch provision over the line through the real API of an embedded network (SQLite and
PostgreSQL national databases): submit, status, result, re-submission, refusals."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from jukinet.clock import FixedClock
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.deps import services_of
from jukinet.interfaces.cli.app import app
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.national.provision import ProvisionService
from jukinet.store import provision as store
from jukinet.store.db import read_transaction
from tests.support.provision import PENSION, network_with_national_on, register_one_resident

CLOCK = FixedClock(datetime(2014, 3, 31, 1, 0, tzinfo=UTC))


@pytest.fixture
def network(tmp_path: Path, engine: Engine) -> Iterator[EmbeddedNetwork]:
    net = network_with_national_on(engine, tmp_path, CLOCK)
    yield net
    net.dispose()


def _wait_until_finished(client: TestClient, location: str, auth: dict[str, str]) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(location, headers=auth).json()
        if job["status"] in {"done", "failed"}:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {location} did not finish")


def test_batch_provision_over_the_line(network: EmbeddedNetwork) -> None:
    code = register_one_resident(network)
    service = ProvisionService(network.national.engine, CLOCK)
    key = service.issue_key(PENSION)
    other_key = service.issue_key("地方公務員共済組合")
    with read_transaction(network.national.engine) as conn:
        affair = store.affairs_of(conn, PENSION)[0].affair_id
    client = TestClient(create_app(services_of(network.nodes, CLOCK)))
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
    data = (
        "row_id,resident_code,name,birth_date,sex,address\n"
        f"a,{code},,,,\n"
        "b,,鈴木一郎,2014-01-05,,\n"
        "c,,山田,2014-01-05,,\n"
        "d,,山田,2014-02-30,,\n"
    ).encode()
    params = {"affair_id": affair}

    assert client.post("/provision/batch", params=params, content=data).status_code == 401
    created = client.post("/provision/batch", params=params, content=data, headers=auth)
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "queued"
    location = created.headers["location"]
    not_yet = client.get(f"{location}/result", headers=auth)
    assert (not_yet.status_code, not_yet.json()["type"].rsplit("/", 1)[-1]) == (409, "job_not_done")
    network.start(heartbeat_seconds=60)  # the national center's batch worker takes the job
    try:
        job = _wait_until_finished(client, location, auth)
    finally:
        network.stop()
    assert (job["status"], job["total_rows"], job["provided_rows"], job["invalid_rows"]) == (
        "done",
        4,
        2,
        1,
    )
    again = client.post("/provision/batch", params=params, content=data, headers=auth)
    assert again.status_code == 200
    assert (again.json()["job_id"], again.json()["duplicate"]) == (job["job_id"], True)

    status = client.get(f"/provision/batch/{job['job_id']}", headers=auth)
    assert status.status_code == 200
    assert status.json()["processed_rows"] == 4
    result = client.get(f"/provision/batch/{job['job_id']}/result", headers=auth)
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(result.text)))
    assert [(r["row_id"], r["line"], r["outcome"], r["reason"]) for r in rows] == [
        ("a", "2", "found", ""),
        ("b", "3", "found", ""),
        ("c", "4", "not_found", ""),
        ("d", "5", "invalid", "birth_date:invalid"),
    ]
    assert rows[0]["name"] == "鈴木　一郎"

    # another recipient cannot see the job; unknown jobs are 404 alike
    other = {"Authorization": f"Bearer {other_key}"}
    assert client.get(f"/provision/batch/{job['job_id']}", headers=other).status_code == 404
    assert client.get(f"/provision/batch/{job['job_id']}/result", headers=other).status_code == 404
    assert client.get("/provision/batch/nope", headers=auth).status_code == 404

    refused = client.post(
        "/provision/batch", params={"affair_id": "SOUMU-ONKYU-1"}, content=data, headers=auth
    )
    assert (refused.status_code, refused.json()["rule"]) == (403, "affair_not_listed")
    bad = client.post("/provision/batch", params=params, content=b"\xff\xfe", headers=auth)
    assert (bad.status_code, bad.json()["field"], bad.json()["rule"]) == (422, "file", "encoding")
    xml = {**auth, "Content-Type": "application/xml"}
    assert (
        client.post("/provision/batch", params=params, content=data, headers=xml).status_code == 415
    )

    with read_transaction(network.national.engine) as conn:
        assert store.counts(conn) == [(PENSION, affair, "2014-03", "batch_line", 2)]


def test_import_media_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUKINET_HOME", str(tmp_path / "var"))
    media = tmp_path / "media"
    media.mkdir()
    (media / "req.csv").write_text(
        "row_id,resident_code,name,birth_date,sex,address\na,,山田,2014-01-05,,\nb,,山田,bad,,\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    args = ["provision", "import-media", str(media), "--recipient", PENSION, "--affair"]
    affair = "NENKIN-1"
    first = runner.invoke(app, [*args, affair])
    assert first.exit_code == 0, first.output
    assert "2 rows, 0 provided, 1 invalid" in first.stdout
    rows = list(csv.DictReader(io.StringIO((media / "req.result.csv").read_text("utf-8"))))
    assert [(r["row_id"], r["outcome"]) for r in rows] == [("a", "not_found"), ("b", "invalid")]
    again = runner.invoke(app, [*args, affair])
    assert again.exit_code == 0, again.output
    assert "submitted before" in again.stdout
    refused = runner.invoke(app, [*args, "SOUMU-ONKYU-1"])
    assert refused.exit_code == 1
