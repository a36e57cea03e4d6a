"""imported provision counts (carried over from a previous system)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_provision_counts",
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("affair_id", sa.String(length=40), nullable=False),
        sa.Column("year_month", sa.String(length=7), nullable=False),
        sa.Column("method", sa.String(length=12), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "recipient",
            "affair_id",
            "year_month",
            "method",
            name=op.f("pk_imported_provision_counts"),
        ),
    )


def downgrade() -> None:
    op.drop_table("imported_provision_counts")
