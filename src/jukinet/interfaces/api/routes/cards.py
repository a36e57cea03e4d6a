"""The clerk's API for resident cards and the card-based move, per hosted municipality.

Changes (issue, suspend, resume, return, PIN reset, card-based move-out and move-in) need an
operator of that municipality who may record register events (``resident.record``: the
registrar); reading a card or a move-in's state needs ``resident.read``. Refusals are
problem+json naming the field and the rule, and are recorded where the card is held.

A card-based move-in answers **202**: the request is on its way to the former municipality;
``GET …/card-move-ins/{request_id}`` shows whether it is pending (with the delivery's
attempts and last error), completed, or refused and why.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from jukinet.domain.cards import CardMoveState, CardType, FiledBy, ResidentCard, VoidReason
from jukinet.domain.operators import Action
from jukinet.interfaces.api.auth_deps import municipality_in_path, require_permission
from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.api.problems import problem_responses
from jukinet.interfaces.api.schemas import RequestBody, Text
from jukinet.services.municipal.card_move import CardMoveStatus
from jukinet.services.operators import Operator
from jukinet.store.cards import CardMoveOut as StoredMoveOut

router = APIRouter(prefix="/municipalities/{lg_code}", tags=["resident cards"])

LgCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit lg code")]
CardNumber = Annotated[str, Path(pattern=r"^\d{16}$", description="16-digit card number")]
Recorder = Annotated[
    Operator, Depends(require_permission(Action.RESIDENT_RECORD, organisation=municipality_in_path))
]
Reader = Annotated[
    Operator, Depends(require_permission(Action.RESIDENT_READ, organisation=municipality_in_path))
]
WRITE_PROBLEMS = problem_responses(401, 403, 404, 422)


def _actor(operator: Operator) -> str:
    return f"operator:{operator.login}"


# --- schemas --------------------------------------------------------------------------------


class CardIssueIn(RequestBody):
    resident_code: str = Field(pattern=r"^\d{11}$")
    card_type: CardType
    pin: str = Field(max_length=16, description="4 digits; stored only as a slow salted hash")
    photo_ref: str | None = Field(default=None, max_length=400, description="type B only")


class IdentityCheckIn(RequestBody):
    identity_document: str = Field(
        max_length=200, description="the photo ID (or other document) the holder showed"
    )


class PinResetIn(IdentityCheckIn):
    pin: str = Field(max_length=16)


class CardReturnIn(RequestBody):
    reason: Literal["returned", "lost"] = "returned"


class CardOut(BaseModel):
    card_number: str
    resident_code: str
    card_type: str
    usable_as_photo_id: bool
    issuer_lg_code: str
    issued_on: date
    expires_on: date
    status: str
    void_reason: str | None
    status_changed_on: date | None
    pin_locked: bool
    pin_failures: int
    continued_from: str | None
    continued_to: str | None

    @classmethod
    def of(cls, card: ResidentCard) -> CardOut:
        return cls(
            card_number=card.card_number,
            resident_code=card.resident_code,
            card_type=card.card_type.value,
            usable_as_photo_id=card.usable_as_photo_id,
            issuer_lg_code=card.issuer_lg_code,
            issued_on=card.issued_on,
            expires_on=card.expires_on,
            status=card.status.value,
            void_reason=card.void_reason.value if card.void_reason else None,
            status_changed_on=card.status_changed_on,
            pin_locked=card.pin_locked,
            pin_failures=card.pin_failures,
            continued_from=card.continued_from,
            continued_to=card.continued_to,
        )


class CardEventOut(BaseModel):
    at: datetime
    action: str
    outcome: str
    rule: str | None
    actor: str


class CardDetailOut(BaseModel):
    card: CardOut
    face: dict[str, str]
    events: list[CardEventOut]


class SpecialMoveOutIn(RequestBody):
    resident_code: str = Field(pattern=r"^\d{11}$", description="the card holder")
    card_number: str = Field(pattern=r"^\d{16}$")
    destination_lg_code: str = Field(pattern=r"^\d{6}$")
    destination_address: str = Field(max_length=400)
    declared_move_date: date
    members: list[str] = Field(default_factory=list, max_length=50)
    filed_by: FiledBy = FiledBy.VISIT


class SpecialMoveOutOut(BaseModel):
    holder_resident_code: str
    members: list[str]
    card_number: str
    destination_lg_code: str
    declared_move_date: date
    filed_on: date
    filed_by: str
    state: str

    @classmethod
    def of(cls, move: StoredMoveOut) -> SpecialMoveOutOut:
        return cls(
            holder_resident_code=move.holder_resident_code,
            members=list(move.members),
            card_number=move.card_number,
            destination_lg_code=move.destination_lg_code,
            declared_move_date=move.declared_move_date,
            filed_on=move.filed_on,
            filed_by=move.filed_by.value,
            state=move.state.value,
        )


class CardMoveInIn(RequestBody):
    former_lg_code: str = Field(pattern=r"^\d{6}$")
    card_number: str = Field(max_length=40)
    pin: str = Field(max_length=16, description="sent on only as its hash")
    holder_resident_code: str = Field(max_length=40)
    new_address: str = Field(max_length=400)
    moved_on: date
    members: list[str] = Field(default_factory=list, max_length=50)


class DeliveryOut(BaseModel):
    delivered: bool
    outcome: str | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


class CardMoveInOut(BaseModel):
    request_id: str
    state: str
    explanation: str
    former_lg_code: str
    card_number: str
    holder_resident_code: str
    members: list[str]
    moved_on: date
    filed_on: date
    field: str | None
    rule: str | None
    message: str | None
    registered: list[str]
    requested_at: datetime
    answered_at: datetime | None
    delivery: DeliveryOut | None

    @classmethod
    def of(cls, status: CardMoveStatus) -> CardMoveInOut:
        r, d = status.request, status.delivery
        return cls(
            request_id=r.request_id,
            state=r.state.value,
            explanation=status.explanation,
            former_lg_code=r.former_lg_code,
            card_number=r.card_number,
            holder_resident_code=r.holder_resident_code,
            members=list(r.members),
            moved_on=r.moved_on,
            filed_on=r.filed_on,
            field=r.field,
            rule=r.rule,
            message=r.message,
            registered=list(r.registered),
            requested_at=r.requested_at,
            answered_at=r.answered_at,
            delivery=None
            if d is None
            else DeliveryOut(
                delivered=d.delivered_at is not None,
                outcome=d.outcome,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_error=d.last_error,
            ),
        )


# --- cards ----------------------------------------------------------------------------------


@router.post("/cards", status_code=201, responses=WRITE_PROBLEMS)
def issue_card(
    services: ServicesDep, lg_code: LgCode, body: CardIssueIn, operator: Recorder
) -> CardOut:
    """Issue a resident card (type A, or B with a photo) protected by a 4-digit PIN."""
    card = services.resident_cards(lg_code).issue(
        body.resident_code,
        body.card_type,
        body.pin,
        photo_ref=body.photo_ref,
        actor=_actor(operator),
    )
    return CardOut.of(card)


@router.get("/cards/{card_number}", responses=problem_responses(401, 403, 404, 422))
def show_card(
    services: ServicesDep, lg_code: LgCode, card_number: CardNumber, _operator: Reader
) -> CardDetailOut:
    """The card, its face, and everything done with it (refusals included)."""
    view = services.resident_cards(lg_code).show(card_number)
    return CardDetailOut(
        card=CardOut.of(view.card),
        face=view.face,
        events=[
            CardEventOut(at=e.at, action=e.action, outcome=e.outcome, rule=e.rule, actor=e.actor)
            for e in view.events
        ],
    )


@router.post("/cards/{card_number}/suspend", responses=WRITE_PROBLEMS)
def suspend_card(
    services: ServicesDep, lg_code: LgCode, card_number: CardNumber, operator: Recorder
) -> CardOut:
    """一時停止: the holder reports the card lost."""
    return CardOut.of(services.resident_cards(lg_code).suspend(card_number, actor=_actor(operator)))


@router.post("/cards/{card_number}/resume", responses=WRITE_PROBLEMS)
def resume_card(
    services: ServicesDep,
    lg_code: LgCode,
    card_number: CardNumber,
    body: IdentityCheckIn,
    operator: Recorder,
) -> CardOut:
    """The lost card was found: resumed after an identity check."""
    card = services.resident_cards(lg_code).resume(
        card_number, body.identity_document, actor=_actor(operator)
    )
    return CardOut.of(card)


@router.post("/cards/{card_number}/return", responses=WRITE_PROBLEMS)
def return_card(
    services: ServicesDep,
    lg_code: LgCode,
    card_number: CardNumber,
    body: CardReturnIn,
    operator: Recorder,
) -> CardOut:
    """返納: the card is returned (or given up as lost) and void from today."""
    card = services.resident_cards(lg_code).give_back(
        card_number, VoidReason(body.reason), actor=_actor(operator)
    )
    return CardOut.of(card)


@router.post("/cards/{card_number}/pin-reset", responses=WRITE_PROBLEMS)
def reset_pin(
    services: ServicesDep,
    lg_code: LgCode,
    card_number: CardNumber,
    body: PinResetIn,
    operator: Recorder,
) -> CardOut:
    """A new PIN (a locked or forgotten one), after an identity check."""
    card = services.resident_cards(lg_code).reset_pin(
        card_number, body.pin, body.identity_document, actor=_actor(operator)
    )
    return CardOut.of(card)


# --- the card-based move --------------------------------------------------------------------


@router.post("/card-move-outs", status_code=201, responses=WRITE_PROBLEMS)
def file_special_move_out(
    services: ServicesDep, lg_code: LgCode, body: SpecialMoveOutIn, operator: Recorder
) -> SpecialMoveOutOut:
    """付記転出届: the card holder (and household members moving along) move out; no paper
    certificate. Filed at the counter or by mail (``filed_by``)."""
    move = services.card_move(lg_code).file_special_move_out(
        body.resident_code,
        body.card_number,
        destination_lg_code=body.destination_lg_code,
        destination_address=body.destination_address,
        declared_move_date=body.declared_move_date,
        members=body.members,
        filed_by=body.filed_by,
        actor=_actor(operator),
    )
    return SpecialMoveOutOut.of(move)


@router.post("/card-move-ins", status_code=202, responses=WRITE_PROBLEMS)
def move_in_with_card(
    services: ServicesDep,
    lg_code: LgCode,
    body: CardMoveInIn,
    operator: Recorder,
    response: Response,
) -> CardMoveInOut:
    """転入届の特例: card and PIN presented; the move-out certificate information is asked of
    the former municipality. Pending until it answers (see the ``Location``)."""
    service = services.card_move(lg_code)
    request = service.move_in_with_card(
        former_lg_code=body.former_lg_code,
        card_number=body.card_number,
        pin=body.pin,
        holder_resident_code=body.holder_resident_code,
        new_address=body.new_address,
        moved_on=body.moved_on,
        members=body.members,
        actor=_actor(operator),
    )
    response.headers["Location"] = f"/municipalities/{lg_code}/card-move-ins/{request.request_id}"
    return CardMoveInOut.of(service.status(request.request_id))


@router.get("/card-move-ins", responses=problem_responses(401, 403, 404, 422))
def list_card_move_ins(
    services: ServicesDep,
    lg_code: LgCode,
    _operator: Reader,
    state: CardMoveState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CardMoveInOut]:
    """Card-based move-ins here, newest first (``state=pending``: those still waiting)."""
    return [CardMoveInOut.of(s) for s in services.card_move(lg_code).requests(state, limit)]


@router.get("/card-move-ins/{request_id}", responses=problem_responses(401, 403, 404, 422))
def card_move_in_status(
    services: ServicesDep,
    lg_code: LgCode,
    request_id: Annotated[Text, Path(max_length=40)],
    _operator: Reader,
) -> CardMoveInOut:
    """Where a card-based move-in stands: pending (and why), completed, or refused (and why)."""
    return CardMoveInOut.of(services.card_move(lg_code).status(request_id))
