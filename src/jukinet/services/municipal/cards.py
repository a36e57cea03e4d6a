"""Resident cards (住民基本台帳カード) at the municipality holding them: issue, suspend (loss),
resume, return, PIN reset, and the card's fate on register events.

Every change writes the card's new state and an event row in one transaction; a refused request
changes nothing and is recorded as a refused event in a transaction of its own. The register
calls ``cards_on_register_change`` inside every change's transaction, so a move-out, a death
or a resident-code change voids the card with the event that caused it (a card-based move-out
instead lets the card continue in the new municipality).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine

from jukinet.clock import Clock, today_in_japan
from jukinet.domain import cards as rules
from jukinet.domain.cards import (
    CardStatus,
    CardType,
    MoveOutState,
    ResidentCard,
    VoidReason,
)
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.domain.register import RegisterEntry
from jukinet.ops.logging import get_logger
from jukinet.store import cards as store
from jukinet.store import register as register_store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.tenancy import tenant

log = get_logger("jukinet.municipal.cards")

T = TypeVar("T")

_DRAWS = 20


@dataclass(frozen=True, slots=True)
class CardView:
    """A card with its holder's entry (for the card face) and its events."""

    card: ResidentCard
    holder: RegisterEntry | None
    events: list[store.CardEvent]
    face: dict[str, str]


def card_face(card: ResidentCard, holder: RegisterEntry | None) -> dict[str, str]:
    """What the card shows: type A the name only; type B name, address, birth date, sex."""
    if holder is None:
        return {}
    if card.card_type is CardType.A:
        return {"name": holder.name}
    return {
        "name": holder.name,
        "address": holder.address,
        "birth_date": holder.birth_date.isoformat(),
        "sex": holder.sex.label_ja,
    }


class ResidentCardService:
    """The cards one municipality holds (several may share a database, isolated by lg code)."""

    def __init__(self, engine: Engine, lg_code: str, clock: Clock) -> None:
        self.engine = engine
        self.lg_code = lg_code
        self.clock = clock

    # --- use cases -------------------------------------------------------------------------

    def issue(
        self,
        resident_code: str,
        card_type: CardType,
        pin: str,
        *,
        photo_ref: str | None = None,
        actor: str = "",
    ) -> ResidentCard:
        """Issue a card (type A, or B with a photo) protected by a 4-digit PIN."""
        with self._refusals_recorded("issue", None, resident_code, actor):
            rules.validate_pin(pin)
            for _ in range(_DRAWS):
                number = rules.card_number_of(self.lg_code, secrets.randbelow(10**10))
                pin_hash = rules.pin_proof(number, pin)  # slow: outside the transaction
                with self._write() as conn:
                    if store.card_number_taken(conn, self.lg_code, number):
                        continue
                    today = today_in_japan(self.clock)
                    stored = register_store.get_active_entry(conn, self.lg_code, resident_code)
                    card = rules.new_card(
                        rules.check_may_hold_card(stored.entry if stored else None, today),
                        card_number=number,
                        card_type=card_type,
                        pin_hash=pin_hash,
                        today=today,
                        photo_ref=photo_ref,
                        held=store.valid_card_of(conn, self.lg_code, resident_code),
                    )
                    now = self.clock.now()
                    store.insert_card(conn, card, now)
                    self._event(
                        conn,
                        card,
                        "issue",
                        now=now,
                        actor=actor,
                        detail={"card_type": card_type.value, "expires_on": card.expires_on},
                    )
                    return card
            raise RuntimeError("no free card number after repeated draws")  # pragma: no cover

    def suspend(self, card_number: str, *, actor: str = "") -> ResidentCard:
        """一時停止: the holder reports the card lost."""
        return self._change("suspend", card_number, actor, rules.suspend)

    def resume(self, card_number: str, identity_document: str, *, actor: str = "") -> ResidentCard:
        """The card was found: resumed after the holder proves their identity."""
        return self._change(
            "resume",
            card_number,
            actor,
            lambda card, today: rules.resume(card, identity_document, today),
            {"identity_document": identity_document},
        )

    def give_back(
        self, card_number: str, reason: VoidReason = VoidReason.RETURNED, *, actor: str = ""
    ) -> ResidentCard:
        """返納: the card is returned (or given up as lost) and void from today."""
        return self._change(
            "return",
            card_number,
            actor,
            lambda card, today: rules.give_back(card, reason, today),
            {"reason": reason.value},
        )

    def reset_pin(
        self, card_number: str, new_pin: str, identity_document: str, *, actor: str = ""
    ) -> ResidentCard:
        """A new PIN (a locked or forgotten one), only here and after an identity check."""
        with self._refusals_recorded("reset_pin", card_number, None, actor):
            rules.validate_card_number(card_number)
            pin_hash = rules.pin_proof(card_number, new_pin)
        return self._change(
            "reset_pin",
            card_number,
            actor,
            lambda card, today: rules.reset_pin(card, pin_hash, identity_document, today),
            {"identity_document": identity_document},
        )

    def show(self, card_number: str) -> CardView:
        with read_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            card = _require_card(conn, self.lg_code, card_number)
            holder = _holder_entry(conn, self.lg_code, card.resident_code)
            events = store.card_events(conn, self.lg_code, card_number=card_number)
        return CardView(card, holder, events, card_face(card, holder))

    def cards_of(self, resident_code: str) -> list[ResidentCard]:
        with read_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            return store.cards_of(conn, self.lg_code, resident_code)

    # --- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with write_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            yield conn

    def _change(
        self,
        action: str,
        card_number: str,
        actor: str,
        rule: Callable[[ResidentCard, date], ResidentCard],
        detail: dict[str, object] | None = None,
    ) -> ResidentCard:
        with self._refusals_recorded(action, card_number, None, actor), self._write() as conn:
            card = _require_card(conn, self.lg_code, card_number)
            changed = rule(card, today_in_japan(self.clock))
            now = self.clock.now()
            store.update_card(conn, changed, now)
            self._event(
                conn,
                changed,
                action,
                now=now,
                actor=actor,
                detail={"status": changed.status, **(detail or {})},
            )
            return changed

    def _event(
        self,
        conn: Connection,
        card: ResidentCard,
        action: str,
        *,
        now: datetime,
        actor: str,
        detail: dict[str, object],
    ) -> None:
        store.append_card_event(
            conn,
            lg_code=self.lg_code,
            at=now,
            action=action,
            card_number=card.card_number,
            resident_code=card.resident_code,
            detail=detail,
            actor=actor,
        )

    @contextmanager
    def _refusals_recorded(
        self, action: str, card_number: str | None, resident_code: str | None, actor: str
    ) -> Iterator[None]:
        """A refusal rolls its transaction back; record it in one of its own, then re-raise."""
        try:
            yield
        except RuleViolation as refused:
            record_refusal(
                self.engine,
                self.lg_code,
                self.clock.now(),
                action=action,
                refused=refused,
                card_number=card_number,
                resident_code=resident_code,
                actor=actor,
            )
            raise


def record_refusal(
    engine: Engine,
    lg_code: str,
    now: datetime,
    *,
    action: str,
    refused: RuleViolation,
    card_number: str | None,
    resident_code: str | None,
    actor: str,
    detail: dict[str, object] | None = None,
) -> None:
    """A refused card action, recorded (in its own transaction) with the rule that refused it."""
    log.info("card_action_refused", action=action, rule=refused.rule, lg_code=lg_code)
    with write_transaction(engine) as conn, tenant(conn, lg_code=lg_code):
        store.append_card_event(
            conn,
            lg_code=lg_code,
            at=now,
            action=action,
            card_number=card_number,
            resident_code=resident_code,
            outcome="refused",
            rule=refused.rule,
            detail={"field": refused.field, "message": refused.message, **(detail or {})},
            actor=actor,
        )


def _require_card(conn: Connection, lg_code: str, card_number: str) -> ResidentCard:
    rules.validate_card_number(card_number)
    card = store.get_card(conn, lg_code, card_number)
    if card is None:
        raise RuleViolation("card_number", "not_found", f"no resident card {card_number} here")
    return card


def _holder_entry(conn: Connection, lg_code: str, resident_code: str) -> RegisterEntry | None:
    """The holder's current entry here: the active one (found by a former code too), else
    the newest removed one."""
    entries = register_store.get_entries_by_code(conn, lg_code, resident_code)
    active = [s.entry for s in entries if s.entry.active]
    if active:
        return active[0]
    return entries[0].entry if entries else None


# --- the register's hook --------------------------------------------------------------------


def cards_on_register_change(
    conn: Connection,
    lg_code: str,
    entry: RegisterEntry,
    previous: RegisterEntry | None,
    now: datetime,
) -> None:
    """Inside the register change's transaction: void the resident's card on a removal or a
    resident-code change; on the removal that completes a card-based move-out (the move-in
    notice came back from the destination the certificate went to), the card continues in the
    new municipality instead, and the move-out is completed once everyone in it has left."""
    reason = rules.void_reason_for_change(entry, previous)
    if reason is None or previous is None or previous.resident_code is None:
        return
    day = entry.change_date
    card_move = None
    if entry.change_reason is ChangeReason.MOVE_OUT:
        card_move = _card_move_completed_by(conn, lg_code, previous.resident_code, entry)
    if card_move is None and not entry.active:
        _cancel_card_moves_of(conn, lg_code, previous.resident_code, entry, now)
    card = store.valid_card_of(conn, lg_code, previous.resident_code)
    if card is not None:
        if card_move is not None and card.status is CardStatus.ACTIVE:
            assert entry.destination_lg_code is not None
            changed = rules.left_with_holder(card, entry.destination_lg_code, day)
            action, detail = "continued_elsewhere", {"to": entry.destination_lg_code}
        else:
            changed = rules.void(card, reason, day)
            action, detail = "void", {"reason": reason.value, "change": entry.change_reason.value}
        store.update_card(conn, changed, now)
        store.append_card_event(
            conn,
            lg_code=lg_code,
            at=now,
            action=action,
            card_number=card.card_number,
            resident_code=card.resident_code,
            detail=detail,
            actor="register",
        )
    if card_move is not None:
        _complete_if_everyone_left(conn, lg_code, card_move, entry, now)


def _card_move_completed_by(
    conn: Connection, lg_code: str, resident_code: str, entry: RegisterEntry
) -> store.CardMoveOut | None:
    """The card-based move-out this move-out removal belongs to: its certificate went to the
    municipality the person moved to."""
    for move in store.open_move_outs_covering(conn, lg_code, resident_code):
        if (
            move.state is MoveOutState.CERTIFICATE_SENT
            and move.destination_lg_code == entry.destination_lg_code
            and resident_code in move.certified
        ):
            return move
    return None


def _cancel_card_moves_of(
    conn: Connection, lg_code: str, resident_code: str, entry: RegisterEntry, now: datetime
) -> None:
    """A card holder removed otherwise (a regular move-out, death ...): their open card-based
    move-out can no longer happen."""
    for move in store.open_move_outs_covering(conn, lg_code, resident_code):
        if move.holder_resident_code != resident_code:
            continue  # a member who left otherwise: the request names them and is refused
        store.set_move_out_state(conn, move.id, MoveOutState.CANCELLED, closed_on=entry.change_date)
        store.append_card_event(
            conn,
            lg_code=lg_code,
            at=now,
            action="special_move_out_cancelled",
            card_number=move.card_number,
            resident_code=resident_code,
            detail={"change": entry.change_reason.value, "change_date": entry.change_date},
            actor="register",
        )


def _complete_if_everyone_left(
    conn: Connection, lg_code: str, move: store.CardMoveOut, entry: RegisterEntry, now: datetime
) -> None:
    if any(
        register_store.get_active_entry(conn, lg_code, code) is not None for code in move.certified
    ):
        return
    store.set_move_out_state(conn, move.id, MoveOutState.COMPLETED, closed_on=entry.change_date)
    store.append_card_event(
        conn,
        lg_code=lg_code,
        at=now,
        action="special_move_out_completed",
        card_number=move.card_number,
        resident_code=move.holder_resident_code,
        detail={"to": move.destination_lg_code},
        actor="register",
    )
