"""Response models: what the terminals' API shows of a register entry; and what every request
is held to before a route sees it (``RequestBody``, ``Text``, ``ID_MAX``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from jukinet.domain.eras import format_era_date
from jukinet.domain.register import RegisterEntry
from jukinet.domain.storable import BIGINT_MAX

ID_MAX = BIGINT_MAX
"""The largest id the databases hold: a number in a path or query beyond it names nothing and
would fail in the driver, so routes refuse it (422) as ``ge=1`` refuses 0."""


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False


def _nul_character() -> PydanticCustomError:
    return PydanticCustomError("nul_character", "a NUL character (U+0000) is not text")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise _nul_character()
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A text path or query parameter: any string but one holding a NUL character (see
``RequestBody``)."""


class RequestBody(BaseModel):
    """A request body. No text in it may hold a NUL character: no name, address, reference or
    key has one, PostgreSQL cannot store one (SQLite would), so it is refused as invalid input
    (422 ``nul_character`` naming the field) on both databases alike."""

    @field_validator("*")
    @classmethod
    def _no_nul_character(cls, value: object) -> object:
        if _holds_nul(value):
            raise _nul_character()
        return value


class EntryOut(BaseModel):
    lg_code: str
    resident_code: str | None  # none: a foreign resident before the applicable date
    status: str
    name: str
    name_kana: str | None
    alias: str | None
    former_surname: str | None
    birth_date: date
    birth_date_era: str
    sex: str
    address: str
    household_id: str
    relationship: str
    kind: str
    change_reason: str
    change_reason_ja: str
    change_date: date
    version: int

    @classmethod
    def of(cls, e: RegisterEntry) -> EntryOut:
        return cls(
            lg_code=e.lg_code,
            resident_code=e.resident_code,
            status=e.status.value,
            name=e.name,
            name_kana=e.name_kana,
            alias=e.alias,
            former_surname=e.former_surname,
            birth_date=e.birth_date,
            birth_date_era=format_era_date(e.birth_date),
            sex=e.sex.value,
            address=e.address,
            household_id=e.household_id,
            relationship=e.relationship,
            kind=e.kind.value,
            change_reason=e.change_reason.value,
            change_reason_ja=e.change_reason.label_ja,
            change_date=e.change_date,
            version=e.version,
        )


class VersionOut(BaseModel):
    entry: EntryOut
    recorded_at: datetime


class EntryWithHistoryOut(BaseModel):
    current: EntryOut
    history: list[VersionOut]


class Health(BaseModel):
    status: str
    nodes: list[str]


class MessageBatch(BaseModel):
    """Wire messages (each the sealed JSON text) for nodes hosted by this process."""

    messages: list[str] = Field(max_length=2000)


class AckOut(BaseModel):
    message_id: str | None
    status: str
    reason: str | None = None
    expected_seq: int | None = None


class AckBatch(BaseModel):
    acks: list[AckOut]
