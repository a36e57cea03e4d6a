"""Delivering the outbox: in order per channel, retried with backoff, resumable after a crash.

State lives only in the outbox table, so a restarted worker simply carries on. A channel
stops at its first undelivered message until the receiver acknowledges it: order is kept.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Engine, update

from jukinet.clock import Clock
from jukinet.net.outbox import Outbox
from jukinet.net.transport import DELIVERED, AckStatus, Transport, TransportError
from jukinet.ops.logging import get_logger
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.spine import (
    PendingMessage,
    due_channels,
    mark_attempt_failed,
    mark_delivered,
    pending_messages,
)
from jukinet.store.tables import outbox

log = get_logger("jukinet.net.delivery")

BACKOFF_BASE_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 30.0


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempts, 16))
    return timedelta(seconds=rng.uniform(ceiling / 2, ceiling))


class DeliveryWorker:
    """Sends the outbox of the given senders (node ids whose messages this database holds)."""

    def __init__(
        self,
        engine: Engine,
        senders: Sequence[str],
        transport: Transport,
        clock: Clock,
        outbox: Outbox,
        *,
        batch_size: int = 500,
    ) -> None:
        self.engine = engine
        self.senders = list(senders)
        self.transport = transport
        self.clock = clock
        self.outbox = outbox
        self.batch_size = batch_size
        self._rng = random.Random()

    def run_once(self) -> int:
        """One pass over every due channel; returns how many messages were acknowledged."""
        with read_transaction(self.engine) as conn:
            channels = due_channels(conn, self.senders, self.clock.now())
        return sum(self._deliver_channel(sender, receiver) for sender, receiver in channels)

    def drain(self, max_passes: int = 10_000) -> int:
        """Deliver until nothing is due (tests, CLI); returns messages acknowledged."""
        total = 0
        for _ in range(max_passes):
            done = self.run_once()
            total += done
            if done == 0:
                return total
        return total

    def _deliver_channel(self, sender: str, receiver: str) -> int:
        with read_transaction(self.engine) as conn:
            batch = pending_messages(conn, sender, receiver, self.batch_size)
        if not batch:
            return 0
        try:
            acks = self.transport.send(receiver, [m.wire for m in batch])
        except TransportError as exc:
            self._failed(batch[0], f"transport: {exc}")
            return 0
        by_id = {a.message_id: a for a in acks if a.message_id is not None}
        delivered: dict[int, str] = {}
        for message in batch:  # in sequence order: stop at the first one not delivered
            ack = by_id.get(message.message_id)
            if ack is None or ack.status not in DELIVERED:
                if ack is not None and ack.status is AckStatus.GAP and ack.expected_seq:
                    self._reopen_from(sender, receiver, ack.expected_seq, message.seq)
                reason = "no acknowledgement" if ack is None else f"{ack.status}: {ack.reason}"
                if ack is None or ack.status is AckStatus.REFUSED:
                    self._failed(message, reason)
                break
            delivered[message.id] = ack.status.value
            if ack.status is AckStatus.REJECTED:
                log.error(
                    "message_rejected_by_receiver",
                    id=message.message_id,
                    receiver=receiver,
                    reason=ack.reason,
                )
        if delivered:
            with write_transaction(self.engine) as conn:
                mark_delivered(conn, delivered, self.clock.now())
        return len(delivered)

    def _failed(self, message: PendingMessage, error: str) -> None:
        retry_at = self.clock.now() + backoff(message.attempts, self._rng)
        log.warning(
            "delivery_failed",
            id=message.message_id,
            receiver=message.receiver,
            attempts=message.attempts + 1,
            error=error,
        )
        with write_transaction(self.engine) as conn:
            mark_attempt_failed(conn, message.id, error, retry_at)

    def _reopen_from(self, sender: str, receiver: str, expected: int, first_pending: int) -> None:
        """The receiver lost messages we thought delivered (restored from backup): resend."""
        if expected >= first_pending:
            return
        log.warning("receiver_behind", receiver=receiver, expected=expected)
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(outbox)
                .where(
                    outbox.c.sender == sender,
                    outbox.c.receiver == receiver,
                    outbox.c.seq >= expected,
                )
                .values(delivered_at=None, outcome=None, next_attempt_at=None)
            )

    def run(self, stop: threading.Event, idle_seconds: float = 0.05) -> None:
        """Deliver until ``stop`` is set, waking early when the outbox gets a message."""
        while not stop.is_set():
            try:
                done = self.run_once()
            except Exception:  # keep delivering: a bad pass must not stop the network
                log.exception("delivery_pass_failed")
                done = 0
            if done == 0:
                self.outbox.wake.wait(idle_seconds)
                self.outbox.wake.clear()
