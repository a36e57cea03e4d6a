"""``jukinet recipient``: the recipients of identity records and their affairs (annex table),
on the national center's database of the embedded network under ``JUKINET_HOME``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from jukinet.domain.affairs import RecipientKind
from jukinet.interfaces.cli.common import clock, console, network
from jukinet.services.national.provision import ProvisionService

app = typer.Typer(help="Recipients (提供先): list, add, suspend, issue credentials.")


@app.command("list")
def list_recipients() -> None:
    """Every recipient with its affairs, windows and allowed fields."""
    with network() as net:
        rows = ProvisionService(net.national.engine, clock()).recipients()
    table = Table("recipient", "kind", "status", "credential", "affair", "window", "fields")
    for recipient, grants in rows:
        status = "suspended" if recipient.suspended else "active"
        credential = "issued" if recipient.has_credential else "-"
        if not grants:
            table.add_row(recipient.name, recipient.kind, status, credential, "", "", "")
        for grant in grants:
            window = f"{grant.valid_from}..{grant.valid_until or ''}"
            affair = grant.affair_id + (" (suspended)" if grant.suspended else "")
            fields = ",".join(sorted(grant.allowed_fields))
            table.add_row(
                recipient.name, recipient.kind, status, credential, affair, window, fields
            )
    console.print(table)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="the recipient's name (e.g. 日本年金機構)")],
    kind: Annotated[RecipientKind, typer.Option(help="kind of recipient")],
) -> None:
    """Register a new recipient (its affairs are added by law: see ``recipient list``)."""
    with network() as net:
        ProvisionService(net.national.engine, clock()).add_recipient(name, kind.value, "cli")
    console.print(f"recipient {name} added")


@app.command("issue-key")
def issue_key(name: Annotated[str, typer.Argument(help="the recipient")]) -> None:
    """Issue a new bearer credential (shown once; the previous one stops working)."""
    with network() as net:
        key = ProvisionService(net.national.engine, clock()).issue_key(name, "cli")
    console.print(key, soft_wrap=True)


@app.command("suspend")
def suspend(
    name: Annotated[str, typer.Argument(help="the recipient")],
    affair: Annotated[str | None, typer.Option(help="only this affair id")] = None,
    resume: Annotated[bool, typer.Option(help="lift the suspension instead")] = False,
) -> None:
    """Suspend provision to a recipient (or one of its affairs); ``--resume`` lifts it."""
    with network() as net:
        ProvisionService(net.national.engine, clock()).suspend(
            name, affair_id=affair, suspended=not resume, actor="cli"
        )
    what = f"{name} {affair}" if affair else name
    console.print(f"{what}: {'resumed' if resume else 'suspended'}")
