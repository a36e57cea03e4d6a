"""Immediate provision to recipients (即時提供): ``POST /provision/immediate``.

Not an operator route: the caller is a recipient (a national agency or corporation of the
annex table), authenticated by its own credential, not by an operator session.

Recipient authentication: every request is signed with the key of the recipient's certificate
from the network PKI (``interfaces/api/recipient_auth.py``, format in docs/security.md); uvicorn
does not expose a TLS client certificate to the application. The bearer key of ``jukinet
recipient issue-key`` is still accepted while recipients move to certificates.

One write transaction per request (group-committed with the requests queued meanwhile,
``services/national/immediate.py``): the nonce and audit entry of the authentication, the
provision log row, the counter and the provision's audit entry commit together.

Statuses: 200 with ``outcome`` ``found`` / ``not_found`` / ``several_candidates``; 401 no, bad
or unknown credential (the rule names why); 403 a refusal of the rules (affair not listed,
outside its window, field not allowed, suspended); 422 a malformed query; 404 when this process
hosts no national center.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import AuthRefused
from jukinet.domain.provision import ProvisionQuery, parse_fields
from jukinet.interfaces.api.deps import AppServices
from jukinet.interfaces.api.problems import problem_response, problem_responses
from jukinet.interfaces.api.recipient_auth import (
    CREDENTIAL_HEADERS,
    attempt,
    auth_service,
    credentials_of,
)
from jukinet.interfaces.api.schemas import RequestBody
from jukinet.services.national.immediate import ImmediateCall, ImmediateProvision

router = APIRouter(prefix="/provision", tags=["provision to recipients"])

_STATUS = {
    "not_authenticated": 401,
    "unknown_recipient": 401,
    "digest_mismatch": 401,
    "recipient_suspended": 403,
    "affair_suspended": 403,
    "affair_not_listed": 403,
    "outside_window": 403,
    "field_not_allowed": 403,
    "not_hosted": 404,
}


class ImmediateRequest(RequestBody):
    affair_id: str = Field(max_length=40, description="the affair of the annex table")
    case_reference: str = Field(max_length=200, description="the recipient's case reference")
    resident_code: str | None = Field(default=None, pattern=r"^\d{11}$")
    name: str | None = Field(default=None, max_length=200)
    birth_date: date | None = None
    sex: Literal["male", "female"] | None = None
    address: str | None = Field(default=None, max_length=400)
    fields: list[str] | None = Field(default=None, description="items wanted (default: all)")


class ImmediateResponse(BaseModel):
    request_outcome: Literal["found", "not_found", "several_candidates"] = Field(alias="outcome")
    record: dict[str, Any] | None = None

    model_config = {"populate_by_name": True}


def refused(request: Request, exc: RuleViolation) -> JSONResponse:
    """A refusal as problem+json: 401/403/404 by rule, 422 for a malformed request."""
    if exc.rule == "not_found":
        return problem_response(
            404, "Not found", request=request, kind="not_found", detail=exc.message, rule=exc.rule
        )
    return problem_response(
        _STATUS.get(exc.rule, 422),
        "Refused" if exc.rule in _STATUS else "Rule violated",
        request=request,
        kind=exc.rule,
        detail=exc.message,
        field=exc.field,
        rule=exc.rule,
    )


def _immediate_provision(request: Request, services: AppServices) -> ImmediateProvision:
    """One per application: its writer thread group-commits the process's requests."""
    found: ImmediateProvision | None = getattr(request.app.state, "immediate_provision", None)
    if found is not None:
        return found
    auth = auth_service(request, services)  # RuleViolation not_hosted without a national center
    assert services.national_engine is not None
    with _build_lock:
        found = getattr(request.app.state, "immediate_provision", None)
        if found is None:
            found = ImmediateProvision(services.national_engine, services.clock, auth)
            request.app.state.immediate_provision = found
    return found


_build_lock = threading.Lock()
_MISSING_BODY = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/…+json`` (what FastAPI reads as JSON)."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _read_query(
    raw: bytes, content_type: str | None
) -> tuple[ProvisionQuery | None, RequestValidationError | None, RuleViolation | None]:
    """The body as a query, the 422 of a body that does not parse, or a query refused by the
    rules before the database (an unknown field name)."""
    if not raw:
        return None, RequestValidationError([_MISSING_BODY]), None
    payload: Any = raw
    if _is_json(content_type):
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            error = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            return None, RequestValidationError([error]), None
    try:
        body = ImmediateRequest.model_validate(payload)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        return None, RequestValidationError(errors), None
    refusal = None
    try:
        fields = None if body.fields is None else parse_fields(body.fields)
    except RuleViolation as exc:
        fields, refusal = None, exc
    query = ProvisionQuery(
        affair_id=body.affair_id,
        case_reference=body.case_reference,
        resident_code=body.resident_code,
        name=body.name,
        birth_date=body.birth_date,
        sex=body.sex,
        address=body.address,
        fields=fields,
    )
    return query, None, refusal


@router.post(
    "/immediate",
    response_model=ImmediateResponse,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra={
        "parameters": CREDENTIAL_HEADERS,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ImmediateRequest.model_json_schema()}},
        },
    },
)
async def immediate(request: Request) -> Response:
    """One query (``ImmediateRequest``), authenticated and answered in one transaction.

    The body is read here, not declared, so that the order stays authentication first, then
    the body's validity, then the rules; the signature is checked on the event loop (CPU
    only) and the database work is group-committed by the process's writer thread."""
    provision = _immediate_provision(request, request.app.state.services)
    raw = await request.body()
    query, malformed, refusal = _read_query(raw, request.headers.get("content-type"))
    credentials = credentials_of(request)
    call = ImmediateCall(
        attempt(provision.auth, request, credentials, raw), query, malformed, refusal
    )
    try:
        answer = await provision.answer(call)
    except AuthRefused:
        raise  # 401/403 by the problem handlers
    except RuleViolation as exc:
        return refused(request, exc)
    result = answer.result
    return Response(
        orjson.dumps({"outcome": result.outcome.value, "record": result.record}),
        media_type="application/json",
    )
