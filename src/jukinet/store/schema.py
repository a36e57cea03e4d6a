"""Every table module of the project, imported so that ``metadata`` knows all tables.

Table modules declare their tables on ``jukinet.store.tables.metadata``; migrations and tests
import this module (not the table modules one by one) to see the whole schema.
"""

from jukinet.store import (
    audit,  # noqa: F401
    cards,  # noqa: F401
    certificates,  # noqa: F401
    disclosure,  # noqa: F401
    documents,  # noqa: F401
    operators,  # noqa: F401
    provision,  # noqa: F401
    provision_jobs,  # noqa: F401
    provision_log,  # noqa: F401
    provision_stats,  # noqa: F401
    recipient_nonces,  # noqa: F401
    revocation_feed,  # noqa: F401
    tables,
)
from jukinet.store.tables import metadata

__all__ = ["metadata", "tables"]
