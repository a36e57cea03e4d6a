"""Message bodies: identity records to and from JSON, validated on the way in.

An upper tier must never store what a municipal node should not have sent (the March 2013
incident): every field is checked here and a bad one raises ``RuleViolation``, which the
receiver turns into a quarantined, acknowledged message.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from jukinet.domain.codes import validate_lg_code, validate_resident_code
from jukinet.domain.errors import RuleViolation, parse_each
from jukinet.domain.identity import ChangeReason, IdentityRecord, Sex
from jukinet.domain.storable import storable_int, storable_text
from jukinet.net.messages import Role

E = TypeVar("E", ChangeReason, Sex)


MAX_RECORDS_PER_UPDATE = 1000


def identity_update_body(records: list[dict[str, Any]]) -> dict[str, Any]:
    """An identity update carries one record (a change) or many (a resend or first upload)."""
    if not 1 <= len(records) <= MAX_RECORDS_PER_UPDATE:
        raise ValueError(f"an identity update carries 1..{MAX_RECORDS_PER_UPDATE} records")
    return {"records": records}


def parse_identity_update(body: dict[str, Any]) -> list[tuple[IdentityRecord, str | None]]:
    records = body.get("records")
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS_PER_UPDATE:
        raise RuleViolation("records", "required", "an identity update lists 1..1000 records")
    return parse_each(records, "records", parse_identity_record)


def identity_record_body(
    record: IdentityRecord, previous_resident_code: str | None = None
) -> dict[str, Any]:
    return {
        "resident_code": record.resident_code,
        "previous_resident_code": previous_resident_code,
        "lg_code": record.lg_code,
        "name": record.name,
        "name_kana": record.name_kana,
        "alias": record.alias,
        "former_surname": record.former_surname,
        "birth_date": record.birth_date.isoformat(),
        "sex": record.sex.value,
        "address": record.address,
        "change_reason": record.change_reason.value,
        "change_date": record.change_date.isoformat(),
    }


def _text(body: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise RuleViolation(field, "required", "missing from the identity update")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise RuleViolation(field, "type", "must be non-empty text")
    return storable_text(value, field)


def body_date(body: dict[str, Any], field: str) -> date:
    try:
        return date.fromisoformat(str(body[field]))
    except (KeyError, ValueError) as exc:
        raise RuleViolation(field, "date", f"not an ISO date: {body.get(field)!r}") from exc


def _enum(kind: type[E], body: dict[str, Any], field: str) -> E:
    try:
        return kind(str(body.get(field)))
    except ValueError as exc:
        raise RuleViolation(field, "unknown_value", f"{body.get(field)!r}") from exc


def parse_identity_record(body: dict[str, Any]) -> tuple[IdentityRecord, str | None]:
    """The record and, on a resident-code change, the code it replaces."""
    record = IdentityRecord(
        resident_code=validate_resident_code(str(body.get("resident_code"))),
        lg_code=validate_lg_code(str(body.get("lg_code"))),
        name=str(_text(body, "name", required=True)),
        birth_date=body_date(body, "birth_date"),
        sex=_enum(Sex, body, "sex"),
        address=str(_text(body, "address", required=True)),
        change_reason=_enum(ChangeReason, body, "change_reason"),
        change_date=body_date(body, "change_date"),
        name_kana=_text(body, "name_kana", required=False),
        alias=_text(body, "alias", required=False),
        former_surname=_text(body, "former_surname", required=False),
    )
    if record.birth_date > record.change_date:
        raise RuleViolation("birth_date", "after_change_date", "born after the change")
    previous = body.get("previous_resident_code")
    if previous is not None:
        previous = validate_resident_code(previous, "previous_resident_code")
        if record.change_reason is not ChangeReason.RESIDENT_CODE_CHANGE:
            raise RuleViolation(
                "previous_resident_code", "only_for_code_change", "set only on a code change"
            )
    return record, previous


def origin_of(body: dict[str, Any]) -> tuple[str, int]:
    """The municipal node and sequence number a forwarded update started from."""
    origin = body.get("origin")
    if not isinstance(origin, dict):
        raise RuleViolation("origin", "required", "a forwarded update names its origin")
    node, seq = origin.get("node"), origin.get("seq")
    if not isinstance(node, str) or not node.startswith(f"{Role.MUNICIPALITY.value}/"):
        raise RuleViolation("origin.node", "type", "must name a municipal node")
    validate_lg_code(node.partition("/")[2], "origin.node")  # and fit the column it is kept in
    return node, storable_int(seq, "origin.seq", low=1)
