"""Response models: what the terminals' API shows of a register entry."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from jukinet.domain.eras import format_era_date
from jukinet.domain.register import RegisterEntry


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
