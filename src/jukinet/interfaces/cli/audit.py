"""``jukinet audit``: verify each node's audit log offline, and sign checkpoints."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from jukinet.interfaces.cli.common import clock, console, console_err, network
from jukinet.nodes.node import Node
from jukinet.services.audit import AuditLog, verify_audit_log
from jukinet.store.db import write_transaction

app = typer.Typer(help="The tamper-evident audit log of every node.")

NodeOption = Annotated[
    list[str] | None,
    typer.Option("--node", help="node name or id (national, prefecture, an lg code); repeatable"),
]


def _selected(nodes: list[Node], wanted: list[str] | None) -> list[Node]:
    if not wanted:
        return nodes
    chosen = [n for n in nodes if n.name in wanted or set(n.node_ids) & set(wanted)]
    known = {n.name for n in nodes} | {i for n in nodes for i in n.node_ids}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        console_err.print(f"[red]error[/red]: no node {escape(', '.join(unknown))}")
        raise typer.Exit(2)
    return chosen


@app.command("verify")
def verify(node: NodeOption = None) -> None:
    """Recompute every chain and check every checkpoint signature; name the first entry that
    was altered, removed or reordered. Exit status 1 when any log is broken."""
    broken = False
    with network() as net:
        for n in _selected(net.nodes, node):
            report = verify_audit_log(n.engine, n.trust)
            if report.ok:
                console.print(
                    f"[green]✓[/green] {escape(n.name)}: {report.entries:,} entries, "
                    f"{report.checkpoints:,} checkpoints verified"
                )
                continue
            broken = True
            first = report.first
            assert first is not None
            console.print(
                f"[red]✗[/red] {escape(n.name)}: entry {first.seq} {first.problem}: "
                f"{escape(first.message)}"
            )
            for finding in report.findings:
                if finding is not first:
                    console.print(f"    also: entry {finding.seq} {finding.problem}")
    if broken:
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint(node: NodeOption = None) -> None:
    """Sign the head of each node's audit log with the node's key now."""
    audit = AuditLog(clock())
    with network() as net:
        for n in _selected(net.nodes, node):
            credentials = n.credentials[sorted(n.credentials)[0]]
            with write_transaction(n.engine) as conn:
                head = audit.checkpoint(conn, credentials)
            if head is None:
                console.print(f"- {escape(n.name)}: nothing recorded yet")
            else:
                console.print(
                    f"[green]✓[/green] {escape(n.name)}: checkpoint at entry {head.seq} "
                    f"signed by {escape(head.node_id)} ({head.algorithm})"
                )
