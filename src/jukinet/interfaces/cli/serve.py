"""``jukinet init`` and ``jukinet serve``: the production layout, one node per process.

``init`` creates the network CA and each node's key and certificate once; ``serve`` runs one
node from its TOML configuration over HTTPS with mutual TLS.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from jukinet.domain import reference
from jukinet.domain.errors import RuleViolation
from jukinet.interfaces.cli.common import console, console_err, settings
from jukinet.net.messages import Role, lg_code_of, municipal_node, role_of
from jukinet.net.pki import DEFAULT_HOSTS, NetworkPKI, PKIError
from jukinet.nodes.config import ConfigError, load_config
from jukinet.nodes.serve import FakeClockRefusedError, run_node


def _fail(message: str) -> typer.Exit:
    console_err.print(f"[red]error[/red]: {escape(message)}")
    return typer.Exit(1)


def serve(
    role: Annotated[
        Role, typer.Option(help="the role this process runs; must match the config's role")
    ],
    config: Annotated[
        Path, typer.Option(help="the node's TOML configuration (see docs/production.md)")
    ],
) -> None:
    """Run one node (national, prefecture or a municipal host) over HTTPS with mutual TLS,
    until SIGTERM. Its credentials must exist (see jukinet init)."""
    try:
        node_config = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if node_config.role is not role:
        raise _fail(f"{config}: role: the config is for {node_config.role}, not {role.value}")
    try:
        run_node(node_config)
    except (ConfigError, FakeClockRefusedError) as exc:
        raise _fail(str(exc)) from None


def _parse_node(spec: str) -> tuple[str, Role, list[str]]:
    """``ID`` or ``ID=HOST,HOST``: the node id, its role (from the id) and its TLS hosts."""
    node_id, _, hosts_text = spec.partition("=")
    node_id = node_id.strip()
    try:
        role = role_of(node_id)
    except ValueError:
        raise RuleViolation(
            "--node",
            "unknown_role",
            f"{node_id!r}: a node id is national, prefecture or municipality/<lg code>",
        ) from None
    if role is Role.MUNICIPALITY:
        try:
            lg_code = lg_code_of(node_id)
        except ValueError as exc:
            raise RuleViolation("--node", "lg_code", str(exc)) from None
        node_id = municipal_node(reference.municipality(lg_code, "--node").lg_code)
    elif "/" in node_id:
        raise RuleViolation("--node", "node_id", f"{node_id!r}: the {role} node id is {role}")
    hosts = [h.strip() for h in hosts_text.split(",") if h.strip()] or list(DEFAULT_HOSTS)
    return node_id, role, hosts


def init(
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            help="a node to issue credentials for: national, prefecture, municipality/131016; "
            "add =HOST,HOST for the names its TLS certificate is valid for "
            "(default localhost,127.0.0.1). Repeatable.",
        ),
    ] = None,
    home: Annotated[
        Path | None, typer.Option(help="data directory; the PKI goes to HOME/pki")
    ] = None,
) -> None:
    """Create the network CA under HOME/pki and issue node credentials. Existing nodes are
    kept as they are; an existing CA is never replaced."""
    directory = (home if home is not None else settings().home) / "pki"
    wanted = [_parse_node(spec) for spec in node or []]
    now = datetime.now(UTC)
    if (directory / "ca" / "root.pem").exists():
        if not wanted:
            raise _fail(
                f"a network CA already exists in {directory / 'ca'}; refusing to overwrite it "
                "(add nodes to it with --node)"
            )
        try:
            pki = NetworkPKI.load(directory)
        except PKIError as exc:
            raise _fail(str(exc)) from None
        console.print(f"using the existing network CA in {directory / 'ca'}")
    else:
        try:
            pki = NetworkPKI.init(directory, now)
        except PKIError as exc:
            raise _fail(str(exc)) from None
        console.print(f"created the network CA in {directory / 'ca'}")
    table = Table("node", "role", "status", "fingerprint")
    for node_id, role, hosts in wanted:
        if (pki.node_dir(node_id) / "key.pem").exists():
            creds = pki.credentials(node_id)
            status = "exists"
        else:
            creds = pki.issue_node(node_id, role.value, now=now, hosts=hosts)
            status = "issued"
        table.add_row(node_id, role.value, status, creds.fingerprint[:16])
    if wanted:
        console.print(table)
