"""``/healthz`` and ``/metrics``: what the 24-hour monitoring scrapes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.api.problems import problem_responses
from jukinet.interfaces.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses=problem_responses(503))
def healthz(services: ServicesDep) -> Health:
    """Every database of this process answers."""
    for engine in services.engines:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    return Health(status="ok", nodes=sorted(services.receivers))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus metrics"}},
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
