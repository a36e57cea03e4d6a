"""Batch provision over the line (一括提供・電気通信回線): submit a request file, follow the job,
fetch the result file.

``POST /provision/batch?affair_id=…`` with the request file as the body, streamed to the
national center's incoming area (``text/csv``, or ``application/vnd.apache.parquet``; columns in
``services/national/batch/request_file.py``): 202 with the queued job and its ``Location``, 200
with the earlier job when the same file was submitted before for the same affair (nothing is
provided twice), 413 beyond ``BATCH_MAX_BYTES``, 415 another content type, 422 a file refused
whole (encoding, header, schema). ``GET /provision/batch/{id}`` gives status, phase and row
counts; ``GET /provision/batch/{id}/result`` streams the result CSV (409 while the job is not
done, with its error once failed). Another recipient's job is 404, as an unknown one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel

from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision import ProvisionMethod
from jukinet.interfaces.api.deps import AppServices, ServicesDep
from jukinet.interfaces.api.problems import problem_response, problem_responses
from jukinet.interfaces.api.recipient_auth import (
    AuthenticatedRecipient,
    RecipientDep,
    StreamingRecipientDep,
    confirm_body,
)
from jukinet.interfaces.api.routes.provision import refused
from jukinet.interfaces.api.schemas import Text
from jukinet.services.national.batch.request_file import RequestFormat
from jukinet.services.national.batch.service import BatchProvisionService, StagedFile
from jukinet.store.provision_jobs import ProvisionJob

router = APIRouter(prefix="/provision", tags=["provision to recipients"])

BATCH_MAX_BYTES = 8 * 1024**3
"""A request file of 40 million rows is about 2.5 GB; beyond 8 GB it is split by the sender."""
_FORMATS = {
    "text/csv": RequestFormat.CSV,
    "application/vnd.apache.parquet": RequestFormat.PARQUET,
    "application/x-parquet": RequestFormat.PARQUET,
}


class BatchJobResponse(BaseModel):
    job_id: str
    affair_id: str
    method: str
    status: str
    phase: str | None
    total_rows: int
    processed_rows: int
    provided_rows: int
    invalid_rows: int
    submitted_at: str
    finished_at: str | None
    error: str | None
    duplicate: bool = False


def _job_body(job: ProvisionJob, *, duplicate: bool = False) -> dict[str, Any]:
    return BatchJobResponse(
        job_id=job.id,
        affair_id=job.affair_id,
        method=job.method,
        status=job.status,
        phase=job.phase,
        total_rows=job.total_rows,
        processed_rows=job.processed_rows,
        provided_rows=job.provided_rows,
        invalid_rows=job.invalid_rows,
        submitted_at=job.submitted_at.isoformat(),
        finished_at=None if job.finished_at is None else job.finished_at.isoformat(),
        error=job.error,
        duplicate=duplicate,
    ).model_dump()


def _batch_service(services: AppServices) -> BatchProvisionService:
    if services.national_engine is None or services.national_files is None:
        raise RuleViolation("node", "not_hosted", "no national center in this process")
    return BatchProvisionService(services.national_engine, services.clock, services.national_files)


class _TooLarge(Exception):
    pass


async def _receive(request: Request, target: Path) -> StagedFile:
    """Stream the body to ``target``, hashing it; never more than ``BATCH_MAX_BYTES``."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > BATCH_MAX_BYTES:
                raise _TooLarge
            digest.update(chunk)
            out.write(chunk)
    return StagedFile(target, digest.hexdigest(), size)


@router.post(
    "/batch",
    response_model=BatchJobResponse,
    status_code=202,
    responses={
        200: {"model": BatchJobResponse},
        **problem_responses(401, 403, 404, 413, 415, 422),
    },
)
async def submit_batch(
    request: Request,
    services: ServicesDep,
    affair_id: Annotated[Text, Query(max_length=40, description="the affair of the annex")],
    recipient: StreamingRecipientDep,
    content_type: Annotated[str, Header()] = "text/csv",
) -> Any:
    fmt = _FORMATS.get(content_type.split(";")[0].strip().lower())
    if fmt is None:
        return problem_response(
            415,
            "Unsupported request file type",
            request=request,
            kind="unsupported_media_type",
            detail=f"send text/csv or application/vnd.apache.parquet, not {content_type}",
        )
    try:
        service = _batch_service(services)
        target = service.incoming()
        try:
            staged = await _receive(request, target)
        except _TooLarge:
            target.unlink(missing_ok=True)
            return problem_response(
                413,
                "Request file too large",
                request=request,
                kind="too_large",
                detail=f"at most {BATCH_MAX_BYTES} bytes per request file",
            )
        try:
            await confirm_body(request, recipient, bytes.fromhex(staged.sha256))
        except RuleViolation:
            target.unlink(missing_ok=True)
            raise
        submission = await run_in_threadpool(
            service.submit,
            recipient.name,
            affair_id,
            staged,
            fmt=fmt,
            method=ProvisionMethod.BATCH_LINE,
        )
    except RuleViolation as exc:
        return refused(request, exc)
    job = submission.job
    return JSONResponse(
        _job_body(job, duplicate=not submission.created),
        status_code=202 if submission.created else 200,
        headers={"Location": f"/provision/batch/{job.id}"},
    )


def _own_job(
    services: AppServices, recipient: AuthenticatedRecipient, job_id: str
) -> tuple[BatchProvisionService, ProvisionJob]:
    service = _batch_service(services)
    job = service.job(job_id, recipient.name)
    if job is None:
        raise RuleViolation("job_id", "not_found", f"no job {job_id}")
    return service, job


@router.get(
    "/batch/{job_id}",
    response_model=BatchJobResponse,
    responses=problem_responses(401, 403, 404),
)
def batch_job(
    request: Request,
    services: ServicesDep,
    job_id: Text,
    recipient: RecipientDep,
) -> Any:
    try:
        _, job = _own_job(services, recipient, job_id)
    except RuleViolation as exc:
        return refused(request, exc)
    return JSONResponse(_job_body(job))


@router.get(
    "/batch/{job_id}/result",
    response_class=FileResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "the result file"},
        **problem_responses(401, 403, 404, 409),
    },
)
def batch_result(
    request: Request,
    services: ServicesDep,
    job_id: Text,
    recipient: RecipientDep,
) -> Any:
    try:
        service, job = _own_job(services, recipient, job_id)
    except RuleViolation as exc:
        return refused(request, exc)
    path = service.result_file(job) if job.status == "done" else None
    if path is None:
        detail = f"job {job.id} is {job.status}" + (f": {job.error}" if job.error else "")
        return problem_response(
            409, "Job not done", request=request, kind="job_not_done", detail=detail
        )
    return FileResponse(
        path,
        media_type="text/csv; charset=utf-8",
        filename=f"{job.id}.result.csv",
        headers={"X-Content-SHA256": job.result_sha256 or ""},
    )
