"""POST /provision/immediate through the real API of an embedded network (SQLite and
PostgreSQL national databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from jukinet.clock import FixedClock
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.deps import services_of
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


def test_immediate_provision_through_the_api(network: EmbeddedNetwork) -> None:
    code = register_one_resident(network)
    service = ProvisionService(network.national.engine, CLOCK)
    key = service.issue_key(PENSION)
    with read_transaction(network.national.engine) as conn:
        affair = store.affairs_of(conn, PENSION)[0].affair_id
    client = TestClient(create_app(services_of(network.nodes, CLOCK)))
    auth = {"Authorization": f"Bearer {key}"}
    body = {"affair_id": affair, "case_reference": "CASE-9", "resident_code": code}

    assert client.post("/provision/immediate", json=body).status_code == 401
    found = client.post("/provision/immediate", json=body, headers=auth)
    assert found.status_code == 200, found.text
    assert found.json()["outcome"] == "found"
    assert found.json()["record"]["name"] == "鈴木　一郎"

    by_items = {
        "affair_id": affair,
        "case_reference": "C",
        "name": "鈴木一郎",
        "birth_date": "2014-01-05",
    }
    assert (
        client.post("/provision/immediate", json=by_items, headers=auth).json()["outcome"]
        == "found"
    )
    missing = {**by_items, "name": "山田"}
    assert client.post("/provision/immediate", json=missing, headers=auth).json() == {
        "outcome": "not_found",
        "record": None,
    }

    refused = client.post(
        "/provision/immediate", json={**body, "fields": ["name_kana"]}, headers=auth
    )
    assert refused.status_code == 403
    assert (refused.json()["field"], refused.json()["rule"]) == ("fields", "field_not_allowed")
    other = client.post(
        "/provision/immediate", json={**body, "affair_id": "SOUMU-ONKYU-1"}, headers=auth
    )
    assert (other.status_code, other.json()["rule"]) == (403, "affair_not_listed")
    no_ref = client.post("/provision/immediate", json={**body, "case_reference": " "}, headers=auth)
    assert (no_ref.status_code, no_ref.json()["field"]) == (422, "case_reference")

    with read_transaction(network.national.engine) as conn:
        assert store.counts(conn) == [(PENSION, affair, "2014-03", "immediate", 2)]
