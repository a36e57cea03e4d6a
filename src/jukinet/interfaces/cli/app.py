"""The ``jukinet`` command: one Typer app assembled from a sub-app per capability."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from jukinet.domain.errors import RuleViolation
from jukinet.interfaces.cli import audit as audit_cli
from jukinet.interfaces.cli import cards as cards_cli
from jukinet.interfaces.cli import check, codes, operators, pool, population, resident, status, up
from jukinet.interfaces.cli import disclosure as disclosure_cli
from jukinet.interfaces.cli import foreign_residents as foreign_residents_cli
from jukinet.interfaces.cli import pki as pki_cli
from jukinet.interfaces.cli import provision as provision_cli
from jukinet.interfaces.cli import recipient as recipient_cli
from jukinet.interfaces.cli import report as report_cli
from jukinet.interfaces.cli import revocation_feed as revocation_feed_cli
from jukinet.interfaces.cli import serve as serve_cli
from jukinet.interfaces.cli import wide_area as wide_area_cli
from jukinet.interfaces.cli.common import console_err

app = typer.Typer(
    name="jukinet",
    help="Basic Resident Registry Network (住民基本台帳ネットワークシステム).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(codes.code_app, name="code")
app.command("era")(codes.era)
app.add_typer(resident.app, name="resident")
app.add_typer(cards_cli.app, name="card")
app.add_typer(pool.app, name="pool")
app.add_typer(population.app, name="population")
app.command("up")(up.up)
app.add_typer(check.app, name="check")
app.command("status")(status.status)
app.add_typer(pki_cli.app, name="pki")
app.add_typer(audit_cli.app, name="audit")
app.command("init")(serve_cli.init)
app.command("serve")(serve_cli.serve)
app.add_typer(operators.app, name="operator")
app.add_typer(recipient_cli.app, name="recipient")
app.add_typer(report_cli.app, name="report")
app.add_typer(provision_cli.app, name="provision")
app.add_typer(disclosure_cli.app, name="disclosure")
app.add_typer(wide_area_cli.app, name="wide-area")
app.add_typer(foreign_residents_cli.app, name="foreign-residents")
app.command("revocation-feed")(revocation_feed_cli.revocation_feed)


def main(argv: list[str] | None = None) -> None:
    """Entry point: rule violations become one clear line on stderr and exit status 1."""
    try:
        app(args=argv, prog_name="jukinet")
    except RuleViolation as exc:
        console_err.print(f"[red]error[/red]: {escape(f'{exc.field}: {exc.message} [{exc.rule}]')}")
        sys.exit(1)
