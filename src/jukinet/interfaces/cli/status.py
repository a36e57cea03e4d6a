"""``jukinet status``: every node's health as the national center's monitoring sees it."""

from __future__ import annotations

from datetime import datetime

from rich import box
from rich.markup import escape
from rich.table import Table

from jukinet.clock import JST
from jukinet.interfaces.cli.common import clock, console, network
from jukinet.services.national.monitoring import read_network_status


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _time(at: datetime) -> str:
    return at.astimezone(JST).strftime("%H:%M:%S")


def status() -> None:
    """Send a heartbeat round from every node of the embedded network under JUKINET_HOME,
    then show per node: last heartbeat (and its age), outbox backlog, age of the oldest
    undelivered message and the last delivery error."""
    with network() as net:
        for node in net.nodes:
            node.send_heartbeats()
        now = clock().now()
        nodes = read_network_status(net.national.engine, now)
    table = Table(title="network status (as the national center sees it)", box=box.SIMPLE_HEAD)
    table.add_column("node", no_wrap=True)
    table.add_column("role")
    table.add_column("last seen (JST)")
    table.add_column("backlog", justify="right")
    table.add_column("oldest", justify="right")
    table.add_column("last error", overflow="fold")
    for s in nodes:
        oldest = s.oldest_pending_age(now)
        table.add_row(
            s.node_id,
            s.role,
            f"{_time(s.last_seen)}, {_age((now - s.last_seen).total_seconds())} ago",
            f"{s.backlog:,}" if not s.backlog else f"[yellow]{s.backlog:,}[/yellow]",
            "-" if oldest is None else _age(oldest),
            "-" if s.last_error is None else f"[red]{escape(s.last_error)}[/red]",
        )
    console.print(table)
