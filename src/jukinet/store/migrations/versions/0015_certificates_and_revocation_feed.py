"""wide-area certificates, foreign residents without a code, the revocation feed

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 14:00:00.000000

- ``residents.resident_code`` and ``resident_history.resident_code`` become nullable: a
  foreign resident registered before the applicable date (2013-07-08) has no code until
  ``jukinet foreign-residents assign-codes`` gives one. On SQLite the NOT NULL constraint is
  dropped by rewriting the tables' definitions in ``sqlite_schema``, the procedure SQLite
  documents for removing NOT NULL constraints (https://sqlite.org/lang_altertable.html,
  "Making Other Kinds Of Table Schema Changes"): no row moves. A rebuild (batch mode) would
  copy every entry and its history, and dropping ``residents`` while ``resident_history``
  refers to it fails the foreign-key check inside the migration's transaction.
- Municipal nodes: ``wide_area_certificates`` (requests taken at the issuing municipality),
  ``certificate_items_answers`` (what the home municipality answered) and
  ``certificate_fees``; on PostgreSQL each gets row-level security on ``lg_code`` against
  ``app.lg_code`` (FORCE, the policy of migration 0006).
- National center: ``revocation_notices``, the certificate revocation feed.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

import jukinet.store.tables
from jukinet.store.migrations.tenant_policies import drop_tenant_isolation, isolate_tenants

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = jukinet.store.tables.UTCDateTime(timezone=True)
TENANT_TABLES = ("wide_area_certificates", "certificate_items_answers", "certificate_fees")
CODE_COLUMN = re.compile(r"\bresident_code VARCHAR\(11\)( NOT NULL)?(?=,)")
CODE_TABLES = ("residents", "resident_history")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _sqlite_resident_code_nullable(nullable: bool) -> None:
    conn = op.get_bind()
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    for table in CODE_TABLES:
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", (table,)
        ).scalar_one()
        column = "resident_code VARCHAR(11)" + ("" if nullable else " NOT NULL")
        changed, count = CODE_COLUMN.subn(column, sql, count=1)
        if count != 1:
            raise RuntimeError(f"{table}: resident_code column not found in {sql!r}")
        conn.exec_driver_sql(
            "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?", (changed, table)
        )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def _resident_code_nullable(nullable: bool) -> None:
    for table in () if nullable else CODE_TABLES:
        missing = op.get_bind().execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE resident_code IS NULL")
        )
        if missing.scalar_one():
            raise RuntimeError(
                f"{table} has versions without a resident code (foreign residents registered "
                "before the applicable date): this revision cannot be downgraded"
            )
    if _sqlite():
        _sqlite_resident_code_nullable(nullable)
        return
    for table in CODE_TABLES:
        op.alter_column(
            table, "resident_code", existing_type=sa.String(length=11), nullable=nullable
        )


def upgrade() -> None:
    _resident_code_nullable(True)
    op.create_table(
        "wide_area_certificates",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("home_lg_code", sa.String(length=6), nullable=False),
        sa.Column("requester_code", sa.String(length=11), nullable=False),
        sa.Column("requester_name", sa.Text(), nullable=False),
        sa.Column("requester_birth_date", sa.Date(), nullable=False),
        sa.Column("subject_codes", sa.Text(), nullable=False),
        sa.Column("include_household", sa.Boolean(), nullable=False),
        sa.Column("include_resident_code", sa.Boolean(), nullable=False),
        sa.Column("identity_document", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", UTC, nullable=False),
        sa.Column("request_message_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("refusal_rule", sa.String(length=40), nullable=True),
        sa.Column("refusal_field", sa.Text(), nullable=True),
        sa.Column("refusal_message", sa.Text(), nullable=True),
        sa.Column("items", sa.Text(), nullable=True),
        sa.Column("fee_yen", sa.Integer(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wide_area_certificates")),
        sa.UniqueConstraint("request_id", name=op.f("uq_wide_area_certificates_request_id")),
    )
    op.create_index(
        "ix_wide_area_certificates_lg_code_status",
        "wide_area_certificates",
        ["lg_code", "status", "requested_at"],
    )
    op.create_table(
        "certificate_items_answers",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("issuing_lg_code", sa.String(length=6), nullable=False),
        sa.Column("requester_code", sa.String(length=11), nullable=False),
        sa.Column("subject_codes", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("refusal_rule", sa.String(length=40), nullable=True),
        sa.Column("answered_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_items_answers")),
    )
    op.create_index(
        "uq_certificate_items_answers_request",
        "certificate_items_answers",
        ["lg_code", "request_id"],
        unique=True,
    )
    op.create_table(
        "certificate_fees",
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("fee_yen", sa.Integer(), nullable=False),
        sa.Column("set_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("lg_code", name=op.f("pk_certificate_fees")),
    )
    op.create_table(
        "revocation_notices",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("resident_code", sa.String(length=11), nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("causes", sa.String(length=60), nullable=False),
        sa.Column("change_reason", sa.String(length=40), nullable=False),
        sa.Column("change_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("source_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_notices")),
    )
    op.create_index(
        "uq_revocation_notices_change",
        "revocation_notices",
        ["resident_code", "change_reason", "change_date"],
        unique=True,
    )
    isolate_tenants(TENANT_TABLES, "lg_code", "app.lg_code")


def downgrade() -> None:
    """Entries still without a code must be given one (or removed) before downgrading."""
    drop_tenant_isolation(TENANT_TABLES)
    op.drop_index("uq_revocation_notices_change", table_name="revocation_notices")
    op.drop_table("revocation_notices")
    op.drop_table("certificate_fees")
    op.drop_index("uq_certificate_items_answers_request", table_name="certificate_items_answers")
    op.drop_table("certificate_items_answers")
    op.drop_index("ix_wide_area_certificates_lg_code_status", table_name="wide_area_certificates")
    op.drop_table("wide_area_certificates")
    _resident_code_nullable(False)
