"""The provision-history exchange between a prefecture and the national center.

A prefecture's disclosure desk does not hold the provision log: the national center does. When
a prefecture receives a disclosure request it asks the national center, in a signed
``provision_history_request``, for the provisions of the person's resident codes (the codes it
knows them by); the national center answers with a ``provision_history`` naming the same
reference. Only the person's codes travel, and the answer holds only provisions of those codes
(and of the earlier codes the national center knows them by), so nothing of anyone else is
ever sent. This module is the two bodies and their checks; the services send and apply them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from jukinet.domain.codes import validate_resident_code
from jukinet.domain.disclosure import DisclosedProvision, Office, parse_office
from jukinet.domain.errors import RuleViolation, parse_each

NATIONAL_CENTER_JA = "全国センター"  # who holds the provision log, as the letters name it
MAX_CODES = 64  # a person's codes: the current one and the earlier ones followed back
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def new_reference() -> str:
    """The reference that ties an answer to the request it answers (a UUID)."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """A prefecture's question: every provision of these codes, for request ``reference``."""

    reference: str
    office: Office
    resident_codes: tuple[str, ...]

    def to_body(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "office": self.office.code,
            "resident_codes": list(self.resident_codes),
        }


@dataclass(frozen=True, slots=True)
class HistoryAnswer:
    """The national center's answer: the provisions of the codes asked about (and of their
    earlier codes) from month ``kept_from`` on, as its log stood on ``as_of``."""

    reference: str
    office: Office
    resident_codes: tuple[str, ...]  # the codes asked about and the earlier ones followed
    as_of: date
    kept_from: str  # YYYY-MM: the first month retention keeps
    provisions: tuple[DisclosedProvision, ...]

    def to_body(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "office": self.office.code,
            "resident_codes": list(self.resident_codes),
            "as_of": self.as_of.isoformat(),
            "kept_from": self.kept_from,
            "provisions": [p.to_dict() for p in self.provisions],
        }


def history_request(office: Office, resident_codes: Sequence[str]) -> HistoryRequest:
    """A new request of a prefecture's desk for these codes."""
    return check_request(HistoryRequest(new_reference(), office, tuple(resident_codes)))


def check_request(request: HistoryRequest) -> HistoryRequest:
    if request.office.national:
        raise RuleViolation("office", "not_a_prefecture", "only a prefecture asks for a history")
    codes = tuple(dict.fromkeys(request.resident_codes))
    if not 1 <= len(codes) <= MAX_CODES:
        raise RuleViolation(
            "resident_codes", "count", f"1 to {MAX_CODES} codes of one person, not {len(codes)}"
        )
    for code in codes:
        validate_resident_code(code, "resident_codes")
    return HistoryRequest(_reference(request.reference), request.office, codes)


def parse_request(body: Mapping[str, Any]) -> HistoryRequest:
    """A ``provision_history_request`` body, checked (a malformed one is quarantined)."""
    return check_request(
        HistoryRequest(str(body.get("reference", "")), _office(body), _codes(body))
    )


def parse_answer(body: Mapping[str, Any]) -> HistoryAnswer:
    """A ``provision_history`` body, checked field by field."""
    kept_from = str(body.get("kept_from", ""))
    if not _MONTH.match(kept_from):
        raise RuleViolation("kept_from", "month", f"{kept_from!r} is not YYYY-MM")
    try:
        as_of = date.fromisoformat(str(body.get("as_of")))
    except ValueError:
        raise RuleViolation("as_of", "date", f"{body.get('as_of')!r} is not a date") from None
    raw = body.get("provisions")
    if not isinstance(raw, list):
        raise RuleViolation("provisions", "malformed", "a list of provisions")
    provisions = parse_each(raw, "provisions", _provision)
    codes = _codes(body)
    for code in codes:
        validate_resident_code(code, "resident_codes")
    return HistoryAnswer(
        _reference(str(body.get("reference", ""))),
        _office(body),
        codes,
        as_of,
        kept_from,
        tuple(provisions),
    )


def check_answer(answer: HistoryAnswer, asked: Sequence[str]) -> None:
    """The answer covers every code asked about, and each provision it lists is of one of
    the codes it names (the asked ones or the earlier ones the national center followed):
    an answer about someone else is refused, not shown."""
    missing = set(asked) - set(answer.resident_codes)
    if missing:
        raise RuleViolation("resident_codes", "not_answered", f"{len(missing)} code(s) missing")
    named = set(answer.resident_codes)
    for i, provision in enumerate(answer.provisions):
        if provision.resident_code not in named:
            raise RuleViolation(f"provisions[{i}]", "other_person", "a code not asked about")


_TEXT_FIELDS = ("recipient", "affair_id", "affair", "method", "case_reference", "resident_code")


def _provision(item: dict[str, Any]) -> DisclosedProvision:
    """One provision of an answer, every item of the right kind (a peer's text is printed in
    a letter: an item that is not text is refused, not shown)."""
    for name in _TEXT_FIELDS:
        if not isinstance(item.get(name), str):
            raise RuleViolation(name, "malformed", "missing or not text")
    try:
        provision = DisclosedProvision.from_dict(item)
    except (KeyError, TypeError, ValueError):
        raise RuleViolation("provided_on", "date", "not a date") from None
    validate_resident_code(provision.resident_code, "resident_code")
    return provision


def _codes(body: Mapping[str, Any]) -> tuple[str, ...]:
    codes = body.get("resident_codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise RuleViolation("resident_codes", "malformed", "a list of resident codes")
    return tuple(codes)


def _reference(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise RuleViolation("reference", "malformed", f"{text!r} is not a reference") from None


def _office(body: Mapping[str, Any]) -> Office:
    return parse_office(str(body.get("office", "")), "office")
