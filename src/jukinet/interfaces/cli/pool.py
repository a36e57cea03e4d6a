"""``jukinet pool``: resident-code pools designated by the national center."""

from __future__ import annotations

from typing import Annotated

import typer

from jukinet.interfaces.cli.common import console, network
from jukinet.store.db import read_transaction
from jukinet.store.register import available_pool_size

app = typer.Typer(help="Resident-code pools designated to municipalities.")


@app.command("request")
def request(lg_code: Annotated[str, typer.Option("--lg-code")]) -> None:
    """Ask the national center for codes if the municipality's pool is low."""
    with network(lg_code) as net:
        net.municipality(lg_code).request_initial_pools()
        net.drain()
        with read_transaction(net.municipality(lg_code).node.engine) as conn:
            size = available_pool_size(conn, lg_code)
    console.print(f"{lg_code}: {size} codes available")
