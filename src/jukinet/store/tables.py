"""Every table of every node, in one metadata (each node's database uses the tables of its role).

Municipal tables carry ``lg_code`` so that one database can hold several municipalities, each
isolated by that column (a shared municipal cloud).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Primary keys are BIGINT on PostgreSQL and INTEGER (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _register_entry_columns() -> list[Column[object]]:
    """The items of a register entry (住民票), shared by the current state and its history."""
    return [
        Column("lg_code", String(6), nullable=False),
        Column("resident_code", String(11), nullable=False),
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
    Column("recorded_at", DateTime(timezone=True), nullable=False),
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
    Column("state_changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_resident_code_pool_lg_code_state", "lg_code", "state"),
)
"""Codes the national center designated to a municipality. Issued and retired codes are kept
forever so that a code is never issued twice."""

households = Table(
    "households",
    metadata,
    Column("lg_code", String(6), primary_key=True),
    Column("next_household_number", BigInteger, nullable=False),
)
"""Per-municipality counter for household numbers (世帯番号)."""
