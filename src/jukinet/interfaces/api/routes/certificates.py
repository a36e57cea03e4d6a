"""Wide-area certificates at the counter of a hosted municipality (the issuing one).

Every route needs a logged-in operator of that municipality whose role may issue certificates
(``certificate.issue``: the certificate clerk). A request is answered ``202`` *pending*: the
home municipality is asked over the network and the copy is issued when its answer arrives
(``GET …/{number}`` shows where it stands, including a home municipality that cannot be
reached yet); ``GET …/{number}/certificate.pdf`` returns the issued copy (``409`` before).
Refusals of the home municipality (removed entry, another household, unknown code, photo ID
not matching) are recorded on the request with their rule and message.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from jukinet.domain.certificates import Options, Requester, RequestStatus, WideAreaRequest
from jukinet.domain.eras import format_era_date
from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import Action
from jukinet.interfaces.api.auth_deps import municipality_in_path, require_permission
from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.api.problems import problem_response, problem_responses
from jukinet.interfaces.api.schemas import ID_MAX, RequestBody
from jukinet.interfaces.documents.certificates import certificate_pdf, document_of
from jukinet.services.municipal.certificates import RequestView
from jukinet.services.operators import Operator

_issuer = require_permission(Action.CERTIFICATE_ISSUE, organisation=municipality_in_path)
Issuer = Annotated[Operator, Depends(_issuer)]

router = APIRouter(
    prefix="/municipalities/{lg_code}/wide-area-certificates",
    tags=["wide-area certificates"],
    dependencies=[Depends(_issuer)],
)

LgCode = Annotated[str, Path(pattern=r"^\d{6}$", description="issuing municipality (lg code)")]
Number = Annotated[
    int, Path(ge=1, le=ID_MAX, description="the request's number at this municipality")
]
Code = Annotated[str, Field(pattern=r"^\d{11}$")]


class WideAreaRequestIn(RequestBody):
    home_lg_code: str = Field(pattern=r"^\d{6}$", description="the person's home municipality")
    requester_resident_code: Code
    requester_name: str = Field(min_length=1, max_length=200, description="as on the photo ID")
    requester_birth_date: date
    subject_codes: list[Code] = Field(
        default_factory=list, max_length=10, description="persons on the copy (default: self)"
    )
    include_household: bool = Field(False, description="print household head and relationship")
    include_resident_code: bool = Field(False, description="print the resident code")
    identity_document: str = Field(min_length=1, max_length=100, description="photo ID shown")


class RefusalOut(BaseModel):
    rule: str | None
    field: str | None
    message: str | None


class DeliveryOut(BaseModel):
    delivered: bool
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None


class WideAreaRequestOut(BaseModel):
    number: int
    certificate_number: str
    status: Literal["pending", "issued", "refused", "cancelled"]
    state: str = Field(description="where the request stands, in one line")
    home_lg_code: str
    requester_resident_code: str
    subject_codes: list[str]
    include_household: bool
    include_resident_code: bool
    requested_by: str
    requested_at: datetime
    refusal: RefusalOut | None = None
    delivery: DeliveryOut | None = None
    fee_yen: int | None = None
    issued_on: date | None = None
    issued_on_era: str | None = None

    @classmethod
    def of(cls, view: RequestView) -> WideAreaRequestOut:
        stored = view.stored
        request = stored.request
        refusal = None
        if stored.status is RequestStatus.REFUSED:
            refusal = RefusalOut(
                rule=stored.refusal_rule,
                field=stored.refusal_field,
                message=stored.refusal_message,
            )
        delivery = None
        if view.delivery is not None:
            d = view.delivery
            delivery = DeliveryOut(
                delivered=d.delivered_at is not None,
                attempts=d.attempts,
                last_error=d.last_error,
                next_attempt_at=d.next_attempt_at,
            )
        return cls(
            number=stored.id,
            certificate_number=stored.certificate_number,
            status=stored.status.value,
            state=view.state,
            home_lg_code=request.home_lg_code,
            requester_resident_code=request.requester.resident_code,
            subject_codes=list(request.subject_codes),
            include_household=request.options.include_household,
            include_resident_code=request.options.include_resident_code,
            requested_by=stored.requested_by,
            requested_at=stored.requested_at,
            refusal=refusal,
            delivery=delivery,
            fee_yen=stored.fee_yen,
            issued_on=stored.issued_on,
            issued_on_era=format_era_date(stored.issued_on) if stored.issued_on else None,
        )


@router.post("", status_code=202, responses=problem_responses(401, 403, 404, 422))
def request_certificate(
    services: ServicesDep, lg_code: LgCode, body: WideAreaRequestIn, operator: Issuer
) -> WideAreaRequestOut:
    """Take a request at the counter: stored pending, the home municipality asked."""
    request = WideAreaRequest(
        home_lg_code=body.home_lg_code,
        requester=Requester(
            body.requester_resident_code, body.requester_name, body.requester_birth_date
        ),
        subject_codes=tuple(body.subject_codes),
        options=Options(body.include_household, body.include_resident_code),
        identity_document=body.identity_document,
    )
    view = services.wide_area_certificates(lg_code).request(request, f"operator:{operator.login}")
    return WideAreaRequestOut.of(view)


@router.get("", responses=problem_responses(401, 403, 404, 422))
def list_requests(
    services: ServicesDep,
    lg_code: LgCode,
    status: RequestStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WideAreaRequestOut]:
    """Requests taken here, newest first (``status=pending``: those still waiting)."""
    views = services.wide_area_certificates(lg_code).requests(status, limit)
    return [WideAreaRequestOut.of(v) for v in views]


@router.get("/{number}", responses=problem_responses(401, 403, 404, 422))
def show_request(services: ServicesDep, lg_code: LgCode, number: Number) -> WideAreaRequestOut:
    return WideAreaRequestOut.of(services.wide_area_certificates(lg_code).view(number))


@router.post(
    "/{number}/cancel",
    response_model=WideAreaRequestOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def cancel_request(
    request: Request, services: ServicesDep, lg_code: LgCode, number: Number, operator: Issuer
) -> WideAreaRequestOut | Response:
    """Withdraw a pending request (again: no change); an answered one: 409."""
    try:
        view = services.wide_area_certificates(lg_code).cancel(number, f"operator:{operator.login}")
    except RuleViolation as exc:
        if exc.rule != "already_answered":
            raise
        return _conflict(request, exc)
    return WideAreaRequestOut.of(view)


@router.get(
    "/{number}/certificate.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the copy"},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
def certificate(
    request: Request, services: ServicesDep, lg_code: LgCode, number: Number
) -> Response:
    """The issued copy (住民票の写し・広域交付) as a PDF; 409 while not issued."""
    try:
        stored, _persons = services.wide_area_certificates(lg_code).issued(number)
    except RuleViolation as exc:
        if exc.rule != "not_issued":
            raise
        return _conflict(request, exc)
    return Response(
        certificate_pdf(document_of(stored)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{stored.certificate_number}.pdf"'},
    )


def _conflict(request: Request, exc: RuleViolation) -> Response:
    return problem_response(
        409,
        "Conflict",
        request=request,
        kind=exc.rule,
        detail=exc.message,
        field=exc.field,
        rule=exc.rule,
    )
