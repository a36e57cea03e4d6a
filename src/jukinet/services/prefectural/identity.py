"""Identity updates at the prefectural center: record in the right tenant, forward upward."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine

from jukinet.domain import reference
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import IdentityRecord
from jukinet.net.bodies import parse_identity_update
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import NATIONAL_NODE, MessageType, lg_code_of
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NodeCredentials
from jukinet.store.db import read_transaction
from jukinet.store.identity_records import (
    PREFECTURAL,
    apply_versions,
    get_current,
    municipality_records,
)
from jukinet.store.tenancy import tenant


class PrefecturalIdentityService:
    def __init__(self, credentials: NodeCredentials, outbox: Outbox) -> None:
        self.credentials = credentials
        self.outbox = outbox

    def on_identity_update(self, conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        """A municipality may report only its own residents; the record lands in the tenant of
        the municipality's prefecture and is forwarded to the national center with its origin
        (the municipal node and its sequence number), so national history traces every version.
        """
        env = opened.envelope
        updates = parse_identity_update(env.body)
        sender_lg_code = lg_code_of(env.sender)
        for i, (record, _previous) in enumerate(updates):
            if record.lg_code != sender_lg_code:
                raise RuleViolation(
                    f"records[{i}].lg_code",
                    "sender_mismatch",
                    f"{env.sender} reported a record of {record.lg_code}",
                )
        pref_code = sender_lg_code[:2]
        with tenant(conn, pref_code=pref_code):
            apply_versions(
                conn,
                PREFECTURAL,
                updates,
                tenant=pref_code,
                source=env.sender,
                source_seq=env.seq,
                at=now,
            )
        self.outbox.enqueue(
            conn,
            self.credentials,
            receiver=NATIONAL_NODE,
            message_type=MessageType.IDENTITY_UPDATE,
            body={**env.body, "origin": {"node": env.sender, "seq": env.seq}},
            now=now,
        )


# --- reads, always for one prefecture tenant ------------------------------------------------


def identity_record(engine: Engine, pref_code: str, resident_code: str) -> IdentityRecord | None:
    """The current record of a person in this prefecture's tenant; another prefecture's
    resident is not found (as if absent: the tenant does not learn that the code exists)."""
    pref = reference.prefecture(pref_code).code
    with read_transaction(engine) as conn, tenant(conn, pref_code=pref):
        return get_current(conn, PREFECTURAL, resident_code, pref)


def municipality_identity_records(
    engine: Engine, pref_code: str, lg_code: str
) -> list[IdentityRecord]:
    """Current records of a municipality of this prefecture; another prefecture's
    municipality is refused."""
    pref = reference.prefecture(pref_code).code
    if reference.municipality(lg_code).prefecture_code != pref:
        raise RuleViolation(
            "lg_code", "other_prefecture", f"{lg_code} is not a municipality of prefecture {pref}"
        )
    with read_transaction(engine) as conn, tenant(conn, pref_code=pref):
        return municipality_records(conn, PREFECTURAL, lg_code, pref)
