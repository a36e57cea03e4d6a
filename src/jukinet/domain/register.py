"""The municipal register (住民票) and the rules of every event that changes it.

Pure: ``apply_change`` takes the current entry (or ``None``) and an event and returns the new
version of the entry, or raises ``RuleViolation`` naming the field and the rule. Persistence,
code pools and household numbers are the service's business; it hands their results in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from jukinet.domain.codes import validate_lg_code, validate_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeEffect, ChangeReason, IdentityRecord, Sex

EARLIEST_BIRTH_DATE = date(1868, 1, 1)
HEAD_OF_HOUSEHOLD = "世帯主"

FOREIGN_RESIDENT_APPLICABLE_DATE = date(2013, 7, 8)
"""From this date foreign residents are on Juki-net like nationals (law of 2009, No. 77)."""


class EntryStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"  # 除票: kept, never deleted


class ResidentKind(StrEnum):
    NATIONAL = "national"
    FOREIGN = "foreign"


class ForeignCategory(StrEnum):
    """住民基本台帳法 第30条の45 の区分."""

    MID_LONG_TERM = "mid_long_term"  # 中長期在留者
    SPECIAL_PERMANENT = "special_permanent"  # 特別永住者
    TEMPORARY_REFUGE = "temporary_refuge"  # 一時庇護許可者
    PROVISIONAL_STAY = "provisional_stay"  # 仮滞在許可者
    TRANSITIONAL = "transitional"  # 出生による経過滞在者又は国籍喪失による経過滞在者

    @property
    def label_ja(self) -> str:
        return {
            ForeignCategory.MID_LONG_TERM: "中長期在留者",
            ForeignCategory.SPECIAL_PERMANENT: "特別永住者",
            ForeignCategory.TEMPORARY_REFUGE: "一時庇護許可者",
            ForeignCategory.PROVISIONAL_STAY: "仮滞在許可者",
            ForeignCategory.TRANSITIONAL: "経過滞在者",
        }[self]


@dataclass(frozen=True, slots=True)
class ForeignResidentRule:
    """The applicable date of the 2009 amendment (No. 77) as one configured rule.

    Before ``applicable_date`` foreign residents are on the municipal register only: no
    resident code, no identity record upward, a blank code on move-in notices, none of the
    network's services. From it they get a code (``jukinet foreign-residents assign-codes``
    for those already registered, the pool for new entries) and every service nationals have.
    The date is a parameter so that a network can be run, and tested, on either side of it.
    """

    applicable_date: date = FOREIGN_RESIDENT_APPLICABLE_DATE

    def on_network(self, kind: ResidentKind, today: date) -> bool:
        """Whether a person of ``kind`` has a resident code and network services ``today``."""
        return kind is ResidentKind.NATIONAL or today >= self.applicable_date

    def require_applicable(self, today: date, what: str) -> None:
        """Refuse ``what`` (a foreign residents' network service) before the applicable date."""
        if today < self.applicable_date:
            raise RuleViolation(
                "date",
                "before_applicable_date",
                f"{what}: foreign residents join Juki-net on {self.applicable_date} "
                f"(today is {today})",
            )


FOREIGN_RESIDENT_RULE = ForeignResidentRule()
"""The rule as the law set it: applicable from 2013-07-08."""


@dataclass(frozen=True, slots=True)
class ForeignResidentItems:
    """Items only a foreign resident's entry has; they never leave the municipality."""

    nationality: str
    category: ForeignCategory
    foreign_resident_since: date
    residence_status: str | None = None
    period_of_stay: str | None = None
    stay_expiry: date | None = None
    residence_card_number: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    """One version of a register entry: identity items plus what the municipal flows need.

    ``resident_code`` is ``None`` only for a foreign resident registered before the applicable
    date who has not been given a code yet: such an entry is on the municipal register and
    nowhere else on the network.
    """

    lg_code: str
    resident_code: str | None
    status: EntryStatus
    name: str
    birth_date: date
    sex: Sex
    address: str
    household_id: str
    relationship: str
    kind: ResidentKind
    entry_date: date
    change_reason: ChangeReason
    change_date: date
    version: int
    name_kana: str | None = None
    alias: str | None = None
    former_surname: str | None = None
    registered_domicile: str | None = None
    foreign: ForeignResidentItems | None = None
    previous_address: str | None = None
    previous_lg_code: str | None = None
    destination_address: str | None = None
    destination_lg_code: str | None = None

    @property
    def active(self) -> bool:
        return self.status is EntryStatus.ACTIVE

    @property
    def on_network(self) -> bool:
        """Whether the entry has a resident code, hence an identity record upward."""
        return self.resident_code is not None

    def identity_record(self) -> IdentityRecord:
        """The identity record this version reports upward (only an entry with a code has one)."""
        if self.resident_code is None:
            raise RuleViolation(
                "resident_code", "not_on_network", "an entry without a resident code has none"
            )
        return IdentityRecord(
            resident_code=self.resident_code,
            lg_code=self.lg_code,
            name=self.name,
            birth_date=self.birth_date,
            sex=self.sex,
            address=self.address,
            change_reason=self.change_reason,
            change_date=self.change_date,
            name_kana=self.name_kana,
            alias=self.alias,
            former_surname=self.former_surname,
        )


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An event that creates an entry: birth, move-in, ex-officio entry, nationality events.

    ``resident_code`` is the code the person already holds (a move-in form carries it); when
    ``None`` the service draws one from the municipality's pool. ``household_id`` ``None``
    founds a new household with this person as its head.
    """

    reason: ChangeReason
    change_date: date
    name: str
    birth_date: date
    sex: Sex
    address: str
    kind: ResidentKind = ResidentKind.NATIONAL
    resident_code: str | None = None
    household_id: str | None = None
    relationship: str = HEAD_OF_HOUSEHOLD
    name_kana: str | None = None
    alias: str | None = None
    former_surname: str | None = None
    registered_domicile: str | None = None
    foreign: ForeignResidentItems | None = None
    previous_address: str | None = None
    previous_lg_code: str | None = None


@dataclass(frozen=True, slots=True)
class ItemChange:
    """An event that changes items of an active entry; ``None`` means "unchanged"."""

    reason: ChangeReason
    change_date: date
    name: str | None = None
    name_kana: str | None = None
    alias: str | None = None
    former_surname: str | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    address: str | None = None
    household_id: str | None = None
    relationship: str | None = None
    registered_domicile: str | None = None
    resident_code: str | None = None  # the new code of a resident-code change (from the pool)
    clear_alias: bool = False


@dataclass(frozen=True, slots=True)
class Removal:
    """An event that removes an entry (it stays as a removed entry)."""

    reason: ChangeReason
    change_date: date
    destination_address: str | None = None
    destination_lg_code: str | None = None


Event = NewEntry | ItemChange | Removal

_EVENT_TYPE_OF_EFFECT: dict[ChangeEffect, type[NewEntry | ItemChange | Removal]] = {
    ChangeEffect.CREATES: NewEntry,
    ChangeEffect.MODIFIES: ItemChange,
    ChangeEffect.REMOVES: Removal,
}

# Which items each modifying reason may change, and which it must change.
_MAY_CHANGE: dict[ChangeReason, frozenset[str]] = {
    ChangeReason.MOVE_WITHIN: frozenset({"address", "household_id", "relationship"}),
    ChangeReason.ADDRESS_RENUMBERING: frozenset({"address"}),
    ChangeReason.NAME_CHANGE: frozenset({"name", "name_kana", "former_surname"}),
    ChangeReason.ALIAS_CHANGE: frozenset({"alias"}),
    ChangeReason.SEX_CHANGE: frozenset({"sex", "relationship"}),
    ChangeReason.RESIDENT_CODE_CHANGE: frozenset({"resident_code"}),
    ChangeReason.RESIDENT_CODE_ASSIGNMENT: frozenset({"resident_code"}),
}
_CORRECTABLE = frozenset(
    {
        "name",
        "name_kana",
        "alias",
        "former_surname",
        "birth_date",
        "sex",
        "address",
        "relationship",
        "registered_domicile",
    }
)
_MUST_CHANGE: dict[ChangeReason, str] = {
    ChangeReason.MOVE_WITHIN: "address",
    ChangeReason.ADDRESS_RENUMBERING: "address",
    ChangeReason.NAME_CHANGE: "name",
    ChangeReason.SEX_CHANGE: "sex",
    ChangeReason.RESIDENT_CODE_CHANGE: "resident_code",
    ChangeReason.RESIDENT_CODE_ASSIGNMENT: "resident_code",
}
_ITEM_FIELDS = (*sorted(_CORRECTABLE), "household_id", "resident_code")


def apply_change(
    current: RegisterEntry | None,
    event: Event,
    *,
    lg_code: str,
    today: date,
    rule: ForeignResidentRule = FOREIGN_RESIDENT_RULE,
) -> RegisterEntry:
    """Validate ``event`` against the entry's state and return the entry's next version.

    ``current`` is the person's active entry in this municipality, if any. ``today`` bounds
    change dates (no future events) and, with ``rule``, decides whether a foreign resident
    has a resident code.
    """
    expected = _EVENT_TYPE_OF_EFFECT[event.reason.effect]
    if not isinstance(event, expected):
        raise RuleViolation(
            "change_reason",
            "wrong_event_kind",
            f"{event.reason.value} {event.reason.effect.value} an entry; "
            f"it is recorded as {expected.__name__}",
        )
    if event.change_date > today:
        raise RuleViolation(
            "change_date", "future", f"{event.change_date} is after today ({today})"
        )
    if isinstance(event, NewEntry):
        return _create(current, event, lg_code, rule.on_network(event.kind, today))
    if current is None or not current.active:
        raise RuleViolation(
            "resident_code", "not_active", "no active register entry for this resident"
        )
    if event.change_date < current.change_date:
        raise RuleViolation(
            "change_date",
            "before_last_change",
            f"{event.change_date} is before the entry's last change ({current.change_date})",
        )
    if isinstance(event, ItemChange):
        return _modify(current, event, rule.on_network(current.kind, today))
    return _remove(current, event)


def _require_text(field: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise RuleViolation(field, "required", "must not be empty")
    return value


def _check_birth_date(birth_date: date, change_date: date) -> None:
    if birth_date < EARLIEST_BIRTH_DATE:
        raise RuleViolation(
            "birth_date", "too_early", f"{birth_date} is before {EARLIEST_BIRTH_DATE}"
        )
    if birth_date > change_date:
        raise RuleViolation(
            "birth_date", "after_change_date", f"{birth_date} is after the change ({change_date})"
        )


def _check_kind(
    kind: ResidentKind,
    foreign: ForeignResidentItems | None,
    alias: str | None,
    registered_domicile: str | None,
) -> None:
    if kind is ResidentKind.FOREIGN:
        if foreign is None:
            raise RuleViolation("foreign", "required", "a foreign resident needs foreign items")
        if registered_domicile is not None:
            raise RuleViolation(
                "registered_domicile", "not_for_foreign", "foreign residents have no 本籍"
            )
        _require_text("nationality", foreign.nationality)
        if foreign.stay_expiry is not None and foreign.stay_expiry < foreign.foreign_resident_since:
            raise RuleViolation(
                "stay_expiry", "before_since", "expires before the person became a resident"
            )
        return
    if foreign is not None:
        raise RuleViolation("foreign", "not_for_national", "a national has no foreign items")
    if alias is not None:
        raise RuleViolation("alias", "not_for_national", "an alias (通称) is for foreign residents")


_KIND_OF_REASON: dict[ChangeReason, ResidentKind] = {
    ChangeReason.NATIONALITY_ACQUISITION: ResidentKind.NATIONAL,
    ChangeReason.NATIONALITY_LOSS: ResidentKind.FOREIGN,
    ChangeReason.BECAME_FOREIGN_RESIDENT: ResidentKind.FOREIGN,
    ChangeReason.NATIONALITY_ACQUISITION_REMOVAL: ResidentKind.FOREIGN,
    ChangeReason.NATIONALITY_LOSS_REMOVAL: ResidentKind.NATIONAL,
}


def _check_reason_kind(reason: ChangeReason, kind: ResidentKind) -> None:
    wanted = _KIND_OF_REASON.get(reason)
    if wanted is not None and kind is not wanted:
        raise RuleViolation(
            "kind", "reason_needs_kind", f"{reason.value} applies to a {wanted.value} entry"
        )


def _create(
    current: RegisterEntry | None, event: NewEntry, lg_code: str, on_network: bool
) -> RegisterEntry:
    if current is not None and current.active:
        raise RuleViolation(
            "resident_code", "already_registered", "the resident already has an active entry here"
        )
    if on_network:
        if event.resident_code is None:
            raise RuleViolation("resident_code", "required", "no resident code was assigned")
        validate_resident_code(event.resident_code)
    elif event.resident_code is not None:
        raise RuleViolation(
            "resident_code",
            "before_applicable_date",
            "a foreign resident has no resident code before the applicable date",
        )
    if event.household_id is None:
        raise RuleViolation("household_id", "required", "no household was assigned")
    _require_text("name", event.name)
    _require_text("address", event.address)
    _require_text("relationship", event.relationship)
    _check_birth_date(event.birth_date, event.change_date)
    _check_kind(event.kind, event.foreign, event.alias, event.registered_domicile)
    _check_reason_kind(event.reason, event.kind)
    reason = event.reason
    if reason is ChangeReason.BIRTH and event.birth_date != event.change_date:
        raise RuleViolation(
            "change_date", "birth_on_birth_date", "a birth is recorded on the date of birth"
        )
    if reason is ChangeReason.MOVE_IN:
        _require_text("previous_address", event.previous_address)
        if event.previous_lg_code is None:
            raise RuleViolation("previous_lg_code", "required", "a move-in names the former one")
        validate_lg_code(event.previous_lg_code, "previous_lg_code")
        if event.previous_lg_code == lg_code:
            raise RuleViolation(
                "previous_lg_code", "same_municipality", "a move within is not a move-in"
            )
    elif reason is not ChangeReason.MOVE_IN_FROM_ABROAD and (
        event.previous_address is not None or event.previous_lg_code is not None
    ):
        raise RuleViolation(
            "previous_address", "only_for_move_in", f"{reason.value} has no previous address"
        )
    return RegisterEntry(
        lg_code=lg_code,
        resident_code=event.resident_code,
        status=EntryStatus.ACTIVE,
        name=event.name,
        birth_date=event.birth_date,
        sex=event.sex,
        address=event.address,
        household_id=event.household_id,
        relationship=event.relationship,
        kind=event.kind,
        entry_date=event.change_date,
        change_reason=reason,
        change_date=event.change_date,
        version=1,
        name_kana=event.name_kana,
        alias=event.alias,
        former_surname=event.former_surname,
        registered_domicile=event.registered_domicile,
        foreign=event.foreign,
        previous_address=event.previous_address,
        previous_lg_code=event.previous_lg_code,
    )


def _given_items(event: ItemChange) -> dict[str, object]:
    items = {f: getattr(event, f) for f in _ITEM_FIELDS if getattr(event, f) is not None}
    if event.clear_alias:
        items["alias"] = None
    return items


def _check_code_event(current: RegisterEntry, reason: ChangeReason, on_network: bool) -> None:
    """A code is changed only if there is one, and assigned only if there is none yet, to a
    foreign resident, from the applicable date."""
    if reason is ChangeReason.RESIDENT_CODE_CHANGE and current.resident_code is None:
        raise RuleViolation("resident_code", "no_code", "the entry has no resident code to change")
    if reason is ChangeReason.RESIDENT_CODE_ASSIGNMENT:
        if current.resident_code is not None:
            raise RuleViolation(
                "resident_code", "already_assigned", "the entry already has a resident code"
            )
        if not on_network:
            raise RuleViolation(
                "resident_code",
                "before_applicable_date",
                "foreign residents get resident codes from the applicable date",
            )


def _modify(current: RegisterEntry, event: ItemChange, on_network: bool) -> RegisterEntry:
    reason = event.reason
    _check_code_event(current, reason, on_network)
    allowed = _MAY_CHANGE.get(reason, _CORRECTABLE)
    given = _given_items(event)
    for field in given:
        if field not in allowed:
            raise RuleViolation(field, "not_changed_by_reason", f"{reason.value} cannot change it")
    changed = {f: v for f, v in given.items() if getattr(current, f) != v}
    must = _MUST_CHANGE.get(reason)
    if must is not None and must not in changed:
        raise RuleViolation(must, "unchanged", f"{reason.value} needs a new {must}")
    if not changed:
        raise RuleViolation("change", "nothing_changed", "the event changes no item")
    for field in ("name", "address", "relationship"):
        if field in changed:
            _require_text(field, changed[field])  # type: ignore[arg-type]
    if "resident_code" in changed:
        validate_resident_code(str(changed["resident_code"]))
    if reason is ChangeReason.ALIAS_CHANGE and current.kind is not ResidentKind.FOREIGN:
        raise RuleViolation("alias", "not_for_national", "an alias (通称) is for foreign residents")
    new = replace(
        current,
        **changed,  # type: ignore[arg-type]
        change_reason=reason,
        change_date=event.change_date,
        version=current.version + 1,
    )
    _check_birth_date(new.birth_date, new.change_date)
    _check_kind(new.kind, new.foreign, new.alias, new.registered_domicile)
    return new


def _remove(current: RegisterEntry, event: Removal) -> RegisterEntry:
    reason = event.reason
    _check_reason_kind(reason, current.kind)
    if reason is ChangeReason.MOVE_OUT:
        _require_text("destination_address", event.destination_address)
        if event.destination_lg_code is None:
            raise RuleViolation(
                "destination_lg_code", "required", "a move-out names the new municipality"
            )
        validate_lg_code(event.destination_lg_code, "destination_lg_code")
        if event.destination_lg_code == current.lg_code:
            raise RuleViolation(
                "destination_lg_code", "same_municipality", "a move within is not a move-out"
            )
    elif reason is ChangeReason.MOVE_ABROAD:
        _require_text("destination_address", event.destination_address)
        if event.destination_lg_code is not None:
            raise RuleViolation(
                "destination_lg_code", "abroad", "a move abroad has no municipality code"
            )
    elif event.destination_address is not None or event.destination_lg_code is not None:
        raise RuleViolation(
            "destination_address", "only_for_moves", f"{reason.value} has no destination"
        )
    return replace(
        current,
        status=EntryStatus.REMOVED,
        destination_address=event.destination_address,
        destination_lg_code=event.destination_lg_code,
        change_reason=reason,
        change_date=event.change_date,
        version=current.version + 1,
    )


_EVENT_FIELDS: dict[type[NewEntry | ItemChange | Removal], frozenset[str]] = {
    cls: frozenset(cls.__dataclass_fields__) - {"reason"} for cls in (NewEntry, ItemChange, Removal)
}


def event_for(reason: ChangeReason, items: dict[str, object]) -> Event:
    """Build the event a ``reason`` calls for from named items (as a form or CLI gives them).

    Items that are ``None`` are left out; an item the event kind does not take is refused by
    name, so a clerk learns that a death has no destination rather than having it ignored.
    """
    cls = _EVENT_TYPE_OF_EFFECT[reason.effect]
    given = {k: v for k, v in items.items() if v is not None}
    for field in given:
        if field not in _EVENT_FIELDS[cls]:
            raise RuleViolation(field, "not_for_reason", f"{reason.value} does not take {field}")
    if "change_date" not in given:
        raise RuleViolation("change_date", "required", "every event has a change date")
    if cls is NewEntry:
        for field in ("name", "birth_date", "sex", "address"):
            if field not in given:
                raise RuleViolation(field, "required", f"{reason.value} needs {field}")
    return cls(reason=reason, **given)  # type: ignore[arg-type]


def move_in_notice_code(
    entry: RegisterEntry, today: date, rule: ForeignResidentRule = FOREIGN_RESIDENT_RULE
) -> str | None:
    """The resident code a move-in notice carries: blank for a foreign resident before the
    applicable date, when foreign residents had no place on the network."""
    if not rule.on_network(entry.kind, today):
        return None
    return entry.resident_code
