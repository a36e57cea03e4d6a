"""``jukinet provision log``: seal the national center's provision log now, verify it (rows,
seals, segment files, and the audit chain they are recorded in) offline, purge the months past
retention, compact closed months."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from jukinet.domain.errors import RuleViolation
from jukinet.interfaces.cli.common import clock, console, console_err, network, settings
from jukinet.nodes.node import Node
from jukinet.services.national.provision_log import ProvisionLog, SegmentAltered

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


@app.command("purge")
def purge(
    before: str | None = typer.Option(
        None,
        "--before",
        metavar="YYYY-MM",
        help="Drop the months before this one (default: every month past the 7-year retention).",
    ),
) -> None:
    """Drop the months past retention (rows and segment files) and record the purge in the
    audit log. The national node does this by itself once a day; refuses a month retention
    still keeps."""
    with network() as net:
        log = ProvisionLog(net.national.engine, _files(net.national), clock(), net.national.audit)
        month = before or log.kept_from()
        try:
            done = log.purge_before(month) if before else log.purge_expired()
        except (RuleViolation, ValueError) as exc:
            console_err.print(f"[red]✗[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
    if done is None:
        console.print(f"nothing to purge before {month}")
        return
    console.print(
        f"[green]✓[/green] purged before {done.before_month}: {done.rows:,} entries, "
        f"{done.segments:,} segment files (audit entry {done.seq})"
    )


@app.command("compact")
def compact(
    month: str | None = typer.Option(
        None, "--month", metavar="YYYY-MM", help="This closed month (default: every one due)."
    ),
) -> None:
    """Rewrite closed months' job segments as files of consecutive code ranges (recorded
    with the digests of the files they replace), so a person's history reads one file per
    month. The national node does this by itself after a month ends."""
    with network() as net:
        log = ProvisionLog(net.national.engine, _files(net.national), clock(), net.national.audit)
        try:
            done = [c for c in [log.compact_month(month)] if c] if month else log.compact_due()
        except (RuleViolation, SegmentAltered, ValueError) as exc:
            console_err.print(f"[red]✗[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
    if not done:
        console.print("nothing to compact")
    for c in done:
        console.print(
            f"[green]✓[/green] {c.year_month}: {len(c.replaced):,} segments, {c.entries:,} "
            f"entries, rewritten as {len(c.produced):,} files (audit entry {c.seq})"
        )
