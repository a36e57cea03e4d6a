"""Identity updates at the national center: every person with a resident code, with history;
a change that revokes a resident's public-key certificate adds a notice to the revocation feed
in the same transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from jukinet.net.bodies import origin_of, parse_identity_update
from jukinet.net.envelope import OpenedMessage
from jukinet.services.national.revocation_feed import record_notices
from jukinet.store.identity_records import NATIONAL, apply_versions
from jukinet.store.pools import register_codes


def on_identity_update(conn: Connection, opened: OpenedMessage, now: datetime) -> None:
    """Record the version; every code seen is registered so no pool ever contains it."""
    env = opened.envelope
    updates = parse_identity_update(env.body)
    source, source_seq = origin_of(env.body)
    register_codes(conn, {record.resident_code: record.lg_code for record, _ in updates}, now)
    versions = [record for record, _ in updates]
    record_notices(conn, versions, source=source, source_seq=source_seq, at=now)
    apply_versions(
        conn, NATIONAL, updates, tenant=None, source=source, source_seq=source_seq, at=now
    )
