"""The authorisation matrix: every route of the assembled application, for every role of every
kind of organisation (and for nobody), allowed or refused as the matrix below says.

A route that is neither public nor in the matrix fails the test, so a new route cannot slip in
unprotected. The expectations are written out here, not derived from the permission table:
``test_matrix_agrees_with_the_permission_table`` ties the two together. Sessions come from the
legacy operator card (cheap); the operator directory runs on SQLite and on PostgreSQL, and every
decision must land in its hash-chained audit log.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.domain.certificates import Options, Requester, WideAreaRequest
from jukinet.domain.codes import draw_resident_codes
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.operators import Action, Role, permitted
from jukinet.domain.register import NewEntry
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import install_operator_service
from jukinet.interfaces.api.deps import services_of
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.audit import verify_audit_log
from jukinet.services.operators import OperatorService
from jukinet.store import audit as audit_store
from jukinet.store import operators as operator_store
from jukinet.store.db import read_transaction
from tests.support.disclosure import DISCLOSURE_INTAKE
from tests.support.operators import add_card_operator, log_in, login_of, operator_directory

CLOCK = FixedClock(datetime(2014, 3, 31, 1, 0, tzinfo=UTC))
HOME = "municipality/131016"  # hosted here; its residents are the ones read
OTHER = "municipality/131130"  # another municipality
PREFECTURE = "prefecture/13"
NATIONAL = "national"
ORGANISATIONS = (HOME, OTHER, PREFECTURE, NATIONAL)

READERS = frozenset({Role.REGISTRAR, Role.CERTIFICATE_CLERK, Role.DISCLOSURE_OFFICER})
RECORDERS = frozenset({Role.REGISTRAR})
MONITORS = frozenset({Role.ADMINISTRATOR, Role.AUDITOR})
ISSUERS = frozenset({Role.CERTIFICATE_CLERK})
ADMINISTRATORS = frozenset({Role.ADMINISTRATOR})
DISCLOSURE_OFFICERS = frozenset({Role.DISCLOSURE_OFFICER})
DISCLOSURE_REPORTERS = frozenset({Role.DISCLOSURE_OFFICER, Role.AUDITOR})
EVERY_ROLE = frozenset(Role)

PUBLIC: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/healthz"): {},
    ("GET", "/metrics"): {},
    ("GET", "/login"): {},
    ("POST", "/auth/webauthn/login/options"): {"json": {"login": "nobody"}},
    ("POST", "/auth/webauthn/login"): {"json": {}},
    ("POST", "/auth/webauthn/register/options"): {"json": {}},
    ("POST", "/auth/webauthn/register"): {"json": {}},
    ("POST", "/auth/legacy/login"): {"json": {}},
    ("POST", "/network/messages"): {"json": {"messages": []}},  # signed messages, no operator
}
"""Routes anyone may call (with the request the test sends): login, health, the node-to-node
endpoint. The documentation routes (``/openapi.json``, ``/docs``, ...) are Starlette routes,
checked separately."""

RECIPIENT: dict[tuple[str, str], dict[str, Any]] = {
    # Recipients' routes: no operator session, the recipient's own credential (a request signed
    # with its certificate, or the transitional bearer key: interfaces/api/recipient_auth.py);
    # anonymous callers get 401.
    ("POST", "/provision/immediate"): {"json": {"affair_id": "X", "case_reference": "c"}},
    ("POST", "/provision/batch"): {"params": {"affair_id": "X"}, "content": b"row_id\n"},
    ("GET", "/provision/batch/{job_id}"): {},
    ("GET", "/provision/batch/{job_id}/result"): {},
    ("GET", "/revocation-feed"): {},  # certificate authorities (a recipient kind)
}

DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@dataclass(frozen=True)
class Rule:
    """Who may call a route: roles, and (when set) only operators of ``organisation``.

    ``other_rule`` is the problem rule an operator of another organisation gets."""

    roles: frozenset[Role]
    organisation: str | None = None
    other_rule: str = "other_organisation"
    status: int = 200
    request: dict[str, Any] = field(default_factory=dict)

    def refusal(self, org: str, role: Role) -> str | None:
        """The problem rule that refuses ``role`` of ``org``, or None when allowed."""
        if self.organisation is not None and org != self.organisation:
            return self.other_rule
        return None if role in self.roles else "forbidden"


SEEDED_CODE = draw_resident_codes(random.Random(7), 1)[0]  # the resident seed_resident records
CARD_ISSUE = {"resident_code": SEEDED_CODE, "card_type": "A", "pin": "1234"}
SPECIAL_MOVE_OUT = {
    "resident_code": SEEDED_CODE,
    "card_number": "1310169999999999",
    "destination_lg_code": "142042",
    "destination_address": "神奈川県鎌倉市御成町1番",
    "declared_move_date": "2014-03-31",
}
CARD_MOVE_IN = {
    "former_lg_code": "131130",  # not hosted here: the request stays pending
    "card_number": "1311300000000001",
    "pin": "1234",
    "holder_resident_code": "24727059608",
    "new_address": "東京都千代田区1番",
    "moved_on": "2014-03-30",
}


WIDE_AREA_REQUEST = {
    "home_lg_code": "131130",  # not hosted here: the request stays pending
    "requester_resident_code": "24727059608",
    "requester_name": "鈴木　一郎",
    "requester_birth_date": "1950-05-05",
    "identity_document": "運転免許証",
}
WIDE_AREA = "/municipalities/{lg_code}/wide-area-certificates"


def target_login() -> str:
    """The operator the administrators' routes are about: a registrar of HOME."""
    return login_of(HOME, Role.REGISTRAR)


MATRIX: dict[tuple[str, str], Rule] = {
    ("GET", "/municipalities/{lg_code}/residents"): Rule(
        READERS, HOME, request={"params": {"name": "鈴木"}}
    ),
    ("GET", "/municipalities/{lg_code}/residents/{resident_code}"): Rule(READERS, HOME),
    ("GET", "/network/status"): Rule(MONITORS, NATIONAL),
    ("GET", "/"): Rule(MONITORS, NATIONAL),
    ("GET", "/auth/me"): Rule(EVERY_ROLE),
    ("GET", "/operator"): Rule(EVERY_ROLE),
    ("GET", "/operators"): Rule(ADMINISTRATORS),  # the administrator's own organisation
    ("POST", "/operators/{login}/enrolment-tokens"): Rule(
        ADMINISTRATORS, HOME, other_rule="forbidden", status=201
    ),
    ("POST", "/operators/{login}/authenticators/options"): Rule(
        ADMINISTRATORS, HOME, other_rule="forbidden"
    ),
    # disclosure requests at the national center (a prefecture's desk: test_disclosure_api);
    # request 999999 does not exist, so an allowed operator gets 404 after authorisation
    ("POST", "/disclosures/{office}/requests"): Rule(
        DISCLOSURE_OFFICERS, NATIONAL, status=201, request={"json": DISCLOSURE_INTAKE}
    ),
    ("GET", "/disclosures/{office}/requests"): Rule(DISCLOSURE_OFFICERS, NATIONAL),
    ("GET", "/disclosures/{office}/requests/{request_id}"): Rule(
        DISCLOSURE_OFFICERS, NATIONAL, status=404
    ),
    ("POST", "/disclosures/{office}/requests/{request_id}/decision"): Rule(
        DISCLOSURE_OFFICERS, NATIONAL, status=404, request={"json": {"decision": "disclose"}}
    ),
    ("POST", "/disclosures/{office}/requests/{request_id}/extension"): Rule(
        DISCLOSURE_OFFICERS,
        NATIONAL,
        status=404,
        request={"json": {"until": "2014-04-30", "reason": "x"}},
    ),
    ("GET", "/disclosures/{office}/requests/{request_id}/extension-notice"): Rule(
        DISCLOSURE_OFFICERS, NATIONAL, status=404
    ),
    ("POST", "/disclosures/{office}/requests/{request_id}/provision-question"): Rule(
        DISCLOSURE_OFFICERS, NATIONAL, status=404
    ),
    ("POST", "/disclosures/{office}/requests/{request_id}/delivery"): Rule(
        DISCLOSURE_OFFICERS, NATIONAL, status=404, request={"json": {}}
    ),
    ("GET", "/disclosures/{office}/requests/{request_id}/letter"): Rule(
        DISCLOSURE_OFFICERS, NATIONAL, status=404
    ),
    ("POST", "/disclosures/{office}/requests/{request_id}/corrections"): Rule(
        DISCLOSURE_OFFICERS,
        NATIONAL,
        status=404,
        request={"json": {"item": "address", "claimed": "x"}},
    ),
    (
        "POST",
        "/disclosures/{office}/requests/{request_id}/corrections/{correction_id}/answer",
    ): Rule(
        DISCLOSURE_OFFICERS,
        NATIONAL,
        status=404,
        request={"json": {"outcome": "corrected", "findings": "x"}},
    ),
    ("GET", "/disclosures/{office}/requests/{request_id}/corrections/{correction_id}/letter"): Rule(
        DISCLOSURE_OFFICERS, NATIONAL, status=404
    ),
    ("GET", "/disclosures/{office}/overdue"): Rule(DISCLOSURE_REPORTERS, NATIONAL),
    ("GET", "/disclosures/{office}/statistics"): Rule(
        DISCLOSURE_REPORTERS, NATIONAL, request={"params": {"from": 2013, "to": 2013}}
    ),
    # resident cards and the card-based move (card 1310169999999999 and request 999999 do not
    # exist: an allowed operator gets 404 after authorisation)
    ("POST", "/municipalities/{lg_code}/cards"): Rule(
        RECORDERS, HOME, status=201, request={"json": CARD_ISSUE}
    ),
    ("GET", "/municipalities/{lg_code}/cards/{card_number}"): Rule(READERS, HOME, status=404),
    ("POST", "/municipalities/{lg_code}/cards/{card_number}/suspend"): Rule(
        RECORDERS, HOME, status=404
    ),
    ("POST", "/municipalities/{lg_code}/cards/{card_number}/resume"): Rule(
        RECORDERS, HOME, status=404, request={"json": {"identity_document": "パスポート"}}
    ),
    ("POST", "/municipalities/{lg_code}/cards/{card_number}/return"): Rule(
        RECORDERS, HOME, status=404, request={"json": {}}
    ),
    ("POST", "/municipalities/{lg_code}/cards/{card_number}/pin-reset"): Rule(
        RECORDERS, HOME, status=404, request={"json": {"identity_document": "x", "pin": "1234"}}
    ),
    ("POST", "/municipalities/{lg_code}/card-move-outs"): Rule(
        RECORDERS, HOME, status=404, request={"json": SPECIAL_MOVE_OUT}
    ),
    ("POST", "/municipalities/{lg_code}/card-move-ins"): Rule(
        RECORDERS, HOME, status=202, request={"json": CARD_MOVE_IN}
    ),
    ("GET", "/municipalities/{lg_code}/card-move-ins"): Rule(READERS, HOME),
    ("GET", "/municipalities/{lg_code}/card-move-ins/{request_id}"): Rule(
        READERS, HOME, status=404
    ),
    # wide-area certificates: request 1 is pending (its home municipality is not hosted), so
    # cancelling it answers 200 every time and its copy 409 (not issued)
    ("POST", WIDE_AREA): Rule(ISSUERS, HOME, status=202, request={"json": WIDE_AREA_REQUEST}),
    ("GET", WIDE_AREA): Rule(ISSUERS, HOME),
    ("GET", WIDE_AREA + "/{number}"): Rule(ISSUERS, HOME),
    ("POST", WIDE_AREA + "/{number}/cancel"): Rule(ISSUERS, HOME),
    ("GET", WIDE_AREA + "/{number}/certificate.pdf"): Rule(ISSUERS, HOME, status=409),
    ("POST", "/auth/logout"): Rule(EVERY_ROLE, status=204),  # last: it ends the session
}


def flat_routes(app: FastAPI) -> list[RouteContext]:
    """Every route of the app with its full path (included routers are kept as branches in
    ``app.routes`` since FastAPI 0.16x: ``iter_route_contexts`` flattens them)."""
    return list(iter_route_contexts(app.routes))


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (m, str(r.path))
        for r in flat_routes(app)
        if isinstance(r.original_route, APIRoute)
        for m in r.methods or ()
    }


def concrete(path: str, resident_code: str) -> str:
    return path.format(
        lg_code=HOME.split("/")[1],
        resident_code=resident_code,
        login=target_login(),
        card_number="1310169999999999",
        office="national",
        request_id=999999,
        correction_id=1,
        number=1,
    )


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def network(tmp_path: Path) -> Iterator[EmbeddedNetwork]:
    net = build_embedded(tmp_path / "var", CLOCK, ["131016"])
    yield net
    net.dispose()


@pytest.fixture
def operators(engine: Engine, tmp_path: Path) -> OperatorService:
    service = operator_directory(CLOCK, engine, home=tmp_path)
    for org in ORGANISATIONS:
        for role in Role:
            add_card_operator(service, org, role)
    return service


@pytest.fixture
def app(network: EmbeddedNetwork, operators: OperatorService) -> FastAPI:
    registers = {lg: r for m in network.municipal for lg, r in m.registers.items()}
    application = create_app(
        services_of(
            network.nodes,
            CLOCK,
            registers,
            cards={lg: c for m in network.municipal for lg, c in m.cards.items()},
            card_moves={lg: c for m in network.municipal for lg, c in m.card_moves.items()},
            certificates={lg: c for m in network.municipal for lg, c in m.certificates.items()},
        )
    )
    install_operator_service(application, operators)
    return application


def seed_resident(network: EmbeddedNetwork) -> str:
    register = network.municipality("131016").register("131016")
    register.designate_codes(draw_resident_codes(random.Random(7), 1))
    day = date(2014, 1, 5)
    entry = NewEntry(ChangeReason.BIRTH, day, "鈴木　一郎", day, Sex.MALE, "東京都千代田区1番")
    code = register.record(entry).resident_code
    assert code is not None  # a birth always draws a code from the pool
    return code


def seed_wide_area_request(network: EmbeddedNetwork) -> None:
    """Request 1: pending for good, its home municipality is not hosted here."""
    certificates = network.municipality("131016").certificates["131016"]
    body = WIDE_AREA_REQUEST
    request = WideAreaRequest(
        body["home_lg_code"],
        Requester(
            body["requester_resident_code"],
            body["requester_name"],
            date.fromisoformat(body["requester_birth_date"]),
        ),
        (),
        Options(),
        body["identity_document"],
    )
    assert certificates.request(request, "test").stored.id == 1


# --- tests ----------------------------------------------------------------------------------


def test_every_route_is_public_or_in_the_matrix(app: FastAPI) -> None:
    routes = api_routes(app)
    unlisted = routes - set(PUBLIC) - set(MATRIX) - set(RECIPIENT)
    assert not unlisted, f"routes neither public nor in the authorisation matrix: {unlisted}"
    stale = (set(PUBLIC) | set(MATRIX) | set(RECIPIENT)) - routes
    assert not stale, f"the matrix names routes the app does not have: {stale}"
    assert not set(PUBLIC) & set(MATRIX)
    assert len(routes) == len(PUBLIC) + len(MATRIX) + len(RECIPIENT)
    others = {r.path for r in flat_routes(app) if not isinstance(r.original_route, APIRoute)}
    assert others == DOCS, "a plain Starlette route (or a mount) would bypass the matrix"


def test_matrix_agrees_with_the_permission_table() -> None:
    assert {r for r in Role if permitted(r, Action.RESIDENT_READ)} == READERS
    assert {r for r in Role if permitted(r, Action.RESIDENT_RECORD)} == RECORDERS
    assert {r for r in Role if permitted(r, Action.NETWORK_MONITOR)} == MONITORS
    assert {r for r in Role if permitted(r, Action.CERTIFICATE_ISSUE)} == ISSUERS
    assert {r for r in Role if permitted(r, Action.OPERATOR_MANAGE)} == ADMINISTRATORS
    assert {r for r in Role if permitted(r, Action.DISCLOSURE_PROVIDE)} == DISCLOSURE_OFFICERS
    assert {r for r in Role if permitted(r, Action.DISCLOSURE_REPORT)} == DISCLOSURE_REPORTERS


def test_public_routes_answer_anyone(app: FastAPI) -> None:
    client = TestClient(app)
    for (method, path), request in PUBLIC.items():
        response = client.request(method, path, **request)
        assert response.status_code < 400 or response.status_code == 422, (method, path)
    for path in DOCS - {"/docs/oauth2-redirect"}:
        assert client.get(path).status_code == 200, path


def test_recipient_routes_refuse_anonymous_callers(app: FastAPI) -> None:
    client = TestClient(app)
    for (method, path), request in RECIPIENT.items():
        response = client.request(method, path, **request)
        assert response.status_code == 401, (method, path)
        assert response.json()["rule"] == "not_authenticated"


def test_authorisation_matrix(
    app: FastAPI, network: EmbeddedNetwork, operators: OperatorService, engine: Engine
) -> None:
    code = seed_resident(network)
    seed_wide_area_request(network)
    client = TestClient(app)
    wrong: list[str] = []
    for (method, path), rule in MATRIX.items():
        response = client.request(method, concrete(path, code), **rule.request)
        if response.status_code != 401 or response.json().get("rule") != "not_authenticated":
            wrong.append(f"anonymous {method} {path}: {response.status_code}")
    decisions = 0
    for org in ORGANISATIONS:
        for role in Role:
            log_in(client, org, role)
            for (method, path), rule in MATRIX.items():
                response = client.request(method, concrete(path, code), **rule.request)
                refusal = rule.refusal(org, role)
                who = f"{role.value} of {org}: {method} {path}"
                if refusal is None and response.status_code != rule.status:
                    wrong.append(f"{who} refused ({response.status_code} {response.text[:120]})")
                elif refusal is not None and (
                    response.status_code != 403
                    or response.headers["content-type"] != "application/problem+json"
                    or response.json()["rule"] != refusal
                ):
                    wrong.append(f"{who} expected 403 {refusal}, got {response.status_code}")
                decisions += 1
    assert not wrong, "\n".join(wrong)

    # every decision is recorded, in the operator directory's tamper-evident audit log too
    with read_transaction(engine) as conn:
        actions = conn.execute(
            select(func.count()).select_from(operator_store.operator_actions)
        ).scalar_one()
        entries = list(audit_store.iter_entries(conn))
    # one decision per request; an administrator of another organisation passes the role check
    # of the two enrolment routes, then the service refuses: two records each
    assert actions == len(entries) == decisions + 2 * (len(ORGANISATIONS) - 1)
    refused = [e for e in entries if e.outcome == "refused"]
    assert any('"rule":"other_organisation"' in e.detail for e in refused)
    assert {e.actor for e in entries} == {
        f"operator:{login_of(o, r)}" for o in ORGANISATIONS for r in Role
    }
    assert verify_audit_log(engine, network.national.trust).ok
