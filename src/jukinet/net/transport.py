"""Transports carry batches of wire messages to a node and bring back its acknowledgements.

The in-process transport still hands over the signed bytes (receivers verify them as they
would from the wire); the faulty wrapper drops, duplicates, reorders, delays, corrupts and
replays for tests.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class AckStatus(StrEnum):
    APPLIED = "applied"  # verified, in sequence, applied
    DUPLICATE = "duplicate"  # already applied earlier: acknowledged and ignored
    REJECTED = "rejected"  # authentic and in sequence but its content broke a rule: quarantined
    GAP = "gap"  # an earlier message is missing: resend from ``expected_seq``
    REFUSED = "refused"  # not authentic, not allowed or not for this node: nothing recorded


DELIVERED = frozenset({AckStatus.APPLIED, AckStatus.DUPLICATE, AckStatus.REJECTED})


@dataclass(frozen=True, slots=True)
class Ack:
    message_id: str | None
    status: AckStatus
    reason: str | None = None
    expected_seq: int | None = None


class TransportError(RuntimeError):
    """The receiver could not be reached or did not answer; the sender retries later."""


class Receiving(Protocol):
    def receive(self, wires: Sequence[bytes]) -> list[Ack]: ...


class Transport(Protocol):
    def send(self, receiver: str, wires: Sequence[bytes]) -> list[Ack]: ...


class InProcessTransport:
    """Nodes in one process; a node can be taken down to model an outage."""

    def __init__(self) -> None:
        self._receivers: dict[str, Receiving] = {}
        self.down: set[str] = set()

    def register(self, node_id: str, receiver: Receiving) -> None:
        self._receivers[node_id] = receiver

    def send(self, receiver: str, wires: Sequence[bytes]) -> list[Ack]:
        target = self._receivers.get(receiver)
        if target is None or receiver in self.down:
            raise TransportError(f"{receiver} is unreachable")
        return target.receive([bytes(w) for w in wires])


@dataclass
class Faults:
    """Probabilities per batch (drop_* and duplicate) or per message (corrupt)."""

    drop_request: float = 0.0  # lost on the way there: nothing reaches the receiver
    drop_response: float = 0.0  # applied, but the acknowledgement is lost
    duplicate: float = 0.0  # the batch arrives twice
    reorder: float = 0.0  # the batch arrives shuffled
    corrupt: float = 0.0  # one byte of a message is flipped in transit
    replay: float = 0.0  # an old message seen earlier is injected again
    delay_seconds: float = 0.0


class FaultyTransport:
    """Wraps a transport and misbehaves as configured, reproducibly from a seed."""

    def __init__(self, inner: Transport, faults: Faults, seed: int = 0) -> None:
        self.inner = inner
        self.faults = faults
        self._rng = random.Random(seed)
        self._seen: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def _roll(self, name: str, p: float) -> bool:
        with self._lock:
            hit = p > 0 and self._rng.random() < p
        if hit:
            self.injected[name] = self.injected.get(name, 0) + 1
        return hit

    def send(self, receiver: str, wires: Sequence[bytes]) -> list[Ack]:
        f = self.faults
        if f.delay_seconds and self._roll("delay", 1.0):
            time.sleep(f.delay_seconds)
        if self._roll("drop_request", f.drop_request):
            raise TransportError("injected: request lost")
        batch = list(wires)
        self._seen.extend((receiver, w) for w in batch)
        if self._roll("reorder", f.reorder):
            with self._lock:
                self._rng.shuffle(batch)
        if self._roll("replay", f.replay) and self._seen:
            with self._lock:
                old_receiver, old = self._rng.choice(self._seen)
            if old_receiver == receiver:
                batch.append(old)
        batch = [self._maybe_corrupt(w) for w in batch]
        acks = self.inner.send(receiver, batch)
        if self._roll("duplicate", f.duplicate):
            acks = self.inner.send(receiver, batch)
        if self._roll("drop_response", f.drop_response):
            raise TransportError("injected: response lost")
        return acks

    def _maybe_corrupt(self, wire: bytes) -> bytes:
        if not self._roll("corrupt", self.faults.corrupt):
            return wire
        with self._lock:
            i = self._rng.randrange(len(wire))
        return wire[:i] + bytes([wire[i] ^ 0x01]) + wire[i + 1 :]
