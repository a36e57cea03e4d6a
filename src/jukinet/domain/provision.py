"""Provision of identity records to recipients (本人確認情報の提供): pure rules.

A recipient (a national agency or corporation of the Act's annex table) may receive identity
records only for an affair listed for it, inside the affair's window, and only the fields that
affair may receive. A query names the affair and carries a case reference; it asks for one
person either by resident code or by basic items:

- name + birth date + sex + address (the four basic items), or
- name + birth date (when the recipient holds no address).

Matching rules (DOMAIN.md §5 leaves them open; designed here): the name and the address are
compared on their search keys (``jukinet.domain.names``), the birth date and the sex exactly.
Sex and address come together or not at all. Removed records (除票) take part in matching —
a recipient checking a pensioner must learn that the person died. Outcomes:

- ``found``: exactly one current record; only the affair's allowed fields are returned, and a
  removed record says so (``status`` ``removed`` or ``deceased``, with the date);
- ``not_found``: no record matches;
- ``several_candidates``: more than one matches; nothing else is revealed (not even how many),
  so a vague query cannot be used to enumerate people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from jukinet.domain.codes import validate_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, IdentityRecord


class ProvisionMethod(StrEnum):
    """提供方法 as the gazette notice names them."""

    IMMEDIATE = "immediate"
    BATCH_LINE = "batch_line"
    BATCH_MEDIA = "batch_media"

    @property
    def label_ja(self) -> str:
        return _METHOD_LABELS[self]


_METHOD_LABELS = {
    ProvisionMethod.IMMEDIATE: "即時提供",
    ProvisionMethod.BATCH_LINE: "電気通信回線",
    ProvisionMethod.BATCH_MEDIA: "磁気媒体",
}


class ProvisionField(StrEnum):
    """The items of an identity record a recipient may be given."""

    RESIDENT_CODE = "resident_code"
    NAME = "name"
    NAME_KANA = "name_kana"
    ALIAS = "alias"
    FORMER_SURNAME = "former_surname"
    BIRTH_DATE = "birth_date"
    SEX = "sex"
    ADDRESS = "address"
    CHANGE = "change"  # change reason and date (異動事由・異動年月日)


DEFAULT_FIELDS: frozenset[ProvisionField] = frozenset(
    {
        ProvisionField.RESIDENT_CODE,
        ProvisionField.NAME,
        ProvisionField.BIRTH_DATE,
        ProvisionField.SEX,
        ProvisionField.ADDRESS,
        ProvisionField.CHANGE,
    }
)
"""What an affair receives unless configured otherwise: the identity record proper (four basic
items, resident code, change information). Kana, alias and former surname are opt-in."""


def parse_fields(
    values: str | list[str] | tuple[str, ...], field: str = "fields"
) -> frozenset[ProvisionField]:
    """Fields from a list or a comma-separated text; unknown names are a RuleViolation."""
    items = [v.strip() for v in values.split(",")] if isinstance(values, str) else list(values)
    out: set[ProvisionField] = set()
    for item in items:
        if not item:
            continue
        try:
            out.add(ProvisionField(item))
        except ValueError:
            raise RuleViolation(field, "unknown_field", f"no identity item {item!r}") from None
    return frozenset(out)


def format_fields(fields: frozenset[ProvisionField]) -> str:
    """Stable comma-separated text of fields (for storage)."""
    return ",".join(sorted(f.value for f in fields))


def year_month(day: date) -> str:
    """The counter's month key ``YYYY-MM``."""
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True, slots=True)
class AffairGrant:
    """One affair as granted to its recipient: window, fields, suspension."""

    affair_id: str
    recipient: str
    valid_from: date
    valid_until: date | None
    allowed_fields: frozenset[ProvisionField]
    suspended: bool = False

    def check(self, recipient: str, on: date, wanted: frozenset[ProvisionField]) -> None:
        """Refuse (RuleViolation naming field and rule) unless ``recipient`` may receive
        ``wanted`` for this affair on ``on``."""
        if recipient != self.recipient:
            raise RuleViolation(
                "affair_id", "affair_not_listed", f"{self.affair_id} is not listed for {recipient}"
            )
        if self.suspended:
            raise RuleViolation(
                "affair_id", "affair_suspended", f"provision for {self.affair_id} is suspended"
            )
        if on < self.valid_from or (self.valid_until is not None and on > self.valid_until):
            until = self.valid_until.isoformat() if self.valid_until else "open"
            raise RuleViolation(
                "affair_id",
                "outside_window",
                f"{self.affair_id} is lawful from {self.valid_from.isoformat()} to {until}, "
                f"not on {on.isoformat()}",
            )
        refused = wanted - self.allowed_fields
        if refused:
            raise RuleViolation(
                "fields",
                "field_not_allowed",
                f"{self.affair_id} may not receive {', '.join(sorted(refused))}",
            )


CASE_REFERENCE_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ProvisionQuery:
    """One person asked for, for one affair, under one case reference."""

    affair_id: str
    case_reference: str
    resident_code: str | None = None
    name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    address: str | None = None
    fields: frozenset[ProvisionField] | None = None  # None: every allowed field

    @property
    def by_code(self) -> bool:
        return self.resident_code is not None


def validate_query(query: ProvisionQuery) -> ProvisionQuery:
    """The query as given, or a RuleViolation naming the field and rule."""
    if not query.affair_id or not query.affair_id.strip():
        raise RuleViolation("affair_id", "required", "every request names the affair")
    reference = query.case_reference.strip() if query.case_reference else ""
    if not reference:
        raise RuleViolation("case_reference", "required", "every request carries a case reference")
    if len(reference) > CASE_REFERENCE_MAX or _CONTROL.search(reference):
        raise RuleViolation(
            "case_reference",
            "invalid",
            f"at most {CASE_REFERENCE_MAX} characters, no control characters",
        )
    basic = (query.name, query.birth_date, query.sex, query.address)
    if query.resident_code is not None:
        if any(v is not None for v in basic):
            raise RuleViolation(
                "resident_code", "one_way", "ask by resident code or by basic items, not both"
            )
        validate_resident_code(query.resident_code)
        return query
    if query.name is None or not query.name.strip():
        raise RuleViolation("name", "required", "a resident code or the name and birth date")
    if query.birth_date is None:
        raise RuleViolation("birth_date", "required", "a resident code or name and birth date")
    if (query.sex is None) != (query.address is None):
        missing = "sex" if query.sex is None else "address"
        raise RuleViolation(
            missing, "four_items", "sex and address are given together (the four basic items)"
        )
    if query.sex is not None and query.sex not in {"male", "female"}:
        raise RuleViolation("sex", "invalid", "sex is male or female")
    if query.address is not None and not query.address.strip():
        raise RuleViolation("address", "required", "the address must not be blank")
    return query


class MatchOutcome(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    SEVERAL_CANDIDATES = "several_candidates"


class RecordStatus(StrEnum):
    """What the provided record says of the person."""

    ACTIVE = "active"
    REMOVED = "removed"  # 消除 (moved abroad, ex officio …)
    DECEASED = "deceased"  # 死亡


def record_status(record: IdentityRecord) -> RecordStatus:
    if not record.removed:
        return RecordStatus.ACTIVE
    if record.change_reason is ChangeReason.DEATH:
        return RecordStatus.DECEASED
    return RecordStatus.REMOVED


def project(record: IdentityRecord, fields: frozenset[ProvisionField]) -> dict[str, Any]:
    """The record reduced to ``fields``, plus its status (and the date when removed/deceased,
    which every recipient learns: a removed record must never look active)."""
    status = record_status(record)
    out: dict[str, Any] = {"status": status.value}
    if status is not RecordStatus.ACTIVE:
        out["status_date"] = record.change_date.isoformat()
    values: dict[ProvisionField, Any] = {
        ProvisionField.RESIDENT_CODE: record.resident_code,
        ProvisionField.NAME: record.name,
        ProvisionField.NAME_KANA: record.name_kana,
        ProvisionField.ALIAS: record.alias,
        ProvisionField.FORMER_SURNAME: record.former_surname,
        ProvisionField.BIRTH_DATE: record.birth_date.isoformat(),
        ProvisionField.SEX: record.sex.value,
        ProvisionField.ADDRESS: record.address,
    }
    for f in sorted(fields):
        if f is ProvisionField.CHANGE:
            out["change_reason"] = record.change_reason.value
            out["change_reason_ja"] = record.change_reason.label_ja
            out["change_date"] = record.change_date.isoformat()
        else:
            out[f.value] = values[f]
    return out


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    """The answer to one query: the outcome and, when found, the projected record."""

    outcome: MatchOutcome
    record: dict[str, Any] | None = None
    log_id: int | None = None
