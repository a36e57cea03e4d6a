"""a disclosure request's decision period extended, with the written notice's reason and day

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 15:00:00.000000

An extension (Act 30-38 proviso) moves ``due_on`` to the new deadline and records why and on
which day the requester was notified; the original deadline stays derivable from the day the
request was received.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("disclosure_requests") as batch:
        batch.add_column(sa.Column("extension_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("extension_notified_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("disclosure_requests") as batch:
        batch.drop_column("extension_notified_on")
        batch.drop_column("extension_reason")
