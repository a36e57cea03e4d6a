"""The operators' HTTP API: WebAuthn ceremonies, the legacy card, cookies, lockout as 429,
session expiry, and authorisation by role over the permission table (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from jukinet.clock import FixedClock
from jukinet.domain.operators import PERMISSIONS, Action, Role
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import (
    SESSION_COOKIE,
    install_operator_service,
    require_permission,
)
from jukinet.interfaces.api.deps import services_of
from jukinet.interfaces.webauthn import PyWebAuthn, RelyingParty
from jukinet.services.operators import OperatorService
from tests.support.soft_authenticator import SoftAuthenticator

ORIGIN = "http://localhost:8000"
ORG = "municipality/131016"
PASSWORD = "correct horse"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2014, 3, 31, 1, 0, tzinfo=UTC))


@pytest.fixture
def service(engine: Engine, clock: FixedClock) -> OperatorService:
    svc = OperatorService(
        engine, clock, PyWebAuthn(RelyingParty("localhost", "住基ネット", (ORIGIN,)))
    )
    svc.add_organisation(ORG, "千代田区", legacy_cutoff=date(2014, 6, 1))
    svc.add_organisation("municipality/131130", "渋谷区", legacy_cutoff=date(2014, 6, 1))
    for n, role in enumerate(Role):
        svc.add_operator(
            ORG,
            role.value.replace("_", "-"),
            f"{role.label_ja} 一郎",
            role,
            card_number=f"C-{n}",
            password=PASSWORD,
        )
    svc.add_operator(
        "municipality/131130",
        "shibuya-admin",
        "渋谷 管理",
        Role.ADMINISTRATOR,
        card_number="S-1",
        password=PASSWORD,
    )
    return svc


@pytest.fixture
def client(service: OperatorService, clock: FixedClock) -> TestClient:
    app = create_app(services_of([], clock))
    install_operator_service(app, service)
    for action in Action:
        app.add_api_route(
            f"/probe/{action.value}",
            lambda: {"ok": True},
            dependencies=[Depends(require_permission(action))],
        )
    return TestClient(app, base_url="http://localhost:8000")


def card_of(role: Role) -> str:
    return f"C-{list(Role).index(role)}"


def test_login_page_is_japanese(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "操作者ログイン" in page.text and "navigator.credentials.get" in page.text


def test_enrol_and_log_in_with_webauthn(client: TestClient, service: OperatorService) -> None:
    token = service.issue_enrolment_token("registrar", issued_by=None)
    start = client.post("/auth/webauthn/register/options", json={"token": token}).json()
    assert start["public_key"]["authenticatorSelection"]["userVerification"] == "required"
    authenticator = SoftAuthenticator(ORIGIN)
    done = client.post(
        "/auth/webauthn/register",
        json={
            "ceremony_id": start["ceremony_id"],
            "credential": json.loads(authenticator.create(json.dumps(start["public_key"]))),
        },
    )
    assert done.status_code == 200 and done.json()["login"] == "registrar"

    start = client.post("/auth/webauthn/login/options", json={"login": "registrar"}).json()
    assert start["public_key"]["userVerification"] == "required"
    options = json.dumps(start["public_key"])
    refused = client.post(
        "/auth/webauthn/login",
        json={
            "ceremony_id": start["ceremony_id"],
            "credential": json.loads(authenticator.get(options, uv=False)),
        },
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["rule"] == "user_not_verified"
    assert SESSION_COOKIE not in client.cookies

    start = client.post("/auth/webauthn/login/options", json={"login": "registrar"}).json()
    ok = client.post(
        "/auth/webauthn/login",
        json={
            "ceremony_id": start["ceremony_id"],
            "credential": json.loads(authenticator.get(json.dumps(start["public_key"]))),
        },
    )
    assert ok.status_code == 200
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/auth/me").json()["role"] == "registrar"
    page = client.get("/operator")
    assert "操作者メニュー" in page.text and "住民記録担当" in page.text
    assert client.post("/auth/logout").status_code == 204
    assert client.get("/auth/me").status_code == 401


def test_legacy_card_cutoff_and_lockout_over_http(client: TestClient, clock: FixedClock) -> None:
    wrong = {"card_number": "C-0", "password": "wrong one"}
    for _ in range(5):
        assert client.post("/auth/legacy/login", json=wrong).status_code == 401
    locked = client.post("/auth/legacy/login", json={"card_number": "C-0", "password": PASSWORD})
    assert locked.status_code == 429 and locked.json()["rule"] == "locked"
    assert locked.headers["retry-after"] == "900"
    clock.advance(timedelta(minutes=15))
    assert (
        client.post(
            "/auth/legacy/login", json={"card_number": "C-0", "password": PASSWORD}
        ).status_code
        == 200
    )
    clock.current = datetime(2014, 6, 1, tzinfo=UTC)
    retired = client.post("/auth/legacy/login", json={"card_number": "C-1", "password": PASSWORD})
    assert retired.status_code == 403 and retired.json()["rule"] == "legacy_retired"
    assert "2014-06-01" in retired.json()["detail"]


def test_session_cookie_expires(client: TestClient, clock: FixedClock) -> None:
    assert (
        client.post(
            "/auth/legacy/login", json={"card_number": "C-0", "password": PASSWORD}
        ).status_code
        == 200
    )
    assert client.get("/auth/me").status_code == 200
    clock.advance(timedelta(minutes=31))
    expired = client.get("/auth/me")
    assert expired.status_code == 401 and expired.json()["rule"] == "session_expired"
    assert "30 minutes" in expired.json()["detail"]


@pytest.mark.parametrize("role", list(Role))
def test_authorisation_matrix(client: TestClient, role: Role) -> None:
    """Every role against every action of the permission table and the administrators' routes."""
    assert (
        client.post(
            "/auth/legacy/login", json={"card_number": card_of(role), "password": PASSWORD}
        ).status_code
        == 200
    )
    for action in Action:
        expected = 200 if action is Action.SESSION_VIEW or action in PERMISSIONS[role] else 403
        assert client.get(f"/probe/{action.value}").status_code == expected, (role, action)
    admin_only = 200 if role is Role.ADMINISTRATOR else 403
    assert client.get("/operators").status_code == admin_only
    issued = client.post("/operators/registrar/enrolment-tokens")
    assert issued.status_code == (201 if role is Role.ADMINISTRATOR else 403)


def test_anonymous_is_refused_everywhere(client: TestClient) -> None:
    for action in Action:
        assert client.get(f"/probe/{action.value}").status_code == 401
    assert client.get("/operators").status_code == 401
    assert client.get("/operator").status_code == 401


def test_administrator_of_another_organisation_cannot_enrol(client: TestClient) -> None:
    assert (
        client.post(
            "/auth/legacy/login", json={"card_number": "S-1", "password": PASSWORD}
        ).status_code
        == 200
    )
    other = client.post("/operators/registrar/enrolment-tokens")
    assert other.status_code == 403 and other.json()["rule"] == "forbidden"
    assert [o["login"] for o in client.get("/operators").json()] == ["shibuya-admin"]


def test_openapi_declares_statuses(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"200", "401", "422", "429"} <= set(paths["/auth/webauthn/login"]["post"]["responses"])
    assert {"201", "403"} <= set(paths["/operators/{login}/enrolment-tokens"]["post"]["responses"])
