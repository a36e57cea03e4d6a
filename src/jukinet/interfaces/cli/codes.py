"""``jukinet code check`` and ``jukinet era``: the identifier and calendar rules, on demand."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import typer

from jukinet.domain.codes import validate_lg_code, validate_my_number, validate_resident_code
from jukinet.domain.eras import format_era_date, parse_era_date
from jukinet.domain.errors import RuleViolation
from jukinet.interfaces.cli.common import console

code_app = typer.Typer(help="Validate identifiers (resident code, lg code, My Number).")


class CodeKind(StrEnum):
    resident = "resident"
    lg = "lg"
    mynumber = "mynumber"


_VALIDATORS = {
    CodeKind.resident: validate_resident_code,
    CodeKind.lg: validate_lg_code,
    CodeKind.mynumber: validate_my_number,
}


@code_app.command("check")
def check(kind: CodeKind, value: str) -> None:
    """Print ``valid`` (exit 0), or the rule the value breaks (exit 1)."""
    try:
        _VALIDATORS[kind](value)
    except RuleViolation as exc:
        console.print(f"invalid: {exc.message} [{exc.rule}]", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    console.print("valid")


def era(value: str) -> None:
    """Convert between ISO dates and Japanese-era dates (2013-08-30 ⇄ 平成25年8月30日)."""
    try:
        iso = date.fromisoformat(value)
    except ValueError:
        console.print(parse_era_date(value).isoformat(), highlight=False)
        return
    console.print(format_era_date(iso), highlight=False)
