"""``jukinet operator``: organisations, operators and enrolment tokens in the operator directory
(``JUKINET_OPERATORS_DB``, default ``HOME/operators.db``). Whoever runs these commands on the
node's host is its local administrator: the first administrator of an organisation is
registered and given an enrolment token here; after that, administrators use the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from jukinet.domain.operators import Role
from jukinet.interfaces.api.auth_deps import operator_service_from_settings
from jukinet.interfaces.cli.common import clock, console, parse_date, settings
from jukinet.services.operators import OperatorService

app = typer.Typer(help="Operators (操作者): organisations, roles, enrolment tokens.")


def _service() -> OperatorService:
    return operator_service_from_settings(settings(), clock())


@app.command("org-add")
def org_add(
    organisation: Annotated[
        str, typer.Argument(help="municipality/<lg code>, prefecture/<code> or national")
    ],
    name: Annotated[str, typer.Option(help="the organisation's name")],
    legacy_cutoff: Annotated[
        str | None,
        typer.Option(help="operator cards are refused from this date (ISO or 和暦)"),
    ] = None,
) -> None:
    """Register an organisation, or change its name or legacy-card cutoff."""
    cutoff = parse_date(legacy_cutoff, "--legacy-cutoff")
    org_id = _service().add_organisation(organisation, name, cutoff)
    console.print(f"{org_id}: {name} (operator card until {cutoff or 'never'})")


@app.command("add")
def add(
    organisation: Annotated[str, typer.Argument(help="the operator's organisation")],
    login: Annotated[str, typer.Argument(help="operator id (a-z, 0-9, . _ -)")],
    name: Annotated[str, typer.Option(help="display name")],
    role: Annotated[Role, typer.Option(help="the operator's role")],
    card_number: Annotated[str | None, typer.Option(help="legacy operator card number")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="legacy card password (prompted when a card is given)"),
    ] = None,
) -> None:
    """Register an operator."""
    if card_number is not None and password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    operator = _service().add_operator(
        organisation, login, name, role, card_number=card_number, password=password
    )
    console.print(
        f"{operator.login}: {operator.display_name}, {operator.role.label_ja}, {operator.org_id}"
    )


@app.command("list")
def list_(
    organisation: Annotated[str | None, typer.Option(help="only this organisation")] = None,
) -> None:
    """List operators with their role and number of authenticators."""
    table = Table("organisation", "operator", "name", "role", "authenticators")
    for operator, authenticators in _service().list_operators(organisation):
        table.add_row(
            operator.org_id,
            operator.login,
            operator.display_name,
            operator.role.label_ja,
            str(authenticators),
        )
    console.print(table)


@app.command("enrol-token")
def enrol_token(
    login: Annotated[str, typer.Argument(help="the operator who will enrol an authenticator")],
) -> None:
    """Issue a one-time enrolment token (24 hours) for the login page's 認証器の登録."""
    console.print(_service().issue_enrolment_token(login, issued_by=None))
