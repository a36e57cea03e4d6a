"""Network status as the national center sees it (24-hour monitoring): JSON for tools, a page
in Japanese for operators, and per-node gauges on ``/metrics``.

Only a process hosting the national node has this view; elsewhere the routes answer 404.

Who may look: operators of the national center (organisation ``national``) whose role has
``network.monitor`` in the permission table, i.e. its administrators and auditors. Node status
carries no personal data, but it is the national center's operational view: a municipality's or
prefecture's operator gets 403 ``other_organisation``, a national registrar, certificate clerk or
disclosure officer 403 ``forbidden``, and no session 401. The gauges on ``/metrics`` stay
public for the monitoring scraper (counts and ages only). Each decision is recorded.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel
from sqlalchemy import Engine

from jukinet.clock import JST, Clock
from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import Action
from jukinet.interfaces.api.auth_deps import national_center, require_permission
from jukinet.interfaces.api.deps import AppServices, ServicesDep
from jukinet.interfaces.api.problems import problem_responses
from jukinet.net.messages import Role
from jukinet.ops.metrics import NodeGauges, NodeSample
from jukinet.services.national.monitoring import NodeStatus, read_network_status

_ROLE_JA = {
    Role.NATIONAL.value: "全国センター",
    Role.PREFECTURE.value: "都道府県センター",
    Role.MUNICIPALITY.value: "市町村CS",
}


def _national_engine(services: AppServices) -> Engine:
    if services.national_engine is None:
        raise RuleViolation(
            "node", "not_hosted", "this process hosts no national center: no network status here"
        )
    return services.national_engine


# --- gauges ---------------------------------------------------------------------------------

_install_lock = threading.Lock()


def _samples(engine: Engine, clock: Clock) -> list[NodeSample]:
    now = clock.now()
    return [
        NodeSample(
            s.node_id,
            s.role,
            s.backlog,
            s.oldest_pending_age(now),
            (now - s.last_seen).total_seconds(),
        )
        for s in read_network_status(engine, now)
    ]


def install_node_gauges(app: FastAPI) -> None:
    """Register the per-node gauges on the app's registry once (national processes only)."""
    services: AppServices = app.state.services
    engine = services.national_engine
    if engine is None:
        return
    with _install_lock:
        if getattr(app.state, "node_gauges", None) is None:
            gauges = NodeGauges(lambda: _samples(engine, services.clock))
            app.state.registry.register(gauges)
            app.state.node_gauges = gauges


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    install_node_gauges(app)  # so the first scrape already has them
    yield


router = APIRouter(tags=["monitoring"], lifespan=_lifespan)

_MONITOR = [Depends(require_permission(Action.NETWORK_MONITOR, organisation=national_center))]
_STATUS_ERRORS = problem_responses(401, 403, 404)


# --- JSON -----------------------------------------------------------------------------------


class NodeStatusOut(BaseModel):
    node_id: str
    role: str
    last_seen: datetime
    last_seen_age_seconds: float
    backlog: int
    oldest_pending_at: datetime | None
    oldest_pending_age_seconds: float | None
    last_error: str | None

    @classmethod
    def of(cls, s: NodeStatus, now: datetime) -> NodeStatusOut:
        return cls(
            node_id=s.node_id,
            role=s.role,
            last_seen=s.last_seen,
            last_seen_age_seconds=(now - s.last_seen).total_seconds(),
            backlog=s.backlog,
            oldest_pending_at=s.oldest_pending_at,
            oldest_pending_age_seconds=s.oldest_pending_age(now),
            last_error=s.last_error,
        )


class NetworkStatusOut(BaseModel):
    generated_at: datetime
    nodes: list[NodeStatusOut]


@router.get("/network/status", responses=_STATUS_ERRORS, dependencies=_MONITOR)
def get_network_status(request: Request, services: ServicesDep) -> NetworkStatusOut:
    """Per node: last heartbeat, outbox backlog, oldest undelivered message, last error.

    For the national center's administrators and auditors (``network.monitor``)."""
    engine = _national_engine(services)
    install_node_gauges(request.app)
    now = services.clock.now()
    nodes = read_network_status(engine, now)
    return NetworkStatusOut(generated_at=now, nodes=[NodeStatusOut.of(s, now) for s in nodes])


# --- HTML -----------------------------------------------------------------------------------

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
    )
)


def _time_ja(at: datetime) -> str:
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")


def age_ja(seconds: float) -> str:
    """A duration as an operator reads it: 12秒前, 5分前, 3時間20分前, 2日前."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}秒前"
    if s < 3600:
        return f"{s // 60}分前"
    if s < 86400:
        return f"{s // 3600}時間{s % 3600 // 60}分前"
    return f"{s // 86400}日前"


def _row(s: NodeStatus, now: datetime) -> dict[str, object]:
    oldest = "なし"
    if s.oldest_pending_at is not None:
        age = age_ja((now - s.oldest_pending_at).total_seconds())
        oldest = f"{age}（{_time_ja(s.oldest_pending_at)}）"
    return {
        "node_id": s.node_id,
        "role_ja": _ROLE_JA.get(s.role, s.role),
        "last_seen": _time_ja(s.last_seen),
        "last_seen_age": age_ja((now - s.last_seen).total_seconds()),
        "backlog": s.backlog,
        "oldest_pending": oldest,
        "last_error": s.last_error,
    }


@router.get("/", response_class=HTMLResponse, responses=_STATUS_ERRORS, dependencies=_MONITOR)
def status_page(request: Request, services: ServicesDep) -> HTMLResponse:
    """ネットワーク稼働状況: the operators' page of the same status.

    For the national center's administrators and auditors (``network.monitor``); log in at
    ``/login`` first."""
    engine = _national_engine(services)
    install_node_gauges(request.app)
    now = services.clock.now()
    nodes = read_network_status(engine, now)
    return templates.TemplateResponse(
        request,
        "status.html",
        {"generated_at": _time_ja(now), "nodes": [_row(s, now) for s in nodes]},
    )
