"""a prefecture's disclosure request asks the national center for the provision history

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 14:00:00.000000

A prefecture's disclosure request records its signed question to the national center (a
reference and the outbox message) and, when it arrives, the answer. The columns are on
``disclosure_requests``, so the office's row-level security on PostgreSQL covers them too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jukinet.store.tables

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UTC_TIME = jukinet.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("disclosure_requests") as batch:
        batch.add_column(sa.Column("provisions_reference", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("provisions_message_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("provisions_answer", sa.Text(), nullable=True))
        batch.add_column(sa.Column("provisions_answered_at", UTC_TIME, nullable=True))
        batch.create_index(
            "ix_disclosure_requests_provisions_reference", ["provisions_reference"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("disclosure_requests") as batch:
        batch.drop_index("ix_disclosure_requests_provisions_reference")
        for name in (
            "provisions_answered_at",
            "provisions_answer",
            "provisions_message_id",
            "provisions_reference",
        ):
            batch.drop_column(name)
