"""``jukinet population``: synthetic populations for demos, tests and benchmarks."""

from __future__ import annotations

from typing import Annotated

import typer

from jukinet.interfaces.cli.common import console, network, progress_bar
from jukinet.nodes.demo import load_and_upload

app = typer.Typer(help="Synthetic populations (seeded, reproducible).")


@app.command("generate")
def generate(
    lg_code: Annotated[str, typer.Option("--lg-code", help="municipality (6-digit lg code)")],
    residents: Annotated[int, typer.Option("--residents", help="how many residents")],
    seed: Annotated[int, typer.Option("--seed", help="same seed, same people")] = 0,
    progress: Annotated[
        bool, typer.Option(help="show progress bars (--no-progress for CI)")
    ] = True,
) -> None:
    """Generate ``residents`` people living in the municipality, load them set-based, and
    upload their identity records to the prefecture and the national center."""
    with network(lg_code) as net, progress_bar(f"loading {lg_code}", enabled=progress) as update:
        loaded = load_and_upload(net, lg_code, residents, seed, update)
    console.print(f"loaded {loaded} residents into {lg_code}")
