"""``jukinet provision log``: seal the national center's provision log now, and verify it
(rows, seals, segment files, and the audit chain they are recorded in) offline."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from jukinet.interfaces.cli.common import clock, console, network, settings
from jukinet.nodes.node import Node
from jukinet.services.national.provision_log import ProvisionLog

app = typer.Typer(help="The tamper-evident provision log of the national center.")


def _files(national: Node) -> Path:
    """The national center's files (segments live there)."""
    return national.files or settings().home.resolve() / "national" / "files"


@app.command("seal")
def seal() -> None:
    """Seal every row appended since the last seal, recording each seal in the audit log."""
    with network() as net:
        log = ProvisionLog(net.national.engine, _files(net.national), clock(), net.national.audit)
        seals = log.seal()
    if not seals:
        console.print("nothing to seal: every row is sealed already")
        return
    rows = sum(s.rows for s in seals)
    console.print(
        f"[green]✓[/green] sealed {rows:,} rows (ids {seals[0].first_id}-{seals[-1].last_id}) "
        f"in {len(seals):,} seals"
    )


@app.command("verify")
def verify() -> None:
    """Recompute every seal and segment digest and check the audit chain they are recorded
    in; name the first row range or segment altered, removed or inserted. Exit status 1 when
    anything is."""
    with network() as net:
        log = ProvisionLog(net.national.engine, _files(net.national), clock(), net.national.audit)
        report = log.verify(net.national.trust)
    for orphan in report.orphans:
        console.print(f"- orphan file (its job never recorded it, ignored): {escape(orphan)}")
    if report.ok:
        console.print(
            f"[green]✓[/green] intact: {report.entries:,} entries ({report.rows:,} rows, "
            f"{report.segment_entries:,} in {report.segments:,} segments), {report.seals:,} "
            f"seals; {report.unsealed:,} rows not sealed yet"
        )
        return
    first = report.first
    assert first is not None
    console.print(f"[red]✗[/red] {escape(first.where)} {first.problem}: {escape(first.message)}")
    for finding in report.findings[1:]:
        console.print(f"    also: {escape(finding.where)} {finding.problem}")
    raise typer.Exit(1)
