"""``jukinet up``: the whole embedded network in one process, on SQLite under JUKINET_HOME."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.deps import services_of
from jukinet.interfaces.cli.common import clock, console, progress_bar, settings
from jukinet.nodes.demo import DEMO_MUNICIPALITIES, seed_demo_population
from jukinet.nodes.embedded import build_embedded, hosted_municipalities
from jukinet.ops.logging import configure_logging


def up(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    residents: Annotated[
        int, typer.Option(help="residents per municipality on first start")
    ] = 5000,
    progress: Annotated[bool, typer.Option(help="progress bars (--no-progress for CI)")] = True,
) -> None:
    """Set up JUKINET_HOME on first start (network CA, node keys, databases, synthetic
    population), then run the national center, the consolidated prefectural center and the
    municipalities, with every API, OpenAPI docs (/docs) and metrics on http://HOST:PORT.
    A restart resumes on the same data."""
    configure_logging()
    home = settings().home
    network = build_embedded(home, clock(), [*DEMO_MUNICIPALITIES, *hosted_municipalities(home)])
    with progress_bar("seeding", enabled=progress) as update:
        counts = seed_demo_population(network, residents, progress=lambda _lg: update)
    for m in network.municipal:
        m.request_initial_pools()
    network.start()
    registers = {lg: r for m in network.municipal for lg, r in m.registers.items()}
    app = create_app(services_of(network.nodes, clock(), registers))
    for lg_code, count in counts.items():
        console.print(f"{lg_code}: {count} residents")
    console.print(f"data in {home.resolve()}; serving http://{host}:{port}/docs")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        network.dispose()
