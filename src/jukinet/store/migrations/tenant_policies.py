"""Row-level security for tenant tables, as the migrations that create them switch it on.

One policy per table, ``tenant_isolation``: a row is visible and writable only when its tenant
column equals the session setting (``SET LOCAL`` by ``store.tenancy``); with no setting, nothing
is. FORCE makes it hold for the table's owner too. PostgreSQL only: SQLite is one tenant's file.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def isolate_tenants(tables: Iterable[str], column: str, setting: str) -> None:
    """Enable and force the ``tenant_isolation`` policy on ``tables``."""
    if not _postgresql():
        return
    current = f"NULLIF(current_setting('{setting}', true), '')"
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({column} = {current}) WITH CHECK ({column} = {current})"
        )


def drop_tenant_isolation(tables: Iterable[str]) -> None:
    """Drop the policy again (the tables themselves are dropped by the downgrade)."""
    if not _postgresql():
        return
    for table in tables:
        op.execute(f"DROP POLICY tenant_isolation ON {table}")
