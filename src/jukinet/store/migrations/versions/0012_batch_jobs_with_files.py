"""batch provision jobs run by workers, with their files outside the database

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 11:00:00.000000

Jobs gain their request and result files (paths relative to the national center's file
directory), the result's digest, a phase and a worker lease; the result text leaves the row.
Jobs recorded before this revision keep their counts but not their result text (this slice was
never in production). ``national_identity_records.updated_at`` gains an index: a batch job reads
the registry snapshot plus the records updated since.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("provision_jobs") as batch:
        batch.drop_column("result_csv")
        batch.add_column(
            sa.Column("request_format", sa.String(length=8), nullable=False, server_default="csv")
        )
        batch.add_column(sa.Column("request_path", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("result_path", sa.Text(), nullable=True))
        batch.add_column(sa.Column("result_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("phase", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("provision_jobs") as batch:
        batch.alter_column("request_format", server_default=None)
        batch.alter_column("request_path", server_default=None)
        batch.create_index("ix_provision_jobs_status", ["status", "submitted_at"])
    op.create_index(
        "ix_national_identity_records_updated_at", "national_identity_records", ["updated_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_national_identity_records_updated_at", "national_identity_records")
    with op.batch_alter_table("provision_jobs") as batch:
        batch.drop_index("ix_provision_jobs_status")
        for name in (
            "claimed_at",
            "phase",
            "result_sha256",
            "result_path",
            "request_path",
            "request_format",
        ):
            batch.drop_column(name)
        batch.add_column(sa.Column("result_csv", sa.Text(), nullable=True))
