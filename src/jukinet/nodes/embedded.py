"""A whole network in one process: the embedded default behind ``jukinet up``.

Every node keeps its own database and its own keys; messages between them are still sealed,
verified and sequenced, carried by the in-process transport.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from jukinet.clock import Clock
from jukinet.net.messages import NATIONAL_NODE, PREFECTURE_NODE, Role, municipal_node
from jukinet.net.pki import (
    NODES_PURPOSE,
    RECIPIENTS_CA_NAME,
    RECIPIENTS_PURPOSE,
    NetworkPKI,
    NodeCredentials,
)
from jukinet.net.policy import CryptoPolicy
from jukinet.net.transport import InProcessTransport, Transport
from jukinet.nodes.node import Node, node_credentials
from jukinet.nodes.roles import (
    MunicipalNode,
    build_municipal,
    build_national,
    build_prefectural,
    distribution,
    replace_credentials,
)
from jukinet.ops.logging import get_logger
from jukinet.store.db import make_engine, sqlite_url, write_transaction

log = get_logger("jukinet.nodes.embedded")


def open_pki(home: Path, clock: Clock) -> NetworkPKI:
    """The network CA under ``home/pki``, created on first start (``jukinet init``), with the
    recipients issuing CA the national center verifies signed provision requests against."""
    directory = home / "pki"
    if (directory / "ca" / "root.pem").exists():
        pki = NetworkPKI.load(directory)
    else:
        pki = NetworkPKI.init(directory, clock.now())
    pki.ensure_issuer(RECIPIENTS_PURPOSE, RECIPIENTS_CA_NAME, clock.now())
    return pki


IDLE_SECONDS = 0.05


@dataclass
class EmbeddedNetwork:
    national: Node
    prefecture: Node
    municipal: list[MunicipalNode]
    transport: InProcessTransport
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def nodes(self) -> list[Node]:
        return [self.national, self.prefecture, *(m.node for m in self.municipal)]

    def municipality(self, lg_code: str) -> MunicipalNode:
        for m in self.municipal:
            if lg_code in m.registers:
                return m
        raise KeyError(lg_code)

    @property
    def node_ids(self) -> list[str]:
        return [node_id for node in self.nodes for node_id in node.node_ids]

    def rekey(self, creds: NodeCredentials) -> None:
        """Switch the node hosting ``creds.node_id`` to renewed credentials while running."""
        for m in self.municipal:
            if creds.node_id in m.node.credentials:
                m.rekey(creds)
                return
        for node in (self.national, self.prefecture):
            if creds.node_id in node.credentials:
                replace_credentials(node, creds)
                return
        raise KeyError(creds.node_id)

    def publish_crl(self, crl: x509.CertificateRevocationList, purpose: str = NODES_PURPOSE) -> int:
        """The national center enforces the CRL and queues it for every other node."""
        with write_transaction(self.national.engine) as conn:
            return distribution(self.national).publish_crl(
                conn, crl, purpose, self.node_ids, self.national.clock.now()
            )

    def publish_policy(self, policy: CryptoPolicy) -> int:
        """The national center signs, enforces and queues a new crypto policy for every node."""
        with write_transaction(self.national.engine) as conn:
            return distribution(self.national).publish_policy(
                conn, policy, self.node_ids, self.national.clock.now()
            )

    def drain(self, max_rounds: int = 1000) -> int:
        """Deliver until every outbox is empty or only waiting for backoff (tests, seeding)."""
        total = 0
        for _ in range(max_rounds):
            moved = sum(node.worker.run_once() for node in self.nodes)
            total += moved
            if moved == 0:
                break
        return total

    def start(self, heartbeat_seconds: float = 10.0) -> None:
        """Deliver for every node from one thread, send heartbeats from another, and run
        each node's own loops (the national center's batch worker) in theirs.

        One delivery thread, not one per node: the in-process transport applies a message in
        the sender's thread, so per-node threads would only queue up on the receivers'
        database locks and the interpreter lock.
        """
        wake = threading.Event()
        for node in self.nodes:
            node.outbox.wake = wake  # any enqueue anywhere wakes the one delivery thread
        self._stop.clear()
        loops = [loop for node in self.nodes for loop in node.loops]  # e.g. batch jobs
        self._threads = [
            threading.Thread(target=self._deliver, args=(wake,), name="delivery", daemon=True),
            threading.Thread(
                target=self._heartbeats, args=(heartbeat_seconds,), name="heartbeat", daemon=True
            ),
            *(
                threading.Thread(target=loop, args=(self._stop,), name=f"loop-{i}", daemon=True)
                for i, loop in enumerate(loops)
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _deliver(self, wake: threading.Event) -> None:
        while not self._stop.is_set():
            moved = 0
            for node in self.nodes:
                try:
                    moved += node.worker.run_once()
                except Exception:  # keep delivering: one bad pass must not stop the network
                    log.exception("delivery_pass_failed", node=node.name)
            if moved == 0:
                wake.wait(IDLE_SECONDS)
                wake.clear()

    def _heartbeats(self, every: float) -> None:
        while not self._stop.wait(every):
            for node in self.nodes:
                try:
                    node.send_heartbeats()
                    node.checkpoint_audit()
                except Exception:  # monitoring must never stop the network
                    log.exception("heartbeat_failed", node=node.name)

    def stop(self) -> None:
        self._stop.set()
        for node in self.nodes:
            node.outbox.wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def dispose(self) -> None:
        self.stop()
        for node in self.nodes:
            node.dispose()


def municipal_database(home: Path, lg_code: str) -> Path:
    return home.resolve() / "municipalities" / f"{lg_code}.db"


def national_files(home: Path) -> Path:
    """The embedded national center's files outside its database."""
    return home.resolve() / "national"


def hosted_municipalities(home: Path) -> list[str]:
    """Municipalities that already have a database under ``home``."""
    return sorted(p.stem for p in (home / "municipalities").glob("*.db"))


def build_embedded(
    home: Path,
    clock: Clock,
    lg_codes: Iterable[str],
    *,
    wrap: Callable[[Transport], Transport] | None = None,
    database_url: Callable[[str], str] | None = None,
) -> EmbeddedNetwork:
    """National, prefectural and one node per municipality, each with its own database: a
    SQLite file under ``home`` unless ``database_url`` maps a node name (``national``,
    ``prefecture`` or an lg code) to a URL. ``wrap`` puts a wrapper (e.g. fault injection)
    around the transport."""

    def url(name: str) -> str:
        if database_url is not None:
            return database_url(name)
        if name in {"national", "prefecture"}:
            return sqlite_url(home.resolve() / f"{name}.db")
        return sqlite_url(municipal_database(home, name))

    in_process = InProcessTransport()
    carrier = wrap(in_process) if wrap else in_process
    pki = open_pki(home, clock)
    home.mkdir(parents=True, exist_ok=True)
    now = clock.now()
    # One trust store per node: each enforces the CRLs and policy that have reached it.
    national = build_national(
        make_engine(url("national")),
        node_credentials(pki, NATIONAL_NODE, Role.NATIONAL, now),
        pki.trust_store(),
        clock,
        carrier,
        files=national_files(home),
    )
    prefecture = build_prefectural(
        make_engine(url("prefecture")),
        node_credentials(pki, PREFECTURE_NODE, Role.PREFECTURE, now),
        pki.trust_store(),
        clock,
        carrier,
    )
    municipal = [
        build_municipal(
            lg_code,
            make_engine(url(lg_code)),
            [node_credentials(pki, municipal_node(lg_code), Role.MUNICIPALITY, now)],
            trust=pki.trust_store(),
            clock=clock,
            transport=carrier,
        )
        for lg_code in dict.fromkeys(lg_codes)
    ]
    network = EmbeddedNetwork(national, prefecture, municipal, in_process)
    for node in network.nodes:
        for node_id in node.node_ids:
            in_process.register(node_id, node.receiver)
    return network
