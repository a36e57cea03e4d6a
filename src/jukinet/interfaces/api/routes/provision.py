"""Immediate provision to recipients (即時提供): ``POST /provision/immediate``.

Not an operator route: the caller is a recipient (a national agency or corporation of the
annex table), authenticated by its own credential, not by an operator session.

Recipient authentication (decision for this slice): a bearer credential issued per recipient
(``jukinet recipient issue-key``), sent as ``Authorization: Bearer jkr_…`` and stored only as
its SHA-256. The issue asks for the recipient's certificate over mutual TLS; uvicorn does not
expose the TLS client certificate to the application, and a signed request (an envelope sealed
with credentials from the recipients CA, with replay protection) did not fit in this slice. The
credential is per recipient, revocable by re-issuing or suspending the recipient.

Statuses: 200 with ``outcome`` ``found`` / ``not_found`` / ``several_candidates``; 401 no or
unknown credential; 403 a refusal of the rules (affair not listed, outside its window, field not
allowed, suspended); 422 a malformed query; 404 when this process hosts no national center.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision import ProvisionQuery, parse_fields
from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.api.problems import problem_response, problem_responses
from jukinet.services.national.provision import ProvisionService

router = APIRouter(prefix="/provision", tags=["provision to recipients"])

_STATUS = {
    "not_authenticated": 401,
    "unknown_recipient": 401,
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


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


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
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    try:
        if services.national_engine is None:
            raise RuleViolation("node", "not_hosted", "no national center in this process")
        service = ProvisionService(services.national_engine, services.clock)
        recipient = service.authenticate(_bearer(authorization))
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
        result = service.immediate(recipient, query)
    except RuleViolation as exc:
        return problem_response(
            _STATUS.get(exc.rule, 422),
            "Refused" if exc.rule in _STATUS else "Rule violated",
            request=request,
            kind=exc.rule,
            detail=exc.message,
            field=exc.field,
            rule=exc.rule,
        )
    body_out: dict[str, Any] = {"outcome": result.outcome.value, "record": result.record}
    return JSONResponse(body_out)
