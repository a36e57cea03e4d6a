"""Assemble the HTTP application of a node from its routers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry

from jukinet import __version__
from jukinet.interfaces.api.deps import AppServices
from jukinet.interfaces.api.problems import install_problem_handlers
from jukinet.interfaces.api.routes import (
    auth,
    health,
    network,
    provision,
    provision_batch,
    residents,
    status,
)
from jukinet.ops.logging import get_logger
from jukinet.ops.metrics import HttpMetrics

log = get_logger("jukinet.http")


def create_app(services: AppServices) -> FastAPI:
    app = FastAPI(
        title="jukinet",
        version=__version__,
        description="Basic Resident Registry Network (住民基本台帳ネットワークシステム)",
    )
    app.state.services = services
    app.state.registry = CollectorRegistry()
    http_metrics = HttpMetrics(app.state.registry)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(residents.router)
    app.include_router(network.router)
    app.include_router(status.router)
    app.include_router(auth.router)
    app.include_router(provision.router)
    app.include_router(provision_batch.router)

    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - started
        http_metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        http_metrics.latency.labels(request.method, route).observe(elapsed)
        log.info(
            "http_request",
            method=request.method,
            route=route,
            status=response.status_code,
            ms=round(elapsed * 1000, 2),
        )
        return response

    return app
