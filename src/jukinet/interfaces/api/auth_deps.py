"""Who is asking: the operator behind the session cookie, and ``require_role`` /
``require_permission`` dependencies that authorise (and record) every request.

Refusals are raised as ``AuthRefused`` and answered by the problem handler: 401 without a live
session, 403 naming the rule (``forbidden``, ``other_organisation``) otherwise.

The operator service lives on ``app.state.operator_service``; ``install_operator_service`` puts
one there (tests, embedded runs). Without one, the first request builds it from ``Settings``:
the operator directory at ``JUKINET_OPERATORS_DB`` (default ``HOME/operators.db``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request

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


def _current_operator(request: Request, service: OperatorServiceDep) -> Operator:
    """The operator of the session cookie; 401 problem+json (``not_authenticated``,
    ``session_expired``) without a live session."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthRefused("session", "not_authenticated", "not logged in: log in at /login")
    return service.authenticate(token)


CurrentOperator = Annotated[Operator, Depends(_current_operator)]

OrganisationOf = Callable[[Request], str]
"""Which organisation a request acts for (``municipality/<lg code>`` from the path, ...)."""


def _target(request: Request) -> str:
    # recorded before the path is validated: a NUL (%00) stays escaped, PostgreSQL stores none
    return f"{request.method} {request.url.path.replace(chr(0), '%00')}"


def require_role(*roles: Role) -> Callable[..., Operator]:
    """A dependency: the current operator, if its role is one of ``roles``; the decision is
    recorded as an operator action either way. A refusal is 403 problem+json (``forbidden``)."""
    wanted = frozenset(roles)

    def _check(
        request: Request, operator: CurrentOperator, service: OperatorServiceDep
    ) -> Operator:
        service.authorise(operator, None, wanted, _target(request))
        return operator

    return _check


def require_permission(
    action: Action, *, organisation: OrganisationOf | None = None
) -> Callable[..., Operator]:
    """A dependency: the current operator, if the permission table lets its role do ``action``
    and, when ``organisation`` is given, the operator belongs to the organisation the request
    acts for; recorded either way. Refusals are 403 problem+json naming the rule
    (``forbidden``: the role; ``other_organisation``: the tenant)."""

    def _check(
        request: Request, operator: CurrentOperator, service: OperatorServiceDep
    ) -> Operator:
        service.authorise(
            operator,
            action,
            frozenset(),
            _target(request),
            organisation=None if organisation is None else organisation(request),
        )
        return operator

    return _check


def municipality_in_path(request: Request) -> str:
    """The municipality of a ``/municipalities/{lg_code}/...`` route."""
    return f"municipality/{request.path_params['lg_code']}"


def national_center(_request: Request) -> str:
    """Routes only the national center's operators use."""
    return "national"
