"""Receiving messages: verify, authorise, sequence, apply idempotently, acknowledge.

A batch is one database transaction; each message's handler runs in a savepoint, so a message
whose content breaks a rule is quarantined (kept with its bytes, channel advanced, sender told)
without undoing its neighbours, and a crash leaves either nothing or everything acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from jukinet.clock import Clock
from jukinet.domain.errors import RuleViolation
from jukinet.net.envelope import EnvelopeError, OpenedMessage, open_message, peek
from jukinet.net.messages import UNSEQUENCED, may_send, role_of
from jukinet.net.pki import TrustStore
from jukinet.net.policy import NetworkDocuments
from jukinet.net.transport import Ack, AckStatus
from jukinet.ops.logging import get_logger
from jukinet.store.db import write_transaction
from jukinet.store.spine import advance_inbox_channel, lock_inbox_channel, record_rejection

Handler = Callable[[Connection, OpenedMessage, datetime], None]
"""Applies one message inside the receiving transaction (and may enqueue further messages)."""

MessageAudit = Callable[[Connection, str, dict[str, Any], str | None], None]
"""Told of every message's outcome (applied, duplicate, gap, refused, quarantined) with its
unverified header and the reason, inside the receiving transaction (the audit log)."""

_AUDIT_OUTCOME = {AckStatus.REJECTED: "quarantined"}

log = get_logger("jukinet.net.receiver")


class Receiver:
    """The inbox of one database, accepting messages for the node ids it hosts."""

    def __init__(
        self,
        engine: Engine,
        trust: TrustStore,
        clock: Clock,
        hosted: Collection[str],
        handlers: dict[str, Handler],
        *,
        audit: MessageAudit | None = None,
    ) -> None:
        self.engine = engine
        self.trust = trust
        self.clock = clock
        self.hosted = set(hosted)
        self.handlers = handlers
        # The crypto policy and CRLs this node holds are enforced by its trust store on every
        # message from the first one on (a fresh node runs the built-in default policy).
        self.documents = NetworkDocuments(trust)
        self.documents.install_from(engine)
        self.audit = audit

    def receive(self, wires: Sequence[bytes]) -> list[Ack]:
        now = self.clock.now()
        with write_transaction(self.engine) as conn:
            acks = [self._receive_one(conn, wire, now) for wire in wires]
            if self.audit is not None:
                for wire, ack in zip(wires, acks, strict=True):
                    outcome = _AUDIT_OUTCOME.get(ack.status, ack.status.value)
                    self.audit(conn, outcome, peek(wire), ack.reason)
            return acks

    def _refuse(self, conn: Connection, wire: bytes, reason: str, now: datetime) -> Ack:
        header = peek(wire)
        log.warning("message_refused", reason=reason, **header)
        record_rejection(
            conn, received_at=now, reason=reason, quarantined=False, header=header, wire=None
        )
        return Ack(header.get("id"), AckStatus.REFUSED, reason=reason)

    def _refusal(self, opened: OpenedMessage) -> str | None:
        """Why an authentic message is still not acceptable here, if it is not."""
        env = opened.envelope
        if env.receiver not in self.hosted:
            return f"addressed to {env.receiver}, not hosted here"
        if opened.signer.role != role_of(env.sender).value:
            return f"certificate role {opened.signer.role} does not match sender {env.sender}"
        if not may_send(env.type, role_of(env.sender), role_of(env.receiver)):
            return f"{env.sender} may not send {env.type} to {env.receiver}"
        if env.type not in self.handlers:
            return f"{env.receiver} does not handle {env.type}"
        return None

    def _receive_one(self, conn: Connection, wire: bytes, now: datetime) -> Ack:
        try:
            opened = open_message(self.trust, wire, now)
        except EnvelopeError as exc:
            return self._refuse(conn, wire, str(exc), now)
        refusal = self._refusal(opened)
        if refusal is not None:
            return self._refuse(conn, wire, refusal, now)
        env = opened.envelope
        if env.type in UNSEQUENCED:  # no channel: applied or quarantined, nothing to advance
            return self._apply(conn, opened, wire, now)
        last = lock_inbox_channel(conn, env.receiver, env.sender)
        if env.seq <= last:
            return Ack(env.id, AckStatus.DUPLICATE)
        if env.seq > last + 1:
            return Ack(env.id, AckStatus.GAP, expected_seq=last + 1)
        ack = self._apply(conn, opened, wire, now)
        advance_inbox_channel(
            conn, env.receiver, env.sender, seq=env.seq, message_id=env.id, at=now
        )
        return ack

    def _apply(self, conn: Connection, opened: OpenedMessage, wire: bytes, now: datetime) -> Ack:
        """Run the message's handler in a savepoint; one whose content breaks a rule is
        quarantined (kept with its bytes) without undoing its neighbours."""
        env = opened.envelope
        try:
            with conn.begin_nested():
                self.handlers[env.type](conn, opened, now)
        except RuleViolation as exc:
            reason = str(exc)
            log.error(
                "message_quarantined",
                reason=reason,
                id=env.id,
                type=env.type,
                sender=env.sender,
                seq=env.seq,
            )
            record_rejection(
                conn,
                received_at=now,
                reason=reason,
                quarantined=True,
                header=peek(wire),
                wire=wire,
            )
            return Ack(env.id, AckStatus.REJECTED, reason=reason)
        return Ack(env.id, AckStatus.APPLIED)
