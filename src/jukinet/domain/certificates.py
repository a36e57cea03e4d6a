"""Wide-area certificates (住民票の写しの広域交付): who may have one and which items it shows.

A registered person asks **any** municipality (the issuing one) for a copy of their own
register entry or of members of their household, showing a photo ID. The issuing municipality
asks the person's home municipality over the network; the home municipality decides (this
module's ``check_request``) and answers with the items of each person (``items_of``), and the
issuing municipality prints them.

What a wide-area copy shows (住民基本台帳法 第12条の4, DOMAIN.md §4):

- always omitted: the registered domicile (本籍・筆頭者). The home municipality never sends
  it, so the issuing municipality cannot print it by mistake;
- omitted unless asked for: the household head and the relationship to the head (世帯主・続柄)
  and the resident code (住民票コード);
- refused for removed entries (除票), for a person of another household than the requester's,
  for an unknown code, and when the name and date of birth on the requester's photo ID are not
  those of the entry.

Pure: no storage, no clock. The services hand in entries and today's date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from jukinet.domain import reference
from jukinet.domain.codes import validate_lg_code, validate_resident_code
from jukinet.domain.errors import RuleViolation, parse_each
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.names import name_search_key
from jukinet.domain.register import (
    FOREIGN_RESIDENT_RULE,
    ForeignCategory,
    ForeignResidentRule,
    RegisterEntry,
    ResidentKind,
)
from jukinet.domain.storable import storable_text

MAX_PERSONS = 10
"""Persons on one copy: a household rarely has more; a longer list is a mistake."""

DEFAULT_FEE_YEN = 300
"""The fee when the issuing municipality has set none (a common amount in 2014)."""


class RequestStatus(StrEnum):
    """Where a wide-area request stands at the issuing municipality."""

    PENDING = "pending"  # asked the home municipality, no answer yet (retried until it comes)
    ISSUED = "issued"  # the items came and the copy was issued (fee recorded)
    REFUSED = "refused"  # the home municipality refused (the rule and message are recorded)
    CANCELLED = "cancelled"  # withdrawn at the counter while pending; a late answer is ignored


class Refusal(StrEnum):
    """Why the home municipality refuses a request (stable identifiers)."""

    NOT_FOUND = "not_found"
    REMOVED = "removed"
    OTHER_HOUSEHOLD = "other_household"
    IDENTITY_MISMATCH = "identity_mismatch"
    BEFORE_APPLICABLE_DATE = "before_applicable_date"


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, as the photo ID shown at the counter says."""

    resident_code: str
    name: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class Options:
    """Items printed only when specially asked for."""

    include_household: bool = False  # 世帯主の氏名及び世帯主との続柄
    include_resident_code: bool = False  # 住民票コード


@dataclass(frozen=True, slots=True)
class WideAreaRequest:
    """A request as the issuing municipality takes it at the counter."""

    home_lg_code: str
    requester: Requester
    subject_codes: tuple[str, ...]
    options: Options
    identity_document: str  # the photo ID shown (住基カード, 運転免許証, 旅券, 在留カード ...)


@dataclass(frozen=True, slots=True)
class CertificatePerson:
    """The items of one person a wide-area copy prints: what the home municipality sends.

    There is no field for the registered domicile: it is never sent. ``household_head`` and
    ``relationship`` are set only when asked for, ``resident_code`` likewise.
    """

    name: str
    birth_date: date
    sex: Sex
    address: str
    entry_date: date  # 住民となった年月日
    change_reason: ChangeReason  # the last change (異動事由) ...
    change_date: date  # ... and its date
    kind: ResidentKind
    name_kana: str | None = None
    alias: str | None = None  # 通称 (foreign residents)
    former_surname: str | None = None  # 旧氏
    previous_address: str | None = None  # 前住所 (a move-in)
    nationality: str | None = None
    foreign_category: ForeignCategory | None = None
    foreign_resident_since: date | None = None
    residence_status: str | None = None
    period_of_stay: str | None = None
    stay_expiry: date | None = None
    residence_card_number: str | None = None
    household_head: str | None = None
    relationship: str | None = None
    resident_code: str | None = None


def validate_request(request: WideAreaRequest, issuing_lg_code: str) -> WideAreaRequest:
    """What the issuing municipality checks before asking (bad input changes nothing)."""
    home = validate_lg_code(request.home_lg_code, "home_lg_code")
    reference.municipality(home, "home_lg_code")  # an existing municipality, not just well-formed
    if home == issuing_lg_code:
        raise RuleViolation(
            "home_lg_code",
            "same_municipality",
            "the person lives here: issue an ordinary copy, not a wide-area one",
        )
    requester = request.requester
    validate_resident_code(requester.resident_code, "requester.resident_code")
    if not requester.name.strip():
        raise RuleViolation("requester.name", "required", "the name on the photo ID")
    if not request.identity_document.strip():
        raise RuleViolation(
            "identity_document",
            "required",
            "a wide-area copy needs a photo ID shown at the counter",
        )
    subjects = request.subject_codes or (requester.resident_code,)
    if len(subjects) > MAX_PERSONS:
        raise RuleViolation("subject_codes", "too_many", f"at most {MAX_PERSONS} persons a copy")
    if len(set(subjects)) != len(subjects):
        raise RuleViolation("subject_codes", "duplicate", "a person is listed twice")
    for i, code in enumerate(subjects):
        validate_resident_code(code, f"subject_codes[{i}]")
    return WideAreaRequest(
        home, requester, tuple(subjects), request.options, request.identity_document.strip()
    )


def _refuse(rule: Refusal, field: str, message: str) -> RuleViolation:
    return RuleViolation(field, rule.value, message)


def _usable(
    entries: list[RegisterEntry], field: str, code: str, today: date, rule: ForeignResidentRule
) -> RegisterEntry:
    """The person's active entry at home, or the refusal that applies."""
    active = [e for e in entries if e.active]
    if not active:
        if entries:
            last = entries[0].change_reason.label_ja
            raise _refuse(
                Refusal.REMOVED,
                field,
                f"the entry of {code} is removed ({last}): "
                "no wide-area copy of a removed entry (除票)",
            )
        raise _refuse(Refusal.NOT_FOUND, field, f"no register entry for {code} here")
    entry = active[0]
    if not rule.on_network(entry.kind, today):
        raise _refuse(
            Refusal.BEFORE_APPLICABLE_DATE,
            field,
            f"wide-area copies for foreign residents from {rule.applicable_date}",
        )
    return entry


def check_request(
    request: WideAreaRequest,
    entries_of: dict[str, list[RegisterEntry]],
    today: date,
    rule: ForeignResidentRule = FOREIGN_RESIDENT_RULE,
) -> list[RegisterEntry]:
    """The home municipality's decision: the subjects' active entries, in the order asked,
    or a ``RuleViolation`` whose rule is a :class:`Refusal`.

    ``entries_of`` maps every code of the request (requester and subjects) to the entries the
    home municipality holds under it, newest first.
    """
    requester = request.requester
    own = _usable(
        entries_of.get(requester.resident_code, []),
        "requester.resident_code",
        requester.resident_code,
        today,
        rule,
    )
    if (
        name_search_key(own.name) != name_search_key(requester.name)
        or own.birth_date != requester.birth_date
    ):
        raise _refuse(
            Refusal.IDENTITY_MISMATCH,
            "requester",
            "the name and date of birth on the photo ID are not those of the entry",
        )
    subjects = []
    for i, code in enumerate(request.subject_codes):
        entry = _usable(entries_of.get(code, []), f"subject_codes[{i}]", code, today, rule)
        if entry.household_id != own.household_id:
            raise _refuse(
                Refusal.OTHER_HOUSEHOLD,
                f"subject_codes[{i}]",
                f"{code} is not a member of the requester's household",
            )
        subjects.append(entry)
    return subjects


def items_of(
    entry: RegisterEntry, head: RegisterEntry | None, options: Options
) -> CertificatePerson:
    """What the home municipality sends for ``entry`` (``head``: its household's head)."""
    foreign = entry.foreign
    return CertificatePerson(
        name=entry.name,
        birth_date=entry.birth_date,
        sex=entry.sex,
        address=entry.address,
        entry_date=entry.entry_date,
        change_reason=entry.change_reason,
        change_date=entry.change_date,
        kind=entry.kind,
        name_kana=entry.name_kana,
        alias=entry.alias,
        former_surname=entry.former_surname,
        previous_address=entry.previous_address,
        nationality=foreign.nationality if foreign else None,
        foreign_category=foreign.category if foreign else None,
        foreign_resident_since=foreign.foreign_resident_since if foreign else None,
        residence_status=foreign.residence_status if foreign else None,
        period_of_stay=foreign.period_of_stay if foreign else None,
        stay_expiry=foreign.stay_expiry if foreign else None,
        residence_card_number=foreign.residence_card_number if foreign else None,
        household_head=(head.name if head else None) if options.include_household else None,
        relationship=entry.relationship if options.include_household else None,
        resident_code=entry.resident_code if options.include_resident_code else None,
    )


def check_answer(request: WideAreaRequest, persons: list[CertificatePerson]) -> None:
    """The issuing municipality's check of an answer before it prints: one person per code
    asked, and nothing that was not asked for."""
    if len(persons) != len(request.subject_codes):
        raise RuleViolation(
            "persons",
            "count",
            f"{len(persons)} persons answered for {len(request.subject_codes)} asked",
        )
    for i, person in enumerate(persons):
        household = person.household_head is not None or person.relationship is not None
        if household and not request.options.include_household:
            raise RuleViolation(
                f"persons[{i}].household_head", "not_requested", "household items not asked for"
            )
        if person.resident_code is not None and not request.options.include_resident_code:
            raise RuleViolation(
                f"persons[{i}].resident_code", "not_requested", "resident code not asked for"
            )


# --- to and from message bodies ---------------------------------------------------------------

_DATES = ("birth_date", "entry_date", "change_date", "foreign_resident_since", "stay_expiry")
_TEXTS = (
    "name_kana",
    "alias",
    "former_surname",
    "previous_address",
    "nationality",
    "residence_status",
    "period_of_stay",
    "residence_card_number",
    "household_head",
    "relationship",
)


def person_body(person: CertificatePerson) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": person.name,
        "sex": person.sex.value,
        "address": person.address,
        "change_reason": person.change_reason.value,
        "kind": person.kind.value,
        "foreign_category": person.foreign_category.value if person.foreign_category else None,
        "resident_code": person.resident_code,
    }
    for field in _DATES:
        value = getattr(person, field)
        body[field] = value.isoformat() if value else None
    for field in _TEXTS:
        body[field] = getattr(person, field)
    return body


def _body_text(body: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RuleViolation(field, "type", "must be non-empty text")
    return value


def _body_date(body: dict[str, Any], field: str, *, required: bool = False) -> date | None:
    value = body.get(field)
    if value is None and not required:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise RuleViolation(field, "date", f"not an ISO date: {value!r}") from exc


def parse_person(body: dict[str, Any]) -> CertificatePerson:
    """A person's items from a ``certificate_items`` body, checked field by field. A body that
    carries a registered domicile is refused: the home municipality must never send it."""
    if "registered_domicile" in body:
        raise RuleViolation(
            "registered_domicile", "never_sent", "a wide-area copy never shows the domicile"
        )
    try:
        sex = Sex(str(body.get("sex")))
        reason = ChangeReason(str(body.get("change_reason")))
        kind = ResidentKind(str(body.get("kind")))
        category = (
            None
            if body.get("foreign_category") is None
            else ForeignCategory(str(body["foreign_category"]))
        )
    except ValueError as exc:
        raise RuleViolation("items", "unknown_value", str(exc)) from exc
    code = body.get("resident_code")
    texts = {field: _body_text(body, field) for field in _TEXTS}
    return CertificatePerson(
        name=str(_body_text(body, "name", required=True)),
        birth_date=_required_date(body, "birth_date"),
        sex=sex,
        address=str(_body_text(body, "address", required=True)),
        entry_date=_required_date(body, "entry_date"),
        change_reason=reason,
        change_date=_required_date(body, "change_date"),
        kind=kind,
        foreign_category=category,
        foreign_resident_since=_body_date(body, "foreign_resident_since"),
        stay_expiry=_body_date(body, "stay_expiry"),
        resident_code=None if code is None else validate_resident_code(str(code)),
        **texts,
    )


def parse_persons(items: list[Any]) -> list[CertificatePerson]:
    """The persons of a ``certificate_items`` body; a refusal names ``persons[i].<item>``."""
    return parse_each(items, "persons", parse_person)


def _required_date(body: dict[str, Any], field: str) -> date:
    value = _body_date(body, field, required=True)
    assert value is not None
    return value


def request_body(request_id: str, request: WideAreaRequest) -> dict[str, Any]:
    """A ``certificate_items_request``: who asks, for whom, which optional items. The photo
    ID stays at the issuing municipality; its name and birth date travel to be compared."""
    return {
        "request_id": request_id,
        "requester": {
            "resident_code": request.requester.resident_code,
            "name": request.requester.name,
            "birth_date": request.requester.birth_date.isoformat(),
        },
        "subject_codes": list(request.subject_codes),
        "include_household": request.options.include_household,
        "include_resident_code": request.options.include_resident_code,
    }


def parse_request_body(body: dict[str, Any], home_lg_code: str) -> tuple[str, WideAreaRequest]:
    """The request id and the request, checked field by field (a malformed one is refused)."""
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 36:
        raise RuleViolation("request_id", "type", "a request id of 1..36 characters")
    storable_text(request_id, "request_id")
    requester = body.get("requester")
    if not isinstance(requester, dict):
        raise RuleViolation("requester", "required", "the requester is named")
    subjects = body.get("subject_codes")
    if not isinstance(subjects, list) or not 1 <= len(subjects) <= MAX_PERSONS:
        raise RuleViolation("subject_codes", "required", f"1..{MAX_PERSONS} resident codes")
    flags = (body.get("include_household"), body.get("include_resident_code"))
    if not all(isinstance(f, bool) for f in flags):
        raise RuleViolation("include_household", "type", "the options are true or false")
    try:
        who = Requester(
            validate_resident_code(str(requester.get("resident_code"))),
            str(_body_text(requester, "name", required=True)),
            _required_date(requester, "birth_date"),
        )
    except RuleViolation as exc:
        raise RuleViolation(f"requester.{exc.field}", exc.rule, exc.message) from exc
    request = WideAreaRequest(
        home_lg_code=home_lg_code,
        requester=who,
        subject_codes=tuple(
            validate_resident_code(str(c), f"subject_codes[{i}]") for i, c in enumerate(subjects)
        ),
        options=Options(bool(flags[0]), bool(flags[1])),
        identity_document="",
    )
    return request_id, request
