"""resident cards and card-based moves

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:00:00.000000

Resident cards held by a municipality (one valid card per person: a partial unique index),
their append-only events (refusals included), card-based move-outs with the people moving
under them (former municipality), and card-based move-in requests pending an answer (new
municipality). Every table carries ``lg_code``; on PostgreSQL each gets row-level security on
it against ``app.lg_code`` (FORCE, the policy of migration 0006), like ``residents``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jukinet.store.tables
from jukinet.store.migrations.tenant_policies import drop_tenant_isolation, isolate_tenants

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = jukinet.store.tables.UTCDateTime(timezone=True)
TENANT_TABLES = (
    "resident_cards",
    "resident_card_events",
    "card_move_outs",
    "card_move_out_people",
    "card_move_requests",
)
VALID = sa.text("status IN ('active', 'suspended')")


def upgrade() -> None:
    op.create_table(
        "resident_cards",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("resident_code", sa.String(length=11), nullable=False),
        sa.Column("card_type", sa.String(length=1), nullable=False),
        sa.Column("photo_ref", sa.Text(), nullable=True),
        sa.Column("issuer_lg_code", sa.String(length=6), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("void_reason", sa.String(length=24), nullable=True),
        sa.Column("status_changed_on", sa.Date(), nullable=True),
        sa.Column("pin_kdf", sa.String(length=40), nullable=False),
        sa.Column("pin_hash", sa.String(length=128), nullable=False),
        sa.Column("pin_failures", sa.Integer(), nullable=False),
        sa.Column("continued_from", sa.String(length=6), nullable=True),
        sa.Column("continued_on", sa.Date(), nullable=True),
        sa.Column("continued_to", sa.String(length=6), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_cards")),
    )
    op.create_index(
        "uq_resident_cards_lg_code_card_number",
        "resident_cards",
        ["lg_code", "card_number"],
        unique=True,
    )
    op.create_index(
        "uq_resident_cards_valid_holder",
        "resident_cards",
        ["lg_code", "resident_code"],
        unique=True,
        sqlite_where=VALID,
        postgresql_where=VALID,
    )
    op.create_table(
        "resident_card_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("card_number", sa.String(length=40), nullable=True),
        sa.Column("resident_code", sa.String(length=11), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_card_events")),
    )
    op.create_index(
        "ix_resident_card_events_lg_code_card_number",
        "resident_card_events",
        ["lg_code", "card_number"],
    )
    op.create_index(
        "ix_resident_card_events_lg_code_resident_code",
        "resident_card_events",
        ["lg_code", "resident_code"],
    )
    op.create_table(
        "card_move_outs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("holder_resident_code", sa.String(length=11), nullable=False),
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("destination_lg_code", sa.String(length=6), nullable=False),
        sa.Column("destination_address", sa.Text(), nullable=False),
        sa.Column("declared_move_date", sa.Date(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("filed_by", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("certificate_sent_at", UTC, nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_move_outs")),
    )
    op.create_index(
        "ix_card_move_outs_lg_code_card_number", "card_move_outs", ["lg_code", "card_number"]
    )
    op.create_table(
        "card_move_out_people",
        sa.Column("move_out_id", BigId, nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("resident_code", sa.String(length=11), nullable=False),
        sa.Column("holder", sa.Boolean(), nullable=False),
        sa.Column("certified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["move_out_id"],
            ["card_move_outs.id"],
            name=op.f("fk_card_move_out_people_move_out_id_card_move_outs"),
        ),
        sa.PrimaryKeyConstraint(
            "move_out_id", "resident_code", name=op.f("pk_card_move_out_people")
        ),
    )
    op.create_index(
        "ix_card_move_out_people_lg_code_resident_code",
        "card_move_out_people",
        ["lg_code", "resident_code"],
    )
    op.create_table(
        "card_move_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("former_lg_code", sa.String(length=6), nullable=False),
        sa.Column("card_number", sa.String(length=40), nullable=False),
        sa.Column("holder_resident_code", sa.String(length=40), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("new_address", sa.Text(), nullable=False),
        sa.Column("moved_on", sa.Date(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("field", sa.String(length=80), nullable=True),
        sa.Column("rule", sa.String(length=40), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("registered", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("requested_at", UTC, nullable=False),
        sa.Column("answered_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_move_requests")),
        sa.UniqueConstraint("request_id", name=op.f("uq_card_move_requests_request_id")),
    )
    op.create_index(
        "ix_card_move_requests_lg_code_state", "card_move_requests", ["lg_code", "state"]
    )
    op.create_index(
        "ix_card_move_requests_lg_code_card_number",
        "card_move_requests",
        ["lg_code", "card_number"],
    )
    isolate_tenants(TENANT_TABLES, "lg_code", "app.lg_code")


def downgrade() -> None:
    drop_tenant_isolation(TENANT_TABLES)
    op.drop_index("ix_card_move_requests_lg_code_card_number", table_name="card_move_requests")
    op.drop_index("ix_card_move_requests_lg_code_state", table_name="card_move_requests")
    op.drop_table("card_move_requests")
    op.drop_index(
        "ix_card_move_out_people_lg_code_resident_code", table_name="card_move_out_people"
    )
    op.drop_table("card_move_out_people")
    op.drop_index("ix_card_move_outs_lg_code_card_number", table_name="card_move_outs")
    op.drop_table("card_move_outs")
    op.drop_index(
        "ix_resident_card_events_lg_code_resident_code", table_name="resident_card_events"
    )
    op.drop_index("ix_resident_card_events_lg_code_card_number", table_name="resident_card_events")
    op.drop_table("resident_card_events")
    op.drop_index("uq_resident_cards_valid_holder", table_name="resident_cards")
    op.drop_index("uq_resident_cards_lg_code_card_number", table_name="resident_cards")
    op.drop_table("resident_cards")
