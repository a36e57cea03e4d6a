"""``/disclosures/{office}``: every step over HTTP as the disclosure officer of the office, the
letters as PDFs, problem+json for bad input and illegal steps, the auditor's overdue list and
statistics, and a prefecture's desk isolated from other offices. The national center's
database runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from jukinet.domain.disclosure import EvidenceKind
from jukinet.domain.operators import Role
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import install_operator_service
from jukinet.interfaces.api.deps import services_of
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.operators import OperatorService
from jukinet.store import audit as audit_store
from jukinet.store.db import read_transaction
from tests.support.disclosure import (
    SUZUKI,
    TANAKA,
    World,
    build_national,
    clock,
    store_prefectural,
)
from tests.support.operators import add_card_operator, log_in, operator_directory
from tests.support.pdf import read_back
from tests.support.provision import national_record, network_with_national_on

CLOCK = clock()
BORN = date(1950, 5, 5)
NATIONAL = "national"
TOKYO = "prefecture/13"
OSAKA = "prefecture/27"


@pytest.fixture
def network(engine: Engine, tmp_path: Path) -> Iterator[EmbeddedNetwork]:
    net = network_with_national_on(engine, tmp_path, CLOCK)
    yield net
    net.dispose()


@pytest.fixture
def world(network: EmbeddedNetwork) -> World:
    assert network.national.files is not None
    built = build_national(network.national.engine, network.national.files, CLOCK)
    tokyo_copy = national_record(12, SUZUKI, birth_date=BORN, address="東京都千代田区1番")
    store_prefectural(network.prefecture.engine, "13", tokyo_copy, CLOCK)
    return built


@pytest.fixture
def operators(tmp_path: Path) -> OperatorService:
    service = operator_directory(CLOCK, home=tmp_path)
    for org in (NATIONAL, TOKYO, OSAKA):
        for role in (Role.DISCLOSURE_OFFICER, Role.AUDITOR, Role.REGISTRAR):
            add_card_operator(service, org, role)
    return service


@pytest.fixture
def app(network: EmbeddedNetwork, operators: OperatorService) -> FastAPI:
    application = create_app(services_of(network.nodes, CLOCK))
    install_operator_service(application, operators)
    return application


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def body(code: str, **kw: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "received_on": "2014-03-20",
        "request_method": "visit",
        "delivery_method": "visit",
        "requester_kind": "person",
        "requester_name": SUZUKI,
        "resident_code": code,
        "name": SUZUKI,
        "birth_date": BORN.isoformat(),
        "evidence": [EvidenceKind.DRIVERS_LICENCE.value],
    }
    values.update(kw)
    return values


def problem(response: Any, status: int, rule: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["rule"] == rule, document
    return document


def test_every_step_over_http_at_the_national_center(
    client: TestClient, world: World, network: EmbeddedNetwork
) -> None:
    log_in(client, NATIONAL, Role.DISCLOSURE_OFFICER)
    base = "/disclosures/national/requests"
    created = client.post(
        base,
        json=body(world.suzuki, delivery_method="mail", requester_address="東京都千代田区1番"),
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert (request["state"], request["due_on"], request["content"]) == (
        "received",
        "2014-04-03",
        None,
    )
    number = request["id"]
    decided = client.post(f"{base}/{number}/decision", json={"decision": "disclose"})
    assert decided.status_code == 200, decided.text
    content = decided.json()["content"]
    assert content["record"]["resident_code"] == world.suzuki
    assert {p["case_reference"] for p in content["provisions"]} == {"NK-2011-1", "NK-2013-9", "p1"}
    assert {p["method"] for p in content["provisions"]} == {"immediate", "batch_line"}
    text = decided.text
    for foreign in (world.tanaka, TANAKA, "TANAKA-ONLY"):
        assert foreign not in text
    letter = client.get(f"{base}/{number}/letter")
    assert letter.status_code == 200
    assert letter.headers["content-type"] == "application/pdf"
    assert letter.content[:5] == b"%PDF-"
    delivered = client.post(f"{base}/{number}/delivery", json={})
    assert delivered.json()["state"] == "delivered"
    problem(client.post(f"{base}/{number}/delivery", json={}), 409, "illegal_transition")
    correction = client.post(
        f"{base}/{number}/corrections", json={"item": "address", "claimed": "東京都千代田区2番"}
    )
    assert correction.status_code == 201, correction.text
    cid = correction.json()["id"]
    problem(client.get(f"{base}/{number}/corrections/{cid}/letter"), 409, "illegal_transition")
    answered = client.post(
        f"{base}/{number}/corrections/{cid}/answer",
        json={"outcome": "corrected", "findings": "千代田区が住所を訂正し、通知を受けました。"},
    )
    assert answered.json()["outcome"] == "corrected"
    answer_letter = client.get(f"{base}/{number}/corrections/{cid}/letter")
    assert answer_letter.content[:5] == b"%PDF-"
    shown = client.get(f"{base}/{number}").json()
    assert [c["state"] for c in shown["corrections"]] == ["answered"]
    listed = client.get(base, params={"state": "delivered"}).json()
    assert [r["id"] for r in listed] == [number]
    assert "requester_name" not in listed[0]  # the list carries no personal data
    with read_transaction(network.national.engine) as conn:
        actions = [e for e in audit_store.iter_entries(conn) if e.action.startswith("disclosure.")]
    assert {e.actor for e in actions} == {"operator:national-disclosure-officer"}
    assert [e.action for e in actions if e.outcome == "ok"] == [
        "disclosure.intake",
        "disclosure.decide",
        "disclosure.deliver",
        "disclosure.correction_request",
        "disclosure.correction_answer",
    ]


def test_refusals_and_bad_input(client: TestClient, world: World) -> None:
    log_in(client, NATIONAL, Role.DISCLOSURE_OFFICER)
    base = "/disclosures/national/requests"
    agent = client.post(
        base,
        json=body(world.suzuki, requester_kind="voluntary_agent", requester_name="代理　太郎"),
    )
    assert agent.status_code == 201
    assert (agent.json()["decision"], agent.json()["refusal_reasons"]) == (
        "refuse",
        ["not_entitled"],
    )
    assert agent.json()["content"] is None
    assert client.get(f"{base}/{agent.json()['id']}/letter").content[:5] == b"%PDF-"
    nobody = client.post(base, json=body("24727059608"))
    assert nobody.json()["refusal_reasons"] == ["person_not_found"]
    future = problem(
        client.post(base, json=body(world.suzuki, received_on="2014-04-01")),
        422,
        "future_date",
    )
    assert future["field"] == "received_on"
    problem(client.post(base, json=body("123")), 422, "string_pattern_mismatch")
    problem(client.get(f"{base}/999"), 404, "not_found")
    undecided = client.post(base, json=body(world.suzuki)).json()["id"]
    problem(client.get(f"{base}/{undecided}/letter"), 409, "illegal_transition")
    refusal = problem(
        client.post(f"{base}/{undecided}/decision", json={"decision": "refuse"}), 422, "required"
    )
    assert refusal["field"] == "refusal_reasons"
    problem(client.get("/disclosures/48/requests"), 422, "office")


def test_extending_the_decision_period_and_its_notice(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    log_in(client, NATIONAL, Role.DISCLOSURE_OFFICER)
    base = "/disclosures/national/requests"
    number = client.post(base, json=body(world.suzuki, received_on="2014-03-20")).json()["id"]
    problem(client.get(f"{base}/{number}/extension-notice"), 409, "not_extended")
    bad = problem(
        client.post(f"{base}/{number}/extension", json={"until": "2014-04-01", "reason": "x"}),
        422,
        "range",
    )
    assert bad["field"] == "until"
    reason = "全国センターの記録の確認に時間を要するため"
    extended = client.post(
        f"{base}/{number}/extension", json={"until": "2014-04-30", "reason": reason}
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["due_on"] == "2014-04-30"
    assert extended.json()["extension"] == {
        "until": "2014-04-30",
        "reason": reason,
        "notified_on": "2014-03-31",
    }
    again = client.post(f"{base}/{number}/extension", json={"until": "2014-05-01", "reason": "y"})
    problem(again, 409, "already_extended")
    notice = client.get(f"{base}/{number}/extension-notice")
    assert notice.status_code == 200 and notice.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "extension.pdf"
    pdf.write_bytes(notice.content)
    text = read_back(pdf)
    for expected in (
        "本人確認情報開示決定期限延長通知書",
        "住民基本台帳法第30条の38",
        "平成26年4月3日",  # the original deadline
        "平成26年4月30日",  # the new one
        "全国センターの記録の確認に時間を要するため",
        "財団法人地方自治情報センター",
    ):
        assert expected in text, expected


def test_auditors_see_deadlines_and_counts_but_no_request(client: TestClient, world: World) -> None:
    log_in(client, NATIONAL, Role.DISCLOSURE_OFFICER)
    base = "/disclosures/national/requests"
    late = client.post(base, json=body(world.suzuki, received_on="2014-03-10")).json()
    mailed = client.post(
        base,
        json=body(
            world.suzuki,
            request_method="mail",
            received_on="2013-03-01",
            evidence=["passport", "residence_certificate"],
        ),
    ).json()
    log_in(client, NATIONAL, Role.AUDITOR)
    overdue = client.get("/disclosures/national/overdue")
    assert overdue.status_code == 200
    assert [(r["id"], r["days_overdue"]) for r in overdue.json()] == [
        (mailed["id"], 381),  # received 2013-03-01, never decided
        (late["id"], 7),
    ]
    on_the_day = client.get("/disclosures/national/overdue", params={"on": "2014-03-24"})
    assert [r["id"] for r in on_the_day.json()] == [mailed["id"]]
    stats = client.get("/disclosures/national/statistics", params={"from": 2012, "to": 2013})
    assert stats.status_code == 200
    assert [
        (r["era_year"], r["request_visit"], r["request_mail"], r["total"]) for r in stats.json()
    ] == [
        ("平成24年度", 0, 1, 1),
        ("平成25年度", 1, 0, 1),
        ("合計", 1, 1, 2),
    ]
    problem(client.get(f"{base}/{late['id']}"), 403, "forbidden")
    problem(client.get(base), 403, "forbidden")
    log_in(client, NATIONAL, Role.REGISTRAR)
    problem(client.get("/disclosures/national/overdue"), 403, "forbidden")


def test_a_prefectures_desk(client: TestClient, world: World, network: EmbeddedNetwork) -> None:
    log_in(client, TOKYO, Role.DISCLOSURE_OFFICER)
    created = client.post("/disclosures/13/requests", json=body(world.suzuki))
    assert created.status_code == 201, created.text
    number = created.json()["id"]
    assert created.json()["office"] == "13"
    assert created.json()["provisions_question"].startswith("waiting for the national center")
    early = client.post(
        f"/disclosures/13/requests/{number}/decision", json={"decision": "disclose"}
    )
    problem(early, 409, "provisions_pending")
    network.drain()  # the question reaches the national center; its answer comes back
    shown = client.get(f"/disclosures/13/requests/{number}").json()
    assert shown["provisions_question"].startswith("answered by the national center")
    decided = client.post(
        f"/disclosures/13/requests/{number}/decision", json={"decision": "disclose"}
    )
    content = decided.json()["content"]
    assert content["record"]["address"] == "東京都千代田区1番"  # Tokyo's own copy
    assert content["provisions_held_by"] == "全国センター"
    assert {p["case_reference"] for p in content["provisions"]} == {"NK-2011-1", "NK-2013-9", "p1"}
    assert content["provisions_as_of"] == "2014-03-31"
    assert client.get(f"/disclosures/13/requests/{number}/letter").content[:5] == b"%PDF-"
    again = client.post(f"/disclosures/13/requests/{number}/provision-question")
    problem(again, 409, "not_awaiting_decision")
    problem(client.get("/disclosures/national/requests"), 403, "other_organisation")
    problem(client.get("/disclosures/27/requests"), 403, "other_organisation")
    log_in(client, OSAKA, Role.DISCLOSURE_OFFICER)
    problem(client.get(f"/disclosures/27/requests/{number}"), 404, "not_found")
    at_osaka = client.post("/disclosures/27/requests", json=body(world.suzuki))
    assert at_osaka.json()["refusal_reasons"] == ["person_not_found"]  # not Osaka's resident
    log_in(client, NATIONAL, Role.DISCLOSURE_OFFICER)
    assert client.get("/disclosures/national/requests").json() == []


def test_openapi_declares_every_status_and_the_pdf(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    decision = paths["/disclosures/{office}/requests/{request_id}/decision"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(decision)
    letter = paths["/disclosures/{office}/requests/{request_id}/letter"]["get"]["responses"]
    assert "application/pdf" in letter["200"]["content"]
    intake = paths["/disclosures/{office}/requests"]["post"]["responses"]
    assert {"201", "401", "403", "404", "422"} <= set(intake)
