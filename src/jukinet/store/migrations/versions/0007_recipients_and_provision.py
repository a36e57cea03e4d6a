"""recipients, their affairs, the provision log and monthly provision counters

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

On PostgreSQL the provision log is append-only: the audit log's trigger function (0006)
refuses UPDATE and DELETE on it too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jukinet.store.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=True),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("created_at", jukinet.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_recipients")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_recipients_api_key_hash")),
    )
    op.create_table(
        "recipient_affairs",
        sa.Column("affair_id", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("law", sa.Text(), nullable=False),
        sa.Column("affair", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("allowed_fields", sa.Text(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient"],
            ["recipients.name"],
            name=op.f("fk_recipient_affairs_recipient_recipients"),
        ),
        sa.PrimaryKeyConstraint("affair_id", name=op.f("pk_recipient_affairs")),
    )
    op.create_index(
        "ix_recipient_affairs_recipient", "recipient_affairs", ["recipient"], unique=False
    )
    op.create_table(
        "provision_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("provided_at", jukinet.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("affair_id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=12), nullable=False),
        sa.Column("resident_code", sa.String(length=11), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("case_reference", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_log")),
    )
    op.create_index(
        "ix_provision_log_resident_code",
        "provision_log",
        ["resident_code", "provided_at"],
        unique=False,
    )
    op.create_index("ix_provision_log_provided_at", "provision_log", ["provided_at"], unique=False)
    op.create_table(
        "provision_counts",
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("affair_id", sa.String(length=40), nullable=False),
        sa.Column("year_month", sa.String(length=7), nullable=False),
        sa.Column("method", sa.String(length=12), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "recipient", "affair_id", "year_month", "method", name=op.f("pk_provision_counts")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER provision_log_append_only BEFORE UPDATE OR DELETE ON provision_log "
            "FOR EACH ROW EXECUTE FUNCTION jukinet_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER provision_log_append_only ON provision_log")
    op.drop_table("provision_counts")
    op.drop_index("ix_provision_log_provided_at", table_name="provision_log")
    op.drop_index("ix_provision_log_resident_code", table_name="provision_log")
    op.drop_table("provision_log")
    op.drop_index("ix_recipient_affairs_recipient", table_name="recipient_affairs")
    op.drop_table("recipient_affairs")
    op.drop_table("recipients")
