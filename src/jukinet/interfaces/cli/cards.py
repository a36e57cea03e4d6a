"""``jukinet card``: resident cards; ``jukinet resident move-out|move-in|move-in-status``: the
card-based move (and the regular move-out).

A card-based move-in prints where it stands once the network has delivered what it could:
``completed`` (exit 0), ``refused`` with the rule (exit 1), or ``pending`` with the delivery's
attempts and last error (exit 2) — the request is then retried by the next run (or by
``jukinet up``) until the former municipality answers.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from jukinet.domain.cards import CardMoveState, CardType, FiledBy, ResidentCard, VoidReason
from jukinet.domain.eras import format_era_date
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.domain.register import Removal
from jukinet.interfaces.cli.common import console, network, require_date
from jukinet.services.municipal.card_move import CardMoveStatus

app = typer.Typer(help="Resident cards (住民基本台帳カード): issue, loss, return, PIN reset.")

LgCode = Annotated[str, typer.Option("--lg-code", help="municipality (6-digit lg code)")]
CardNumber = Annotated[str, typer.Argument(help="16-digit card number")]
Pin = Annotated[
    str,
    typer.Option(prompt=True, hide_input=True, help="4 digits (asked for when not given)"),
]
Identity = Annotated[
    str, typer.Option("--identity", help="the photo ID (or other document) the holder showed")
]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
ACTOR = "cli"

PENDING_EXIT = 2


def _card_json(card: ResidentCard) -> dict[str, Any]:
    return {
        "card_number": card.card_number,
        "resident_code": card.resident_code,
        "card_type": card.card_type.value,
        "usable_as_photo_id": card.usable_as_photo_id,
        "issuer_lg_code": card.issuer_lg_code,
        "issued_on": card.issued_on.isoformat(),
        "expires_on": card.expires_on.isoformat(),
        "status": card.status.value,
        "void_reason": card.void_reason.value if card.void_reason else None,
        "pin_locked": card.pin_locked,
        "continued_from": card.continued_from,
        "continued_to": card.continued_to,
    }


def _print_card(card: ResidentCard, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(_card_json(card)))
        return
    table = Table("item", "value", show_header=False)
    for key, value in _card_json(card).items():
        if value is None:
            continue
        shown = value
        if key in {"issued_on", "expires_on"}:
            shown = f"{value} ({format_era_date(date.fromisoformat(str(value)))})"
        table.add_row(key, str(shown))
    console.print(table)


@app.command("issue")
def issue(
    resident_code: Annotated[str, typer.Argument(help="the holder's resident code")],
    lg_code: LgCode,
    pin: Pin,
    card_type: Annotated[CardType, typer.Option("--type", help="A: no photo; B: photo")],
    photo: Annotated[str | None, typer.Option(help="type B: the photo on file")] = None,
    as_json: AsJson = False,
) -> None:
    """Issue a resident card, valid 10 years, protected by a 4-digit PIN."""
    with network(lg_code) as net:
        card = (
            net.municipality(lg_code)
            .cards[lg_code]
            .issue(resident_code, card_type, pin, photo_ref=photo, actor=ACTOR)
        )
    if not as_json:
        console.print(f"issued card {card.card_number} ({card.card_type.label_ja})")
    _print_card(card, as_json)


@app.command("show")
def show(card_number: CardNumber, lg_code: LgCode, as_json: AsJson = False) -> None:
    """The card, its face, and everything done with it (refusals included)."""
    with network(lg_code) as net:
        view = net.municipality(lg_code).cards[lg_code].show(card_number)
    if as_json:
        out = {
            **_card_json(view.card),
            "face": view.face,
            "events": [
                {"at": e.at.isoformat(), "action": e.action, "outcome": e.outcome, "rule": e.rule}
                for e in view.events
            ],
        }
        console.print_json(json.dumps(out, ensure_ascii=False))
        return
    _print_card(view.card, as_json=False)
    face = Table("face", "value", title="card face")
    for key, value in view.face.items():
        face.add_row(key, value)
    console.print(face)
    events = Table("at", "action", "outcome", "rule", "actor", title="events")
    for e in view.events:
        events.add_row(e.at.isoformat(), e.action, e.outcome, e.rule or "", e.actor)
    console.print(events)


@app.command("list")
def list_cards(
    resident_code: Annotated[str, typer.Argument(help="the holder's resident code")],
    lg_code: LgCode,
) -> None:
    """Every card the resident has held here, newest first."""
    with network(lg_code) as net:
        found = net.municipality(lg_code).cards[lg_code].cards_of(resident_code)
    table = Table("card number", "type", "status", "issued", "expires")
    for card in found:
        table.add_row(
            card.card_number,
            card.card_type.value,
            card.status.value,
            card.issued_on.isoformat(),
            card.expires_on.isoformat(),
        )
    console.print(table)


@app.command("suspend")
def suspend(card_number: CardNumber, lg_code: LgCode) -> None:
    """一時停止: the holder reports the card lost."""
    with network(lg_code) as net:
        card = net.municipality(lg_code).cards[lg_code].suspend(card_number, actor=ACTOR)
    console.print(f"card {card.card_number}: {card.status.value}")


@app.command("resume")
def resume(card_number: CardNumber, lg_code: LgCode, identity: Identity) -> None:
    """The lost card was found: resumed after an identity check."""
    with network(lg_code) as net:
        card = net.municipality(lg_code).cards[lg_code].resume(card_number, identity, actor=ACTOR)
    console.print(f"card {card.card_number}: {card.status.value}")


@app.command("return")
def return_card(
    card_number: CardNumber,
    lg_code: LgCode,
    lost: Annotated[bool, typer.Option(help="given up as lost, not handed back")] = False,
) -> None:
    """返納: the card is void from today."""
    reason = VoidReason.LOST if lost else VoidReason.RETURNED
    with network(lg_code) as net:
        card = net.municipality(lg_code).cards[lg_code].give_back(card_number, reason, actor=ACTOR)
    console.print(f"card {card.card_number}: {card.status.value} ({reason.value})")


@app.command("reset-pin")
def reset_pin(card_number: CardNumber, lg_code: LgCode, identity: Identity, pin: Pin) -> None:
    """A new PIN for a locked or forgotten one, after an identity check."""
    with network(lg_code) as net:
        net.municipality(lg_code).cards[lg_code].reset_pin(card_number, pin, identity, actor=ACTOR)
    console.print(f"card {card_number}: PIN reset")


# --- resident move-out / move-in (registered on ``jukinet resident``) -----------------------

Members = Annotated[
    list[str] | None,
    typer.Option("--member", help="a household member moving along (repeat for each)"),
]


def move_out(
    resident_code: Annotated[str, typer.Argument(help="who moves out (the card holder)")],
    lg_code: LgCode,
    destination_lg_code: Annotated[str, typer.Option(help="the new municipality")],
    destination_address: Annotated[str, typer.Option(help="the new address")],
    move_date: Annotated[str, typer.Option("--date", help="the (declared) move date")],
    special: Annotated[
        bool, typer.Option("--special", help="card-based move-out (付記転出届): no paper")
    ] = False,
    card: Annotated[str | None, typer.Option("--card", help="--special: the card")] = None,
    member: Members = None,
    by_mail: Annotated[bool, typer.Option(help="--special: the form came by mail")] = False,
) -> None:
    """A move-out. With --special, the card-based one: the entry stays until the new
    municipality's move-in notice, and the card continues there."""
    when = require_date(move_date, "move_date")
    with network(lg_code) as net:
        municipal = net.municipality(lg_code)
        if not special:
            if card or member or by_mail:
                raise RuleViolation(
                    "special", "required", "--card, --member and --by-mail need --special"
                )
            entry = municipal.register(lg_code).record(
                Removal(ChangeReason.MOVE_OUT, when, destination_address, destination_lg_code),
                resident_code,
            )
            console.print(f"recorded move_out of {entry.resident_code} to {destination_lg_code}")
            return
        if card is None:
            raise RuleViolation("card", "required", "a card-based move-out names the card")
        move = municipal.card_moves[lg_code].file_special_move_out(
            resident_code,
            card,
            destination_lg_code=destination_lg_code,
            destination_address=destination_address,
            declared_move_date=when,
            members=member or [],
            filed_by=FiledBy.MAIL if by_mail else FiledBy.VISIT,
            actor=ACTOR,
        )
    people = ", ".join(move.people)
    console.print(
        f"card-based move-out filed ({move.filed_by.value}) for {people} to "
        f"{move.destination_lg_code}, declared move date {move.declared_move_date}; "
        f"no paper certificate: move in at {move.destination_lg_code} with card {card} by "
        "the deadline"
    )


def move_in(
    lg_code: LgCode,
    card: Annotated[str, typer.Option("--card", help="the card presented")],
    former_lg_code: Annotated[str, typer.Option("--from", help="the former municipality")],
    resident_code: Annotated[str, typer.Option(help="the card holder's resident code")],
    address: Annotated[str, typer.Option(help="the new address")],
    move_date: Annotated[str, typer.Option("--date", help="the day of the move")],
    pin: Pin,
    member: Members = None,
    as_json: AsJson = False,
) -> None:
    """Card-based move-in (転入届の特例): the card and its PIN; the move-out certificate
    information is asked of the former municipality over the network. Exit status 0 when
    registered, 1 when refused, 2 when still pending."""
    with network(lg_code) as net:
        service = net.municipality(lg_code).card_moves[lg_code]
        request = service.move_in_with_card(
            former_lg_code=former_lg_code,
            card_number=card,
            pin=pin,
            holder_resident_code=resident_code,
            new_address=address,
            moved_on=require_date(move_date, "move_date"),
            members=member or [],
            actor=ACTOR,
        )
        net.drain()
        status = service.status(request.request_id)
    _print_status(status, as_json)
    _exit_for(status)


def move_in_status(
    lg_code: LgCode,
    request_id: Annotated[str | None, typer.Argument(help="one request (default: all)")] = None,
    pending: Annotated[bool, typer.Option(help="only those still pending")] = False,
    as_json: AsJson = False,
) -> None:
    """Where card-based move-ins stand (after delivering what can be delivered now)."""
    with network(lg_code) as net:
        net.drain()
        service = net.municipality(lg_code).card_moves[lg_code]
        if request_id is not None:
            status = service.status(request_id)
            _print_status(status, as_json)
            _exit_for(status)
            return
        found = service.requests(CardMoveState.PENDING if pending else None)
    if as_json:
        console.print_json(json.dumps([_status_json(s) for s in found], ensure_ascii=False))
        return
    table = Table("request", "state", "from", "holder", "filed", "where it stands")
    for s in found:
        r = s.request
        table.add_row(
            r.request_id,
            r.state.value,
            r.former_lg_code,
            r.holder_resident_code,
            r.filed_on.isoformat(),
            escape(s.explanation),
        )
    console.print(table)


def _status_json(status: CardMoveStatus) -> dict[str, Any]:
    r, d = status.request, status.delivery
    return {
        "request_id": r.request_id,
        "state": r.state.value,
        "explanation": status.explanation,
        "former_lg_code": r.former_lg_code,
        "holder_resident_code": r.holder_resident_code,
        "members": list(r.members),
        "rule": r.rule,
        "registered": list(r.registered),
        "attempts": d.attempts if d else 0,
        "last_error": d.last_error if d else None,
    }


def _print_status(status: CardMoveStatus, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(_status_json(status), ensure_ascii=False))
        return
    console.print(f"card-based move-in {status.request.request_id}: {status.request.state.value}")
    console.print(status.explanation, highlight=False, markup=False)


def _exit_for(status: CardMoveStatus) -> None:
    if status.request.state is CardMoveState.REFUSED:
        raise typer.Exit(1)
    if status.request.state is CardMoveState.PENDING:
        raise typer.Exit(PENDING_EXIT)
