"""``jukinet provision``: provision statistics carried over from a previous system, and batch
provision on media."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision import ProvisionMethod
from jukinet.interfaces.cli.common import clock, console, console_err, network
from jukinet.services.national.batch_provision import BatchProvisionService
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


@app.command("import-media")
def import_media_command(
    directory: Annotated[
        Path,
        typer.Argument(
            help="the media directory: every *.csv request file in it (not *.result.csv)",
            exists=True,
            file_okay=False,
            readable=True,
        ),
    ],
    recipient: Annotated[str, typer.Option(help="the recipient the media came from")],
    affair: Annotated[str, typer.Option(help="the affair id the requests are for")],
    out: Annotated[
        Path | None, typer.Option(help="where result files go (default: the directory)")
    ] = None,
) -> None:
    """Batch provision on media (磁気媒体): run every request file of DIRECTORY as a job and
    write its result beside it as NAME.result.csv. A file run before returns its earlier job."""
    files = sorted(
        p for p in directory.glob("*.csv") if p.is_file() and not p.name.endswith(".result.csv")
    )
    if not files:
        console_err.print(f"[red]error[/red]: no *.csv request file in {escape(str(directory))}")
        raise typer.Exit(1)
    target = out or directory
    target.mkdir(parents=True, exist_ok=True)
    failed = False
    with network() as net:
        service = BatchProvisionService(net.national.engine, clock())
        for file in files:
            try:
                submission = service.submit(
                    recipient,
                    affair,
                    file.read_bytes(),
                    method=ProvisionMethod.BATCH_MEDIA,
                    source_name=file.name,
                    actor="operator:cli",
                )
            except RuleViolation as exc:
                console_err.print(f"[red]error[/red]: {escape(file.name)}: {escape(exc.message)}")
                failed = True
                continue
            job = submission.job
            result = service.result(job.id)
            if result is not None:
                (target / f"{file.stem}.result.csv").write_text(result, encoding="utf-8")
            earlier = "" if submission.created else " (submitted before: earlier job)"
            console.print(
                f"{escape(file.name)}: job {job.id} {job.status}{earlier}: {job.total_rows:,} "
                f"rows, {job.provided_rows:,} provided, {job.invalid_rows:,} invalid"
            )
    if failed:
        raise typer.Exit(1)
