"""nonces of signed recipient requests

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipient_request_nonces",
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certificate", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("recipient", "nonce", name=op.f("pk_recipient_request_nonces")),
    )
    op.create_index(
        op.f("ix_recipient_request_nonces_created_at"),
        "recipient_request_nonces",
        ["created_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_recipient_request_nonces_created_at"), table_name="recipient_request_nonces"
    )
    op.drop_table("recipient_request_nonces")
