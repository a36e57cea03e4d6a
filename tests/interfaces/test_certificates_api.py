"""The wide-area certificate routes of a municipal host and the revocation feed of the national
center, through the HTTP API of an embedded network."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jukinet.clock import FixedClock
from jukinet.domain.affairs import RecipientKind
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.operators import Role
from jukinet.domain.register import ItemChange, NewEntry, RegisterEntry
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import install_operator_service
from jukinet.interfaces.api.deps import services_of
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.national.provision import ProvisionService
from tests.support.operators import add_card_operator, log_in, operator_directory
from tests.support.provision import PENSION

CHIYODA, KAMAKURA = "131016", "142042"
COUNTER = f"municipality/{KAMAKURA}"
BASE = f"/municipalities/{KAMAKURA}/wide-area-certificates"
CA = "公的個人認証サービス"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2014, 3, 3, 1, 0, tzinfo=UTC))


@pytest.fixture
def network(tmp_path: Path, clock: FixedClock) -> Iterator[EmbeddedNetwork]:
    net = build_embedded(tmp_path / "var", clock, [CHIYODA, KAMAKURA])
    for m in net.municipal:
        m.request_initial_pools()
    net.drain()
    yield net
    net.dispose()


@pytest.fixture
def client(network: EmbeddedNetwork, clock: FixedClock, tmp_path: Path) -> TestClient:
    """Logged in as a certificate clerk of 鎌倉市."""
    registers = {lg: r for m in network.municipal for lg, r in m.registers.items()}
    certificates = {lg: c for m in network.municipal for lg, c in m.certificates.items()}
    app = create_app(services_of(network.nodes, clock, registers, certificates))
    operators = operator_directory(clock, home=tmp_path)
    add_card_operator(operators, COUNTER, Role.CERTIFICATE_CLERK)
    install_operator_service(app, operators)
    test_client = TestClient(app)
    log_in(test_client, COUNTER, Role.CERTIFICATE_CLERK)
    return test_client


def resident(network: EmbeddedNetwork) -> RegisterEntry:
    register = network.municipality(CHIYODA).register(CHIYODA)
    person = register.record(
        NewEntry(
            ChangeReason.MOVE_IN_FROM_ABROAD,
            date(2013, 4, 1),
            "鈴木　一郎",
            date(1960, 1, 2),
            Sex.MALE,
            "東京都千代田区丸の内1番",
            registered_domicile="東京都千代田区千代田1番",
        )
    )
    network.drain()
    return person


def request_body(person: RegisterEntry, **kw: object) -> dict[str, object]:
    return {
        "home_lg_code": CHIYODA,
        "requester_resident_code": person.resident_code,
        "requester_name": person.name,
        "requester_birth_date": person.birth_date.isoformat(),
        "identity_document": "運転免許証",
        **kw,
    }


def test_request_follow_and_print(client: TestClient, network: EmbeddedNetwork) -> None:
    person = resident(network)
    created = client.post(BASE, json=request_body(person))
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "pending"
    assert created.json()["state"] == "pending: queued for municipality/131016"
    number = created.json()["number"]
    not_yet = client.get(f"{BASE}/{number}/certificate.pdf")
    assert not_yet.status_code == 409
    assert not_yet.headers["content-type"] == "application/problem+json"
    assert not_yet.json()["rule"] == "not_issued"

    network.drain()
    shown = client.get(f"{BASE}/{number}").json()
    assert (shown["status"], shown["fee_yen"], shown["issued_on_era"]) == (
        "issued",
        300,
        "平成26年3月3日",
    )
    assert shown["requested_by"] == "operator:" + COUNTER.replace("/", "-") + "-certificate-clerk"
    pdf = client.get(f"{BASE}/{number}/certificate.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content[:5] == b"%PDF-"
    assert [r["number"] for r in client.get(BASE, params={"status": "issued"}).json()] == [number]
    assert client.get(BASE, params={"status": "pending"}).json() == []
    cancelled = client.post(f"{BASE}/{number}/cancel")
    assert cancelled.status_code == 409 and cancelled.json()["rule"] == "already_answered"


def test_refusal_and_unreachable_home(
    client: TestClient, network: EmbeddedNetwork, clock: FixedClock
) -> None:
    person = resident(network)
    stranger = {**request_body(person), "requester_name": "別人　花子"}
    refused = client.post(BASE, json=stranger).json()["number"]
    network.drain()
    shown = client.get(f"{BASE}/{refused}").json()
    assert shown["status"] == "refused"
    assert shown["refusal"]["rule"] == "identity_mismatch"

    network.transport.down.add(f"municipality/{CHIYODA}")
    pending = client.post(BASE, json=request_body(person)).json()["number"]
    network.drain()
    shown = client.get(f"{BASE}/{pending}").json()
    assert shown["status"] == "pending"
    assert shown["delivery"]["attempts"] >= 1
    assert "unreachable" in shown["delivery"]["last_error"]
    assert "not reached" in shown["state"]
    assert [r["number"] for r in client.get(BASE, params={"status": "pending"}).json()] == [pending]
    assert client.post(f"{BASE}/{pending}/cancel").json()["status"] == "cancelled"
    network.transport.down.clear()
    clock.advance(timedelta(minutes=5))
    network.drain()
    assert client.get(f"{BASE}/{pending}").json()["status"] == "cancelled"


def test_bad_requests_are_problems(client: TestClient, network: EmbeddedNetwork) -> None:
    person = resident(network)
    same = client.post(BASE, json=request_body(person, home_lg_code=KAMAKURA))
    assert same.status_code == 422
    assert (same.json()["field"], same.json()["rule"]) == ("home_lg_code", "same_municipality")
    malformed = client.post(BASE, json=request_body(person, requester_resident_code="123"))
    assert malformed.status_code == 422
    assert client.get(f"{BASE}/99").status_code == 404
    assert client.get(BASE).json() == []
    other = client.get(f"/municipalities/{CHIYODA}/wide-area-certificates")
    assert other.status_code == 403 and other.json()["rule"] == "other_organisation"


def test_revocation_feed_for_a_certificate_authority(
    network: EmbeddedNetwork, clock: FixedClock
) -> None:
    person = resident(network)
    assert person.resident_code is not None
    register = network.municipality(CHIYODA).register(CHIYODA)
    register.record(
        ItemChange(ChangeReason.MOVE_WITHIN, date(2014, 3, 1), address="東京都千代田区神田2番"),
        person.resident_code,
    )
    register.record(
        ItemChange(ChangeReason.NAME_CHANGE, date(2014, 3, 2), name="鈴木　壱郎"),
        person.resident_code,
    )
    network.drain()
    provision = ProvisionService(network.national.engine, clock)
    provision.seed()
    provision.add_recipient(CA, RecipientKind.CERTIFICATE_AUTHORITY.value, "test")
    ca = {"Authorization": f"Bearer {provision.issue_key(CA)}"}
    pension = {"Authorization": f"Bearer {provision.issue_key(PENSION)}"}
    client = TestClient(create_app(services_of(network.nodes, clock)))

    assert client.get("/revocation-feed").status_code == 401
    other = client.get("/revocation-feed", headers=pension)
    assert other.status_code == 403 and other.json()["rule"] == "not_a_certificate_authority"
    first = client.get("/revocation-feed", params={"limit": 1}, headers=ca)
    assert first.status_code == 200, first.text
    page = first.json()
    [notice] = page["notices"]
    assert (notice["resident_code"], notice["causes"], notice["change_reason"]) == (
        person.resident_code,
        ["address_change"],
        "move_within",
    )
    assert notice["lg_code"] == CHIYODA and page["more"] is True
    rest = client.get("/revocation-feed", params={"after": page["next_cursor"]}, headers=ca).json()
    assert [n["causes"] for n in rest["notices"]] == [["name_change"]]
    assert rest["more"] is False
    caught_up = client.get(
        "/revocation-feed", params={"after": rest["next_cursor"]}, headers=ca
    ).json()
    assert caught_up == {"notices": [], "next_cursor": rest["next_cursor"], "more": False}
    assert client.get("/revocation-feed", params={"after": -1}, headers=ca).status_code == 422
