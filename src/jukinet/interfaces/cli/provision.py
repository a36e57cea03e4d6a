"""``jukinet provision``: provision statistics carried over from a previous system."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from jukinet.interfaces.cli.common import clock, console, console_err, network
from jukinet.services.national.import_stats import StatsFileRefused, import_stats

app = typer.Typer(help="Provision to recipients.", no_args_is_help=True)


@app.command("import-stats")
def import_stats_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV, UTF-8, header recipient,affair_id,year_month,method,count",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Import monthly provision counts from a previous system, all or nothing; they are kept
    apart from the live counters and summed with them in the gazette notice."""
    data = file.read_bytes()
    try:
        with network() as net:
            result = import_stats(
                net.national.engine, data, source_file=file.name, at=clock().now()
            )
    except StatsFileRefused as exc:
        console_err.print(f"[red]error[/red]: {escape(file.name)} refused, nothing imported:")
        for error in exc.errors:
            console_err.print(f"  {escape(str(error))}")
        raise typer.Exit(1) from exc
    console.print(
        f"imported {result.rows:,} monthly counts ({result.total:,} records) "
        f"from {escape(result.source_file)}"
    )
