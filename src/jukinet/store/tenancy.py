"""Which tenant a transaction acts for, told to PostgreSQL's row-level security.

Tenant tables (migration 0006): ``residents`` and ``resident_history`` belong to a municipality
(``app.lg_code``), ``prefectural_identity_records`` and ``prefectural_identity_history`` to a
prefecture (``app.pref_code``); ``disclosure_requests`` and ``disclosure_corrections``
(migration 0013) to a disclosure office (``app.office``: ``national`` or a prefecture's
code); ``wide_area_certificates``, ``certificate_items_answers`` and ``certificate_fees``
(migration 0015) to a municipality (``app.lg_code``). Their policies compare the row's tenant
column with ``NULLIF(current_setting('app.…', true), '')``: with no tenant set a query sees no
row and may write none, instead of failing. ``FORCE ROW LEVEL SECURITY`` makes the table owner
subject to them as well.

The service layer sets the tenant with :func:`tenant` inside every transaction that acts for
one municipality or prefecture (``set_config(…, is_local => true)``, i.e. ``SET LOCAL``: it ends
with the transaction and never leaks to the next user of a pooled connection). On SQLite it
does nothing: there the data functions' own ``lg_code``/``pref_code`` filters are the
isolation.

Work that legitimately spans tenants (migrations, the bulk population loader, the consistency
check, resends, node monitoring) runs as a database role with ``BYPASSRLS``: the node's
maintenance role, in tests the superuser. We chose a role attribute over a setting such as
``app.all_tenants = 'on'`` because any session can set a custom setting — it would be a hole
every tenant role could open for itself — while only a superuser can grant ``BYPASSRLS``; and
because ``COPY FROM``, which the population loader depends on for speed, is refused outright on
a table whose policies apply to the role, whatever they say. Roles acting for one tenant
(operator-facing services, reporting, direct SQL) have no ``BYPASSRLS``: RLS confines them even
where a code path forgets its filter (see ``tests/store/test_row_level_security.py``).

The setting names the tenant; it does not authenticate it. A session that can run arbitrary
SQL can set another tenant, so RLS here guards against the application's own mistakes;
authorising which tenant an operator may act for is the service layer's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

LG_CODE = "app.lg_code"
"""The municipality a transaction acts for (``residents``, ``resident_history``)."""

PREF_CODE = "app.pref_code"
"""The prefecture a transaction acts for (``prefectural_identity_*``)."""

OFFICE = "app.office"
"""The disclosure office a transaction acts for (``disclosure_*``, migration 0013):
``national`` or a prefecture's code."""

_SWAP = text("SELECT current_setting(:name, true), set_config(:name, :value, true)")
_SET = text("SELECT set_config(:name, :value, true)")


@contextmanager
def tenant(
    conn: Connection,
    *,
    lg_code: str | None = None,
    pref_code: str | None = None,
    office: str | None = None,
) -> Iterator[None]:
    """Act for this municipality and/or prefecture until the block ends, inside the open
    transaction; the previous tenant (if any) is restored after a block that succeeded. A
    block that raised leaves the setting to the rollback of its transaction or savepoint."""
    if conn.dialect.name != "postgresql":
        yield
        return
    settings = ((LG_CODE, lg_code), (PREF_CODE, pref_code), (OFFICE, office))
    wanted = {name: value for name, value in settings if value}
    previous: dict[str, str] = {}
    for name, value in wanted.items():
        before = conn.execute(_SWAP, {"name": name, "value": value}).scalar()
        previous[name] = before or ""
    yield
    for name, value in previous.items():
        if value != wanted[name]:
            conn.execute(_SET, {"name": name, "value": value})


def current_tenant(conn: Connection) -> tuple[str | None, str | None]:
    """The (lg_code, pref_code) this transaction acts for on PostgreSQL; (None, None) else."""
    if conn.dialect.name != "postgresql":
        return None, None
    row = conn.execute(
        text("SELECT current_setting(:lg, true), current_setting(:pref, true)"),
        {"lg": LG_CODE, "pref": PREF_CODE},
    ).one()
    return row[0] or None, row[1] or None


def bypasses_row_security(conn: Connection) -> bool:
    """Whether this session's role sees every tenant (superuser or ``BYPASSRLS``): what
    cross-tenant work needs. Always true on SQLite, which has no row-level security."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(
        conn.execute(
            text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).scalar_one()
    )
