"""Operators for HTTP tests: an operator directory with legacy cards (cheap to log in with) and a
helper that logs a test client in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from jukinet.clock import Clock, today_in_japan
from jukinet.domain.operators import Role
from jukinet.interfaces.webauthn import PyWebAuthn, RelyingParty
from jukinet.services.operators import OperatorService
from jukinet.store.db import make_engine, sqlite_url
from jukinet.store.migrate import upgrade

PASSWORD = "correct horse"
ORIGIN = "http://localhost:8000"


def operator_directory(
    clock: Clock, engine: Engine | None = None, *, home: Path
) -> OperatorService:
    """An operator service on ``engine`` (default: a fresh SQLite file under ``home``)."""
    if engine is None:
        engine = make_engine(sqlite_url(home / "operators.db"))
        upgrade(engine)
    return OperatorService(
        engine, clock, PyWebAuthn(RelyingParty("localhost", "住基ネット", (ORIGIN,)))
    )


def card_of(org_id: str, role: Role) -> str:
    """The card number ``add_card_operator`` gives (unique per organisation and role)."""
    return f"{org_id.replace('/', '-')}-{role.value}"[:32]


def login_of(org_id: str, role: Role) -> str:
    return f"{org_id.replace('/', '-')}-{role.value.replace('_', '-')}"


def add_card_operator(service: OperatorService, org_id: str, role: Role) -> str:
    """Register (or update) the organisation, operator cards accepted for a year from the
    clock's today, and an operator of ``role`` with a card; returns the login."""
    cutoff = today_in_japan(service.clock) + timedelta(days=365)
    service.add_organisation(org_id, org_id, legacy_cutoff=cutoff)
    login = login_of(org_id, role)
    service.add_operator(
        org_id, login, login, role, card_number=card_of(org_id, role), password=PASSWORD
    )
    return login


def log_in(client: TestClient, org_id: str, role: Role) -> None:
    """Log ``client`` in with the card of ``add_card_operator`` (the cookie stays on it)."""
    client.cookies.clear()
    response = client.post(
        "/auth/legacy/login", json={"card_number": card_of(org_id, role), "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
