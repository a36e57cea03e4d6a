"""Identity records at the upper tiers (prefectural tenants, the national center).

Both tiers keep the same shape: a current row per resident code and an append-only history of
every version received, so one set of functions serves both, given the tables and the tenant.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, Row, Select, Table, Update, bindparam, func, select

from jukinet.domain.identity import ChangeReason, IdentityRecord, Sex, supersedes
from jukinet.domain.names import address_search_key, name_search_key
from jukinet.store.tables import (
    national_identity_history,
    national_identity_records,
    prefectural_identity_history,
    prefectural_identity_records,
)


@dataclass(frozen=True)
class Tier:
    """The tables of one upper tier and, for the prefectural center, the tenant column."""

    current: Table
    history: Table
    tenant_column: str | None = None

    def tenant_filter(self, table: Table, tenant: str | None) -> list[Any]:
        if self.tenant_column is None:
            return []
        return [table.c[self.tenant_column] == tenant]

    def tenant_values(self, tenant: str | None) -> dict[str, Any]:
        return {} if self.tenant_column is None else {self.tenant_column: tenant}

    def _by_key(self) -> list[Any]:
        key = [self.current.c.resident_code == bindparam("key_resident_code")]
        if self.tenant_column is not None:
            key.append(self.current.c[self.tenant_column] == bindparam("key_tenant"))
        return key

    @cached_property
    def select_current(self) -> Select[Any]:
        """The current row keyed by the parameters' code (and tenant)."""
        return select(self.current).where(*self._by_key())

    @cached_property
    def select_currents(self) -> Select[Any]:
        """The current rows of a list of codes (``key_codes``, expanding) in the tenant."""
        query = select(self.current).where(
            self.current.c.resident_code.in_(bindparam("key_codes", expanding=True))
        )
        if self.tenant_column is not None:
            query = query.where(self.current.c[self.tenant_column] == bindparam("key_tenant"))
        return query

    @cached_property
    def mark_superseded(self) -> Update:
        """Mark the row of a code given up in a resident-code change (parameters b_*)."""
        query = (
            self.current.update()
            .where(self.current.c.resident_code == bindparam("b_code"))
            .values(superseded_by=bindparam("b_new"), updated_at=bindparam("b_at"))
        )
        if self.tenant_column is not None:
            query = query.where(self.current.c[self.tenant_column] == bindparam("b_tenant"))
        return query

    @cached_property
    def replace_current(self) -> Update:
        """UPDATE of the current row keyed by the parameters' code (and tenant)."""
        return self.current.update().where(*self._by_key())


PREFECTURAL = Tier(prefectural_identity_records, prefectural_identity_history, "pref_code")
NATIONAL = Tier(national_identity_records, national_identity_history)


def _columns(record: IdentityRecord, previous: str | None, source: str, seq: int) -> dict[str, Any]:
    return {
        "lg_code": record.lg_code,
        "resident_code": record.resident_code,
        "name": record.name,
        "name_kana": record.name_kana,
        "alias": record.alias,
        "former_surname": record.former_surname,
        "name_key": name_search_key(record.name),
        "birth_date": record.birth_date,
        "sex": record.sex.value,
        "address": record.address,
        "address_key": address_search_key(record.address),
        "change_reason": record.change_reason.value,
        "change_date": record.change_date,
        "removed": record.removed,
        "previous_resident_code": previous,
        "source": source,
        "source_seq": seq,
    }


def row_to_record(row: Row[Any]) -> IdentityRecord:
    m = row._mapping
    return IdentityRecord(
        resident_code=m["resident_code"],
        lg_code=m["lg_code"],
        name=m["name"],
        birth_date=m["birth_date"],
        sex=Sex(m["sex"]),
        address=m["address"],
        change_reason=ChangeReason(m["change_reason"]),
        change_date=m["change_date"],
        name_kana=m["name_kana"],
        alias=m["alias"],
        former_surname=m["former_surname"],
    )


def get_current(
    conn: Connection, tier: Tier, resident_code: str, tenant: str | None = None
) -> IdentityRecord | None:
    row = conn.execute(
        tier.select_current, {"key_resident_code": resident_code, "key_tenant": tenant}
    ).first()
    return None if row is None else row_to_record(row)


def apply_version(
    conn: Connection,
    tier: Tier,
    record: IdentityRecord,
    previous_code: str | None,
    *,
    tenant: str | None,
    source: str,
    source_seq: int,
    at: datetime,
) -> bool:
    """Append one version to history and make it current unless a newer one is; returns
    whether it became current."""
    return apply_versions(
        conn,
        tier,
        [(record, previous_code)],
        tenant=tenant,
        source=source,
        source_seq=source_seq,
        at=at,
    )[0]


LOOKUP_CHUNK = 500


def _currents(
    conn: Connection, tier: Tier, codes: list[str], tenant: str | None
) -> dict[str, IdentityRecord]:
    found: dict[str, IdentityRecord] = {}
    for i in range(0, len(codes), LOOKUP_CHUNK):
        chunk = codes[i : i + LOOKUP_CHUNK]
        rows = conn.execute(tier.select_currents, {"key_codes": chunk, "key_tenant": tenant})
        found.update((r.resident_code, row_to_record(r)) for r in rows)
    return found


def current_records(
    conn: Connection, tier: Tier, codes: list[str], tenant: str | None = None
) -> dict[str, IdentityRecord]:
    """The current records of many codes (those the tier holds), read in chunks."""
    return _currents(conn, tier, sorted(set(codes)), tenant)


def apply_versions(
    conn: Connection,
    tier: Tier,
    versions: list[tuple[IdentityRecord, str | None]],
    *,
    tenant: str | None,
    source: str,
    source_seq: int,
    at: datetime,
) -> list[bool]:
    """Set-based ``apply_version`` for the records of one message (a change, or a resend of
    up to 1000): history in one statement, current rows read in chunks and written in one
    insert and one update. Versions apply in the order given."""
    rows = [
        {**_columns(r, prev, source, source_seq), **tier.tenant_values(tenant)}
        for r, prev in versions
    ]
    conn.execute(tier.history.insert(), [{**row, "received_at": at} for row in rows])
    current = _currents(conn, tier, sorted({r.resident_code for r, _ in versions}), tenant)
    inserted: dict[str, dict[str, Any]] = {}
    replaced: dict[str, dict[str, Any]] = {}
    superseded: list[dict[str, Any]] = []
    applied: list[bool] = []
    for (record, previous), row in zip(versions, rows, strict=True):
        code = record.resident_code
        existing = current.get(code)
        if existing is not None and not supersedes(record, existing):
            applied.append(False)
            continue
        current[code] = record
        if existing is None or code in inserted:
            inserted[code] = {**row, "updated_at": at}
        else:
            keys = {"key_resident_code": code, "key_tenant": tenant}
            replaced[code] = {**row, **keys, "updated_at": at, "superseded_by": None}
        if previous is not None:
            superseded.append({"b_code": previous, "b_tenant": tenant, "b_new": code, "b_at": at})
        applied.append(True)
    if inserted:
        conn.execute(tier.current.insert(), list(inserted.values()))
    if replaced:
        conn.execute(tier.replace_current, list(replaced.values()))
    if superseded:
        conn.execute(tier.mark_superseded, superseded)
    return applied


@dataclass(frozen=True, slots=True)
class Digest:
    """Count and digest over a municipality's current records: equal digests, equal data."""

    count: int
    digest: str
    codes: dict[str, str]  # resident code -> digest of its record


def record_fingerprint(record: IdentityRecord) -> str:
    """A digest of every identity item of a version (what consistency checks compare)."""
    parts = (
        record.resident_code,
        record.lg_code,
        record.name,
        record.name_kana or "",
        record.alias or "",
        record.former_surname or "",
        record.birth_date.isoformat(),
        record.sex.value,
        record.address,
        record.change_reason.value,
        record.change_date.isoformat(),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def digest_of(records: list[IdentityRecord]) -> Digest:
    return digest_of_fingerprints({r.resident_code: record_fingerprint(r) for r in records})


def digest_of_fingerprints(codes: dict[str, str]) -> Digest:
    """The digest over per-code fingerprints already computed (a million records need never
    be held as objects at once)."""
    overall = hashlib.sha256()
    for code in sorted(codes):
        overall.update(f"{code}:{codes[code]}\n".encode())
    return Digest(len(codes), overall.hexdigest(), codes)


def municipality_records(
    conn: Connection, tier: Tier, lg_code: str, tenant: str | None = None
) -> list[IdentityRecord]:
    """Current records the tier holds for a municipality (superseded codes left out)."""
    rows = conn.execute(
        select(tier.current).where(
            tier.current.c.lg_code == lg_code,
            tier.current.c.superseded_by.is_(None),
            *tier.tenant_filter(tier.current, tenant),
        )
    )
    return [row_to_record(r) for r in rows]


def count_current(conn: Connection, tier: Tier) -> int:
    return int(conn.execute(select(func.count()).select_from(tier.current)).scalar_one())
