"""Resident cards and card-based moves: tables and data functions (municipal nodes).

Every table carries ``lg_code`` (the municipality the row belongs to) and is a tenant table
under PostgreSQL row-level security (migration 0014, like ``residents``); every function takes
an open connection inside the caller's transaction and filters by ``lg_code`` itself too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)

from jukinet.domain.cards import (
    CardMoveState,
    CardStatus,
    CardType,
    FiledBy,
    MoveOutState,
    ResidentCard,
    VoidReason,
)
from jukinet.store.tables import BigId, UTCDateTime, metadata

resident_cards = Table(
    "resident_cards",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lg_code", String(6), nullable=False),  # the municipality holding the card
    Column("card_number", String(16), nullable=False),
    Column("resident_code", String(11), nullable=False),  # the holder
    Column("card_type", String(1), nullable=False),  # A | B
    Column("photo_ref", Text),  # type B: the photo on file
    Column("issuer_lg_code", String(6), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("status", String(20), nullable=False),  # active | suspended | void | continued_...
    Column("void_reason", String(24)),
    Column("status_changed_on", Date),
    Column("pin_kdf", String(40), nullable=False),
    Column("pin_hash", String(128), nullable=False),  # never the PIN
    Column("pin_failures", Integer, nullable=False),
    Column("continued_from", String(6)),  # card-based move: the former municipality
    Column("continued_on", Date),
    Column("continued_to", String(6)),  # card-based move: where it went
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("uq_resident_cards_lg_code_card_number", "lg_code", "card_number", unique=True),
    Index(
        "uq_resident_cards_valid_holder",
        "lg_code",
        "resident_code",
        unique=True,
        sqlite_where=text("status IN ('active', 'suspended')"),
        postgresql_where=text("status IN ('active', 'suspended')"),
    ),
)
"""Cards held by the municipality (one valid card per person: the partial unique index)."""

resident_card_events = Table(
    "resident_card_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lg_code", String(6), nullable=False),
    Column("card_number", String(40)),  # as given (a refused request may name no real card)
    Column("resident_code", String(11)),
    Column("at", UTCDateTime(), nullable=False),
    Column("action", String(40), nullable=False),
    Column("outcome", String(10), nullable=False),  # ok | refused
    Column("rule", String(40)),  # the rule that refused it
    Column("detail", Text, nullable=False),  # canonical JSON
    Column("actor", String(80), nullable=False),
    Index("ix_resident_card_events_lg_code_card_number", "lg_code", "card_number"),
    Index("ix_resident_card_events_lg_code_resident_code", "lg_code", "resident_code"),
)
"""Append-only: everything done with a card, refusals (wrong PINs ...) included."""

card_move_outs = Table(
    "card_move_outs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lg_code", String(6), nullable=False),  # the former municipality
    Column("holder_resident_code", String(11), nullable=False),
    Column("card_number", String(16), nullable=False),
    Column("destination_lg_code", String(6), nullable=False),
    Column("destination_address", Text, nullable=False),
    Column("declared_move_date", Date, nullable=False),  # 転出予定日
    Column("filed_on", Date, nullable=False),
    Column("filed_by", String(8), nullable=False),  # visit | mail
    Column("state", String(20), nullable=False),
    Column("request_id", String(36)),  # the certificate request last answered
    Column("certificate_sent_at", UTCDateTime()),
    Column("closed_on", Date),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_card_move_outs_lg_code_card_number", "lg_code", "card_number"),
)
"""Card-based move-outs (付記転出届) filed at the former municipality."""

card_move_out_people = Table(
    "card_move_out_people",
    metadata,
    Column("move_out_id", BigId, ForeignKey("card_move_outs.id"), nullable=False),
    Column("lg_code", String(6), nullable=False),
    Column("resident_code", String(11), nullable=False),
    Column("holder", Boolean, nullable=False),
    Column("certified", Boolean, nullable=False),  # in the certificate the new one received
    PrimaryKeyConstraint("move_out_id", "resident_code"),
    Index("ix_card_move_out_people_lg_code_resident_code", "lg_code", "resident_code"),
)
"""Who moves under a card-based move-out: the holder and the household members with them."""

card_move_requests = Table(
    "card_move_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(36), nullable=False, unique=True),
    Column("lg_code", String(6), nullable=False),  # the new municipality
    Column("former_lg_code", String(6), nullable=False),
    Column("card_number", String(40), nullable=False),
    Column("holder_resident_code", String(40), nullable=False),
    Column("members", Text, nullable=False),  # JSON list of resident codes
    Column("new_address", Text, nullable=False),
    Column("moved_on", Date, nullable=False),
    Column("filed_on", Date, nullable=False),
    Column("state", String(12), nullable=False),  # pending | completed | refused
    Column("field", String(80)),  # refused: the field and rule, and the message
    Column("rule", String(40)),
    Column("message", Text),
    Column("registered", Text),  # completed: JSON list of the resident codes registered
    Column("message_id", String(36)),  # the request's outbox message (delivery state)
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("answered_at", UTCDateTime()),
    Index("ix_card_move_requests_lg_code_state", "lg_code", "state"),
    Index("ix_card_move_requests_lg_code_card_number", "lg_code", "card_number"),
)
"""Card-based move-ins (転入届の特例) at the new municipality, pending until the former one
answers."""


# --- cards ---------------------------------------------------------------------------------


def _card_row(card: ResidentCard, at: datetime) -> dict[str, Any]:
    return {
        "lg_code": card.lg_code,
        "card_number": card.card_number,
        "resident_code": card.resident_code,
        "card_type": card.card_type.value,
        "photo_ref": card.photo_ref,
        "issuer_lg_code": card.issuer_lg_code,
        "issued_on": card.issued_on,
        "expires_on": card.expires_on,
        "status": card.status.value,
        "void_reason": card.void_reason.value if card.void_reason else None,
        "status_changed_on": card.status_changed_on,
        "pin_kdf": card.pin_kdf,
        "pin_hash": card.pin_hash,
        "pin_failures": card.pin_failures,
        "continued_from": card.continued_from,
        "continued_on": card.continued_on,
        "continued_to": card.continued_to,
        "version": card.version,
        "updated_at": at,
    }


def _card(row: Row[Any]) -> ResidentCard:
    m = row._mapping
    return ResidentCard(
        lg_code=m["lg_code"],
        card_number=m["card_number"],
        resident_code=m["resident_code"],
        card_type=CardType(m["card_type"]),
        issuer_lg_code=m["issuer_lg_code"],
        issued_on=m["issued_on"],
        expires_on=m["expires_on"],
        status=CardStatus(m["status"]),
        pin_kdf=m["pin_kdf"],
        pin_hash=m["pin_hash"],
        pin_failures=m["pin_failures"],
        photo_ref=m["photo_ref"],
        void_reason=VoidReason(m["void_reason"]) if m["void_reason"] else None,
        status_changed_on=m["status_changed_on"],
        continued_from=m["continued_from"],
        continued_on=m["continued_on"],
        continued_to=m["continued_to"],
        version=m["version"],
    )


def insert_card(conn: Connection, card: ResidentCard, at: datetime) -> None:
    conn.execute(insert(resident_cards).values(**_card_row(card, at)))


class ConcurrentCardChangeError(RuntimeError):
    """Another transaction changed the card first; the caller may retry."""


def update_card(conn: Connection, card: ResidentCard, at: datetime) -> None:
    """Store the card's next version (optimistic on the version)."""
    result = conn.execute(
        update(resident_cards)
        .where(
            resident_cards.c.lg_code == card.lg_code,
            resident_cards.c.card_number == card.card_number,
            resident_cards.c.version == card.version - 1,
        )
        .values(**_card_row(card, at))
    )
    if result.rowcount != 1:
        raise ConcurrentCardChangeError(card.card_number)


def get_card(conn: Connection, lg_code: str, card_number: str) -> ResidentCard | None:
    row = conn.execute(
        select(resident_cards).where(
            resident_cards.c.lg_code == lg_code, resident_cards.c.card_number == card_number
        )
    ).first()
    return None if row is None else _card(row)


def cards_of(conn: Connection, lg_code: str, resident_code: str) -> list[ResidentCard]:
    """Every card the resident has held here, newest first."""
    rows = conn.execute(
        select(resident_cards)
        .where(resident_cards.c.lg_code == lg_code, resident_cards.c.resident_code == resident_code)
        .order_by(resident_cards.c.id.desc())
    )
    return [_card(r) for r in rows]


def valid_card_of(conn: Connection, lg_code: str, resident_code: str) -> ResidentCard | None:
    """The person's active or suspended card here, if any (there is at most one)."""
    return next((c for c in cards_of(conn, lg_code, resident_code) if c.status.valid), None)


def card_number_taken(conn: Connection, lg_code: str, card_number: str) -> bool:
    found = conn.execute(
        select(resident_cards.c.id).where(
            resident_cards.c.lg_code == lg_code, resident_cards.c.card_number == card_number
        )
    ).first()
    return found is not None


@dataclass(frozen=True, slots=True)
class CardEvent:
    at: datetime
    card_number: str | None
    resident_code: str | None
    action: str
    outcome: str
    rule: str | None
    detail: dict[str, Any]
    actor: str


def append_card_event(
    conn: Connection,
    *,
    lg_code: str,
    at: datetime,
    action: str,
    card_number: str | None,
    resident_code: str | None = None,
    outcome: str = "ok",
    rule: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str = "",
) -> None:
    conn.execute(
        insert(resident_card_events).values(
            lg_code=lg_code,
            card_number=None if card_number is None else card_number[:40],
            resident_code=None if resident_code is None else resident_code[:11],
            at=at,
            action=action,
            outcome=outcome,
            rule=rule,
            detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
            actor=actor,
        )
    )


def card_events(
    conn: Connection,
    lg_code: str,
    *,
    card_number: str | None = None,
    resident_code: str | None = None,
) -> list[CardEvent]:
    """A card's (or a resident's) events here, oldest first."""
    query = select(resident_card_events).where(resident_card_events.c.lg_code == lg_code)
    if card_number is not None:
        query = query.where(resident_card_events.c.card_number == card_number)
    if resident_code is not None:
        query = query.where(resident_card_events.c.resident_code == resident_code)
    rows = conn.execute(query.order_by(resident_card_events.c.id))
    return [
        CardEvent(
            at=r.at,
            card_number=r.card_number,
            resident_code=r.resident_code,
            action=r.action,
            outcome=r.outcome,
            rule=r.rule,
            detail=json.loads(r.detail),
            actor=r.actor,
        )
        for r in rows
    ]


# --- card-based move-outs (former municipality) -------------------------------------------


@dataclass(frozen=True, slots=True)
class CardMoveOut:
    id: int
    lg_code: str
    holder_resident_code: str
    card_number: str
    destination_lg_code: str
    destination_address: str
    declared_move_date: date
    filed_on: date
    filed_by: FiledBy
    state: MoveOutState
    members: tuple[str, ...]  # household members declared to move with the holder
    certified: tuple[str, ...] = ()  # who the certificate sent covered
    request_id: str | None = None
    closed_on: date | None = None

    @property
    def people(self) -> tuple[str, ...]:
        return (self.holder_resident_code, *self.members)


_OPEN_MOVE_OUT = (MoveOutState.DECLARED.value, MoveOutState.CERTIFICATE_SENT.value)


def insert_move_out(
    conn: Connection,
    *,
    lg_code: str,
    holder: str,
    members: Sequence[str],
    card_number: str,
    destination_lg_code: str,
    destination_address: str,
    declared_move_date: date,
    filed_on: date,
    filed_by: FiledBy,
    at: datetime,
) -> int:
    move_out_id = conn.execute(
        insert(card_move_outs)
        .values(
            lg_code=lg_code,
            holder_resident_code=holder,
            card_number=card_number,
            destination_lg_code=destination_lg_code,
            destination_address=destination_address,
            declared_move_date=declared_move_date,
            filed_on=filed_on,
            filed_by=filed_by.value,
            state=MoveOutState.DECLARED.value,
            created_at=at,
        )
        .returning(card_move_outs.c.id)
    ).scalar_one()
    conn.execute(
        insert(card_move_out_people),
        [
            {
                "move_out_id": move_out_id,
                "lg_code": lg_code,
                "resident_code": code,
                "holder": i == 0,
                "certified": False,
            }
            for i, code in enumerate([holder, *members])
        ],
    )
    return int(move_out_id)


def _move_outs(conn: Connection, lg_code: str, query: Any) -> list[CardMoveOut]:
    rows = conn.execute(query.order_by(card_move_outs.c.id.desc())).all()
    found = []
    for r in rows:
        people = conn.execute(
            select(
                card_move_out_people.c.resident_code,
                card_move_out_people.c.holder,
                card_move_out_people.c.certified,
            )
            .where(
                card_move_out_people.c.move_out_id == r.id,
                card_move_out_people.c.lg_code == lg_code,
            )
            .order_by(card_move_out_people.c.resident_code)
        ).all()
        found.append(
            CardMoveOut(
                id=r.id,
                lg_code=r.lg_code,
                holder_resident_code=r.holder_resident_code,
                card_number=r.card_number,
                destination_lg_code=r.destination_lg_code,
                destination_address=r.destination_address,
                declared_move_date=r.declared_move_date,
                filed_on=r.filed_on,
                filed_by=FiledBy(r.filed_by),
                state=MoveOutState(r.state),
                members=tuple(p.resident_code for p in people if not p.holder),
                certified=tuple(p.resident_code for p in people if p.certified),
                request_id=r.request_id,
                closed_on=r.closed_on,
            )
        )
    return found


def open_move_out_of_card(conn: Connection, lg_code: str, card_number: str) -> CardMoveOut | None:
    """The card's card-based move-out that is still open (declared or certificate sent)."""
    found = _move_outs(
        conn,
        lg_code,
        select(card_move_outs).where(
            card_move_outs.c.lg_code == lg_code,
            card_move_outs.c.card_number == card_number,
            card_move_outs.c.state.in_(_OPEN_MOVE_OUT),
        ),
    )
    return found[0] if found else None


def open_move_outs_covering(
    conn: Connection, lg_code: str, resident_code: str
) -> list[CardMoveOut]:
    """Open card-based move-outs under which ``resident_code`` moves (as holder or member)."""
    covering = select(card_move_out_people.c.move_out_id).where(
        card_move_out_people.c.lg_code == lg_code,
        card_move_out_people.c.resident_code == resident_code,
    )
    return _move_outs(
        conn,
        lg_code,
        select(card_move_outs).where(
            card_move_outs.c.lg_code == lg_code,
            card_move_outs.c.id.in_(covering),
            card_move_outs.c.state.in_(_OPEN_MOVE_OUT),
        ),
    )


def move_outs_of(conn: Connection, lg_code: str, resident_code: str) -> list[CardMoveOut]:
    """Every card-based move-out naming the resident, newest first."""
    covering = select(card_move_out_people.c.move_out_id).where(
        card_move_out_people.c.lg_code == lg_code,
        card_move_out_people.c.resident_code == resident_code,
    )
    return _move_outs(
        conn,
        lg_code,
        select(card_move_outs).where(
            card_move_outs.c.lg_code == lg_code, card_move_outs.c.id.in_(covering)
        ),
    )


def set_move_out_state(
    conn: Connection,
    move_out_id: int,
    state: MoveOutState,
    *,
    request_id: str | None = None,
    certificate_sent_at: datetime | None = None,
    closed_on: date | None = None,
) -> None:
    values: dict[str, Any] = {"state": state.value}
    if request_id is not None:
        values["request_id"] = request_id
    if certificate_sent_at is not None:
        values["certificate_sent_at"] = certificate_sent_at
    if closed_on is not None:
        values["closed_on"] = closed_on
    conn.execute(update(card_move_outs).where(card_move_outs.c.id == move_out_id).values(**values))


def mark_certified(
    conn: Connection, lg_code: str, move_out_id: int, resident_codes: Sequence[str]
) -> None:
    """Record who the certificate just sent covers (the people it lets move in)."""
    conn.execute(
        update(card_move_out_people)
        .where(
            card_move_out_people.c.move_out_id == move_out_id,
            card_move_out_people.c.lg_code == lg_code,
        )
        .values(certified=card_move_out_people.c.resident_code.in_(list(resident_codes)))
    )


# --- card-based move-ins (new municipality) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class CardMoveRequest:
    request_id: str
    lg_code: str
    former_lg_code: str
    card_number: str
    holder_resident_code: str
    members: tuple[str, ...]
    new_address: str
    moved_on: date
    filed_on: date
    state: CardMoveState
    requested_at: datetime
    field: str | None = None
    rule: str | None = None
    message: str | None = None
    registered: tuple[str, ...] = ()
    message_id: str | None = None
    answered_at: datetime | None = None


def insert_move_request(conn: Connection, request: CardMoveRequest) -> None:
    conn.execute(
        insert(card_move_requests).values(
            request_id=request.request_id,
            lg_code=request.lg_code,
            former_lg_code=request.former_lg_code,
            card_number=request.card_number,
            holder_resident_code=request.holder_resident_code,
            members=json.dumps(list(request.members)),
            new_address=request.new_address,
            moved_on=request.moved_on,
            filed_on=request.filed_on,
            state=request.state.value,
            field=request.field,
            rule=request.rule,
            message=request.message,
            registered=json.dumps(list(request.registered)),
            message_id=request.message_id,
            requested_at=request.requested_at,
            answered_at=request.answered_at,
        )
    )


def _request(r: Row[Any]) -> CardMoveRequest:
    return CardMoveRequest(
        request_id=r.request_id,
        lg_code=r.lg_code,
        former_lg_code=r.former_lg_code,
        card_number=r.card_number,
        holder_resident_code=r.holder_resident_code,
        members=tuple(json.loads(r.members)),
        new_address=r.new_address,
        moved_on=r.moved_on,
        filed_on=r.filed_on,
        state=CardMoveState(r.state),
        requested_at=r.requested_at,
        field=r.field,
        rule=r.rule,
        message=r.message,
        registered=tuple(json.loads(r.registered or "[]")),
        message_id=r.message_id,
        answered_at=r.answered_at,
    )


def get_move_request(conn: Connection, lg_code: str, request_id: str) -> CardMoveRequest | None:
    row = conn.execute(
        select(card_move_requests).where(
            card_move_requests.c.lg_code == lg_code, card_move_requests.c.request_id == request_id
        )
    ).first()
    return None if row is None else _request(row)


def move_requests(
    conn: Connection, lg_code: str, state: CardMoveState | None = None, limit: int = 100
) -> list[CardMoveRequest]:
    """The municipality's card-based move-ins, newest first."""
    query = select(card_move_requests).where(card_move_requests.c.lg_code == lg_code)
    if state is not None:
        query = query.where(card_move_requests.c.state == state.value)
    rows = conn.execute(query.order_by(card_move_requests.c.id.desc()).limit(limit))
    return [_request(r) for r in rows]


def pending_move_request_of_card(
    conn: Connection, lg_code: str, card_number: str
) -> CardMoveRequest | None:
    row = conn.execute(
        select(card_move_requests).where(
            card_move_requests.c.lg_code == lg_code,
            card_move_requests.c.card_number == card_number,
            card_move_requests.c.state == CardMoveState.PENDING.value,
        )
    ).first()
    return None if row is None else _request(row)


def finish_move_request(
    conn: Connection,
    lg_code: str,
    request_id: str,
    state: CardMoveState,
    at: datetime,
    *,
    field: str | None = None,
    rule: str | None = None,
    message: str | None = None,
    registered: Sequence[str] = (),
) -> bool:
    """Answer a pending request (completed or refused); False when it was not pending."""
    result = conn.execute(
        update(card_move_requests)
        .where(
            card_move_requests.c.lg_code == lg_code,
            card_move_requests.c.request_id == request_id,
            card_move_requests.c.state == CardMoveState.PENDING.value,
        )
        .values(
            state=state.value,
            field=field,
            rule=rule,
            message=message,
            registered=json.dumps(list(registered)),
            answered_at=at,
        )
    )
    return result.rowcount == 1
