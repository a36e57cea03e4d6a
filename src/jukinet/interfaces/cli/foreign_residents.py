"""``jukinet foreign-residents``: foreign residents join Juki-net on the applicable date."""

from __future__ import annotations

from typing import Annotated

import typer

from jukinet.interfaces.cli.common import console, network, progress_bar

app = typer.Typer(help="Foreign residents and the applicable date (2013-07-08).")


@app.command("assign-codes")
def assign_codes(
    lg_code: Annotated[
        list[str] | None,
        typer.Option("--lg-code", help="only this municipality (repeat); default: every one"),
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """From the applicable date: give every foreign resident registered without a resident
    code one from the municipality's pool and send the identity records upward. Idempotent:
    a second run assigns only what is left. Refused before the applicable date."""
    with network(*(lg_code or ())) as net:
        services = {
            lg: service
            for m in net.municipal
            for lg, service in m.foreign_residents.items()
            if not lg_code or lg in lg_code
        }
        for lg, service in sorted(services.items()):
            with progress_bar(f"{lg} codes", enabled=progress) as update:
                outcome = service.assign_codes(update)
            line = f"{lg}: {outcome.assigned} codes assigned, {outcome.remaining} without a code"
            if outcome.pool_exhausted:
                line += (
                    "; the pool ran out: more codes were requested from the national center, "
                    "run again when they arrive"
                )
            console.print(line)


@app.command("status")
def status(
    lg_code: Annotated[list[str] | None, typer.Option("--lg-code", help="repeat")] = None,
) -> None:
    """Foreign residents still without a resident code, per municipality."""
    with network(*(lg_code or ())) as net:
        for m in net.municipal:
            for lg, service in sorted(m.foreign_residents.items()):
                if not lg_code or lg in lg_code:
                    console.print(f"{lg}: {service.without_code()} without a code")
