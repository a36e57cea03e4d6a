"""Recipients, their affairs and the monthly provision counters (national center database).

The provision log itself lives in ``store.provision_log`` (re-exported here for its callers).
``provision_counts`` holds the live monthly counters per (recipient, affair, month, method),
incremented in the transaction that appends to the log, so the two always agree; the gazette
notice reads the counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    bindparam,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from jukinet.domain.provision import AffairGrant, format_fields, parse_fields

# The log's functions, re-exported for their callers.
from jukinet.store.provision_log import append_log as append_log  # noqa: PLC0414
from jukinet.store.provision_log import append_logs as append_logs  # noqa: PLC0414
from jukinet.store.provision_log import log_of_person as log_of_person  # noqa: PLC0414
from jukinet.store.provision_log import provision_log as provision_log  # noqa: PLC0414
from jukinet.store.tables import UTCDateTime, metadata, national_identity_records

recipients = Table(
    "recipients",
    metadata,
    Column("name", Text, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("api_key_hash", String(64), unique=True),
    Column("suspended", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
"""A recipient of the annex table; ``api_key_hash`` is the SHA-256 of its bearer credential."""

recipient_affairs = Table(
    "recipient_affairs",
    metadata,
    Column("affair_id", String(40), primary_key=True),
    Column("recipient", Text, ForeignKey("recipients.name"), nullable=False),
    Column("law", Text, nullable=False),
    Column("affair", Text, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date),
    Column("allowed_fields", Text, nullable=False),
    Column("suspended", Boolean, nullable=False, default=False),
    Index("ix_recipient_affairs_recipient", "recipient"),
)
"""The affairs for which a recipient may receive records, each with its window and fields."""

provision_counts = Table(
    "provision_counts",
    metadata,
    Column("recipient", Text, nullable=False),
    Column("affair_id", String(40), nullable=False),
    Column("year_month", String(7), nullable=False),
    Column("method", String(12), nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("recipient", "affair_id", "year_month", "method"),
)
"""Live monthly counters (``year_month`` is ``YYYY-MM`` in Japan time)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    kind: str
    suspended: bool
    has_credential: bool


def _recipient(row: Any) -> Recipient:
    return Recipient(row.name, row.kind, row.suspended, row.api_key_hash is not None)


def add_recipient(conn: Connection, name: str, kind: str, at: datetime) -> None:
    conn.execute(recipients.insert().values(name=name, kind=kind, suspended=False, created_at=at))


# Built once: these run on every provision request (building a statement costs more than
# running it on a warm cache).
_RECIPIENT_BY_NAME = select(recipients).where(recipients.c.name == bindparam("name"))
_RECIPIENT_BY_KEY = select(recipients).where(recipients.c.api_key_hash == bindparam("key_hash"))


def get_recipient(conn: Connection, name: str) -> Recipient | None:
    row = conn.execute(_RECIPIENT_BY_NAME, {"name": name}).first()
    return None if row is None else _recipient(row)


def recipient_by_key_hash(conn: Connection, key_hash: str) -> Recipient | None:
    row = conn.execute(_RECIPIENT_BY_KEY, {"key_hash": key_hash}).first()
    return None if row is None else _recipient(row)


def list_recipients(conn: Connection) -> list[Recipient]:
    return [_recipient(r) for r in conn.execute(select(recipients).order_by(recipients.c.name))]


def set_key_hash(conn: Connection, name: str, key_hash: str) -> bool:
    result = conn.execute(
        update(recipients).where(recipients.c.name == name).values(api_key_hash=key_hash)
    )
    return result.rowcount == 1


def set_recipient_suspended(conn: Connection, name: str, suspended: bool) -> bool:
    result = conn.execute(
        update(recipients).where(recipients.c.name == name).values(suspended=suspended)
    )
    return result.rowcount == 1


def set_affair_suspended(conn: Connection, affair_id: str, suspended: bool) -> bool:
    result = conn.execute(
        update(recipient_affairs)
        .where(recipient_affairs.c.affair_id == affair_id)
        .values(suspended=suspended)
    )
    return result.rowcount == 1


def add_affair(
    conn: Connection,
    grant: AffairGrant,
    *,
    law: str,
    affair: str,
) -> None:
    conn.execute(
        recipient_affairs.insert().values(
            affair_id=grant.affair_id,
            recipient=grant.recipient,
            law=law,
            affair=affair,
            valid_from=grant.valid_from,
            valid_until=grant.valid_until,
            allowed_fields=format_fields(grant.allowed_fields),
            suspended=grant.suspended,
        )
    )


def _grant(row: Any) -> AffairGrant:
    return AffairGrant(
        affair_id=row.affair_id,
        recipient=row.recipient,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        allowed_fields=parse_fields(row.allowed_fields),
        suspended=row.suspended,
    )


_AFFAIR = select(recipient_affairs).where(recipient_affairs.c.affair_id == bindparam("affair_id"))


def get_affair(conn: Connection, affair_id: str) -> AffairGrant | None:
    row = conn.execute(_AFFAIR, {"affair_id": affair_id}).first()
    return None if row is None else _grant(row)


def affairs_of(conn: Connection, recipient: str) -> list[AffairGrant]:
    rows = conn.execute(
        select(recipient_affairs)
        .where(recipient_affairs.c.recipient == recipient)
        .order_by(recipient_affairs.c.affair_id)
    )
    return [_grant(r) for r in rows]


def affair_ids(conn: Connection) -> set[str]:
    return set(conn.execute(select(recipient_affairs.c.affair_id)).scalars())


def recipient_names(conn: Connection) -> set[str]:
    return set(conn.execute(select(recipients.c.name)).scalars())


def _count_upsert(insert: Any) -> Any:
    stmt = insert(provision_counts)
    return stmt.on_conflict_do_update(
        index_elements=["recipient", "affair_id", "year_month", "method"],
        set_={"count": provision_counts.c.count + stmt.excluded.count},
    )


_COUNT_UPSERT = {"postgresql": _count_upsert(pg_insert), "sqlite": _count_upsert(sqlite_insert)}


def increment_count(
    conn: Connection, *, recipient: str, affair_id: str, year_month: str, method: str, by: int = 1
) -> None:
    """Add ``by`` to the counter of (recipient, affair, month, method), creating it at need
    (an upsert: concurrent first provisions of a month cannot collide)."""
    values = {
        "recipient": recipient,
        "affair_id": affair_id,
        "year_month": year_month,
        "method": method,
        "count": by,
    }
    statement = _COUNT_UPSERT["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    conn.execute(statement, values)


@dataclass(slots=True)
class TransactionReads:
    """Recipients and affairs already read in the current transaction, so a transaction
    deciding many requests reads each row once (as a transaction reading them at its start
    would: a suspension committed meanwhile takes effect from the next transaction)."""

    conn: Connection
    _by_name: dict[str, Recipient | None] = field(default_factory=dict)
    _by_key: dict[str, Recipient | None] = field(default_factory=dict)
    _affairs: dict[str, AffairGrant | None] = field(default_factory=dict)

    def recipient(self, name: str) -> Recipient | None:
        if name not in self._by_name:
            self._by_name[name] = get_recipient(self.conn, name)
        return self._by_name[name]

    def recipient_by_key_hash(self, key_hash: str) -> Recipient | None:
        if key_hash not in self._by_key:
            found = recipient_by_key_hash(self.conn, key_hash)
            self._by_key[key_hash] = found
            if found is not None:
                self._by_name.setdefault(found.name, found)
        return self._by_key[key_hash]

    def affair(self, affair_id: str) -> AffairGrant | None:
        if affair_id not in self._affairs:
            self._affairs[affair_id] = get_affair(self.conn, affair_id)
        return self._affairs[affair_id]


def counts(conn: Connection) -> list[tuple[str, str, str, str, int]]:
    rows = conn.execute(
        select(provision_counts).order_by(
            provision_counts.c.recipient,
            provision_counts.c.affair_id,
            provision_counts.c.year_month,
            provision_counts.c.method,
        )
    )
    return [
        (r.recipient, r.affair_id, r.year_month, r.method, int(r._mapping["count"])) for r in rows
    ]


def match_basic_items(
    conn: Connection,
    *,
    name_key: str,
    birth_date: date,
    sex: str | None,
    address_key: str | None,
    limit: int = 2,
) -> list[Any]:
    """Current national records matching the keys (at most ``limit``: callers only need to
    know whether there are none, one or several). Superseded codes are left out."""
    t = national_identity_records
    query = select(t).where(
        t.c.name_key == name_key, t.c.birth_date == birth_date, t.c.superseded_by.is_(None)
    )
    if sex is not None:
        query = query.where(t.c.sex == sex)
    if address_key is not None:
        query = query.where(t.c.address_key == address_key)
    return list(conn.execute(query.limit(limit)))
