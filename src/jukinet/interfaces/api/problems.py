"""RFC 9457 problem details (``application/problem+json``) for every error a route returns."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import AuthRefused

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://jukinet.example/problems/"


class Problem(BaseModel):
    """A problem document; ``field`` and ``rule`` say which input broke which rule."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    field: str | None = None
    rule: str | None = None


def problem_response(
    status: int, title: str, *, request: Request, kind: str, **extra: Any
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_BASE + kind, title=title, status=status, instance=request.url.path, **extra
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry declaring problem+json for the given statuses in OpenAPI."""
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "problem"}
        for status in statuses
    }


_REFUSAL_STATUS = {
    "locked": 429,
    "forbidden": 403,
    "other_organisation": 403,
    "legacy_retired": 403,
    "legacy_not_enabled": 403,
    "enrolment_token": 403,
    "credential_exists": 409,
    "recipient_suspended": 403,
}


def refusal_status(refusal: AuthRefused) -> int:
    """The HTTP status of a refusal (401 who are you, 403 not allowed, 429 locked)."""
    return _REFUSAL_STATUS.get(refusal.rule, 401)


def refusal_response(request: Request, refusal: AuthRefused) -> JSONResponse:
    """A refused login or request as problem+json naming the rule (``Retry-After`` on a
    lockout)."""
    response = problem_response(
        refusal_status(refusal),
        "Refused",
        request=request,
        kind=refusal.rule,
        detail=refusal.message,
        field=refusal.field,
        rule=refusal.rule,
    )
    if refusal.retry_after:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def _browser_page_request(request: Request) -> bool:
    """A person's browser asking for a page (not an API client): send them to log in."""
    accept = request.headers.get("accept", "")
    return request.method == "GET" and accept.startswith("text/html")


RULE_STATUS = {
    "not_found": 404,
    "not_hosted": 404,
    "unknown_municipality": 404,
    "illegal_transition": 409,
    "provisions_pending": 409,  # a prefecture's decision waits for the national center
    "provisions_not_asked": 409,
    "not_awaiting_decision": 409,
    "already_extended": 409,
    "not_extended": 409,
}
"""The HTTP status of a rule a route lets through (any other rule: 422 Rule violated)."""


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthRefused)
    async def _refused(request: Request, exc: AuthRefused) -> Response:
        if refusal_status(exc) == 401 and _browser_page_request(request):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return refusal_response(request, exc)

    @app.exception_handler(RuleViolation)
    async def _rule(request: Request, exc: RuleViolation) -> JSONResponse:
        status = RULE_STATUS.get(exc.rule, 422)
        return problem_response(
            status,
            "Rule violated",
            request=request,
            kind=exc.rule,
            detail=exc.message,
            field=exc.field,
            rule=exc.rule,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"] if p not in {"body", "query", "path"})
        return problem_response(
            422,
            "Invalid request",
            request=request,
            kind="invalid_request",
            detail=first["msg"],
            field=field or None,
            rule=first["type"],
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
            # FastAPI's 400 for a JSON body that is not UTF-8: invalid JSON like any other
            # (422 json_invalid, the byte it fails at as the field, as FastAPI gives it)
            return problem_response(
                422,
                "Invalid request",
                request=request,
                kind="invalid_request",
                detail=f"JSON decode error: {cause.reason}",
                field=str(cause.start),
                rule="json_invalid",
            )
        return problem_response(
            exc.status_code, str(exc.detail), request=request, kind=f"http_{exc.status_code}"
        )
