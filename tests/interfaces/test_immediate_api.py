"""``POST /provision/immediate`` reads its own body: authentication first, then the body, then
the rules — one transaction for the request's nonce, audit entries, log row and counter (SQLite
and PostgreSQL national databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from jukinet.clock import FixedClock
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.deps import services_of
from jukinet.net.pki import RECIPIENTS_PURPOSE, NetworkPKI, NodeCredentials
from jukinet.net.request_signing import sign_request
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.store import audit as audit_store
from jukinet.store import provision as store
from jukinet.store.db import read_transaction
from tests.support.provision import (
    PENSION,
    first_affair,
    network_with_national_on,
    register_one_resident,
)

CLOCK = FixedClock(datetime(2014, 3, 31, 1, 0, tzinfo=UTC))
PATH = "/provision/immediate"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def network(tmp_path: Path, engine: Engine) -> Iterator[EmbeddedNetwork]:
    net = network_with_national_on(engine, tmp_path, CLOCK)
    yield net
    net.dispose()


@pytest.fixture
def creds(network: EmbeddedNetwork, tmp_path: Path) -> NodeCredentials:
    pki = NetworkPKI.load(tmp_path / "home" / "pki")
    return pki.issue_node(
        "recipient/jpf", "recipient", now=CLOCK.now(), purpose=RECIPIENTS_PURPOSE, recipient=PENSION
    )


def audited(network: EmbeddedNetwork) -> list[tuple[str, str, dict[str, Any]]]:
    """The national center's audit entries of provision (not of messages received)."""
    with read_transaction(network.national.engine) as conn:
        return [
            (e.action, e.outcome, json.loads(e.detail))
            for e in audit_store.iter_entries(conn)
            if e.action.startswith("provision.")
        ]


def test_a_malformed_body_is_refused_after_authentication(
    network: EmbeddedNetwork, creds: NodeCredentials
) -> None:
    client = TestClient(create_app(services_of(network.nodes, CLOCK)))
    body = b'{"affair_id": "X", "case_reference": "C", "resident_code": "abc"}'
    headers = {**sign_request(creds, "POST", PATH, body, now=CLOCK.now()), **JSON}
    answer = client.post(PATH, content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["field"], answer.json()["rule"]) == (
        "resident_code",
        "string_pattern_mismatch",
    )
    # authenticated before the body was judged: the nonce is spent, the decision recorded
    replay = client.post(PATH, content=body, headers=headers)
    assert (replay.status_code, replay.json()["rule"]) == (401, "replayed_nonce")
    assert [(a, o) for a, o, _ in audited(network)] == [
        ("provision.authenticate", "ok"),
        ("provision.authenticate", "refused"),
    ]
    broken = b'{"affair_id": '
    signed = {**sign_request(creds, "POST", PATH, broken, now=CLOCK.now()), **JSON}
    invalid = client.post(PATH, content=broken, headers=signed)
    assert (invalid.status_code, invalid.json()["rule"]) == (422, "json_invalid")
    assert client.post(PATH, headers=JSON).json()["rule"] == "not_authenticated"
    anonymous = client.post(PATH, content=broken, headers=JSON)  # who asks comes first
    assert (anonymous.status_code, anonymous.json()["rule"]) == (401, "not_authenticated")


def test_an_unknown_field_is_a_refusal_of_the_rules_and_audited(
    network: EmbeddedNetwork, creds: NodeCredentials
) -> None:
    code = register_one_resident(network)
    affair = first_affair(network.national.engine)
    client = TestClient(create_app(services_of(network.nodes, CLOCK)))
    query = {"affair_id": affair, "case_reference": "C", "resident_code": code}
    body = json.dumps({**query, "fields": ["name", "shoe_size"]}).encode()
    headers = {**sign_request(creds, "POST", PATH, body, now=CLOCK.now()), **JSON}
    answer = client.post(PATH, content=body, headers=headers)
    assert (answer.status_code, answer.json()["rule"]) == (422, "unknown_field")
    found = json.dumps({**query, "fields": ["name"]}).encode()
    headers = {**sign_request(creds, "POST", PATH, found, now=CLOCK.now()), **JSON}
    answer = client.post(PATH, content=found, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "outcome": "found",
        "record": {"name": "鈴木　一郎", "status": "active"},
    }
    assert [(a, o) for a, o, _ in audited(network)] == [
        ("provision.authenticate", "ok"),
        ("provision.immediate", "refused"),
        ("provision.authenticate", "ok"),
        ("provision.immediate", "ok"),
    ]
    [*_, (_, _, detail)] = audited(network)
    with read_transaction(network.national.engine) as conn:
        [row] = store.log_of_person(conn, code)
    assert detail["log_id"] == row.id
    metrics = client.get("/metrics").text
    assert (
        'jukinet_http_requests_total{method="POST",route="/provision/immediate",status="200"} 1.0'
        in metrics
    )


def test_openapi_documents_the_body_and_the_credential_headers(network: EmbeddedNetwork) -> None:
    client = TestClient(create_app(services_of(network.nodes, CLOCK)))
    operation = client.get("/openapi.json").json()["paths"][PATH]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"affair_id", "case_reference", "resident_code"} <= set(schema["properties"])
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {
        "jukinet-signature",
        "jukinet-certificate",
        "content-digest",
        "authorization",
    }
    assert {"200", "401", "403", "404", "422"} <= set(operation["responses"])
