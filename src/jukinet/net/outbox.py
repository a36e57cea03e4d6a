"""Writing messages: sealed and stored in the same transaction as the change they announce."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from jukinet.net.envelope import Envelope, new_message_id, seal
from jukinet.net.pki import NodeCredentials
from jukinet.store.spine import insert_outbox_message, take_next_seq


class Outbox:
    """Enqueues signed messages; a crash before commit loses both the change and the message."""

    def __init__(self) -> None:
        self.wake = threading.Event()

    def enqueue(
        self,
        conn: Connection,
        credentials: NodeCredentials,
        *,
        receiver: str,
        message_type: str,
        body: dict[str, Any],
        now: datetime,
    ) -> Envelope:
        seq = take_next_seq(conn, credentials.node_id, receiver)
        envelope = Envelope(
            id=new_message_id(),
            type=message_type,
            sender=credentials.node_id,
            receiver=receiver,
            seq=seq,
            timestamp=now,
            body=body,
        )
        insert_outbox_message(
            conn,
            message_id=envelope.id,
            sender=envelope.sender,
            receiver=receiver,
            seq=seq,
            message_type=message_type,
            wire=seal(credentials, envelope),
            created_at=now,
        )
        self.wake.set()
        return envelope
