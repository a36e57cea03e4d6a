"""The card-based move (転入届の特例) between two municipalities, over the network.

1. **Former municipality** — the card holder files a card-based move-out (付記転出届, at the
   counter or by mail) naming the destination, the declared move date and the household
   members moving along. No paper certificate is issued; the entry stays active (転出予定).
2. **New municipality** — the holder presents the card and its PIN. The new municipality
   checks what it can alone (the 14-day rule, nobody already registered here), records a
   **pending** request and, in the same transaction, queues a signed
   ``move_out_certificate_request`` carrying the card number and the PIN's slow hash, never
   the PIN. The delivery worker retries it until the former municipality acknowledges: an
   unreachable former municipality leaves the request pending, with the delivery's attempts
   and last error on show (``status``).
3. **Former municipality**, on receipt: the card, its holder, its status, the PIN (a wrong one
   counts towards the lockout), the open card-based move-out to this destination, the deadline
   (the earlier of 30 days after the declared date and 14 days after the move, counted to the
   day the person filed at the new municipality) and the members (named in the move-out, still
   active, in the holder's household). It answers with a ``move_out_certificate``: the
   move-out certificate information (転出証明書情報) of everyone moving and their cards — or a
   refusal naming the rule. Either way it is recorded in the card's events.
4. **New municipality**, on the answer: registers every mover's move-in in one savepoint
   (household head first), continues their cards, completes the request; the register's
   network link sends each move-in notice back. A refusal, or a move-in the register refuses,
   leaves nothing registered and the request refused with the rule.
5. **Former municipality**, on each move-in notice: the removal (転出確定), and the card left
   with its holder instead of being voided (``cards_on_register_change``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from jukinet.clock import today_in_japan
from jukinet.domain import cards as rules
from jukinet.domain import reference
from jukinet.domain.cards import (
    CardMoveState,
    CardStatus,
    CardType,
    FiledBy,
    MoveOutState,
    ResidentCard,
)
from jukinet.domain.codes import validate_lg_code, validate_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import (
    HEAD_OF_HOUSEHOLD,
    ForeignCategory,
    ForeignResidentItems,
    NewEntry,
    RegisterEntry,
    ResidentKind,
)
from jukinet.domain.storable import storable_int, storable_text
from jukinet.net.bodies import body_date
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import MessageType, lg_code_of, municipal_node
from jukinet.ops.logging import get_logger
from jukinet.services.municipal.cards import record_refusal
from jukinet.services.municipal.network import MunicipalLink
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store import cards as store
from jukinet.store import register as register_store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.spine import Delivery, delivery_of
from jukinet.store.tenancy import tenant

log = get_logger("jukinet.municipal.card_move")

_REQUEST_ID = re.compile(r"[0-9a-f-]{36}")


@dataclass(frozen=True, slots=True)
class CardMoveStatus:
    """A card-based move-in as the new municipality's clerk sees it."""

    request: store.CardMoveRequest
    delivery: Delivery | None
    explanation: str


class CardMoveService:
    """Both ends of the card-based move for one municipality."""

    def __init__(self, register: MunicipalRegister, link: MunicipalLink) -> None:
        self.register = register
        self.link = link
        self.engine = register.engine
        self.lg_code = register.lg_code
        self.clock = register.clock

    # --- the former municipality -----------------------------------------------------------

    def file_special_move_out(
        self,
        resident_code: str,
        card_number: str,
        *,
        destination_lg_code: str,
        destination_address: str,
        declared_move_date: date,
        members: Sequence[str] = (),
        filed_by: FiledBy = FiledBy.VISIT,
        actor: str = "",
    ) -> store.CardMoveOut:
        """付記転出届: the holder of an active card moves out with the household members
        named; no paper certificate is issued. Refusals are recorded and change nothing."""
        try:
            return self._file_special_move_out(
                resident_code,
                card_number,
                destination_lg_code=destination_lg_code,
                destination_address=destination_address,
                declared_move_date=declared_move_date,
                members=list(members),
                filed_by=filed_by,
                actor=actor,
            )
        except RuleViolation as refused:
            record_refusal(
                self.engine,
                self.lg_code,
                self.clock.now(),
                action="special_move_out",
                refused=refused,
                card_number=card_number,
                resident_code=resident_code,
                actor=actor,
                detail={"destination_lg_code": destination_lg_code, "members": list(members)},
            )
            raise

    def _file_special_move_out(
        self,
        resident_code: str,
        card_number: str,
        *,
        destination_lg_code: str,
        destination_address: str,
        declared_move_date: date,
        members: list[str],
        filed_by: FiledBy,
        actor: str,
    ) -> store.CardMoveOut:
        validate_resident_code(resident_code)
        rules.validate_card_number(card_number)
        _known_municipality(destination_lg_code, "destination_lg_code")
        if not destination_address.strip():
            raise RuleViolation("destination_address", "required", "must not be empty")
        for code in members:
            validate_resident_code(code, "members")
        with write_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            today = today_in_japan(self.clock)
            stored = register_store.get_active_entry(conn, self.lg_code, resident_code)
            if stored is None:
                raise RuleViolation(
                    "resident_code", "not_active", "no active register entry for this resident"
                )
            holder = stored.entry
            card = store.get_card(conn, self.lg_code, card_number)
            if card is None:
                raise RuleViolation("card_number", "not_found", f"no resident card {card_number}")
            if card.resident_code != resident_code:
                raise RuleViolation(
                    "card_number", "card_holder_mismatch", f"card {card_number} is not theirs"
                )
            rules.check_usable(card, today)
            for code in [resident_code, *members]:
                if store.open_move_outs_covering(conn, self.lg_code, code):
                    raise RuleViolation(
                        "resident_code" if code == resident_code else f"members[{code}]",
                        "already_declared",
                        f"{code} already moves under an open card-based move-out",
                    )
            member_entries = [_entry_named(conn, self.lg_code, code) for code in members]
            rules.check_special_move_out(
                holder,
                member_entries,
                destination_lg_code=destination_lg_code,
                declared_move_date=declared_move_date,
                today=today,
            )
            now = self.clock.now()
            move_out_id = store.insert_move_out(
                conn,
                lg_code=self.lg_code,
                holder=resident_code,
                members=members,
                card_number=card_number,
                destination_lg_code=destination_lg_code,
                destination_address=destination_address,
                declared_move_date=declared_move_date,
                filed_on=today,
                filed_by=filed_by,
                at=now,
            )
            store.append_card_event(
                conn,
                lg_code=self.lg_code,
                at=now,
                action="special_move_out",
                card_number=card_number,
                resident_code=resident_code,
                detail={
                    "destination_lg_code": destination_lg_code,
                    "declared_move_date": declared_move_date,
                    "members": members,
                    "filed_by": filed_by.value,
                },
                actor=actor,
            )
            [move] = [
                m
                for m in store.open_move_outs_covering(conn, self.lg_code, resident_code)
                if m.id == move_out_id
            ]
            return move

    def special_move_outs(self, resident_code: str) -> list[store.CardMoveOut]:
        with read_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            return store.move_outs_of(conn, self.lg_code, resident_code)

    def on_certificate_request(
        self, conn: Connection, opened: OpenedMessage, now: datetime
    ) -> None:
        """Answer a new municipality's request with the move-out certificate information, or
        a refusal naming the rule. Only a request that names no request id is quarantined
        (there would be nothing to answer); every other refusal is an answer."""
        body: dict[str, Any] = opened.envelope.body
        request_id = _request_id(body)
        new_lg_code = lg_code_of(opened.envelope.sender)
        with tenant(conn, lg_code=self.lg_code):
            answer = self._answer(conn, body, request_id, new_lg_code, now)
        self.link.outbox.enqueue(
            conn,
            self.link.credentials,
            receiver=municipal_node(new_lg_code),
            message_type=MessageType.MOVE_OUT_CERTIFICATE,
            body=answer,
            now=now,
        )

    def _answer(
        self,
        conn: Connection,
        body: dict[str, Any],
        request_id: str,
        new_lg_code: str,
        now: datetime,
    ) -> dict[str, Any]:
        given = body.get("card_number")  # recorded as given with a refusal, if storable
        card_number = given[:40] if isinstance(given, str) and "\x00" not in given else ""
        actor = f"municipality/{new_lg_code}"

        def refuse(refused: RuleViolation, card: ResidentCard | None = None) -> dict[str, Any]:
            store.append_card_event(
                conn,
                lg_code=self.lg_code,
                at=now,
                action="move_out_certificate",
                card_number=card_number,
                resident_code=card.resident_code if card else None,
                outcome="refused",
                rule=refused.rule,
                detail={
                    "request_id": request_id,
                    "field": refused.field,
                    "message": refused.message,
                },
                actor=actor,
            )
            log.info("move_out_certificate_refused", rule=refused.rule, request_id=request_id)
            return _refusal_body(request_id, self.lg_code, refused)

        card = None
        try:
            request = _parse_request(body, new_lg_code)
            card = store.get_card(conn, self.lg_code, request.card_number)
            if card is None:
                raise RuleViolation(
                    "card_number",
                    "card_unknown",
                    f"{self.lg_code} holds no resident card {request.card_number}",
                )
            holder = _holder_of(conn, self.lg_code, card)
            if request.holder_resident_code not in {card.resident_code, holder.resident_code}:
                raise RuleViolation(
                    "holder_resident_code",
                    "card_holder_mismatch",
                    f"card {card.card_number} is not {request.holder_resident_code}'s",
                )
            if not holder.active:
                raise RuleViolation(
                    "holder_resident_code",
                    "entry_removed",
                    f"the card holder's entry at {self.lg_code} was removed "
                    f"({holder.change_reason.value}, {holder.change_date}): no move-out "
                    "certificate can be issued",
                )
            rules.check_usable(card, request.filed_on)
            if card.pin_locked:
                raise rules.wrong_pin_refusal(card)
            if request.pin_kdf != card.pin_kdf:  # not the holder's mistake: not counted
                raise RuleViolation(
                    "pin_kdf",
                    "pin_kdf_mismatch",
                    f"the PIN was hashed with {request.pin_kdf}, the card's with {card.pin_kdf}",
                )
        except RuleViolation as refused:
            return refuse(refused, card)
        matched = rules.pin_matches(card, request.pin_kdf, request.pin_proof)
        checked = rules.after_pin_check(card, matched)
        if checked.pin_failures != card.pin_failures:
            store.update_card(conn, checked, now)
        if not matched:
            return refuse(rules.wrong_pin_refusal(checked), checked)
        try:
            with conn.begin_nested():
                return self._certify(
                    conn, request, checked, holder, request_id=request_id, now=now, actor=actor
                )
        except RuleViolation as refused:
            return refuse(refused, checked)

    def _certify(
        self,
        conn: Connection,
        request: _Request,
        card: ResidentCard,
        holder: RegisterEntry,
        *,
        request_id: str,
        now: datetime,
        actor: str,
    ) -> dict[str, Any]:
        move = store.open_move_out_of_card(conn, self.lg_code, card.card_number)
        if move is None:
            raise RuleViolation(
                "card_number",
                "no_special_move_out",
                f"no card-based move-out (付記転出届) with card {card.card_number} is open at "
                f"{self.lg_code}: the holder files one there first (at the counter or by mail)",
            )
        if move.destination_lg_code != request.new_lg_code:
            raise RuleViolation(
                "new_lg_code",
                "other_destination",
                f"the card-based move-out declared a move to {move.destination_lg_code}, not "
                f"{request.new_lg_code}",
            )
        rules.check_card_move_deadline(move.declared_move_date, request.moved_on, request.filed_on)
        for code in request.members:
            if code not in move.members:
                raise RuleViolation(
                    f"members[{code}]",
                    "not_declared",
                    f"{code} was not named in the card-based move-out as moving with the holder",
                )
        members = [_entry_named(conn, self.lg_code, code) for code in request.members]
        rules.check_movers(holder, members)
        people = [holder, *members]
        certificate = {
            "request_id": request_id,
            "outcome": "issued",
            "former_lg_code": self.lg_code,
            "declared_move_date": move.declared_move_date.isoformat(),
            "holder_resident_code": holder.resident_code,
            "people": [
                _person_body(conn, self.lg_code, entry, holder=entry is holder) for entry in people
            ],
        }
        store.set_move_out_state(
            conn,
            move.id,
            MoveOutState.CERTIFICATE_SENT,
            request_id=request_id,
            certificate_sent_at=now,
        )
        store.mark_certified(conn, self.lg_code, move.id, [p.resident_code or "" for p in people])
        store.append_card_event(
            conn,
            lg_code=self.lg_code,
            at=now,
            action="move_out_certificate",
            card_number=card.card_number,
            resident_code=card.resident_code,
            detail={"request_id": request_id, "to": request.new_lg_code, "people": len(people)},
            actor=actor,
        )
        return certificate

    # --- the new municipality --------------------------------------------------------------

    def move_in_with_card(
        self,
        *,
        former_lg_code: str,
        card_number: str,
        pin: str,
        holder_resident_code: str,
        new_address: str,
        moved_on: date,
        members: Sequence[str] = (),
        actor: str = "",
    ) -> store.CardMoveRequest:
        """転入届の特例: the holder presents the card and PIN; the request for the move-out
        certificate information goes to the former municipality and stays pending until it
        answers. A refusal here is recorded as a refused request and changes nothing else."""
        now = self.clock.now()
        today = today_in_japan(self.clock)
        request = store.CardMoveRequest(
            request_id=str(uuid.uuid4()),
            lg_code=self.lg_code,
            former_lg_code=former_lg_code[:6],
            card_number=card_number[:40],
            holder_resident_code=holder_resident_code[:40],
            members=tuple(members),
            new_address=new_address,
            moved_on=moved_on,
            filed_on=today,
            state=CardMoveState.PENDING,
            requested_at=now,
        )
        try:
            proof = self._check_move_in(request, pin, today)
            with write_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
                self._check_not_here(conn, request)
                envelope = self.link.outbox.enqueue(
                    conn,
                    self.link.credentials,
                    receiver=municipal_node(former_lg_code),
                    message_type=MessageType.MOVE_OUT_CERTIFICATE_REQUEST,
                    body={
                        "request_id": request.request_id,
                        "card_number": card_number,
                        "pin_kdf": rules.PIN_KDF,
                        "pin_proof": proof,
                        "holder_resident_code": holder_resident_code,
                        "members": list(members),
                        "new_lg_code": self.lg_code,
                        "new_address": new_address,
                        "moved_on": moved_on.isoformat(),
                        "filed_on": today.isoformat(),
                    },
                    now=now,
                )
                pending = _replace_request(request, message_id=envelope.id)
                store.insert_move_request(conn, pending)
                return pending
        except RuleViolation as refused:
            log.info("card_move_in_refused", rule=refused.rule, lg_code=self.lg_code)
            with write_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
                store.insert_move_request(
                    conn,
                    _replace_request(
                        request,
                        state=CardMoveState.REFUSED,
                        field=refused.field,
                        rule=refused.rule,
                        message=refused.message,
                        answered_at=now,
                    ),
                )
            raise

    def _check_move_in(self, request: store.CardMoveRequest, pin: str, today: date) -> str:
        """What the new municipality checks alone; returns the PIN's proof."""
        _known_municipality(request.former_lg_code, "former_lg_code")
        if request.former_lg_code == self.lg_code:
            raise RuleViolation(
                "former_lg_code", "same_municipality", "a move within is not a move-in"
            )
        validate_resident_code(request.holder_resident_code, "holder_resident_code")
        seen = {request.holder_resident_code}
        for code in request.members:
            validate_resident_code(code, "members")
            if code in seen:
                raise RuleViolation(f"members[{code}]", "duplicate", f"{code} is named twice")
            seen.add(code)
        if not request.new_address.strip():
            raise RuleViolation("new_address", "required", "must not be empty")
        if request.moved_on > today:
            raise RuleViolation("move_date", "future", f"{request.moved_on} is after today")
        rules.check_card_move_deadline(None, request.moved_on, today)
        return rules.pin_proof(rules.validate_card_number(request.card_number), pin)

    def _check_not_here(self, conn: Connection, request: store.CardMoveRequest) -> None:
        pending = store.pending_move_request_of_card(conn, self.lg_code, request.card_number)
        if pending is not None:
            raise RuleViolation(
                "card_number",
                "request_pending",
                f"a card-based move-in with this card is already pending ({pending.request_id})",
            )
        for code in (request.holder_resident_code, *request.members):
            if register_store.get_active_entry(conn, self.lg_code, code) is not None:
                raise RuleViolation(
                    "resident_code", "already_registered", f"{code} is already registered here"
                )

    def on_certificate(self, conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        """The former municipality's answer: register the move-ins (or record the refusal)."""
        body: dict[str, Any] = opened.envelope.body
        request_id = _request_id(body)
        with tenant(conn, lg_code=self.lg_code):
            request = store.get_move_request(conn, self.lg_code, request_id)
            if request is None:
                raise RuleViolation("request_id", "unknown_request", f"no request {request_id}")
            if opened.envelope.sender != municipal_node(request.former_lg_code):
                raise RuleViolation(
                    "request_id", "sender_mismatch", "answer from another municipality"
                )
            if request.state is not CardMoveState.PENDING:
                log.info("card_move_answer_ignored", request_id=request_id, state=request.state)
                return
            if body.get("outcome") != "issued":
                field, rule, message = _refusal_of(body)
                store.finish_move_request(
                    conn,
                    self.lg_code,
                    request_id,
                    CardMoveState.REFUSED,
                    now,
                    field=field,
                    rule=rule,
                    message=f"{request.former_lg_code} refused: {message}",
                )
                return
            try:
                with conn.begin_nested():
                    registered = self._register_movers(conn, request, body, now)
            except RuleViolation as refused:
                store.finish_move_request(
                    conn,
                    self.lg_code,
                    request_id,
                    CardMoveState.REFUSED,
                    now,
                    field=refused.field,
                    rule=refused.rule,
                    message=f"the move-in could not be registered here: {refused.message}",
                )
                return
            store.finish_move_request(
                conn, self.lg_code, request_id, CardMoveState.COMPLETED, now, registered=registered
            )

    def _register_movers(
        self,
        conn: Connection,
        request: store.CardMoveRequest,
        body: dict[str, Any],
        now: datetime,
    ) -> list[str]:
        people = body.get("people")
        if not isinstance(people, list) or not people:
            raise RuleViolation("people", "required", "the certificate names nobody")
        movers = [_parse_person(p, i) for i, p in enumerate(people)]
        codes = [m.resident_code for m in movers]
        wanted = [request.holder_resident_code, *request.members]
        if sorted(codes) != sorted(wanted) or not any(m.holder for m in movers):
            raise RuleViolation(
                "people", "certificate_mismatch", f"certificate for {codes}, asked for {wanted}"
            )
        relationships = {m.resident_code: m.relationship for m in movers}
        head = rules.head_of_movers(request.holder_resident_code, relationships)
        ordered = sorted(movers, key=lambda m: m.resident_code != head)
        household_id = None
        for mover in ordered:
            entry = self.register.record_in(
                conn,
                NewEntry(
                    ChangeReason.MOVE_IN,
                    request.moved_on,
                    mover.name,
                    mover.birth_date,
                    mover.sex,
                    request.new_address,
                    kind=mover.kind,
                    resident_code=mover.resident_code,
                    household_id=household_id,
                    relationship=HEAD_OF_HOUSEHOLD if household_id is None else mover.relationship,
                    name_kana=mover.name_kana,
                    alias=mover.alias,
                    former_surname=mover.former_surname,
                    registered_domicile=mover.registered_domicile,
                    foreign=mover.foreign,
                    previous_address=mover.address,
                    previous_lg_code=request.former_lg_code,
                ),
            )
            household_id = household_id or entry.household_id
            if mover.card is not None:
                self._continue_card(conn, mover.card, mover.resident_code, request, now)
        return [m.resident_code for m in ordered]

    def _continue_card(
        self,
        conn: Connection,
        card: ResidentCard,
        holder_code: str,
        request: store.CardMoveRequest,
        now: datetime,
    ) -> None:
        continued = rules.continue_card(card, self.lg_code, holder_code, request.moved_on)
        before = store.get_card(conn, self.lg_code, card.card_number)
        if before is None:  # the usual case: the card is new here
            store.insert_card(conn, continued, now)
        else:  # the card comes back to a municipality it once left
            store.update_card(conn, _next_version(continued, before.version), now)
        store.append_card_event(
            conn,
            lg_code=self.lg_code,
            at=now,
            action="continued",
            card_number=card.card_number,
            resident_code=holder_code,
            detail={"from": request.former_lg_code, "request_id": request.request_id},
            actor=f"municipality/{request.former_lg_code}",
        )

    def status(self, request_id: str) -> CardMoveStatus:
        with read_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            request = store.get_move_request(conn, self.lg_code, request_id)
            if request is None:
                raise RuleViolation(
                    "request_id", "not_found", f"no card-based move-in {request_id} here"
                )
            delivery = delivery_of(conn, request.message_id) if request.message_id else None
        return CardMoveStatus(request, delivery, explain(request, delivery))

    def requests(
        self, state: CardMoveState | None = None, limit: int = 100
    ) -> list[CardMoveStatus]:
        """Card-based move-ins here, newest first."""
        with read_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            found = store.move_requests(conn, self.lg_code, state, limit)
            deliveries = [delivery_of(conn, r.message_id) if r.message_id else None for r in found]
        return [CardMoveStatus(r, d, explain(r, d)) for r, d in zip(found, deliveries, strict=True)]


def explain(request: store.CardMoveRequest, delivery: Delivery | None) -> str:
    """One sentence a clerk can read out: where the move-in stands and what happens next."""
    former = request.former_lg_code
    if request.state is CardMoveState.COMPLETED:
        return (
            f"registered {len(request.registered)} resident(s) from {former}; the card "
            f"continues here; move-in notices went back to {former}"
        )
    if request.state is CardMoveState.REFUSED:
        return f"refused [{request.rule}]: {request.message}"
    if delivery is None or delivery.delivered_at is None:
        attempts = 0 if delivery is None else delivery.attempts
        error = "" if delivery is None or not delivery.last_error else delivery.last_error
        return (
            f"pending: the request has not reached {former} yet ({attempts} failed attempt(s)"
            + (f", last error: {error}" if error else "")
            + "); it is retried automatically and the move-in is registered when the answer "
            "arrives"
        )
    if delivery.outcome == "rejected":
        return (
            f"pending, but {former} quarantined the request as malformed: nothing was "
            "registered; file the move-in again, or with a paper move-out certificate"
        )
    return f"pending: delivered to {former}, waiting for its answer"


# --- message bodies -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    card_number: str
    pin_kdf: str
    pin_proof: str
    holder_resident_code: str
    members: tuple[str, ...]
    new_lg_code: str
    moved_on: date
    filed_on: date


def _request_id(body: dict[str, Any]) -> str:
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise RuleViolation("request_id", "required", "the message names no request id")
    return request_id


def _parse_request(body: dict[str, Any], sender_lg_code: str) -> _Request:
    members = body.get("members", [])
    if not isinstance(members, list):
        raise RuleViolation("members", "type", "must be a list of resident codes")
    new_lg_code = str(body.get("new_lg_code"))
    if new_lg_code != sender_lg_code:
        raise RuleViolation("new_lg_code", "sender_mismatch", "a request names its own sender")
    proof = body.get("pin_proof")
    if not isinstance(proof, str) or not re.fullmatch(r"[0-9a-f]{64}", proof):
        raise RuleViolation("pin_proof", "required", "the request carries no PIN proof")
    kdf = body.get("pin_kdf")
    if not isinstance(kdf, str):
        raise RuleViolation("pin_kdf", "required", "the request names the PIN's hash function")
    return _Request(
        card_number=rules.validate_card_number(str(body.get("card_number"))),
        pin_kdf=storable_text(kdf, "pin_kdf", max_length=40),
        pin_proof=proof,
        holder_resident_code=validate_resident_code(
            str(body.get("holder_resident_code")), "holder_resident_code"
        ),
        members=tuple(validate_resident_code(str(m), "members") for m in members),
        new_lg_code=new_lg_code,
        moved_on=body_date(body, "moved_on"),
        filed_on=body_date(body, "filed_on"),
    )


def _refusal_of(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """The field, rule and message of the former municipality's refusal, as text to record
    (a refusal that does not say them is recorded as just that)."""
    field, rule, message = body.get("field"), body.get("rule"), body.get("message")
    for name, value in (("field", field), ("rule", rule), ("message", message)):
        if value is not None and not isinstance(value, str):
            raise RuleViolation(name, "type", "must be text, or null")
    return (
        storable_text(field or "", "field", max_length=80),
        storable_text(rule or "refused", "rule")[:40],
        None if message is None else storable_text(message, "message"),
    )


def _refusal_body(request_id: str, lg_code: str, refused: RuleViolation) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "outcome": "refused",
        "former_lg_code": lg_code,
        "field": refused.field,
        "rule": refused.rule,
        "message": refused.message,
    }


def _card_body(card: ResidentCard) -> dict[str, Any]:
    return {
        "card_number": card.card_number,
        "card_type": card.card_type.value,
        "photo_ref": card.photo_ref,
        "issuer_lg_code": card.issuer_lg_code,
        "issued_on": card.issued_on.isoformat(),
        "expires_on": card.expires_on.isoformat(),
        "pin_kdf": card.pin_kdf,
        "pin_hash": card.pin_hash,
        "pin_failures": card.pin_failures,
        "lg_code": card.lg_code,
        "resident_code": card.resident_code,
    }


def _person_body(
    conn: Connection, lg_code: str, entry: RegisterEntry, *, holder: bool
) -> dict[str, Any]:
    """One person's move-out certificate information (転出証明書情報) and active card."""
    foreign = entry.foreign
    card = store.valid_card_of(conn, lg_code, entry.resident_code or "")
    return {
        "holder": holder,
        "resident_code": entry.resident_code,
        "name": entry.name,
        "name_kana": entry.name_kana,
        "alias": entry.alias,
        "former_surname": entry.former_surname,
        "birth_date": entry.birth_date.isoformat(),
        "sex": entry.sex.value,
        "kind": entry.kind.value,
        "address": entry.address,
        "household_id": entry.household_id,
        "relationship": entry.relationship,
        "registered_domicile": entry.registered_domicile,
        "foreign": None
        if foreign is None
        else {
            "nationality": foreign.nationality,
            "category": foreign.category.value,
            "foreign_resident_since": foreign.foreign_resident_since.isoformat(),
            "residence_status": foreign.residence_status,
            "period_of_stay": foreign.period_of_stay,
            "stay_expiry": foreign.stay_expiry.isoformat() if foreign.stay_expiry else None,
            "residence_card_number": foreign.residence_card_number,
        },
        "card": _card_body(card) if card is not None and card.status is CardStatus.ACTIVE else None,
    }


@dataclass(frozen=True, slots=True)
class _Mover:
    holder: bool
    resident_code: str
    name: str
    birth_date: date
    sex: Sex
    kind: ResidentKind
    address: str
    relationship: str
    name_kana: str | None
    alias: str | None
    former_surname: str | None
    registered_domicile: str | None
    foreign: ForeignResidentItems | None
    card: ResidentCard | None


def _text(body: dict[str, Any], field: str, max_length: int | None = None) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RuleViolation(field, "type", "must be text")
    return storable_text(value, field, max_length=max_length)


def _parse_person(body: object, i: int) -> _Mover:
    if not isinstance(body, dict):
        raise RuleViolation(f"people[{i}]", "type", "must be an object")
    try:
        foreign_body = body.get("foreign")
        foreign = _parse_foreign(foreign_body) if isinstance(foreign_body, dict) else None
        code = validate_resident_code(str(body.get("resident_code")))
        card_body = body.get("card")
        return _Mover(
            holder=body.get("holder") is True,
            resident_code=code,
            name=str(_text(body, "name") or ""),
            birth_date=body_date(body, "birth_date"),
            sex=Sex(str(body.get("sex"))),
            kind=ResidentKind(str(body.get("kind"))),
            address=str(_text(body, "address") or ""),
            relationship=str(_text(body, "relationship") or ""),
            name_kana=_text(body, "name_kana"),
            alias=_text(body, "alias"),
            former_surname=_text(body, "former_surname"),
            registered_domicile=_text(body, "registered_domicile"),
            foreign=foreign,
            card=_parse_card(card_body) if isinstance(card_body, dict) else None,
        )
    except (ValueError, TypeError) as exc:
        if isinstance(exc, RuleViolation):
            raise RuleViolation(f"people[{i}].{exc.field}", exc.rule, exc.message) from exc
        raise RuleViolation(f"people[{i}]", "malformed", str(exc)) from exc


def _parse_foreign(body: dict[str, Any]) -> ForeignResidentItems:
    expiry = body.get("stay_expiry")
    try:
        return ForeignResidentItems(
            nationality=storable_text(str(body.get("nationality")), "nationality"),
            category=ForeignCategory(str(body.get("category"))),
            foreign_resident_since=body_date(body, "foreign_resident_since"),
            residence_status=_text(body, "residence_status"),
            period_of_stay=_text(body, "period_of_stay"),
            stay_expiry=date.fromisoformat(expiry) if expiry else None,
            residence_card_number=_text(body, "residence_card_number", max_length=12),
        )
    except RuleViolation as exc:
        raise RuleViolation(f"foreign.{exc.field}", exc.rule, exc.message) from exc


def _parse_card(body: dict[str, Any]) -> ResidentCard:
    try:
        return ResidentCard(
            lg_code=validate_lg_code(str(body.get("lg_code"))),
            card_number=rules.validate_card_number(str(body.get("card_number"))),
            resident_code=validate_resident_code(str(body.get("resident_code"))),
            card_type=CardType(str(body.get("card_type"))),
            issuer_lg_code=validate_lg_code(str(body.get("issuer_lg_code")), "issuer_lg_code"),
            issued_on=body_date(body, "issued_on"),
            expires_on=body_date(body, "expires_on"),
            status=CardStatus.ACTIVE,
            pin_kdf=storable_text(str(body.get("pin_kdf")), "pin_kdf", max_length=40),
            pin_hash=storable_text(str(body.get("pin_hash")), "pin_hash", max_length=128),
            pin_failures=storable_int(
                body.get("pin_failures") or 0, "pin_failures", high=rules.MAX_PIN_FAILURES
            ),
            photo_ref=_text(body, "photo_ref"),
        )
    except RuleViolation as exc:
        raise RuleViolation(f"card.{exc.field}", exc.rule, exc.message) from exc


# --- helpers --------------------------------------------------------------------------------


def _known_municipality(lg_code: str, field: str) -> None:
    validate_lg_code(lg_code, field)
    try:
        reference.municipality(lg_code)
    except RuleViolation as exc:
        raise RuleViolation(field, exc.rule, exc.message) from exc


def _entry_named(conn: Connection, lg_code: str, resident_code: str) -> RegisterEntry:
    """A member's entry here: the active one, else the newest removed one."""
    entries = register_store.get_entries_by_code(conn, lg_code, resident_code)
    if not entries:
        raise RuleViolation(
            f"members[{resident_code}]", "not_found", f"no entry for {resident_code} here"
        )
    active = [s.entry for s in entries if s.entry.active]
    return active[0] if active else entries[0].entry


def _holder_of(conn: Connection, lg_code: str, card: ResidentCard) -> RegisterEntry:
    entries = register_store.get_entries_by_code(conn, lg_code, card.resident_code)
    if not entries:
        raise RuleViolation("card_number", "card_unknown", f"no holder of {card.card_number}")
    active = [s.entry for s in entries if s.entry.active]
    return active[0] if active else entries[0].entry


def _replace_request(request: store.CardMoveRequest, **changes: Any) -> store.CardMoveRequest:
    return replace(request, **changes)


def _next_version(card: ResidentCard, prior: int) -> ResidentCard:
    return replace(card, version=prior + 1)
