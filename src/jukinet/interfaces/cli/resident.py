"""``jukinet resident``: record every register event, show a resident with history, search."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from jukinet.domain.eras import format_era_date
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import (
    ForeignCategory,
    ForeignResidentItems,
    RegisterEntry,
    ResidentKind,
    event_for,
)
from jukinet.interfaces.cli import cards as card_move_cli
from jukinet.interfaces.cli.common import (
    console,
    network,
    parse_date,
    require_date,
)

app = typer.Typer(help="The municipal register: events, look-ups, history.")
app.command("move-out")(card_move_cli.move_out)  # regular, or card-based with --special
app.command("move-in")(card_move_cli.move_in)  # card-based: --card and PIN
app.command("move-in-status")(card_move_cli.move_in_status)

LgCode = Annotated[str, typer.Option("--lg-code", help="municipality (6-digit lg code)")]
Opt = Annotated[str | None, typer.Option()]


@app.command("record")
def record(
    reason: Annotated[ChangeReason, typer.Argument(help="the change reason (異動事由)")],
    lg_code: LgCode,
    change_date: Annotated[str, typer.Option("--date", help="change date (ISO or 和暦)")],
    resident_code: Opt = None,
    name: Opt = None,
    name_kana: Opt = None,
    alias: Opt = None,
    clear_alias: Annotated[bool, typer.Option(help="remove the alias (通称)")] = False,
    former_surname: Opt = None,
    birth_date: Opt = None,
    sex: Annotated[Sex | None, typer.Option()] = None,
    address: Opt = None,
    household: Annotated[
        str | None, typer.Option(help="household number to join, or 'new' (move within)")
    ] = None,
    relationship: Opt = None,
    registered_domicile: Opt = None,
    kind: Annotated[ResidentKind | None, typer.Option()] = None,
    nationality: Opt = None,
    foreign_category: Annotated[ForeignCategory | None, typer.Option()] = None,
    residence_status: Opt = None,
    period_of_stay: Opt = None,
    stay_expiry: Opt = None,
    residence_card_number: Opt = None,
    foreign_resident_since: Opt = None,
    previous_address: Opt = None,
    previous_lg_code: Opt = None,
    destination_address: Opt = None,
    destination_lg_code: Opt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the entry as JSON")] = False,
) -> None:
    """Record one event. New entries draw a resident code from the pool unless one is given
    (a move-in keeps the person's code); other events name the resident by --resident-code."""
    when = require_date(change_date, "change_date")
    foreign = None
    if nationality or foreign_category:
        foreign = ForeignResidentItems(
            nationality=nationality or "",
            category=foreign_category or ForeignCategory.MID_LONG_TERM,
            foreign_resident_since=parse_date(foreign_resident_since, "foreign_resident_since")
            or when,
            residence_status=residence_status,
            period_of_stay=period_of_stay,
            stay_expiry=parse_date(stay_expiry, "stay_expiry"),
            residence_card_number=residence_card_number,
        )
    creates = reason.effect.value == "creates"
    items: dict[str, Any] = {
        "change_date": when,
        "resident_code": resident_code if creates else None,
        "name": name,
        "name_kana": name_kana,
        "alias": alias,
        "former_surname": former_surname,
        "birth_date": parse_date(birth_date, "birth_date"),
        "sex": sex,
        "address": address,
        "household_id": household,
        "relationship": relationship,
        "registered_domicile": registered_domicile,
        "kind": kind,
        "foreign": foreign,
        "previous_address": previous_address,
        "previous_lg_code": previous_lg_code,
        "destination_address": destination_address,
        "destination_lg_code": destination_lg_code,
        "clear_alias": clear_alias or None,
    }
    event = event_for(reason, items)
    with network(lg_code) as net:
        register = net.municipality(lg_code).register(lg_code)
        entry = register.record(event, resident_code=None if creates else resident_code)
    if as_json:
        console.print_json(json.dumps(_entry_json(entry)))
    else:
        code = entry.resident_code or "no resident code (before the applicable date)"
        console.print(f"recorded {reason.value} ({reason.label_ja}): {code}")
        console.print(_entry_table(entry))


@app.command("show")
def show(
    resident_code: str,
    lg_code: LgCode,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a resident's entries here (removed ones too) with every version."""
    with network(lg_code) as net:
        entries = net.municipality(lg_code).register(lg_code).show(resident_code)
    if not entries:
        console.print(f"no entry for {resident_code} in {lg_code}")
        raise typer.Exit(1)
    if as_json:
        out = [
            {"current": _entry_json(e.current), "history": [_entry_json(h) for h, _ in e.history]}
            for e in entries
        ]
        console.print_json(json.dumps(out))
        return
    for e in entries:
        console.print(_entry_table(e.current))
        history = Table("version", "reason", "change date", "name", "address", title="history")
        for h, _recorded_at in e.history:
            history.add_row(
                str(h.version),
                f"{h.change_reason.value} ({h.change_reason.label_ja})",
                format_era_date(h.change_date),
                h.name,
                h.address,
            )
        console.print(history)


@app.command("search")
def search(
    lg_code: LgCode,
    name: Opt = None,
    birth_date: Opt = None,
    address: Opt = None,
    include_removed: bool = False,
    limit: int = 50,
) -> None:
    """Find entries by name (prefix), birth date and address (prefix), on search keys."""
    with network(lg_code) as net:
        found = (
            net.municipality(lg_code)
            .register(lg_code)
            .search(
                name=name,
                birth_date=parse_date(birth_date, "birth_date"),
                address=address,
                include_removed=include_removed,
                limit=limit,
            )
        )
    table = Table("resident code", "name", "birth date", "sex", "address", "status")
    for e in found:
        table.add_row(
            e.resident_code or "-",
            e.name,
            format_era_date(e.birth_date),
            e.sex.label_ja,
            e.address,
            e.status.value,
        )
    console.print(table)
    console.print(f"{len(found)} found")


def _entry_json(entry: RegisterEntry) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(entry), default=str))  # type: ignore[no-any-return]


def _entry_table(entry: RegisterEntry) -> Table:
    table = Table("item", "value", show_header=False)
    for key, value in asdict(entry).items():
        if value is None:
            continue
        shown = f"{value} ({format_era_date(value)})" if isinstance(value, date) else str(value)
        table.add_row(key, shown)
    return table
