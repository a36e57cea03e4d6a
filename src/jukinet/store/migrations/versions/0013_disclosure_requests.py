"""disclosure requests and correction requests

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:00:00.000000

Requests for disclosure of one's identity record (本人確認情報の開示請求) and the correction
requests that follow a disclosure, per office (``national`` or a prefecture's code). On
PostgreSQL both tables get row-level security on ``office`` against ``app.office`` (FORCE, the
policy of migration 0006): an office's operators see and write only their office's requests.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jukinet.store.tables
from jukinet.store.migrations.tenant_policies import drop_tenant_isolation, isolate_tenants

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TENANT_TABLES = ("disclosure_requests", "disclosure_corrections")


def upgrade() -> None:
    op.create_table(
        "disclosure_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("office", sa.String(length=8), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("request_method", sa.String(length=5), nullable=False),
        sa.Column("delivery_method", sa.String(length=5), nullable=False),
        sa.Column("requester_kind", sa.String(length=24), nullable=False),
        sa.Column("requester_name", sa.Text(), nullable=False),
        sa.Column("requester_address", sa.Text(), nullable=True),
        sa.Column("representation", sa.String(length=12), nullable=True),
        sa.Column("subject_resident_code", sa.String(length=11), nullable=False),
        sa.Column("subject_name", sa.Text(), nullable=False),
        sa.Column("subject_birth_date", sa.Date(), nullable=False),
        sa.Column("resident_code", sa.String(length=11), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=True),
        sa.Column("refusal_reasons", sa.Text(), nullable=True),
        sa.Column("refusal_note", sa.Text(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("delivered_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", jukinet.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_requests")),
    )
    op.create_index(
        "ix_disclosure_requests_office_state",
        "disclosure_requests",
        ["office", "state", "due_on"],
        unique=False,
    )
    op.create_index(
        "ix_disclosure_requests_office_received_on",
        "disclosure_requests",
        ["office", "received_on"],
        unique=False,
    )
    op.create_table(
        "disclosure_corrections",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("office", sa.String(length=8), nullable=False),
        sa.Column("request_id", BigId, nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("item", sa.String(length=16), nullable=False),
        sa.Column("claimed", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("recorded_at", jukinet.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disclosure_requests.id"],
            name=op.f("fk_disclosure_corrections_request_id_disclosure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_corrections")),
    )
    op.create_index(
        "ix_disclosure_corrections_office_request_id",
        "disclosure_corrections",
        ["office", "request_id"],
        unique=False,
    )
    isolate_tenants(TENANT_TABLES, "office", "app.office")


def downgrade() -> None:
    drop_tenant_isolation(TENANT_TABLES)
    op.drop_index(
        "ix_disclosure_corrections_office_request_id", table_name="disclosure_corrections"
    )
    op.drop_table("disclosure_corrections")
    op.drop_index("ix_disclosure_requests_office_received_on", table_name="disclosure_requests")
    op.drop_index("ix_disclosure_requests_office_state", table_name="disclosure_requests")
    op.drop_table("disclosure_requests")
