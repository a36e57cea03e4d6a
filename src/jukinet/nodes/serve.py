"""One node per process (the production layout): its database, its keys, HTTPS with mutual TLS.

The node is built by the same role builders as the embedded network; only the transport
differs (:class:`~jukinet.net.http.HttpTransport`). Its delivery worker and heartbeat run in
background threads next to uvicorn; SIGTERM stops uvicorn gracefully, then the worker.
"""

from __future__ import annotations

import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import uvicorn
from cryptography import x509

from jukinet.clock import Clock, SystemClock
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.deps import services_of
from jukinet.net.http import HttpTransport
from jukinet.net.messages import Role
from jukinet.net.pki import (
    RECIPIENTS_PURPOSE,
    NodeCredentials,
    PKIError,
    TrustStore,
    safe_node_dirname,
)
from jukinet.net.tls import write_uvicorn_tls_files
from jukinet.nodes.config import ConfigError, NodeConfig
from jukinet.nodes.node import Node
from jukinet.nodes.roles import MunicipalNode, build_municipal, build_national, build_prefectural
from jukinet.ops.logging import configure_logging, get_logger
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store.db import make_engine

__all__ = ["ServedNode", "build_served_node", "refuse_fake_clock", "run_node"]

log = get_logger("jukinet.serve")


class FakeClockRefusedError(RuntimeError):
    """A production node was handed a clock that is not the real time."""


def refuse_fake_clock(clock: Clock) -> None:
    """Production stamps legal dates: a fixed or shifted clock would falsify the register."""
    if getattr(clock, "fake", True) is not False:
        raise FakeClockRefusedError(
            f"a production node runs on the system clock, not {type(clock).__name__}"
        )


@dataclass
class ServedNode:
    """The node of this process and what its HTTP layer and TLS need."""

    config: NodeConfig
    node: Node
    transport: HttpTransport
    tls_credentials: NodeCredentials
    trust: TrustStore
    municipal: MunicipalNode | None = None
    registers: dict[str, MunicipalRegister] = field(default_factory=dict)

    def close(self) -> None:
        self.node.dispose()
        self.transport.close()


def _load_credentials(config: NodeConfig) -> list[NodeCredentials]:
    """The node's own keys and certificates: a serving node never holds the CA's keys and
    never issues itself a certificate (``jukinet init`` does, once, on the CA's machine)."""
    loaded = []
    for node_id in config.node_ids:
        try:
            loaded.append(
                NodeCredentials.load(config.pki_dir / "nodes" / safe_node_dirname(node_id))
            )
        except (PKIError, FileNotFoundError):
            raise ConfigError(
                config.source,
                "pki_dir",
                f"no credentials for {node_id} in {config.pki_dir} "
                f"(run `jukinet init --home {config.pki_dir.parent} --node {node_id}`)",
            ) from None
    return loaded


def _with_recipients_ca(trust: TrustStore, pki_dir: Path) -> TrustStore:
    """The national center also trusts the recipients issuing CA (``ca/recipients-ca.pem``,
    a public certificate) to verify recipients' signed provision requests."""
    pem = pki_dir / "ca" / f"{RECIPIENTS_PURPOSE}-ca.pem"
    if not pem.exists():
        return trust
    extra = x509.load_pem_x509_certificates(pem.read_bytes())
    return TrustStore(list(trust.roots), [*trust.intermediates, *extra])


def build_served_node(config: NodeConfig, clock: Clock) -> ServedNode:
    """Open the database (migrating it), load the keys and assemble the role's node."""
    refuse_fake_clock(clock)
    credentials = _load_credentials(config)
    tls_credentials = credentials[0]
    trust = tls_credentials.trust_store()
    if config.role is Role.NATIONAL:
        trust = _with_recipients_ca(trust, config.pki_dir)
    transport = HttpTransport(config.peers, tls_credentials, trust, timeout=config.timeout_seconds)
    engine = make_engine(config.database_url)
    try:
        if config.role is Role.NATIONAL:
            node = build_national(
                engine, tls_credentials, trust, clock, transport, files=config.files_dir
            )
            return ServedNode(config, node, transport, tls_credentials, trust)
        if config.role is Role.PREFECTURE:
            node = build_prefectural(engine, tls_credentials, trust, clock, transport)
            return ServedNode(config, node, transport, tls_credentials, trust)
        municipal = build_municipal(
            config.name, engine, credentials, trust=trust, clock=clock, transport=transport
        )
    except BaseException:
        engine.dispose()
        transport.close()
        raise
    return ServedNode(
        config,
        municipal.node,
        transport,
        tls_credentials,
        trust,
        municipal=municipal,
        registers=dict(municipal.registers),
    )


class _Terminated(SystemExit):
    """SIGTERM: leave through the ``finally`` blocks so the worker stops cleanly."""


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # uvicorn handles SIGTERM itself while serving and re-raises it once it has shut down;
    # it then lands here, as does a SIGTERM during start-up.
    raise _Terminated(0)


def run_node(config: NodeConfig, clock: Clock | None = None) -> None:
    """Serve one node until SIGTERM/SIGINT; the clock is always the system clock."""
    clock = clock if clock is not None else SystemClock()
    refuse_fake_clock(clock)
    configure_logging()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        served = build_served_node(config, clock)
        try:
            _serve(served, clock)
        finally:
            served.close()
            log.info("node_stopped", node=config.name)
    except _Terminated:
        log.info("node_terminated", node=config.name)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(served: ServedNode, clock: Clock) -> None:
    config = served.config
    if served.municipal is not None:
        served.municipal.request_initial_pools()  # codes must be there before the first birth
    served.node.start(config.heartbeat_seconds)
    certificates = served.municipal.certificates if served.municipal is not None else {}
    municipal = served.municipal
    app = create_app(
        services_of(
            [served.node],
            clock,
            served.registers,
            certificates,
            cards=municipal.cards if municipal is not None else None,
            card_moves=municipal.card_moves if municipal is not None else None,
        )
    )
    with tempfile.TemporaryDirectory(prefix="jukinet-tls-") as tmp:
        tls = write_uvicorn_tls_files(served.tls_credentials, served.trust, Path(tmp) / "tls")
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=config.listen_host,
                port=config.listen_port,
                log_level="warning",
                access_log=False,
                **tls.uvicorn_kwargs(),
            )
        )
        log.info(
            "node_serving",
            node=config.name,
            node_ids=config.node_ids,
            url=f"https://{config.listen_host}:{config.listen_port}",
        )
        server.run()
        if not server.started:
            raise RuntimeError(
                f"could not listen on {config.listen_host}:{config.listen_port} (see log above)"
            )
