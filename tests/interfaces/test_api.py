"""The HTTP API of a municipal host: OpenAPI, problem+json errors, health and metrics, and
the register read only by operators of its municipality."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jukinet.clock import FixedClock
from jukinet.domain.codes import draw_resident_codes
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.operators import Role
from jukinet.domain.register import ItemChange, NewEntry
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import install_operator_service
from jukinet.interfaces.api.deps import services_of
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from tests.support.operators import add_card_operator, log_in, operator_directory

CLOCK = FixedClock(datetime(2014, 3, 31, tzinfo=UTC))
CHIYODA, SHIBUYA, OSAKA = "municipality/131016", "municipality/131130", "municipality/271004"


@pytest.fixture
def network(tmp_path: Path) -> Iterator[EmbeddedNetwork]:
    net = build_embedded(tmp_path, CLOCK, ["131016", "131130"])
    yield net
    net.dispose()


@pytest.fixture
def client(network: EmbeddedNetwork, tmp_path: Path) -> TestClient:
    """Logged in as a registrar of 千代田区 (131016)."""
    registers = {lg: r for m in network.municipal for lg, r in m.registers.items()}
    app = create_app(services_of(network.nodes, CLOCK, registers))
    operators = operator_directory(CLOCK, home=tmp_path)
    for org in (CHIYODA, SHIBUYA, OSAKA):
        add_card_operator(operators, org, Role.REGISTRAR)
    install_operator_service(app, operators)
    test_client = TestClient(app)
    log_in(test_client, CHIYODA, Role.REGISTRAR)
    return test_client


def seed_one(network: EmbeddedNetwork) -> str:
    reg = network.municipality("131016").register("131016")
    reg.designate_codes(draw_resident_codes(random.Random(3), 2))
    code = reg.record(
        NewEntry(
            ChangeReason.BIRTH,
            date(2014, 1, 5),
            "鈴木　一郎",
            date(2014, 1, 5),
            Sex.MALE,
            "東京都千代田区丸の内1丁目1番",
        )
    ).resident_code
    assert code is not None  # a birth always draws a code from the pool
    reg.record(
        ItemChange(ChangeReason.MOVE_WITHIN, date(2014, 2, 1), address="東京都千代田区麹町2番"),
        code,
    )
    return code


def test_show_resident_with_history(client: TestClient, network: EmbeddedNetwork) -> None:
    code = seed_one(network)
    response = client.get(f"/municipalities/131016/residents/{code}")
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["current"]["address"] == "東京都千代田区麹町2番"
    assert entry["current"]["birth_date_era"] == "平成26年1月5日"
    assert [v["entry"]["change_reason"] for v in entry["history"]] == ["birth", "move_within"]


def test_search_and_isolation(client: TestClient, network: EmbeddedNetwork) -> None:
    code = seed_one(network)
    hits = client.get("/municipalities/131016/residents", params={"name": "鈴木 一郎"}).json()
    assert [h["resident_code"] for h in hits] == [code]
    other = client.get("/municipalities/131130/residents", params={"name": "鈴木"})
    assert other.status_code == 403
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["rule"] == "other_organisation"
    assert "municipality/131130" in other.json()["detail"]
    log_in(client, SHIBUYA, Role.REGISTRAR)
    assert client.get("/municipalities/131130/residents", params={"name": "鈴木"}).json() == []
    assert client.get(f"/municipalities/131130/residents/{code}").status_code == 404
    refused = client.get(f"/municipalities/131016/residents/{code}")
    assert refused.status_code == 403 and refused.json()["rule"] == "other_organisation"


def test_no_session_is_401_problem_json(client: TestClient, network: EmbeddedNetwork) -> None:
    code = seed_one(network)
    client.cookies.clear()
    for path in ("/municipalities/131016/residents", f"/municipalities/131016/residents/{code}"):
        response = client.get(path, params={"name": "鈴木"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["rule"] == "not_authenticated"


def test_errors_are_problem_json_naming_the_field(client: TestClient) -> None:
    missing = client.get("/municipalities/131016/residents/24727059608")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["field"] == "resident_code"
    log_in(client, OSAKA, Role.REGISTRAR)  # an operator of a municipality not hosted here
    not_hosted = client.get("/municipalities/271004/residents", params={"name": "x"})
    assert not_hosted.status_code == 404 and not_hosted.json()["rule"] == "not_hosted"
    log_in(client, CHIYODA, Role.REGISTRAR)
    bad_date = client.get("/municipalities/131016/residents", params={"birth_date": "2014-02-30"})
    assert bad_date.status_code == 422 and bad_date.json()["field"] == "birth_date"
    no_query = client.get("/municipalities/131016/residents")
    assert no_query.status_code == 422 and no_query.json()["field"] == "query"


def test_health_metrics_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "nodes": ["municipality/131016", "municipality/131130", "national", "prefecture"],
    }
    client.get("/healthz")
    metrics = client.get("/metrics").text
    assert 'jukinet_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in metrics
    spec = client.get("/openapi.json").json()
    assert "/municipalities/{lg_code}/residents/{resident_code}" in spec["paths"]
    responses = spec["paths"]["/municipalities/{lg_code}/residents/{resident_code}"]["get"][
        "responses"
    ]
    assert {"200", "401", "403", "404", "422"} <= set(responses)
