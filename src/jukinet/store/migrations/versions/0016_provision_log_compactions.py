"""provision log compactions: a closed month's segments rewritten as code-range files

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00.000000

A compaction names the segments it replaced and the segments it produced (with the code range
of each), in one row and one audit entry. Append-only on PostgreSQL like the log's other tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jukinet.store.tables

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UTC_TIME = jukinet.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provision_log_compactions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("year_month", sa.String(length=7), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("replaced", sa.Text(), nullable=False),
        sa.Column("produced", sa.Text(), nullable=False),
        sa.Column("compacted_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_provision_log_compactions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER provision_log_compactions_append_only BEFORE UPDATE OR DELETE ON "
            "provision_log_compactions FOR EACH ROW EXECUTE FUNCTION jukinet_audit_append_only()"
        )


def downgrade() -> None:
    op.drop_table("provision_log_compactions")
