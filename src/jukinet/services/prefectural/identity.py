"""Identity updates at the prefectural center: record in the right tenant, forward upward."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from jukinet.domain.errors import RuleViolation
from jukinet.net.bodies import parse_identity_update
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import NATIONAL_NODE, MessageType, lg_code_of
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NodeCredentials
from jukinet.store.identity_records import PREFECTURAL, apply_versions


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
        for record, _previous in updates:
            if record.lg_code != sender_lg_code:
                raise RuleViolation(
                    "lg_code",
                    "sender_mismatch",
                    f"{env.sender} reported a record of {record.lg_code}",
                )
        apply_versions(
            conn,
            PREFECTURAL,
            updates,
            tenant=sender_lg_code[:2],
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
