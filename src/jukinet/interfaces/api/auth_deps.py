"""Who is asking: the operator behind the session cookie, and ``require_role`` /
``require_permission`` dependencies that authorise (and record) every request.

The operator service lives on ``app.state.operator_service``; ``install_operator_service`` puts
one there (tests, embedded runs). Without one, the first request builds it from ``Settings``:
the operator directory at ``JUKINET_OPERATORS_DB`` (default ``HOME/operators.db``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

from jukinet.clock import Clock
from jukinet.domain.operators import Action, AuthRefused, Role
from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.webauthn import PyWebAuthn, RelyingParty
from jukinet.services.operators import Operator, OperatorService
from jukinet.settings import Settings
from jukinet.store.db import make_engine, sqlite_url
from jukinet.store.migrate import upgrade

SESSION_COOKIE = "jukinet_session"

_build_lock = threading.Lock()


def install_operator_service(app: FastAPI, service: OperatorService) -> None:
    app.state.operator_service = service


def operator_service_from_settings(settings: Settings, clock: Clock) -> OperatorService:
    url = settings.operators_db or sqlite_url(settings.home / "operators.db")
    engine = make_engine(url)
    upgrade(engine)
    rp = RelyingParty(
        settings.webauthn_rp_id, settings.webauthn_rp_name, tuple(settings.webauthn_origins)
    )
    return OperatorService(engine, clock, PyWebAuthn(rp))


def _operator_service(request: Request, services: ServicesDep) -> OperatorService:
    service: OperatorService | None = getattr(request.app.state, "operator_service", None)
    if service is None:
        with _build_lock:
            service = getattr(request.app.state, "operator_service", None)
            if service is None:
                service = operator_service_from_settings(Settings(), services.clock)
                install_operator_service(request.app, service)
    return service


OperatorServiceDep = Annotated[OperatorService, Depends(_operator_service)]


def refusal_status(refusal: AuthRefused) -> int:
    """The HTTP status of a refusal (401 who are you, 403 not allowed, 429 locked)."""
    return {
        "locked": 429,
        "forbidden": 403,
        "legacy_retired": 403,
        "legacy_not_enabled": 403,
        "enrolment_token": 403,
        "credential_exists": 409,
    }.get(refusal.rule, 401)


def as_http(refusal: AuthRefused) -> HTTPException:
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else None
    return HTTPException(refusal_status(refusal), refusal.message, headers=headers)


def _current_operator(request: Request, service: OperatorServiceDep) -> Operator:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise HTTPException(401, "not logged in")
    try:
        return service.authenticate(token)
    except AuthRefused as refusal:
        raise as_http(refusal) from None


CurrentOperator = Annotated[Operator, Depends(_current_operator)]


def _target(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def require_role(*roles: Role) -> Callable[..., Operator]:
    """A dependency: the current operator, if its role is one of ``roles``; the decision is
    recorded as an operator action either way."""
    wanted = frozenset(roles)

    def _check(
        request: Request, operator: CurrentOperator, service: OperatorServiceDep
    ) -> Operator:
        try:
            service.authorise(operator, None, wanted, _target(request))
        except AuthRefused as refusal:
            raise as_http(refusal) from None
        return operator

    return _check


def require_permission(action: Action) -> Callable[..., Operator]:
    """A dependency: the current operator, if the permission table lets its role do
    ``action``; recorded either way."""

    def _check(
        request: Request, operator: CurrentOperator, service: OperatorServiceDep
    ) -> Operator:
        try:
            service.authorise(operator, action, frozenset(), _target(request))
        except AuthRefused as refusal:
            raise as_http(refusal) from None
        return operator

    return _check
