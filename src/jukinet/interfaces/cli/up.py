"""``jukinet up``: the whole embedded network in one process, on SQLite under JUKINET_HOME."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import (
    install_operator_service,
    operator_service_from_settings,
)
from jukinet.interfaces.api.deps import services_of
from jukinet.interfaces.cli.common import clock, console, progress_bar, settings
from jukinet.nodes.demo import (
    DEMO_LEGACY_DAYS,
    DEMO_MUNICIPALITIES,
    DemoLogin,
    seed_demo_population,
    setup_demo_operators,
)
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
    The first start also registers demo operators and prints their operator cards and
    passwords once (see jukinet.nodes.demo); log in at /login. A restart resumes on the
    same data."""
    configure_logging()
    home = settings().home
    home.mkdir(parents=True, exist_ok=True)
    operators = operator_service_from_settings(settings(), clock())
    demo_logins = setup_demo_operators(operators)
    if demo_logins:  # at once: a later failure must not lose the only copy of the passwords
        _print_demo_logins(demo_logins)
    network = build_embedded(home, clock(), [*DEMO_MUNICIPALITIES, *hosted_municipalities(home)])
    with progress_bar("seeding", enabled=progress) as update:
        counts = seed_demo_population(network, residents, progress=lambda _lg: update)
    for m in network.municipal:
        m.request_initial_pools()
    network.start()
    registers = {lg: r for m in network.municipal for lg, r in m.registers.items()}
    certificates = {lg: c for m in network.municipal for lg, c in m.certificates.items()}
    app = create_app(
        services_of(
            network.nodes,
            clock(),
            registers,
            certificates,
            cards={lg: c for m in network.municipal for lg, c in m.cards.items()},
            card_moves={lg: c for m in network.municipal for lg, c in m.card_moves.items()},
        )
    )
    install_operator_service(app, operators)
    for lg_code, count in counts.items():
        console.print(f"{lg_code}: {count} residents")
    console.print(f"data in {home.resolve()}; serving http://{host}:{port}/docs")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        network.dispose()


def _print_demo_logins(logins: list[DemoLogin]) -> None:
    """Shown once, on the first start: only the password hashes are kept."""
    console.print(
        f"demo operators (operator cards accepted for {DEMO_LEGACY_DAYS} days; "
        "these passwords are shown only now):",
        highlight=False,
    )
    for d in logins:
        console.print(
            f"  {d.organisation:<20} {d.login:<18} {d.role.value:<14} "
            f"card {d.card_number}  password {d.password}",
            highlight=False,
            markup=False,
        )
    console.print(
        "log in at /login with a card, then enrol a biometric authenticator (WebAuthn)",
        highlight=False,
    )
