"""Data functions of the municipal register: entries, their history, code pools, households.

Every function takes an open connection inside the caller's transaction and filters by
``lg_code``, so several municipalities can share one database without seeing each other.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, or_, select, update

from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.names import address_search_key, name_search_key
from jukinet.domain.register import (
    EntryStatus,
    ForeignCategory,
    ForeignResidentItems,
    RegisterEntry,
    ResidentKind,
)
from jukinet.store.tables import households, resident_code_pool, resident_history, residents


class PoolState:
    AVAILABLE = "available"
    ISSUED = "issued"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A register entry with its row id (the id is stable across versions)."""

    id: int
    entry: RegisterEntry


def entry_to_row(entry: RegisterEntry) -> dict[str, Any]:
    """Columns of ``residents`` (and ``resident_history``) for one entry version."""
    foreign = entry.foreign
    return {
        "lg_code": entry.lg_code,
        "resident_code": entry.resident_code,
        "status": entry.status.value,
        "name": entry.name,
        "name_kana": entry.name_kana,
        "alias": entry.alias,
        "former_surname": entry.former_surname,
        "name_key": name_search_key(entry.name),
        "birth_date": entry.birth_date,
        "sex": entry.sex.value,
        "address": entry.address,
        "address_key": address_search_key(entry.address),
        "household_id": entry.household_id,
        "relationship": entry.relationship,
        "registered_domicile": entry.registered_domicile,
        "kind": entry.kind.value,
        "nationality": foreign.nationality if foreign else None,
        "foreign_category": foreign.category.value if foreign else None,
        "residence_status": foreign.residence_status if foreign else None,
        "period_of_stay": foreign.period_of_stay if foreign else None,
        "stay_expiry": foreign.stay_expiry if foreign else None,
        "residence_card_number": foreign.residence_card_number if foreign else None,
        "foreign_resident_since": foreign.foreign_resident_since if foreign else None,
        "entry_date": entry.entry_date,
        "previous_address": entry.previous_address,
        "previous_lg_code": entry.previous_lg_code,
        "destination_address": entry.destination_address,
        "destination_lg_code": entry.destination_lg_code,
        "change_reason": entry.change_reason.value,
        "change_date": entry.change_date,
        "version": entry.version,
    }


def row_to_entry(row: Row[Any]) -> RegisterEntry:
    m = row._mapping
    foreign = None
    if m["kind"] == ResidentKind.FOREIGN.value:
        foreign = ForeignResidentItems(
            nationality=m["nationality"],
            category=ForeignCategory(m["foreign_category"]),
            foreign_resident_since=m["foreign_resident_since"],
            residence_status=m["residence_status"],
            period_of_stay=m["period_of_stay"],
            stay_expiry=m["stay_expiry"],
            residence_card_number=m["residence_card_number"],
        )
    return RegisterEntry(
        lg_code=m["lg_code"],
        resident_code=m["resident_code"],
        status=EntryStatus(m["status"]),
        name=m["name"],
        birth_date=m["birth_date"],
        sex=Sex(m["sex"]),
        address=m["address"],
        household_id=m["household_id"],
        relationship=m["relationship"],
        kind=ResidentKind(m["kind"]),
        entry_date=m["entry_date"],
        change_reason=ChangeReason(m["change_reason"]),
        change_date=m["change_date"],
        version=m["version"],
        name_kana=m["name_kana"],
        alias=m["alias"],
        former_surname=m["former_surname"],
        registered_domicile=m["registered_domicile"],
        foreign=foreign,
        previous_address=m["previous_address"],
        previous_lg_code=m["previous_lg_code"],
        destination_address=m["destination_address"],
        destination_lg_code=m["destination_lg_code"],
    )


_ACTIVE_ENTRY = select(residents).where(
    residents.c.lg_code == bindparam("lg_code"),
    residents.c.resident_code == bindparam("resident_code"),
    residents.c.status == EntryStatus.ACTIVE.value,
)


def get_active_entry(conn: Connection, lg_code: str, resident_code: str) -> StoredEntry | None:
    row = conn.execute(_ACTIVE_ENTRY, {"lg_code": lg_code, "resident_code": resident_code}).first()
    return None if row is None else StoredEntry(row.id, row_to_entry(row))


def get_entry_by_id(conn: Connection, lg_code: str, entry_id: int) -> StoredEntry | None:
    """An entry by its row id (how an entry without a resident code is named)."""
    row = conn.execute(
        select(residents).where(residents.c.lg_code == lg_code, residents.c.id == entry_id)
    ).first()
    return None if row is None else StoredEntry(row.id, row_to_entry(row))


def get_entries_by_code(conn: Connection, lg_code: str, resident_code: str) -> list[StoredEntry]:
    """Every entry (active or removed) the person has had in this municipality, newest first,
    found by the current code or by a code the person held before a resident-code change."""
    former = select(resident_history.c.resident_id).where(
        resident_history.c.lg_code == lg_code, resident_history.c.resident_code == resident_code
    )
    rows = conn.execute(
        select(residents)
        .where(
            residents.c.lg_code == lg_code,
            or_(residents.c.resident_code == resident_code, residents.c.id.in_(former)),
        )
        .order_by(residents.c.id.desc())
    )
    return [StoredEntry(r.id, row_to_entry(r)) for r in rows]


def insert_entry(conn: Connection, entry: RegisterEntry, recorded_at: datetime) -> int:
    """Write a new entry and its first history row; returns the entry's id."""
    row = entry_to_row(entry)
    entry_id = conn.execute(_INSERT_ENTRY, row).scalar_one()
    conn.execute(
        resident_history.insert(), {**row, "resident_id": entry_id, "recorded_at": recorded_at}
    )
    return int(entry_id)


# Constant statements with parameters bound per call: compiled once, cached by SQLAlchemy.
_INSERT_ENTRY = residents.insert().returning(residents.c.id)
_UPDATE_ENTRY = residents.update().where(
    residents.c.id == bindparam("entry_id"), residents.c.version == bindparam("prior_version")
)


def update_entry(
    conn: Connection, entry_id: int, entry: RegisterEntry, recorded_at: datetime
) -> None:
    """Replace the current state and append its history row (optimistic on the version)."""
    row = entry_to_row(entry)
    result = conn.execute(
        _UPDATE_ENTRY, {**row, "entry_id": entry_id, "prior_version": entry.version - 1}
    )
    if result.rowcount != 1:
        raise ConcurrentChangeError(entry.resident_code)
    conn.execute(
        resident_history.insert(), {**row, "resident_id": entry_id, "recorded_at": recorded_at}
    )


class ConcurrentChangeError(RuntimeError):
    """Another transaction changed the entry first; the caller may retry."""


def entry_history(conn: Connection, entry_id: int) -> list[tuple[RegisterEntry, datetime]]:
    rows = conn.execute(
        select(resident_history)
        .where(resident_history.c.resident_id == entry_id)
        .order_by(resident_history.c.version)
    )
    return [(row_to_entry(r), r.recorded_at) for r in rows]


def search_entries(
    conn: Connection,
    lg_code: str,
    *,
    name: str | None = None,
    birth_date: date | None = None,
    address: str | None = None,
    include_removed: bool = False,
    limit: int = 100,
) -> list[StoredEntry]:
    """Entries matching every given item, compared on search keys (name by prefix)."""
    query = select(residents).where(residents.c.lg_code == lg_code)
    if name:
        query = query.where(residents.c.name_key.startswith(name_search_key(name), autoescape=True))
    if birth_date:
        query = query.where(residents.c.birth_date == birth_date)
    if address:
        key = address_search_key(address)
        query = query.where(residents.c.address_key.startswith(key, autoescape=True))
    if not include_removed:
        query = query.where(residents.c.status == EntryStatus.ACTIVE.value)
    rows = conn.execute(query.order_by(residents.c.name_key, residents.c.id).limit(limit))
    return [StoredEntry(r.id, row_to_entry(r)) for r in rows]


def household_members(conn: Connection, lg_code: str, household_id: str) -> list[StoredEntry]:
    rows = conn.execute(
        select(residents)
        .where(
            residents.c.lg_code == lg_code,
            residents.c.household_id == household_id,
            residents.c.status == EntryStatus.ACTIVE.value,
        )
        .order_by(residents.c.id)
    )
    return [StoredEntry(r.id, row_to_entry(r)) for r in rows]


_NEXT_HOUSEHOLD = (
    update(households)
    .where(households.c.lg_code == bindparam("b_lg_code"))
    .values(next_household_number=households.c.next_household_number + 1)
    .returning(households.c.next_household_number)
)


def next_household_id(conn: Connection, lg_code: str) -> str:
    """Allocate the municipality's next household number (世帯番号)."""
    after = conn.execute(_NEXT_HOUSEHOLD, {"b_lg_code": lg_code}).scalar_one_or_none()
    if after is not None:
        return format_household_id(int(after) - 1)
    current = (
        conn.execute(
            select(func.count(func.distinct(residents.c.household_id))).where(
                residents.c.lg_code == lg_code
            )
        ).scalar_one()
        + 1
    )
    conn.execute(insert(households).values(lg_code=lg_code, next_household_number=current + 1))
    return format_household_id(int(current))


def format_household_id(number: int) -> str:
    return f"{number:010d}"


def add_pool_codes(conn: Connection, lg_code: str, codes: Sequence[str], at: datetime) -> None:
    """Record codes designated to the municipality as available, in a random draw order."""
    if codes:
        draw = random.SystemRandom()
        conn.execute(
            resident_code_pool.insert(),
            [
                {
                    "resident_code": c,
                    "lg_code": lg_code,
                    "state": PoolState.AVAILABLE,
                    "state_changed_at": at,
                    "draw_order": draw.getrandbits(62),
                }
                for c in codes
            ],
        )


_AVAILABLE = (
    resident_code_pool.c.lg_code == bindparam("b_lg_code"),
    resident_code_pool.c.state == PoolState.AVAILABLE,
)
_POOL_SIZE = select(func.count()).where(*_AVAILABLE)
_NEXT_IN_POOL = (
    select(resident_code_pool.c.resident_code)
    .where(*_AVAILABLE)
    .order_by(resident_code_pool.c.draw_order)
    .limit(1)
    .scalar_subquery()
)
_DRAW_CODE = (
    update(resident_code_pool)
    .where(resident_code_pool.c.resident_code == _NEXT_IN_POOL)
    .values(state=PoolState.ISSUED, state_changed_at=bindparam("b_at"))
    .returning(resident_code_pool.c.resident_code)
)
_AT_LEAST = (
    select(resident_code_pool.c.resident_code)
    .where(*_AVAILABLE)
    .order_by(resident_code_pool.c.draw_order)
    .offset(bindparam("b_offset"))
    .limit(1)
)


def available_pool_size(conn: Connection, lg_code: str) -> int:
    return int(conn.execute(_POOL_SIZE, {"b_lg_code": lg_code}).scalar_one())


def pool_has_at_least(conn: Connection, lg_code: str, count: int) -> bool:
    """Whether ``count`` codes are available, reading at most ``count`` index entries."""
    row = conn.execute(_AT_LEAST, {"b_lg_code": lg_code, "b_offset": count - 1}).first()
    return row is not None


def draw_pool_code(conn: Connection, lg_code: str, at: datetime) -> str | None:
    """Issue the next code of the pool (in its random draw order), or None when empty."""
    code = conn.execute(_DRAW_CODE, {"b_lg_code": lg_code, "b_at": at}).scalar_one_or_none()
    return None if code is None else str(code)


def retire_code(conn: Connection, lg_code: str, code: str, at: datetime) -> None:
    """A code given up (resident-code change) is kept as retired so it is never reused."""
    result = conn.execute(
        update(resident_code_pool)
        .where(resident_code_pool.c.resident_code == code)
        .values(state=PoolState.RETIRED, state_changed_at=at)
    )
    if result.rowcount == 0:
        conn.execute(
            insert(resident_code_pool).values(
                resident_code=code, lg_code=lg_code, state=PoolState.RETIRED, state_changed_at=at
            )
        )


def pool_code_state(conn: Connection, code: str) -> str | None:
    return conn.execute(
        select(resident_code_pool.c.state).where(resident_code_pool.c.resident_code == code)
    ).scalar_one_or_none()


def count_entries(conn: Connection, lg_code: str, status: EntryStatus | None = None) -> int:
    query = select(func.count()).select_from(residents).where(residents.c.lg_code == lg_code)
    if status is not None:
        query = query.where(residents.c.status == status.value)
    return int(conn.execute(query).scalar_one())


def pooled_codes(conn: Connection, codes: Sequence[str]) -> set[str]:
    """Which of ``codes`` this database's pool holds already (in any state)."""
    found: set[str] = set()
    for i in range(0, len(codes), 500):
        found.update(
            conn.execute(
                select(resident_code_pool.c.resident_code).where(
                    resident_code_pool.c.resident_code.in_(codes[i : i + 500])
                )
            ).scalars()
        )
    return found


def known_codes(conn: Connection) -> set[str]:
    """Every resident code in the pool or the register of this database."""
    pooled = conn.execute(select(resident_code_pool.c.resident_code)).scalars()
    registered = conn.execute(
        select(residents.c.resident_code).where(residents.c.resident_code.is_not(None)).distinct()
    ).scalars()
    return set(pooled) | set(registered)


def latest_entries(
    conn: Connection, lg_code: str, resident_codes: Sequence[str] | None = None
) -> list[RegisterEntry]:
    """The newest entry per resident code (active, or the removal if none is active); entries
    without a code have no identity record and are left out."""
    query = select(residents).where(
        residents.c.lg_code == lg_code, residents.c.resident_code.is_not(None)
    )
    if resident_codes is not None:
        query = query.where(residents.c.resident_code.in_(list(resident_codes)))
    newest: dict[str, tuple[int, RegisterEntry]] = {}
    for row in conn.execute(query.order_by(residents.c.id)):
        entry = row_to_entry(row)
        code = str(entry.resident_code)
        kept = newest.get(code)
        if kept is None or entry.active or not kept[1].active:
            newest[code] = (row.id, entry)
    return [entry for _id, entry in newest.values()]


# --- foreign residents without a code (before the applicable date) ---------------------------


def _without_code(lg_code: str) -> tuple[Any, ...]:
    return (
        residents.c.lg_code == lg_code,
        residents.c.kind == ResidentKind.FOREIGN.value,
        residents.c.status == EntryStatus.ACTIVE.value,
        residents.c.resident_code.is_(None),
    )


def count_active_without_code(conn: Connection, lg_code: str) -> int:
    """Active foreign residents' entries that have no resident code yet."""
    query = select(func.count()).select_from(residents).where(*_without_code(lg_code))
    return int(conn.execute(query).scalar_one())


def lock_active_without_code(conn: Connection, lg_code: str, limit: int) -> list[StoredEntry]:
    """The next ``limit`` of them (oldest entry first), locked for this transaction on
    PostgreSQL so that a concurrent run or event cannot change them under the caller."""
    query = select(residents).where(*_without_code(lg_code)).order_by(residents.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return [StoredEntry(r.id, row_to_entry(r)) for r in conn.execute(query)]


def draw_pool_codes(conn: Connection, lg_code: str, count: int, at: datetime) -> list[str]:
    """Issue up to ``count`` codes of the pool at once, in its random draw order."""
    query = (
        select(resident_code_pool.c.resident_code)
        .where(
            resident_code_pool.c.lg_code == lg_code,
            resident_code_pool.c.state == PoolState.AVAILABLE,
        )
        .order_by(resident_code_pool.c.draw_order)
        .limit(count)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    codes = [str(c) for c in conn.execute(query).scalars()]
    if codes:
        conn.execute(
            update(resident_code_pool)
            .where(resident_code_pool.c.resident_code.in_(codes))
            .values(state=PoolState.ISSUED, state_changed_at=at)
        )
    return codes


_UPDATE_LOCKED_ENTRY = residents.update().where(residents.c.id == bindparam("entry_id"))


def update_entries(
    conn: Connection, entries: Sequence[tuple[int, RegisterEntry]], recorded_at: datetime
) -> None:
    """Replace the current state of many entries the caller has locked, with their history
    rows: two statements whatever the count."""
    if not entries:
        return
    rows = [(entry_id, entry_to_row(entry)) for entry_id, entry in entries]
    conn.execute(_UPDATE_LOCKED_ENTRY, [{**row, "entry_id": i} for i, row in rows])
    conn.execute(
        resident_history.insert(),
        [{**row, "resident_id": i, "recorded_at": recorded_at} for i, row in rows],
    )
