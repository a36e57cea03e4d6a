"""Every table of every node, in one metadata (each node's database uses the tables of its role).

Municipal tables carry ``lg_code`` so that one database can hold several municipalities, each
isolated by that column (a shared municipal cloud).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times are stored in UTC, timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Primary keys are BIGINT on PostgreSQL and INTEGER (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _register_entry_columns() -> list[Column[object]]:
    """The items of a register entry (住民票), shared by the current state and its history."""
    return [
        Column("lg_code", String(6), nullable=False),
        # NULL only for a foreign resident registered before the applicable date (2013-07-08)
        # who has not been given a code yet
        Column("resident_code", String(11)),
        Column("status", String(8), nullable=False),  # active | removed
        Column("name", Text, nullable=False),  # verbatim legal glyphs
        Column("name_kana", Text),
        Column("alias", Text),  # 通称 (foreign residents)
        Column("former_surname", Text),  # 旧氏
        Column("name_key", Text, nullable=False),  # search key, derived
        Column("birth_date", Date, nullable=False),
        Column("sex", String(6), nullable=False),
        Column("address", Text, nullable=False),  # verbatim
        Column("address_key", Text, nullable=False),
        Column("household_id", String(16), nullable=False),  # 世帯番号
        Column("relationship", Text, nullable=False),  # 続柄 (世帯主, 妻, 子 ...)
        Column("registered_domicile", Text),  # 本籍 (nationals; never leaves the municipality)
        Column("kind", String(8), nullable=False),  # national | foreign
        Column("nationality", Text),  # 国籍・地域
        Column("foreign_category", String(32)),  # 中長期在留者 ...
        Column("residence_status", Text),  # 在留資格
        Column("period_of_stay", Text),  # 在留期間
        Column("stay_expiry", Date),  # 在留期間の満了の日
        Column("residence_card_number", String(12)),  # 在留カード等の番号
        Column("foreign_resident_since", Date),  # 外国人住民となった年月日
        Column("entry_date", Date, nullable=False),  # 住民となった年月日
        Column("previous_address", Text),  # 前住所 (move-in)
        Column("previous_lg_code", String(6)),
        Column("destination_address", Text),  # 転出先 (move-out)
        Column("destination_lg_code", String(6)),
        Column("change_reason", String(40), nullable=False),
        Column("change_date", Date, nullable=False),
        Column("version", Integer, nullable=False),
    ]


residents = Table(
    "residents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    *_register_entry_columns(),
    Column("move_out_confirmed_on", Date),  # the move-in notice from the new municipality came
    Index(
        "uq_residents_active_resident_code",
        "resident_code",
        unique=True,
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
    Index("ix_residents_lg_code_name_key", "lg_code", "name_key", "birth_date"),
    Index("ix_residents_lg_code_household_id", "lg_code", "household_id"),
)
"""Current state of every register entry, removed entries (除票) included."""

resident_history = Table(
    "resident_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("resident_id", BigId, ForeignKey("residents.id"), nullable=False),
    *_register_entry_columns(),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("uq_resident_history_resident_id_version", "resident_id", "version", unique=True),
    Index("ix_resident_history_resident_code", "resident_code"),
)
"""Append-only: one complete row per version of an entry, written with the change."""

resident_code_pool = Table(
    "resident_code_pool",
    metadata,
    Column("resident_code", String(11), primary_key=True),
    Column("lg_code", String(6), nullable=False),
    Column("state", String(9), nullable=False),  # available | issued | retired
    Column("state_changed_at", UTCDateTime(), nullable=False),
    Column("draw_order", BigInteger),  # random rank: the next code drawn is the lowest
    Index("ix_resident_code_pool_lg_code_state", "lg_code", "state", "draw_order"),
)
"""Codes the national center designated to a municipality. Issued and retired codes are kept
forever so that a code is never issued twice. Codes are drawn in a random order fixed when they
arrive (``draw_order``), not in code order: siblings registered together must not get codes
that sort next to each other."""

households = Table(
    "households",
    metadata,
    Column("lg_code", String(6), primary_key=True),
    Column("next_household_number", BigInteger, nullable=False),
)
"""Per-municipality counter for household numbers (世帯番号)."""


# --- the network spine (every node) ---------------------------------------------------------

outbox_channels = Table(
    "outbox_channels",
    metadata,
    Column("sender", String(40), primary_key=True),
    Column("receiver", String(40), primary_key=True),
    Column("next_seq", BigInteger, nullable=False),
)
"""Per (sender, receiver) sequence counter; its row lock serialises concurrent enqueues."""

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("sender", String(40), nullable=False),
    Column("receiver", String(40), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("type", String(40), nullable=False),
    Column("wire", LargeBinary, nullable=False),  # the exact signed bytes sent, every retry
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("outcome", String(16)),  # applied | duplicate | rejected (quarantined by receiver)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime()),
    Column("last_error", Text),
    Index("uq_outbox_sender_receiver_seq", "sender", "receiver", "seq", unique=True),
    Index(
        "ix_outbox_pending",
        "receiver",
        "sender",
        "seq",
        sqlite_where=text("delivered_at IS NULL"),
        postgresql_where=text("delivered_at IS NULL"),
    ),
)
"""Messages written in the same transaction as the change they announce."""

inbox_channels = Table(
    "inbox_channels",
    metadata,
    Column("receiver", String(40), primary_key=True),
    Column("sender", String(40), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_message_id", String(36), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
"""The last sequence number applied per channel: duplicates are acknowledged and ignored."""

message_rejections = Table(
    "message_rejections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("receiver", String(40)),
    Column("sender", String(40)),  # as claimed; unverified when the signature failed
    Column("message_id", String(36)),
    Column("type", String(40)),
    Column("seq", BigInteger),
    Column("reason", Text, nullable=False),
    Column("quarantined", Boolean, nullable=False),  # signed and in sequence, content refused
    Column("wire", LargeBinary),
    Index("ix_message_rejections_received_at", "received_at"),
)
"""Every refused message with its reason; quarantined ones keep their bytes for repair."""


# --- identity records at the upper tiers ----------------------------------------------------


def _identity_record_columns() -> list[Column[object]]:
    """A complete identity-record version as an upper tier holds it (DOMAIN.md §2)."""
    return [
        Column("lg_code", String(6), nullable=False),
        Column("resident_code", String(11), nullable=False),
        Column("name", Text, nullable=False),
        Column("name_kana", Text),
        Column("alias", Text),
        Column("former_surname", Text),
        Column("name_key", Text, nullable=False),
        Column("birth_date", Date, nullable=False),
        Column("sex", String(6), nullable=False),
        Column("address", Text, nullable=False),
        Column("address_key", Text, nullable=False),
        Column("change_reason", String(40), nullable=False),
        Column("change_date", Date, nullable=False),
        Column("removed", Boolean, nullable=False),
        Column("previous_resident_code", String(11)),  # set on a resident-code change
        Column("source", String(40), nullable=False),  # the municipal node it came from
        Column("source_seq", BigInteger, nullable=False),
    ]


prefectural_identity_records = Table(
    "prefectural_identity_records",
    metadata,
    Column("pref_code", String(2), nullable=False),
    *_identity_record_columns(),
    PrimaryKeyConstraint("pref_code", "resident_code"),
    Column("superseded_by", String(11)),  # the new code after a resident-code change
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_prefectural_identity_records_lg_code", "pref_code", "lg_code"),
)
"""Current identity record per person, per prefecture tenant of the consolidated center."""

prefectural_identity_history = Table(
    "prefectural_identity_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("pref_code", String(2), nullable=False),
    *_identity_record_columns(),
    Column("received_at", UTCDateTime(), nullable=False),
    Index("ix_prefectural_identity_history_code", "pref_code", "resident_code"),
)

national_identity_records = Table(
    "national_identity_records",
    metadata,
    *_identity_record_columns(),
    PrimaryKeyConstraint("resident_code"),
    Column("superseded_by", String(11)),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_national_identity_records_lg_code", "lg_code"),
    Index("ix_national_identity_records_name_key", "name_key", "birth_date"),
    Index("ix_national_identity_records_updated_at", "updated_at"),
)
"""Every person with a resident code: the current identity record."""

national_identity_history = Table(
    "national_identity_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    *_identity_record_columns(),
    Column("received_at", UTCDateTime(), nullable=False),
    Index("ix_national_identity_history_code", "resident_code"),
)

national_code_designations = Table(
    "national_code_designations",
    metadata,
    Column("resident_code", String(11), primary_key=True),
    Column("lg_code", String(6), nullable=False),
    Column("designated_at", UTCDateTime(), nullable=False),
    Index("ix_national_code_designations_lg_code", "lg_code"),
)
"""Every code ever designated to a municipality: pools never overlap, codes never repeat."""

pool_requests = Table(
    "pool_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lg_code", String(6), nullable=False),
    Column("count", Integer, nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("fulfilled_at", UTCDateTime()),
    Index("ix_pool_requests_lg_code", "lg_code", "fulfilled_at"),
)
"""A municipality's outstanding requests for more codes (one at a time)."""

node_status = Table(
    "node_status",
    metadata,
    Column("node_id", String(40), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("backlog", Integer, nullable=False),
    Column("oldest_pending_at", UTCDateTime()),
    Column("last_error", Text),
)
"""What the national center knows of every node from its heartbeats (24-hour monitoring)."""
