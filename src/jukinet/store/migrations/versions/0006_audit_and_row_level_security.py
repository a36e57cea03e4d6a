"""audit log and row-level security

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

The audit tables on every database. On PostgreSQL also: a trigger refusing UPDATE and DELETE
on the audit log and its checkpoints, and row-level security on the tenant tables (policies
compare the tenant column with ``NULLIF(current_setting('app.…', true), '')``; FORCE so the
owner is checked too; roles with BYPASSRLS — the node's maintenance role — see every tenant:
see ``jukinet.store.tenancy``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jukinet.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TENANT_TABLES = {
    "residents": "app.lg_code",
    "resident_history": "app.lg_code",
    "prefectural_identity_records": "app.pref_code",
    "prefectural_identity_history": "app.pref_code",
}
TENANT_COLUMN = {"app.lg_code": "lg_code", "app.pref_code": "pref_code"}
APPEND_ONLY = ("audit_log", "audit_checkpoints")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", jukinet.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_digest", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("at", jukinet.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("node_id", sa.String(length=40), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("cert_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )
    if not _postgresql():
        return
    op.execute(
        """
        CREATE FUNCTION jukinet_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit: % on % refused (append-only)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION jukinet_audit_append_only()"
        )
    for table, setting in TENANT_TABLES.items():
        column = TENANT_COLUMN[setting]
        tenant = f"NULLIF(current_setting('{setting}', true), '')"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({column} = {tenant}) WITH CHECK ({column} = {tenant})"
        )


def downgrade() -> None:
    if _postgresql():
        for table in TENANT_TABLES:
            op.execute(f"DROP POLICY tenant_isolation ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION jukinet_audit_append_only()")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_head")
    op.drop_table("audit_log")
