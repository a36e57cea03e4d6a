"""Immediate provision to recipients (即時提供): ``POST /provision/immediate``.

Not an operator route: the caller is a recipient (a national agency or corporation of the
annex table), authenticated by its own credential, not by an operator session.

Recipient authentication: every request is signed with the key of the recipient's certificate
from the network PKI (``interfaces/api/recipient_auth.py``, format in docs/security.md); uvicorn
does not expose a TLS client certificate to the application. The bearer key of ``jukinet
recipient issue-key`` is still accepted while recipients move to certificates.

Statuses: 200 with ``outcome`` ``found`` / ``not_found`` / ``several_candidates``; 401 no, bad
or unknown credential (the rule names why); 403 a refusal of the rules (affair not listed,
outside its window, field not allowed, suspended); 422 a malformed query; 404 when this process
hosts no national center.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision import ProvisionQuery, parse_fields
from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.api.problems import problem_response, problem_responses
from jukinet.interfaces.api.recipient_auth import RecipientDep
from jukinet.services.national.provision import ProvisionService

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


class ImmediateRequest(BaseModel):
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


@router.post(
    "/immediate",
    response_model=ImmediateResponse,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 422),
)
def immediate(
    request: Request,
    services: ServicesDep,
    body: ImmediateRequest,
    recipient: RecipientDep,
) -> Any:
    try:
        assert services.national_engine is not None  # the recipient dependency checked it
        service = ProvisionService(services.national_engine, services.clock)
        query = ProvisionQuery(
            affair_id=body.affair_id,
            case_reference=body.case_reference,
            resident_code=body.resident_code,
            name=body.name,
            birth_date=body.birth_date,
            sex=body.sex,
            address=body.address,
            fields=None if body.fields is None else parse_fields(body.fields),
        )
        result = service.immediate(recipient.name, query)
    except RuleViolation as exc:
        return refused(request, exc)
    body_out: dict[str, Any] = {"outcome": result.outcome.value, "record": result.record}
    return JSONResponse(body_out)
