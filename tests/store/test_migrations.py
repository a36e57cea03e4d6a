"""Migrations: one head, and the migrated schema equals the tables the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from jukinet.store.migrate import heads, include_name, upgrade
from jukinet.store.schema import metadata


def test_single_head() -> None:
    assert len(heads()) == 1


def test_migrated_schema_matches_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert len(heads()) == 1
