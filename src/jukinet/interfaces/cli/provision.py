"""``jukinet provision``: provision statistics carried over from a previous system, and batch
provision on media."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision import ProvisionMethod
from jukinet.interfaces.cli import provision_log
from jukinet.interfaces.cli.common import clock, console, console_err, network
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.national.batch.request_file import RequestFormat
from jukinet.services.national.batch.service import (
    BatchProvisionService,
    Submission,
    copy_result,
)
from jukinet.services.national.import_stats import StatsFileRefused, import_stats
from jukinet.store.provision_jobs import ProvisionJob

app = typer.Typer(help="Provision to recipients.", no_args_is_help=True)
app.add_typer(provision_log.app, name="log")


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


def _batch_service(net: EmbeddedNetwork) -> BatchProvisionService:
    assert net.national.files is not None
    return BatchProvisionService(net.national.engine, clock(), net.national.files)


def _request_files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in [*directory.glob("*.csv"), *directory.glob("*.parquet")]
        if p.is_file() and not p.name.endswith(".result.csv")
    )


@app.command("import-media")
def import_media_command(
    directory: Annotated[
        Path,
        typer.Argument(
            help="the media directory: every *.csv and *.parquet request file in it",
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
    """Batch provision on media (磁気媒体): queue every request file of DIRECTORY as a job, run
    the jobs, and write each result beside its file as NAME.result.csv. A file run before
    returns its earlier job and provides nothing twice."""
    files = _request_files(directory)
    if not files:
        console_err.print(
            f"[red]error[/red]: no *.csv or *.parquet request file in {escape(str(directory))}"
        )
        raise typer.Exit(1)
    target = out or directory
    target.mkdir(parents=True, exist_ok=True)
    failed = False
    with network() as net:
        service = _batch_service(net)
        submitted: list[tuple[Path, Submission]] = []
        for file in files:
            fmt = RequestFormat.PARQUET if file.suffix == ".parquet" else RequestFormat.CSV
            try:
                submission = service.submit(
                    recipient,
                    affair,
                    service.stage_file(file),
                    fmt=fmt,
                    method=ProvisionMethod.BATCH_MEDIA,
                    source_name=file.name,
                    actor="operator:cli",
                )
            except RuleViolation as exc:
                console_err.print(f"[red]error[/red]: {escape(file.name)}: {escape(exc.message)}")
                failed = True
                continue
            submitted.append((file, submission))
        _run_with_progress(service)
        for file, submission in submitted:
            job = service.job(submission.job.id)
            assert job is not None
            copy_result(service, job, target / f"{file.stem}.result.csv")
            earlier = "" if submission.created else " (submitted before: earlier job)"
            error = f": {job.error}" if job.error else ""
            console.print(
                f"{escape(file.name)}: job {job.id} {job.status}{earlier}{escape(error)}: "
                f"{job.total_rows:,} rows, {job.provided_rows:,} provided, "
                f"{job.invalid_rows:,} invalid"
            )
            failed = failed or job.status != "done"
    if failed:
        raise typer.Exit(1)


_PHASES = {"reading": 1, "matching": 2, "recording": 3}


def _run_with_progress(service: BatchProvisionService) -> None:
    """Run the waiting jobs here, one progress bar each (reading → matching → recording)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[phase]}"),
        console=console_err,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(job: ProvisionJob) -> None:
            if job.id not in tasks:
                name = job.source_name or job.id
                tasks[job.id] = bar.add_task(name, total=4, phase="")
            done = 4 if job.status in {"done", "failed"} else _PHASES.get(job.phase or "", 0)
            bar.update(tasks[job.id], completed=done, phase=job.phase or job.status)

        service.run_pending(update)


@app.command("snapshot")
def snapshot_command() -> None:
    """Refresh the registry snapshot that batch jobs read (the worker also refreshes it when
    older than a day; jobs add the records changed since, so it is never stale)."""
    with network() as net:
        snapshot = _batch_service(net).snapshots.refresh()
    console.print(f"snapshot of {snapshot.records:,} records: {escape(str(snapshot.path))}")
