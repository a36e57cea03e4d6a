"""``/healthz`` and ``/metrics``: what the 24-hour monitoring scrapes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from jukinet.interfaces.api.deps import HostDep
from jukinet.interfaces.api.problems import problem_responses
from jukinet.interfaces.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses=problem_responses(503))
def healthz(host: HostDep) -> Health:
    """Every hosted database answers."""
    for lg_code in host.lg_codes:
        with host.engine(lg_code).connect() as conn:
            conn.execute(text("SELECT 1"))
    return Health(status="ok", municipalities=list(host.lg_codes))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus metrics"}},
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
