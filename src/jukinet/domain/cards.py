"""Resident cards (住民基本台帳カード) and the rules of the card-based move (転入届の特例).

Pure: no storage, no clock reads; services pass ``today`` in. Every refusal is a
``RuleViolation`` naming the field and the rule.

Choices where the public record is silent (docs/municipal-services.md):

- **Card number**: the issuing municipality's lg code and ten random digits (16 digits); the
  number stays with the card when it continues in another municipality.
- **PIN**: four digits, kept only as scrypt (N=2^14, r=8, p=1) of the PIN, salted per card
  with the card number (unique and never reused, which is all a salt needs). The salt being
  derivable from the card is what lets the new municipality of a card-based move send the
  *hash* of the PIN it was given (``pin_proof``) to the municipality holding the card, which
  compares it in constant time: the PIN itself is never stored or sent anywhere.
- **Lockout**: ``MAX_PIN_FAILURES`` consecutive wrong PINs lock the card's PIN until the
  municipality resets it after checking the holder's identity; a right PIN clears the count.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.domain.register import (
    FOREIGN_RESIDENT_APPLICABLE_DATE,
    HEAD_OF_HOUSEHOLD,
    RegisterEntry,
    ResidentKind,
)

VALIDITY_YEARS = 10
MAX_PIN_FAILURES = 3
"""Consecutive wrong PINs after which the PIN is locked (a project choice: the public record
gives no number for the 住基カード; JPKI's 4-digit PIN locks after 3)."""

PIN_KDF = "scrypt:16384:8:1"
"""The PIN hash's function and parameters, stored with every hash and sent with every proof, so
that parameters can change later without guessing which ones a stored hash used."""

CARD_MOVE_DAYS_AFTER_DECLARED_DATE = 30
CARD_MOVE_DAYS_AFTER_MOVE = 14

_PIN = re.compile(r"^[0-9]{4}$")
_CARD_NUMBER = re.compile(r"[0-9]{16}")  # fullmatch: "$" would let a trailing newline through


class CardType(StrEnum):
    """A: no photo, name only on the face. B: photo, name, address, birth date and sex on the
    face; usable as photo ID."""

    A = "A"
    B = "B"

    @property
    def label_ja(self) -> str:
        return "A型（写真なし）" if self is CardType.A else "B型（写真付き）"


class CardStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # 一時停止 (reported lost); resumed when found
    VOID = "void"  # 廃止: returned, lost, or voided by a register event
    CONTINUED_ELSEWHERE = "continued_elsewhere"  # left with its holder in a card-based move

    @property
    def valid(self) -> bool:
        """A card that still exists for its holder here (at most one per person)."""
        return self in {CardStatus.ACTIVE, CardStatus.SUSPENDED}


class VoidReason(StrEnum):
    RETURNED = "returned"  # 返納
    LOST = "lost"  # 紛失による廃止
    MOVE_OUT = "move_out"  # 転出 (not a card-based move)
    RESIDENT_CODE_CHANGE = "resident_code_change"  # 住民票コードの変更
    DEATH = "death"  # 死亡
    ENTRY_REMOVED = "entry_removed"  # any other removal (国外転出, 職権消除 ...)


class FiledBy(StrEnum):
    """How a card-based move-out (付記転出届) reached the former municipality."""

    VISIT = "visit"  # 窓口
    MAIL = "mail"  # 郵送


@dataclass(frozen=True, slots=True)
class ResidentCard:
    """A card as the municipality holding it keeps it (the card's chip, in effect)."""

    lg_code: str  # the municipality holding this record
    card_number: str
    resident_code: str  # the holder
    card_type: CardType
    issuer_lg_code: str
    issued_on: date
    expires_on: date  # last day of validity
    status: CardStatus
    pin_kdf: str
    pin_hash: str
    pin_failures: int = 0
    photo_ref: str | None = None
    void_reason: VoidReason | None = None
    status_changed_on: date | None = None
    continued_from: str | None = None  # lg code the card came from (card-based move)
    continued_on: date | None = None
    continued_to: str | None = None  # lg code it left for (card-based move)
    version: int = 1

    @property
    def pin_locked(self) -> bool:
        return self.pin_failures >= MAX_PIN_FAILURES

    @property
    def usable_as_photo_id(self) -> bool:
        return self.card_type is CardType.B

    def expired(self, today: date) -> bool:
        return today > self.expires_on


# --- numbers and PINs -----------------------------------------------------------------------


def validate_card_number(value: str, field: str = "card_number") -> str:
    if not _CARD_NUMBER.fullmatch(value):
        raise RuleViolation(field, "card_number_format", "a card number is 16 digits")
    return value


def validate_pin(pin: str, field: str = "pin") -> str:
    if not _PIN.match(pin):
        raise RuleViolation(field, "pin_format", "a PIN is exactly 4 digits")
    return pin


def card_number_of(issuer_lg_code: str, serial: int) -> str:
    """The card number: the issuer's lg code and a 10-digit serial (drawn at random)."""
    if not 0 <= serial < 10**10:
        raise ValueError("serial out of range")
    return f"{issuer_lg_code}{serial:010d}"


def _pin_salt(card_number: str) -> bytes:
    return b"jukinet/resident-card-pin/" + card_number.encode("ascii")


def pin_proof(card_number: str, pin: str, kdf: str = PIN_KDF) -> str:
    """The slow salted hash of ``pin`` for this card (hex): what is stored at issue, and what a
    new municipality sends instead of the PIN in a card-based move."""
    validate_card_number(card_number)
    validate_pin(pin)
    name, n, r, p = _parse_kdf(kdf)
    assert name == "scrypt"
    digest = hashlib.scrypt(
        pin.encode("ascii"), salt=_pin_salt(card_number), n=n, r=r, p=p, dklen=32
    )
    return digest.hex()


def _parse_kdf(kdf: str) -> tuple[str, int, int, int]:
    parts = kdf.split(":")
    if len(parts) != 4 or parts[0] != "scrypt" or not all(x.isdigit() for x in parts[1:]):
        raise RuleViolation("pin_kdf", "unknown_kdf", f"unknown PIN hash function {kdf!r}")
    return parts[0], int(parts[1]), int(parts[2]), int(parts[3])


def pin_matches(card: ResidentCard, kdf: str, proof: str) -> bool:
    """Constant-time comparison of a PIN proof with the card's stored hash."""
    if kdf != card.pin_kdf:
        return False
    return hmac.compare_digest(proof.encode("ascii"), card.pin_hash.encode("ascii"))


def after_pin_check(card: ResidentCard, matched: bool) -> ResidentCard:
    """The card after one PIN attempt: a wrong PIN counts, a right one clears the count."""
    failures = 0 if matched else card.pin_failures + 1
    return replace(card, pin_failures=failures, version=card.version + 1)


def wrong_pin_refusal(card: ResidentCard) -> RuleViolation:
    """What the holder is told after a wrong PIN (the card already counts the attempt)."""
    if card.pin_locked:
        return RuleViolation(
            "pin",
            "pin_locked",
            f"wrong PIN: {MAX_PIN_FAILURES} wrong PINs in a row locked the PIN of card "
            f"{card.card_number}; the municipality {card.lg_code} resets it after checking the "
            "holder's identity",
        )
    left = MAX_PIN_FAILURES - card.pin_failures
    return RuleViolation(
        "pin", "wrong_pin", f"wrong PIN for card {card.card_number}: {left} attempt(s) left"
    )


# --- issue and the card's life --------------------------------------------------------------


def expiry_of(issued_on: date) -> date:
    """Valid 10 years: through the day before the 10th anniversary of issue (29 February
    issues run through 27 February)."""
    try:
        anniversary = issued_on.replace(year=issued_on.year + VALIDITY_YEARS)
    except ValueError:  # 29 February
        anniversary = issued_on.replace(year=issued_on.year + VALIDITY_YEARS, day=28)
    return anniversary - timedelta(days=1)


def check_may_hold_card(entry: RegisterEntry | None, today: date) -> RegisterEntry:
    """Only an active resident gets a card; foreign residents from the applicable date."""
    if entry is None or not entry.active:
        raise RuleViolation(
            "resident_code", "not_active", "no active register entry for this resident here"
        )
    if entry.kind is ResidentKind.FOREIGN and today < FOREIGN_RESIDENT_APPLICABLE_DATE:
        raise RuleViolation(
            "resident_code",
            "foreign_before_applicable_date",
            f"resident cards are available to foreign residents from "
            f"{FOREIGN_RESIDENT_APPLICABLE_DATE}",
        )
    return entry


def new_card(
    entry: RegisterEntry,
    *,
    card_number: str,
    card_type: CardType,
    pin_hash: str,
    today: date,
    photo_ref: str | None = None,
    held: ResidentCard | None = None,
) -> ResidentCard:
    """Issue a card to ``entry``'s resident. ``held`` is a valid card the person holds here
    already: one card per person, so it must be returned first."""
    check_may_hold_card(entry, today)
    holder_code = entry.resident_code
    if holder_code is None:
        raise RuleViolation("resident_code", "not_on_network", "the entry has no resident code")
    if held is not None:
        raise RuleViolation(
            "resident_code",
            "card_exists",
            f"the resident already holds card {held.card_number} ({held.status.value}); "
            "it is returned (or reported lost and returned) before a new one is issued",
        )
    if card_type is CardType.B and not (photo_ref and photo_ref.strip()):
        raise RuleViolation("photo_ref", "required", "a type B card carries a photo")
    if card_type is CardType.A and photo_ref is not None:
        raise RuleViolation("photo_ref", "not_for_type_a", "a type A card has no photo")
    return ResidentCard(
        lg_code=entry.lg_code,
        card_number=validate_card_number(card_number),
        resident_code=holder_code,
        card_type=card_type,
        issuer_lg_code=entry.lg_code,
        issued_on=today,
        expires_on=expiry_of(today),
        status=CardStatus.ACTIVE,
        pin_kdf=PIN_KDF,
        pin_hash=pin_hash,
        photo_ref=photo_ref,
        status_changed_on=today,
    )


def _status_refusal(card: ResidentCard, today: date) -> RuleViolation | None:
    if card.status is CardStatus.VOID:
        return RuleViolation(
            "card_number",
            "card_void",
            f"card {card.card_number} was voided on {card.status_changed_on} "
            f"({card.void_reason.value if card.void_reason else 'void'})",
        )
    if card.status is CardStatus.CONTINUED_ELSEWHERE:
        return RuleViolation(
            "card_number",
            "card_moved",
            f"card {card.card_number} left with its holder for {card.continued_to} on "
            f"{card.status_changed_on}; that municipality holds it now",
        )
    if card.status is CardStatus.SUSPENDED:
        return RuleViolation(
            "card_number",
            "card_suspended",
            f"card {card.card_number} is suspended (reported lost on {card.status_changed_on}); "
            "the holder resumes it at the municipality with proof of identity",
        )
    if card.expired(today):
        return RuleViolation(
            "card_number", "card_expired", f"card {card.card_number} expired on {card.expires_on}"
        )
    return None


def check_usable(card: ResidentCard, today: date) -> None:
    """The card can be used today: active and not expired (else a refusal naming why)."""
    refusal = _status_refusal(card, today)
    if refusal is not None:
        raise refusal


def suspend(card: ResidentCard, today: date) -> ResidentCard:
    """一時停止: the holder reports the card lost."""
    if card.status is not CardStatus.ACTIVE:
        refusal = _status_refusal(card, today)
        assert refusal is not None
        raise refusal
    return _with_status(card, CardStatus.SUSPENDED, today)


def resume(card: ResidentCard, identity_document: str, today: date) -> ResidentCard:
    """一時停止の解除: the card was found; the holder proves their identity."""
    _require_identity(identity_document)
    if card.status is not CardStatus.SUSPENDED:
        if card.status is CardStatus.ACTIVE:
            raise RuleViolation("card_number", "not_suspended", "the card is not suspended")
        refusal = _status_refusal(card, today)
        assert refusal is not None
        raise refusal
    if card.expired(today):
        raise RuleViolation(
            "card_number", "card_expired", f"card {card.card_number} expired on {card.expires_on}"
        )
    return _with_status(card, CardStatus.ACTIVE, today)


def give_back(card: ResidentCard, reason: VoidReason, today: date) -> ResidentCard:
    """返納 (or a lost card given up): the card is void from today."""
    if reason not in {VoidReason.RETURNED, VoidReason.LOST}:
        raise RuleViolation("reason", "not_a_return", "a card is returned or given up as lost")
    if not card.status.valid:
        refusal = _status_refusal(card, today)
        assert refusal is not None
        raise refusal
    return void(card, reason, today)


def void(card: ResidentCard, reason: VoidReason, today: date) -> ResidentCard:
    return replace(_with_status(card, CardStatus.VOID, today), void_reason=reason)


def reset_pin(
    card: ResidentCard, pin_hash: str, identity_document: str, today: date
) -> ResidentCard:
    """Only the municipality resets a PIN (locked or forgotten), after an identity check."""
    _require_identity(identity_document)
    check_usable(card, today)
    return replace(
        card, pin_hash=pin_hash, pin_kdf=PIN_KDF, pin_failures=0, version=card.version + 1
    )


def _require_identity(identity_document: str) -> None:
    if not identity_document or not identity_document.strip():
        raise RuleViolation(
            "identity_document",
            "identity_check_required",
            "name the photo ID (or other document) the holder showed",
        )


def _with_status(card: ResidentCard, status: CardStatus, today: date) -> ResidentCard:
    return replace(card, status=status, status_changed_on=today, version=card.version + 1)


# --- register events ------------------------------------------------------------------------

_VOID_REASON_OF_REMOVAL = {
    ChangeReason.MOVE_OUT: VoidReason.MOVE_OUT,
    ChangeReason.DEATH: VoidReason.DEATH,
}


def void_reason_for_change(
    entry: RegisterEntry, previous: RegisterEntry | None
) -> VoidReason | None:
    """Whether a register change voids the card of ``previous``'s resident, and why: a
    removal (move-out, death, any other) or a resident-code change. The card-based move-out is
    the exception; the service tells it apart (the card continues instead)."""
    if previous is None or not previous.active:
        return None
    if not entry.active:
        return _VOID_REASON_OF_REMOVAL.get(entry.change_reason, VoidReason.ENTRY_REMOVED)
    if entry.change_reason is ChangeReason.RESIDENT_CODE_CHANGE:
        return VoidReason.RESIDENT_CODE_CHANGE
    return None


def continue_card(
    card: ResidentCard, new_lg_code: str, holder_code: str, day: date
) -> ResidentCard:
    """The card as the new municipality holds it after a card-based move."""
    return replace(
        card,
        lg_code=new_lg_code,
        resident_code=holder_code,
        status=CardStatus.ACTIVE,
        void_reason=None,
        status_changed_on=day,
        continued_from=card.lg_code,
        continued_on=day,
        continued_to=None,
        version=1,
    )


def left_with_holder(card: ResidentCard, new_lg_code: str, day: date) -> ResidentCard:
    """The card as the former municipality keeps it after the card-based move completed."""
    return replace(
        _with_status(card, CardStatus.CONTINUED_ELSEWHERE, day), continued_to=new_lg_code
    )


# --- the card-based move ------------------------------------------------------------------


def card_move_deadline(declared_move_date: date, moved_on: date) -> date:
    """The last day a card-based move-in may be filed: the earlier of 30 days after the move
    date declared at the move-out and 14 days after the actual move."""
    return min(
        declared_move_date + timedelta(days=CARD_MOVE_DAYS_AFTER_DECLARED_DATE),
        moved_on + timedelta(days=CARD_MOVE_DAYS_AFTER_MOVE),
    )


def check_card_move_deadline(
    declared_move_date: date | None, moved_on: date, filed_on: date
) -> None:
    """Refuse a card-based move-in filed after its deadline (``declared_move_date`` is known
    only to the former municipality; ``None`` checks the 14-day rule alone). Days are
    counted between the dates: a deadline after the last day there is (a move on 9999-12-31,
    as a message may say) is never passed, not an overflow."""
    if (filed_on - moved_on).days > CARD_MOVE_DAYS_AFTER_MOVE:
        by_move = moved_on + timedelta(days=CARD_MOVE_DAYS_AFTER_MOVE)
        raise RuleViolation(
            "move_date",
            "deadline_passed",
            f"a card-based move-in is filed within {CARD_MOVE_DAYS_AFTER_MOVE} days after the "
            f"move ({moved_on}), i.e. by {by_move}; filed {filed_on}: the card can no longer be "
            "used for this move, ask the former municipality for a paper move-out certificate",
        )
    if declared_move_date is None:
        return
    if (filed_on - declared_move_date).days > CARD_MOVE_DAYS_AFTER_DECLARED_DATE:
        by_declared = declared_move_date + timedelta(days=CARD_MOVE_DAYS_AFTER_DECLARED_DATE)
        raise RuleViolation(
            "move_date",
            "deadline_passed",
            f"a card-based move-in is filed within {CARD_MOVE_DAYS_AFTER_DECLARED_DATE} days "
            f"after the move date declared at the move-out ({declared_move_date}), i.e. by "
            f"{by_declared}; filed {filed_on}: the card can no longer be used for this move, "
            "ask the former municipality for a paper move-out certificate",
        )


def check_special_move_out(
    holder: RegisterEntry,
    members: list[RegisterEntry],
    *,
    destination_lg_code: str,
    declared_move_date: date,
    today: date,
) -> None:
    """A card-based move-out (付記転出届): the holder and the household members moving with
    them, all active here and in the holder's household, to another municipality."""
    if destination_lg_code == holder.lg_code:
        raise RuleViolation(
            "destination_lg_code", "same_municipality", "a move within is not a move-out"
        )
    if declared_move_date < today - timedelta(days=CARD_MOVE_DAYS_AFTER_MOVE):
        raise RuleViolation(
            "move_date",
            "too_late",
            f"a move-out is declared at most {CARD_MOVE_DAYS_AFTER_MOVE} days after the move",
        )
    check_movers(holder, members)


def check_movers(holder: RegisterEntry, members: list[RegisterEntry]) -> None:
    """Everyone moving with the holder is an active member of the holder's household."""
    seen = {holder.resident_code}
    for member in members:
        field = f"members[{member.resident_code}]"
        if member.resident_code in seen:
            raise RuleViolation(field, "duplicate", f"{member.resident_code} is named twice")
        seen.add(member.resident_code)
        if not member.active:
            raise RuleViolation(
                field,
                "entry_removed",
                f"{member.resident_code}'s entry was removed "
                f"({member.change_reason.value}, {member.change_date})",
            )
        if member.household_id != holder.household_id:
            raise RuleViolation(
                field,
                "other_household",
                f"{member.resident_code} belongs to household {member.household_id}, not the "
                f"card holder's ({holder.household_id}): only members of the holder's household "
                "move under the holder's card",
            )


def head_of_movers(holder_code: str, relationships: dict[str, str]) -> str:
    """Who heads the household at the new address: the household head if they move too,
    else the card holder."""
    for code, relationship in relationships.items():
        if relationship == HEAD_OF_HOUSEHOLD:
            return code
    return holder_code


class MoveOutState(StrEnum):
    """A card-based move-out at the former municipality."""

    DECLARED = "declared"  # filed; waiting for the new municipality to ask
    CERTIFICATE_SENT = "certificate_sent"  # the move-out certificate information went out
    COMPLETED = "completed"  # the move-in notice came back: removal done, card continued
    CANCELLED = "cancelled"  # the entry was removed otherwise (regular move-out, death ...)


class CardMoveState(StrEnum):
    """A card-based move-in at the new municipality."""

    PENDING = "pending"  # asked the former municipality; waiting for its answer
    COMPLETED = "completed"  # move-in registered, card continued
    REFUSED = "refused"  # refused (here, or by the former municipality), with the rule
