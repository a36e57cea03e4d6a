"""provision log partitioned by month, its seals, its Parquet segments and its purges

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 10:00:00.000000

PostgreSQL: ``provision_log`` becomes a table range-partitioned by month of ``provided_at``
(Japan time), primary key ``(id, provided_at)``: the old table is renamed aside, the new one
created with a partition for every month that has rows (and this month and the next two),
the rows moved, the id sequence carried on, the old table dropped. The append-only trigger is
put on the partitioned table, which PostgreSQL clones onto every partition, present and
future. The ``provided_at`` index goes: a month is a partition now, and the per-person index
``(resident_code, provided_at)`` serves the look-ups.

SQLite: one table, rebuilt with ``AUTOINCREMENT`` so an id is never reused even after every
row was purged (a reused id would fall inside a sealed range).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

import jukinet.store.tables
from jukinet.store.provision_log import create_partitions, months_between, next_month

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = jukinet.store.tables.UTCDateTime(timezone=True)
APPEND_ONLY = ("provision_log_seals", "provision_log_segments", "provision_log_purges")

_COLUMNS = (
    "id, provided_at, recipient, affair_id, method, resident_code, request_id, job_id, "
    "case_reference"
)
_SQLITE_TABLE = """CREATE TABLE {name} (
    id INTEGER NOT NULL PRIMARY KEY {autoincrement},
    provided_at DATETIME NOT NULL,
    recipient TEXT NOT NULL,
    affair_id VARCHAR(40) NOT NULL,
    method VARCHAR(12) NOT NULL,
    resident_code VARCHAR(11) NOT NULL,
    request_id VARCHAR(64),
    job_id VARCHAR(64),
    case_reference TEXT NOT NULL
)"""


def _log_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("provided_at", UTC_TIME, nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("affair_id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=12), nullable=False),
        sa.Column("resident_code", sa.String(length=11), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("case_reference", sa.Text(), nullable=False),
    ]


def _append_only(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION jukinet_audit_append_only()"
    )


def _rename_aside(table: str, aside: str, indexes: list[str]) -> None:
    op.execute(f"ALTER TABLE {table} RENAME TO {aside}")
    op.execute(f"ALTER TABLE {aside} RENAME CONSTRAINT pk_{table} TO pk_{aside}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq RENAME TO {aside}_id_seq")
    for index in indexes:
        op.execute(f"ALTER INDEX {index} RENAME TO {index.replace(table, aside, 1)}")


def _carry_sequence(source: str) -> None:
    op.execute(
        f"SELECT setval('provision_log_id_seq', m) FROM (SELECT max(id) AS m FROM {source}) s "
        "WHERE m IS NOT NULL"
    )


def _partitioned_postgres() -> None:
    _rename_aside(
        "provision_log",
        "provision_log_old",
        ["ix_provision_log_resident_code", "ix_provision_log_provided_at"],
    )
    op.create_table(
        "provision_log",
        *_log_columns(),
        sa.PrimaryKeyConstraint("id", "provided_at", name=op.f("pk_provision_log")),
        postgresql_partition_by="RANGE (provided_at)",
    )
    op.create_index(
        "ix_provision_log_resident_code", "provision_log", ["resident_code", "provided_at"]
    )
    _append_only("provision_log")
    bind = op.get_bind()
    months = [
        str(m)
        for m in bind.execute(
            sa.text(
                "SELECT DISTINCT to_char(provided_at AT TIME ZONE INTERVAL '+09:00', 'YYYY-MM') "
                "FROM provision_log_old"
            )
        ).scalars()
    ]
    today = date.today()
    this_month = f"{today.year:04d}-{today.month:02d}"
    ahead = next_month(next_month(this_month))
    create_partitions(bind, [*months, *months_between(this_month, ahead)])
    op.execute(f"INSERT INTO provision_log ({_COLUMNS}) SELECT {_COLUMNS} FROM provision_log_old")
    _carry_sequence("provision_log_old")
    op.drop_table("provision_log_old")


def _autoincrement_sqlite(autoincrement: bool) -> None:
    op.execute(
        _SQLITE_TABLE.format(
            name="provision_log_new", autoincrement="AUTOINCREMENT" if autoincrement else ""
        )
    )
    op.execute(f"INSERT INTO provision_log_new ({_COLUMNS}) SELECT {_COLUMNS} FROM provision_log")
    op.drop_table("provision_log")  # and its indexes
    op.rename_table("provision_log_new", "provision_log")
    op.create_index(
        "ix_provision_log_resident_code", "provision_log", ["resident_code", "provided_at"]
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _partitioned_postgres()
    else:
        _autoincrement_sqlite(autoincrement=True)
    op.create_table(
        "provision_log_seals",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("months", sa.Text(), nullable=False),
        sa.Column("sealed_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_provision_log_seals")),
    )
    op.create_table(
        "provision_log_segments",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("year_month", sa.String(length=7), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_provision_log_segments")),
    )
    op.create_index(
        "ix_provision_log_segments_year_month", "provision_log_segments", ["year_month"]
    )
    op.create_table(
        "provision_log_purges",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("before_month", sa.String(length=7), nullable=False),
        sa.Column("purged_at", UTC_TIME, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_provision_log_purges")),
    )
    if postgres:
        for table in APPEND_ONLY:
            _append_only(table)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_table("provision_log_purges")
    op.drop_index("ix_provision_log_segments_year_month", table_name="provision_log_segments")
    op.drop_table("provision_log_segments")
    op.drop_table("provision_log_seals")
    if not postgres:
        _autoincrement_sqlite(autoincrement=False)
        op.create_index("ix_provision_log_provided_at", "provision_log", ["provided_at"])
        return
    _rename_aside("provision_log", "provision_log_parted", ["ix_provision_log_resident_code"])
    op.create_table(
        "provision_log",
        *_log_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_log")),
    )
    op.create_index(
        "ix_provision_log_resident_code", "provision_log", ["resident_code", "provided_at"]
    )
    op.create_index("ix_provision_log_provided_at", "provision_log", ["provided_at"])
    op.execute(
        f"INSERT INTO provision_log ({_COLUMNS}) SELECT {_COLUMNS} FROM provision_log_parted"
    )
    _carry_sequence("provision_log_parted")
    op.drop_table("provision_log_parted")
    _append_only("provision_log")
