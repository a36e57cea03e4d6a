"""Operator login (操作者ログイン): the Japanese page, the WebAuthn ceremonies, the legacy operator
card, logout, and the administrators' enrolment routes. Handlers parse, call the operator
service and render; every rule is in ``jukinet.services.operators``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, Field

from jukinet.domain.operators import Action, AuthRefused, Role
from jukinet.interfaces.api.auth_deps import (
    SESSION_COOKIE,
    CurrentOperator,
    OperatorServiceDep,
    require_permission,
    require_role,
)
from jukinet.interfaces.api.problems import problem_responses, refusal_response
from jukinet.interfaces.api.schemas import RequestBody, Text
from jukinet.services.operators import IssuedSession, Operator

router = APIRouter(tags=["operators"])

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
    )
)

Administrator = Annotated[Operator, Depends(require_role(Role.ADMINISTRATOR))]
SessionViewer = Annotated[Operator, Depends(require_permission(Action.SESSION_VIEW))]
"""Any logged-in operator (every role may view its own session); recorded like any action."""


# --- models ---------------------------------------------------------------------------------


class OperatorOut(BaseModel):
    login: str
    display_name: str
    role: str
    role_ja: str
    organisation: str

    @classmethod
    def of(cls, op: Operator) -> OperatorOut:
        return cls(
            login=op.login,
            display_name=op.display_name,
            role=op.role.value,
            role_ja=op.role.label_ja,
            organisation=op.org_id,
        )


class OperatorListItem(OperatorOut):
    authenticators: int


class LoginStart(RequestBody):
    login: str = Field(min_length=1, max_length=64)


class EnrolStart(RequestBody):
    token: str = Field(min_length=1, max_length=128)


class AdminEnrolStart(RequestBody):
    login: str = Field(min_length=1, max_length=64)


class CeremonyOut(BaseModel):
    ceremony_id: str
    public_key: dict[str, object]  # options for navigator.credentials.create / get


class CeremonyFinish(RequestBody):
    ceremony_id: str = Field(min_length=1, max_length=64)
    credential: dict[str, object]


class LegacyLogin(RequestBody):
    card_number: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=256)


class EnrolmentTokenOut(BaseModel):
    token: str


# --- helpers --------------------------------------------------------------------------------


def _refused(request: Request, refusal: AuthRefused) -> JSONResponse:
    return refusal_response(request, refusal)


def _ceremony(ceremony_id: str, options_json: str) -> CeremonyOut:
    return CeremonyOut(ceremony_id=ceremony_id, public_key=json.loads(options_json))


def _credential_json(body: CeremonyFinish) -> str:
    return json.dumps(body.credential)


def _logged_in(request: Request, session: IssuedSession) -> JSONResponse:
    response = JSONResponse(OperatorOut.of(session.operator).model_dump())
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


_AUTH_ERRORS = problem_responses(401, 403, 404, 409, 422, 429)


# --- pages ----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    """操作者ログイン: WebAuthn (biometric), the legacy operator card, and enrolment."""
    return templates.TemplateResponse(request, "login.html", {})


@router.get("/operator", response_class=HTMLResponse, responses=problem_responses(401))
def operator_page(request: Request, operator: SessionViewer) -> HTMLResponse:
    """The logged-in operator's page (操作者メニュー)."""
    return templates.TemplateResponse(
        request, "operator.html", {"operator": OperatorOut.of(operator)}
    )


# --- WebAuthn -------------------------------------------------------------------------------


@router.post("/auth/webauthn/login/options", responses=_AUTH_ERRORS)
def login_options(body: LoginStart, service: OperatorServiceDep) -> CeremonyOut:
    ceremony = service.begin_login(body.login)
    return _ceremony(ceremony.ceremony_id, ceremony.options_json)


@router.post("/auth/webauthn/login", response_model=OperatorOut, responses=_AUTH_ERRORS)
def login_finish(
    request: Request, body: CeremonyFinish, service: OperatorServiceDep
) -> JSONResponse:
    try:
        session = service.finish_login(body.ceremony_id, _credential_json(body))
    except AuthRefused as refusal:
        return _refused(request, refusal)
    return _logged_in(request, session)


@router.post("/auth/webauthn/register/options", response_model=CeremonyOut, responses=_AUTH_ERRORS)
def enrol_options(
    request: Request, body: EnrolStart, service: OperatorServiceDep
) -> CeremonyOut | JSONResponse:
    """Start enrolling an authenticator with a one-time token from an administrator."""
    try:
        ceremony = service.begin_enrolment_with_token(body.token)
    except AuthRefused as refusal:
        return _refused(request, refusal)
    return _ceremony(ceremony.ceremony_id, ceremony.options_json)


@router.post("/auth/webauthn/register", response_model=OperatorOut, responses=_AUTH_ERRORS)
def enrol_finish(
    request: Request, body: CeremonyFinish, service: OperatorServiceDep
) -> OperatorOut | JSONResponse:
    try:
        operator = service.finish_enrolment(body.ceremony_id, _credential_json(body))
    except AuthRefused as refusal:
        return _refused(request, refusal)
    return OperatorOut.of(operator)


# --- legacy operator card -------------------------------------------------------------------


@router.post("/auth/legacy/login", response_model=OperatorOut, responses=_AUTH_ERRORS)
def legacy_login(request: Request, body: LegacyLogin, service: OperatorServiceDep) -> JSONResponse:
    """Operator card number + password: only before the organisation's cutoff date."""
    try:
        session = service.legacy_login(body.card_number, body.password)
    except AuthRefused as refusal:
        return _refused(request, refusal)
    return _logged_in(request, session)


# --- session --------------------------------------------------------------------------------


@router.get("/auth/me", responses=problem_responses(401))
def me(operator: SessionViewer) -> OperatorOut:
    return OperatorOut.of(operator)


@router.post("/auth/logout", status_code=204, responses=problem_responses(401))
def logout(request: Request, operator: CurrentOperator, service: OperatorServiceDep) -> Response:
    service.logout(request.cookies[SESSION_COOKIE])
    service.record_action(operator, "session.logout", "POST /auth/logout", "allowed")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- administrators -------------------------------------------------------------------------


@router.get("/operators", responses=problem_responses(401, 403))
def list_operators(admin: Administrator, service: OperatorServiceDep) -> list[OperatorListItem]:
    """The operators of the administrator's organisation."""
    return [
        OperatorListItem(**OperatorOut.of(op).model_dump(), authenticators=n)
        for op, n in service.list_operators(admin.org_id)
    ]


@router.post(
    "/operators/{login}/enrolment-tokens",
    status_code=201,
    response_model=EnrolmentTokenOut,
    responses=_AUTH_ERRORS,
)
def issue_enrolment_token(
    request: Request, login: Text, admin: Administrator, service: OperatorServiceDep
) -> EnrolmentTokenOut | JSONResponse:
    """A one-time token for the operator to enrol an authenticator (valid 24 hours)."""
    try:
        return EnrolmentTokenOut(token=service.issue_enrolment_token(login, issued_by=admin))
    except AuthRefused as refusal:
        return _refused(request, refusal)


@router.post(
    "/operators/{login}/authenticators/options",
    response_model=CeremonyOut,
    responses=_AUTH_ERRORS,
)
def admin_enrol_options(
    request: Request, login: Text, admin: Administrator, service: OperatorServiceDep
) -> CeremonyOut | JSONResponse:
    """Enrol an authenticator for ``login`` at the administrator's terminal; finish with
    ``POST /auth/webauthn/register``."""
    try:
        ceremony = service.begin_enrolment_by_admin(admin, login)
    except AuthRefused as refusal:
        return _refused(request, refusal)
    return _ceremony(ceremony.ceremony_id, ceremony.options_json)
