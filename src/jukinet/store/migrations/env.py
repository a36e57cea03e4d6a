"""Alembic environment: always run with a connection handed in by ``jukinet.store.migrate``."""

from __future__ import annotations

from alembic import context

from jukinet.store.migrate import include_name
from jukinet.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
