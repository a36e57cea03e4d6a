"""Assemble the HTTP application of a node from its routers."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jukinet import __version__
from jukinet.interfaces.api.deps import AppServices
from jukinet.interfaces.api.problems import install_problem_handlers
from jukinet.interfaces.api.routes import (
    auth,
    cards,
    certificates,
    disclosures,
    health,
    network,
    provision,
    provision_batch,
    residents,
    revocation_feed,
    status,
)
from jukinet.ops.logging import get_logger
from jukinet.ops.metrics import HttpMetrics

log = get_logger("jukinet.http")


class ObserveRequests:
    """Counts, latency and one log line per HTTP request, by route template.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs
    every request in a task group of its own and streams the response through a memory
    channel, which cost more than some routes' own work."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, observed_send)
        route = getattr(scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - started
        method = scope["method"]
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route).observe(elapsed)
        log.info(
            "http_request",
            method=method,
            route=route,
            status=status,
            ms=round(elapsed * 1000, 2),
        )


@asynccontextmanager
async def _settle_heap(_app: FastAPI) -> AsyncIterator[None]:
    """Freeze what the process has loaded by the time it serves (modules, reference data,
    routes, caches: it lives as long as the process) out of the garbage collector's full
    collections, which otherwise walked all of it every few seconds under load — about
    100 ms with the GIL held, a stall for every request in flight."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def create_app(services: AppServices) -> FastAPI:
    app = FastAPI(
        title="jukinet",
        version=__version__,
        description="Basic Resident Registry Network (住民基本台帳ネットワークシステム)",
        lifespan=_settle_heap,
    )
    app.state.services = services
    app.state.registry = CollectorRegistry()
    http_metrics = HttpMetrics(app.state.registry)
    install_problem_handlers(app)
    # Recipients' provision first: routes are tried in order, and immediate provision is the
    # busiest route of a national center (each route tried before it costs every request).
    app.include_router(provision.router)
    app.include_router(provision_batch.router)
    app.include_router(health.router)
    app.include_router(residents.router)
    app.include_router(cards.router)
    app.include_router(network.router)
    app.include_router(status.router)
    app.include_router(auth.router)
    app.include_router(certificates.router)
    app.include_router(revocation_feed.router)
    app.include_router(disclosures.router)

    app.add_middleware(ObserveRequests, metrics=http_metrics)
    return app
