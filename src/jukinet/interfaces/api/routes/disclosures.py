"""Disclosure requests (本人確認情報の開示請求) at the national center or a prefecture:
``/disclosures/{office}/…`` where ``office`` is ``national`` or a 2-digit prefecture code.

Operators act for their own office only (organisation ``national`` or ``prefecture/<code>``;
another organisation's operator gets 403 ``other_organisation``). The disclosure officer does
every step and prints the letters (``disclosure.provide``); the overdue list and the
statistics carry no personal data and are open to the auditor as well (``disclosure.report``).
Every authorisation decision is recorded by the operator directory; every step in the
office's audit log.

Errors are problem+json naming field and rule: 404 an unknown request (another office's
included) or an office not hosted here, 409 a step the request's state does not allow
(``illegal_transition``), 422 any other rule.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from jukinet.clock import today_in_japan
from jukinet.domain.disclosure import (
    Channel,
    CorrectionItem,
    CorrectionOutcome,
    Decision,
    DisclosedContent,
    DisclosureForm,
    EvidenceKind,
    RefusalReason,
    Representation,
    RequesterKind,
    RequestState,
    days_overdue,
    parse_office,
)
from jukinet.domain.operators import Action
from jukinet.interfaces.api.auth_deps import require_permission
from jukinet.interfaces.api.deps import AppServices, ServicesDep
from jukinet.interfaces.api.problems import problem_responses
from jukinet.interfaces.api.schemas import ID_MAX, RequestBody
from jukinet.services.disclosure import (
    Correction,
    DisclosureService,
    StoredRequest,
    disclosure_service,
)
from jukinet.services.operators import Operator

router = APIRouter(prefix="/disclosures/{office}", tags=["disclosure"])

OfficePath = Annotated[
    str,
    Path(
        pattern=r"^(national|0[1-9]|[1-3][0-9]|4[0-7])$",
        description="national, or a 2-digit prefecture code",
    ),
]
RequestId = Annotated[int, Path(ge=1, le=ID_MAX, description="the request's number at this office")]
CorrectionId = Annotated[int, Path(ge=1, le=ID_MAX, description="the correction request's number")]


def office_in_path(request: Request) -> str:
    """The organisation whose operators act for the office of the path."""
    return parse_office(str(request.path_params["office"])).organisation


Officer = Annotated[
    Operator,
    Depends(require_permission(Action.DISCLOSURE_PROVIDE, organisation=office_in_path)),
]
Reporter = Annotated[
    Operator,
    Depends(require_permission(Action.DISCLOSURE_REPORT, organisation=office_in_path)),
]

PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "the letter (PDF)"}
}


# --- bodies ---------------------------------------------------------------------------------


class IntakeIn(RequestBody):
    received_on: date = Field(description="the day the request arrived (mail) or was made")
    request_method: Channel
    delivery_method: Channel = Field(description="how the requester will receive the answer")
    requester_kind: RequesterKind
    requester_name: str = Field(max_length=200)
    requester_address: str | None = Field(default=None, max_length=400)
    representation: Representation | None = None
    resident_code: str = Field(pattern=r"^\d{11}$", description="the person's resident code")
    name: str = Field(max_length=200, description="the person's name")
    birth_date: date = Field(description="the person's date of birth")
    evidence: list[EvidenceKind] = Field(default_factory=list, max_length=12)


class DecisionIn(RequestBody):
    decision: Decision
    refusal_reasons: list[RefusalReason] = Field(default_factory=list, max_length=8)
    note: str | None = Field(default=None, max_length=2000)
    decided_on: date | None = Field(default=None, description="default: today (Japan)")


class ExtensionIn(RequestBody):
    until: date = Field(description="the new deadline for the decision")
    reason: str = Field(max_length=2000, description="why the decision cannot be made in time")
    notified_on: date | None = Field(
        default=None, description="the day the requester is notified; default: today (Japan)"
    )


class ExtensionOut(BaseModel):
    until: date
    reason: str
    notified_on: date


class DeliveryIn(RequestBody):
    delivered_on: date | None = Field(default=None, description="default: today (Japan)")


class CorrectionIn(RequestBody):
    item: CorrectionItem
    claimed: str = Field(max_length=2000, description="what the item should read")
    requested_on: date | None = None


class AnswerIn(RequestBody):
    outcome: CorrectionOutcome
    findings: str = Field(max_length=4000, description="what the investigation found")
    answered_on: date | None = None


class CorrectionOut(BaseModel):
    id: int
    requested_on: date
    item: CorrectionItem
    claimed: str
    state: str
    answered_on: date | None
    outcome: CorrectionOutcome | None
    findings: str | None

    @classmethod
    def of(cls, c: Correction) -> CorrectionOut:
        return cls(
            id=c.id,
            requested_on=c.requested_on,
            item=c.item,
            claimed=c.claimed,
            state=c.state.value,
            answered_on=c.answered_on,
            outcome=c.outcome,
            findings=c.findings,
        )


class VersionOut(BaseModel):
    resident_code: str
    name: str
    alias: str | None
    former_surname: str | None
    birth_date: date
    sex: str
    address: str
    change_reason: str
    change_date: date
    removed: bool


class ProvisionOut(BaseModel):
    provided_on: date
    recipient: str
    affair_id: str
    affair: str
    method: str
    case_reference: str
    resident_code: str


class ContentOut(BaseModel):
    as_of: date
    record: VersionOut
    history: list[VersionOut]
    provisions: list[ProvisionOut] | None
    provisions_kept_from: str
    provisions_held_by: str
    provisions_note: str | None
    provisions_as_of: date | None = Field(description="the day the provision log was read")

    @classmethod
    def of(cls, content: DisclosedContent) -> ContentOut:
        return cls.model_validate(content.to_dict())


class RequestSummaryOut(BaseModel):
    id: int
    office: str
    state: RequestState
    received_on: date
    due_on: date
    days_overdue: int
    request_method: Channel
    delivery_method: Channel
    requester_kind: RequesterKind
    decision: Decision | None
    decided_on: date | None
    late: bool = Field(description="decided after the deadline")
    delivered_on: date | None


class RequestOut(RequestSummaryOut):
    requester_name: str
    requester_address: str | None
    representation: Representation | None
    resident_code: str = Field(description="the person's code as written on the request")
    name: str
    birth_date: date
    evidence: list[EvidenceKind]
    refusal_reasons: list[RefusalReason]
    refusal_note: str | None
    content: ContentOut | None
    corrections: list[CorrectionOut]
    extension: ExtensionOut | None = Field(
        description="the decision period extended in writing (due_on is then its deadline)"
    )
    provisions_question: str | None = Field(
        description="a prefecture's question to the national center for the person's "
        "provisions: answered, or where it stands while the decision waits for it"
    )


class StatisticsRowOut(BaseModel):
    fiscal_year: str
    era_year: str
    request_visit: int
    request_mail: int
    delivery_visit: int
    delivery_mail: int
    total: int


def _summary(r: StoredRequest, today: date) -> dict[str, Any]:
    return {
        "id": r.id,
        "office": r.office,
        "state": r.state,
        "received_on": r.received_on,
        "due_on": r.due_on,
        "days_overdue": days_overdue(r.state, r.due_on, today),
        "request_method": r.request_method,
        "delivery_method": r.delivery_method,
        "requester_kind": r.requester_kind,
        "decision": r.decision,
        "decided_on": r.decided_on,
        "late": r.decided_on is not None and r.decided_on > r.due_on,
        "delivered_on": r.delivered_on,
    }


def _full(desk: DisclosureService, r: StoredRequest) -> RequestOut:
    today = today_in_japan(desk.clock)
    return RequestOut(
        provisions_question=desk.question_state(r),
        **_summary(r, today),
        requester_name=r.requester_name,
        requester_address=r.requester_address,
        representation=r.representation,
        resident_code=r.subject_resident_code,
        name=r.subject_name,
        birth_date=r.subject_birth_date,
        evidence=sorted(r.evidence),
        refusal_reasons=list(r.refusal_reasons),
        refusal_note=r.refusal_note,
        content=None if r.content is None else ContentOut.of(r.content),
        corrections=[CorrectionOut.of(c) for c in r.corrections],
        extension=None
        if r.extension is None
        else ExtensionOut(
            until=r.extension.until,
            reason=r.extension.reason,
            notified_on=r.extension.notified_on,
        ),
    )


# --- plumbing -------------------------------------------------------------------------------


def _desk(services: AppServices, office: str) -> DisclosureService:
    return disclosure_service(
        parse_office(office),
        services.clock,
        national_engine=services.national_engine,
        national_files=services.national_files,
        prefectural_engine=services.prefectural_engine,
        national_center=services.national_center,
    )


def _pdf(html: str, filename: str) -> Response:
    from jukinet.interfaces.documents.disclosure import pdf_bytes  # noqa: PLC0415 (slow to load)

    return Response(
        pdf_bytes(html),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def _actor(operator: Operator) -> str:
    return f"operator:{operator.login}"


# --- routes ---------------------------------------------------------------------------------


@router.post(
    "/requests",
    status_code=201,
    response_model=RequestOut,
    responses=problem_responses(401, 403, 404, 422),
)
def intake(
    request: Request, services: ServicesDep, office: OfficePath, body: IntakeIn, operator: Officer
) -> Any:
    """Record a request as received. One with formal defects (requester not entitled,
    evidence missing, no record matching the person) is recorded and refused at once."""
    desk = _desk(services, office)
    form = DisclosureForm(
        office=desk.office,
        received_on=body.received_on,
        request_method=body.request_method,
        delivery_method=body.delivery_method,
        requester_kind=body.requester_kind,
        requester_name=body.requester_name,
        subject_resident_code=body.resident_code,
        subject_name=body.name,
        subject_birth_date=body.birth_date,
        evidence=frozenset(body.evidence),
        requester_address=body.requester_address,
        representation=body.representation,
    )
    stored = desk.intake(form, actor=_actor(operator))
    return _full(desk, stored)


@router.get(
    "/requests",
    response_model=list[RequestSummaryOut],
    responses=problem_responses(401, 403, 404, 422),
)
def list_requests(
    services: ServicesDep,
    office: OfficePath,
    _operator: Officer,
    state: RequestState | None = None,
) -> Any:
    """The office's requests, oldest first."""
    found = _desk(services, office).requests(state)
    today = today_in_japan(services.clock)
    return [RequestSummaryOut(**_summary(r, today)) for r in found]


@router.get(
    "/requests/{request_id}",
    response_model=RequestOut,
    responses=problem_responses(401, 403, 404, 422),
)
def show_request(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    _operator: Officer,
) -> Any:
    """A request with its decision, the disclosed content and its corrections."""
    desk = _desk(services, office)
    return _full(desk, desk.get(request_id))


@router.post(
    "/requests/{request_id}/decision",
    response_model=RequestOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def decide(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    body: DecisionIn,
    operator: Officer,
) -> Any:
    """Disclose (the record, its history and its provisions are fixed now) or refuse."""
    desk = _desk(services, office)
    stored = desk.decide(
        request_id,
        body.decision,
        actor=_actor(operator),
        reasons=body.refusal_reasons,
        note=body.note,
        on=body.decided_on,
    )
    return _full(desk, stored)


@router.post(
    "/requests/{request_id}/delivery",
    response_model=RequestOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def deliver(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    body: DeliveryIn,
    operator: Officer,
) -> Any:
    """The decision notice handed over at a visit or mailed (the request's delivery method)."""
    desk = _desk(services, office)
    stored = desk.deliver(request_id, actor=_actor(operator), on=body.delivered_on)
    return _full(desk, stored)


@router.post(
    "/requests/{request_id}/extension",
    response_model=RequestOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def extend(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    body: ExtensionIn,
    operator: Officer,
) -> Any:
    """Extend the decision period: the requester is notified in writing, within the 14 days,
    of the reason and the new deadline (the notice: ``GET …/extension-notice``)."""
    desk = _desk(services, office)
    stored = desk.extend(
        request_id, body.until, body.reason, actor=_actor(operator), on=body.notified_on
    )
    return _full(desk, stored)


@router.get(
    "/requests/{request_id}/extension-notice",
    response_class=Response,
    responses={**PDF, **problem_responses(401, 403, 404, 409, 422)},
)
def extension_notice(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    _operator: Officer,
) -> Response:
    """The extension notice as a PDF: 本人確認情報開示決定期限延長通知書."""
    from jukinet.interfaces.documents.disclosure import (  # noqa: PLC0415 (WeasyPrint is slow to load)
        extension_notice,
    )

    desk = _desk(services, office)
    html = extension_notice(desk.get(request_id), desk.office)
    return _pdf(html, f"extension-{request_id}.pdf")


@router.post(
    "/requests/{request_id}/provision-question",
    response_model=RequestOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def ask_provisions(
    services: ServicesDep, office: OfficePath, request_id: RequestId, operator: Officer
) -> Any:
    """A prefecture asks the national center again for the person's provisions (its question
    was quarantined, or the request predates the question); the earlier answer is ignored."""
    desk = _desk(services, office)
    stored = desk.ask_provisions(request_id, actor=_actor(operator))
    return _full(desk, stored)


@router.get(
    "/requests/{request_id}/letter",
    response_class=Response,
    responses={**PDF, **problem_responses(401, 403, 404, 409, 422)},
)
def decision_letter(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    _operator: Officer,
) -> Response:
    """The decision notice as a PDF: 本人確認情報開示決定通知書 or 不開示決定通知書."""
    from jukinet.interfaces.documents.disclosure import (  # noqa: PLC0415 (WeasyPrint is slow to load)
        decision_notice,
    )

    desk = _desk(services, office)
    return _pdf(decision_notice(desk.get(request_id), desk.office), f"disclosure-{request_id}.pdf")


@router.post(
    "/requests/{request_id}/corrections",
    status_code=201,
    response_model=CorrectionOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def request_correction(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    body: CorrectionIn,
    operator: Officer,
) -> Any:
    """A correction requested after the disclosure was delivered; it is investigated."""
    correction = _desk(services, office).request_correction(
        request_id, body.item, body.claimed, actor=_actor(operator), on=body.requested_on
    )
    return CorrectionOut.of(correction)


@router.post(
    "/requests/{request_id}/corrections/{correction_id}/answer",
    response_model=CorrectionOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def answer_correction(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    correction_id: CorrectionId,
    body: AnswerIn,
    operator: Officer,
) -> Any:
    """The written answer to a correction request, with the findings."""
    correction = _desk(services, office).answer_correction(
        request_id,
        correction_id,
        body.outcome,
        body.findings,
        actor=_actor(operator),
        on=body.answered_on,
    )
    return CorrectionOut.of(correction)


@router.get(
    "/requests/{request_id}/corrections/{correction_id}/letter",
    response_class=Response,
    responses={**PDF, **problem_responses(401, 403, 404, 409, 422)},
)
def correction_letter(
    services: ServicesDep,
    office: OfficePath,
    request_id: RequestId,
    correction_id: CorrectionId,
    _operator: Officer,
) -> Response:
    """The answer to a correction request as a PDF."""
    from jukinet.interfaces.documents.disclosure import correction_notice  # noqa: PLC0415

    desk = _desk(services, office)
    correction = desk.correction(request_id, correction_id)
    html = correction_notice(desk.get(request_id), correction, desk.office)
    return _pdf(html, f"correction-{request_id}-{correction_id}.pdf")


@router.get(
    "/overdue",
    response_model=list[RequestSummaryOut],
    responses=problem_responses(401, 403, 404, 422),
)
def overdue(
    services: ServicesDep,
    office: OfficePath,
    _operator: Reporter,
    on: Annotated[date | None, Query(description="the day to judge by (default today)")] = None,
) -> Any:
    """Requests still undecided after their 14-day deadline, oldest deadline first."""
    day = on or today_in_japan(services.clock)
    found = _desk(services, office).overdue(day)
    return [RequestSummaryOut(**_summary(o.request, day)) for o in found]


@router.get(
    "/statistics",
    response_model=list[StatisticsRowOut],
    responses=problem_responses(401, 403, 404, 422),
)
def statistics(
    services: ServicesDep,
    office: OfficePath,
    _operator: Reporter,
    from_year: Annotated[int, Query(alias="from", ge=2002, le=2100)],
    to_year: Annotated[int, Query(alias="to", ge=2002, le=2100)],
) -> Any:
    """Requests per fiscal year (April–March) by request and delivery method, with totals."""
    rows = _desk(services, office).statistics(from_year, to_year)
    return [
        StatisticsRowOut(
            fiscal_year=r.fiscal_year,
            era_year=r.era_year,
            request_visit=r.request_visit,
            request_mail=r.request_mail,
            delivery_visit=r.delivery_visit,
            delivery_mail=r.delivery_mail,
            total=r.total,
        )
        for r in rows
    ]
