"""random draw order for code pools

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resident_code_pool", schema=None) as batch_op:
        batch_op.add_column(sa.Column("draw_order", sa.BigInteger(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_resident_code_pool_lg_code_state"))
        batch_op.create_index(
            "ix_resident_code_pool_lg_code_state", ["lg_code", "state", "draw_order"], unique=False
        )

    # codes already in a pool get their random place in the draw order
    random_rank = (
        "abs(random())"
        if op.get_bind().dialect.name == "sqlite"
        else "floor(random() * 4611686018427387904)::bigint"
    )
    op.execute(
        f"UPDATE resident_code_pool SET draw_order = {random_rank} WHERE state = 'available'"
    )


def downgrade() -> None:
    with op.batch_alter_table("resident_code_pool", schema=None) as batch_op:
        batch_op.drop_index("ix_resident_code_pool_lg_code_state")
        batch_op.create_index(
            batch_op.f("ix_resident_code_pool_lg_code_state"), ["lg_code", "state"], unique=False
        )
        batch_op.drop_column("draw_order")
