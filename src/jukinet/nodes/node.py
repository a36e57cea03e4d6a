"""What every node is: one database, the node ids it speaks for, an inbox and an outbox."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from jukinet.clock import Clock
from jukinet.net.delivery import DeliveryWorker
from jukinet.net.envelope import Envelope, new_message_id, seal
from jukinet.net.messages import NATIONAL_NODE, MessageType, Role
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NetworkPKI, NodeCredentials, PKIError, TrustStore
from jukinet.net.receiver import Handler, Receiver
from jukinet.net.transport import Transport, TransportError
from jukinet.ops.logging import get_logger
from jukinet.services.audit import AuditLog
from jukinet.store.db import read_transaction
from jukinet.store.migrate import upgrade
from jukinet.store.spine import outbox_backlog

log = get_logger("jukinet.nodes")


def node_credentials(pki: NetworkPKI, node_id: str, role: Role, now: datetime) -> NodeCredentials:
    """The node's credentials from the PKI directory, issued on first use."""
    try:
        return pki.credentials(node_id)
    except (PKIError, FileNotFoundError):
        return pki.issue_node(node_id, role.value, now=now)


@dataclass
class Node:
    """A database and the node ids it hosts (a municipal host speaks for several)."""

    name: str
    engine: Engine
    clock: Clock
    credentials: dict[str, NodeCredentials]
    transport: Transport
    handlers: dict[str, Handler]
    trust: TrustStore
    outbox: Outbox = field(default_factory=Outbox)
    files: Path | None = None  # the node's files kept outside its database
    loops: list[Callable[[threading.Event], None]] = field(default_factory=list)
    upkeep: list[Callable[[], None]] = field(default_factory=list)  # with each audit checkpoint
    audit: AuditLog = field(init=False)
    receiver: Receiver = field(init=False)
    worker: DeliveryWorker = field(init=False)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        upgrade(self.engine)
        self.audit = AuditLog(self.clock)
        self.receiver = Receiver(
            self.engine,
            self.trust,
            self.clock,
            hosted=list(self.credentials),
            handlers=self.handlers,
            audit=self.audit.message,
        )
        self.worker = DeliveryWorker(
            self.engine, list(self.credentials), self.transport, self.clock, self.outbox
        )

    @property
    def node_ids(self) -> Sequence[str]:
        return list(self.credentials)

    def send_heartbeats(self) -> None:
        """Report this node's outbox backlog to the national center (best effort)."""
        with read_transaction(self.engine) as conn:
            backlog = outbox_backlog(conn, self.node_ids)
        now = self.clock.now()
        for node_id, creds in self.credentials.items():
            if node_id == NATIONAL_NODE:
                continue
            b = backlog[node_id]
            envelope = Envelope(
                id=new_message_id(),
                type=MessageType.HEARTBEAT,
                sender=node_id,
                receiver=NATIONAL_NODE,
                seq=0,
                timestamp=now,
                body={
                    "backlog": b.pending,
                    "oldest_pending_at": b.oldest_created_at.isoformat()
                    if b.oldest_created_at
                    else None,
                    "last_error": b.last_error,
                },
            )
            try:
                self.transport.send(NATIONAL_NODE, [seal(creds, envelope)])
            except TransportError as exc:
                log.warning("heartbeat_failed", node=node_id, error=str(exc))

    def checkpoint_audit(self) -> None:
        """Run the role's periodic ``upkeep`` (what it records is then signed soon), then sign
        the head of this node's audit chain when enough has happened since the last."""
        for task in self.upkeep:
            task()
        self.audit.checkpoint_if_due(self.engine, next(iter(self.credentials.values())))

    def start(self, heartbeat_seconds: float = 10.0) -> None:
        """Run the delivery worker, the heartbeat and the role's ``loops`` (each returns when
        the stop event is set) in background threads."""
        self._stop.clear()
        delivery = threading.Thread(
            target=self.worker.run, args=(self._stop,), name=f"delivery-{self.name}", daemon=True
        )
        beat = threading.Thread(
            target=self._heartbeat_loop,
            args=(heartbeat_seconds,),
            name=f"heartbeat-{self.name}",
            daemon=True,
        )
        extra = [
            threading.Thread(
                target=loop, args=(self._stop,), name=f"{self.name}-loop-{i}", daemon=True
            )
            for i, loop in enumerate(self.loops)
        ]
        self._threads = [delivery, beat, *extra]
        for t in self._threads:
            t.start()

    def _heartbeat_loop(self, every: float) -> None:
        while not self._stop.is_set():
            try:
                self.send_heartbeats()
                self.checkpoint_audit()
            except Exception:  # monitoring must never stop the node
                log.exception("heartbeat_loop_failed")
            self._stop.wait(every)

    def stop(self) -> None:
        self._stop.set()
        self.outbox.wake.set()
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []

    def dispose(self) -> None:
        self.stop()
        self.engine.dispose()
