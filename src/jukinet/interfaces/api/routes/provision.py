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

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision import ProvisionMethod, ProvisionQuery, parse_fields
from jukinet.interfaces.api.deps import AppServices, ServicesDep
from jukinet.interfaces.api.problems import problem_response, problem_responses
from jukinet.services.national.batch_provision import BatchProvisionService
from jukinet.services.national.provision import ProvisionService
from jukinet.store.provision_jobs import ProvisionJob

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


# --- batch provision over the line (一括提供・電気通信回線) ----------------------------------
#
# ``POST /provision/batch?affair_id=…`` with the request file as the body (``text/csv``, see
# ``services/national/batch_provision.py`` for its columns): 201 with the new job, 200 with the
# earlier job when the same file was submitted before for the same affair (nothing provided
# twice), 413 beyond ``BATCH_MAX_BYTES``, 422 a file refused whole (encoding, header). Jobs run
# synchronously in this slice, so the answer is already ``done``. ``GET /provision/batch/{id}``
# gives status and progress, ``GET /provision/batch/{id}/result`` the result CSV (409 while not
# done); another recipient's job is 404, as an unknown one.

BATCH_MAX_BYTES = 64 * 1024 * 1024


class BatchJobResponse(BaseModel):
    job_id: str
    affair_id: str
    method: str
    status: str
    total_rows: int
    processed_rows: int
    provided_rows: int
    invalid_rows: int
    submitted_at: str
    finished_at: str | None
    duplicate: bool = False


def _job_body(job: ProvisionJob, *, duplicate: bool = False) -> dict[str, Any]:
    return BatchJobResponse(
        job_id=job.id,
        affair_id=job.affair_id,
        method=job.method,
        status=job.status,
        total_rows=job.total_rows,
        processed_rows=job.processed_rows,
        provided_rows=job.provided_rows,
        invalid_rows=job.invalid_rows,
        submitted_at=job.submitted_at.isoformat(),
        finished_at=None if job.finished_at is None else job.finished_at.isoformat(),
        duplicate=duplicate,
    ).model_dump()


def _refused(request: Request, exc: RuleViolation) -> JSONResponse:
    return problem_response(
        _STATUS.get(exc.rule, 422),
        "Refused" if exc.rule in _STATUS else "Rule violated",
        request=request,
        kind=exc.rule,
        detail=exc.message,
        field=exc.field,
        rule=exc.rule,
    )


def _batch_services(
    services: AppServices, authorization: str | None
) -> tuple[BatchProvisionService, str]:
    if services.national_engine is None:
        raise RuleViolation("node", "not_hosted", "no national center in this process")
    recipient = ProvisionService(services.national_engine, services.clock).authenticate(
        _bearer(authorization)
    )
    return BatchProvisionService(services.national_engine, services.clock), recipient


@router.post(
    "/batch",
    response_model=BatchJobResponse,
    status_code=201,
    responses={200: {"model": BatchJobResponse}, **problem_responses(401, 403, 404, 413, 422)},
)
async def submit_batch(
    request: Request,
    services: ServicesDep,
    affair_id: Annotated[str, Query(max_length=40, description="the affair of the annex")],
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    try:
        service, recipient = await run_in_threadpool(_batch_services, services, authorization)
        data = await request.body()
        if len(data) > BATCH_MAX_BYTES:
            return problem_response(
                413,
                "Request file too large",
                request=request,
                kind="too_large",
                detail=f"at most {BATCH_MAX_BYTES} bytes per request file",
            )
        submission = await run_in_threadpool(
            service.submit, recipient, affair_id, data, method=ProvisionMethod.BATCH_LINE
        )
    except RuleViolation as exc:
        return _refused(request, exc)
    return JSONResponse(
        _job_body(submission.job, duplicate=not submission.created),
        status_code=201 if submission.created else 200,
    )


def _own_job(
    services: AppServices, authorization: str | None, job_id: str
) -> tuple[BatchProvisionService, ProvisionJob]:
    service, recipient = _batch_services(services, authorization)
    job = service.job(job_id, recipient)
    if job is None:
        raise RuleViolation("job_id", "not_found", f"no job {job_id}")
    return service, job


@router.get(
    "/batch/{job_id}",
    response_model=BatchJobResponse,
    responses=problem_responses(401, 404),
)
def batch_job(
    request: Request,
    services: ServicesDep,
    job_id: str,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    try:
        _, job = _own_job(services, authorization, job_id)
    except RuleViolation as exc:
        return _refused(request, exc) if exc.rule != "not_found" else _not_found(request, exc)
    return JSONResponse(_job_body(job))


def _not_found(request: Request, exc: RuleViolation) -> JSONResponse:
    return problem_response(
        404, "Not found", request=request, kind="not_found", detail=exc.message, rule=exc.rule
    )


@router.get(
    "/batch/{job_id}/result",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "the result file"},
        **problem_responses(401, 404, 409),
    },
)
def batch_result(
    request: Request,
    services: ServicesDep,
    job_id: str,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    try:
        service, job = _own_job(services, authorization, job_id)
    except RuleViolation as exc:
        return _refused(request, exc) if exc.rule != "not_found" else _not_found(request, exc)
    result = service.result(job.id) if job.status == "done" else None
    if result is None:
        return problem_response(
            409,
            "Job not done",
            request=request,
            kind="job_not_done",
            detail=f"job {job.id} is {job.status}",
        )
    return Response(
        result,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{job.id}.result.csv"'},
    )
