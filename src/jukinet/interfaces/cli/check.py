"""``jukinet check``: verify that the tiers agree, and repair them from the municipalities."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from jukinet.interfaces.cli.common import clock, console, network
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.consistency import (
    MunicipalityReport,
    RepairOutcome,
    TierName,
    check_municipality,
    repair,
)

app = typer.Typer(help="Consistency checks between the network's tiers.")

SHOWN_CODES = 20
"""Differing codes listed per municipality; the report itself keeps every one."""


def _check(net: EmbeddedNetwork, lg_code: str) -> MunicipalityReport:
    return check_municipality(
        lg_code,
        municipal=net.municipality(lg_code).node.engine,
        prefectural=net.prefecture.engine,
        national=net.national.engine,
    )


def _repair(net: EmbeddedNetwork, report: MunicipalityReport, now: datetime) -> RepairOutcome:
    municipal = net.municipality(report.lg_code)
    return repair(report, municipal.node.engine, municipal.links[report.lg_code], now)


def _mark(ok: bool) -> str:
    return "[green]✓[/green]" if ok else "[red]✗[/red]"


def _show(reports: list[MunicipalityReport], title: str) -> None:
    table = Table(title=title, caption="M↔P municipality vs prefecture, P↔N prefecture vs national")
    table.add_column("lg code", no_wrap=True)
    for heading in ("municipal", "prefecture", "national"):
        table.add_column(heading, justify="right")
    table.add_column("M↔P", justify="center")
    table.add_column("P↔N", justify="center")
    table.add_column("diff", justify="right")
    for r in reports:
        mp = r.comparison(TierName.MUNICIPALITY, TierName.PREFECTURE)
        pn = r.comparison(TierName.PREFECTURE, TierName.NATIONAL)
        table.add_row(
            r.lg_code,
            f"{r.counts[TierName.MUNICIPALITY]:,}",
            f"{r.counts[TierName.PREFECTURE]:,}",
            f"{r.counts[TierName.NATIONAL]:,}",
            _mark(mp.matches),
            _mark(pn.matches),
            f"{len(r.differing_codes):,}",
        )
    console.print(table)
    for r in reports:
        codes = r.differing_codes
        if not codes:
            continue
        console.print(f"{r.lg_code}: {len(codes):,} differing codes")
        for code in codes[:SHOWN_CODES]:
            console.print(f"  {code}  {', '.join(r.findings(code))}")
        if len(codes) > SHOWN_CODES:
            console.print(f"  … and {len(codes) - SHOWN_CODES:,} more")


def _show_repairs(outcomes: list[RepairOutcome]) -> None:
    for o in outcomes:
        console.print(
            f"{o.lg_code}: resent {o.resent:,} entries"
            + (f", relinked {len(o.relinked):,} former codes" if o.relinked else "")
        )
        if o.unresolvable:
            console.print(
                f"  [yellow]{len(o.unresolvable):,} codes unresolvable[/yellow] "
                "(never held by this municipality):"
            )
            for code in o.unresolvable[:SHOWN_CODES]:
                console.print(f"  {code}")


@app.command("consistency")
def consistency(
    lg_code: Annotated[
        list[str] | None,
        typer.Option("--lg-code", help="municipality to check (repeatable; default: every one)"),
    ] = None,
    fix: Annotated[
        bool, typer.Option("--repair", help="resend what differs from the municipality")
    ] = False,
) -> None:
    """Compare record counts and digests per municipality between the municipal register,
    the prefectural center and the national center. Exit status 1 while differences remain
    (with --repair: after resending, delivering and checking again)."""
    with network(*(lg_code or [])) as net:
        codes = list(
            dict.fromkeys(lg_code or sorted(lg for m in net.municipal for lg in m.registers))
        )
        reports = [_check(net, c) for c in codes]
        _show(reports, "consistency")
        if fix and not all(r.clean for r in reports):
            now = clock().now()
            outcomes = [_repair(net, r, now) for r in reports if not r.clean]
            _show_repairs(outcomes)
            net.drain()
            reports = [_check(net, c) for c in codes]
            _show(reports, "after repair")
    if all(r.clean for r in reports):
        console.print("[green]consistent[/green]")
        return
    raise typer.Exit(1)
