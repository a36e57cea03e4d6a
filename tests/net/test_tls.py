"""Real mutual-TLS handshakes on loopback with node certificates from the network PKI."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jukinet.net.pki import NetworkPKI, NodeCredentials, SignatureAlgorithm, TrustStore
from jukinet.net.tls import client_ssl_context, server_ssl_context, write_uvicorn_tls_files

NOW = datetime.now(UTC)  # the TLS stack checks validity against the real clock


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> NetworkPKI:
    return NetworkPKI.init(tmp_path_factory.mktemp("pki"), NOW)


@pytest.fixture(scope="module")
def trust(pki: NetworkPKI) -> TrustStore:
    return pki.trust_store()


@pytest.fixture(scope="module")
def national(pki: NetworkPKI) -> NodeCredentials:
    return pki.issue_node("national", "national", now=NOW)


@pytest.fixture(scope="module")
def prefecture(pki: NetworkPKI) -> NodeCredentials:
    return pki.issue_node("prefecture", "prefecture", now=NOW)


@dataclass
class Outcome:
    received: bytes = b""
    error: BaseException | None = None
    peer: dict[str, object] = field(default_factory=dict)


def _exchange(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> tuple[Outcome, Outcome]:
    """One connection: the server echoes what it reads; each side records its result."""
    server, client = Outcome(), Outcome()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                server.peer = dict(tls.getpeercert() or {})
                server.received = tls.recv(64)
                tls.sendall(b"ack:" + server.received)
        except (ssl.SSLError, OSError) as exc:
            server.error = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"hello")
            client.received = tls.recv(64)
    except (ssl.SSLError, OSError) as exc:
        client.error = exc
    finally:
        thread.join(timeout=10)
        listener.close()
    return server, client


def test_mutual_tls_between_nodes(
    national: NodeCredentials, prefecture: NodeCredentials, trust: TrustStore
) -> None:
    server, client = _exchange(
        server_ssl_context(national, trust), client_ssl_context(prefecture, trust)
    )
    assert server.error is None and client.error is None
    assert server.received == b"hello"
    assert client.received == b"ack:hello"
    san = server.peer["subjectAltName"]
    assert ("URI", "urn:jukinet:node:prefecture") in san  # type: ignore[operator]


@pytest.mark.parametrize(
    "alg", [SignatureAlgorithm.ECDSA_P256_SHA256, SignatureAlgorithm.RSA_PKCS1V15_SHA256], ids=str
)
def test_mutual_tls_with_other_key_types(
    pki: NetworkPKI, trust: TrustStore, national: NodeCredentials, alg: SignatureAlgorithm
) -> None:
    node = pki.issue_node(f"municipality/tls-{alg.lower()}", "municipality", alg, NOW)
    server, client = _exchange(server_ssl_context(node, trust), client_ssl_context(national, trust))
    assert server.error is None and client.received == b"ack:hello"


def test_client_without_certificate_is_refused(
    national: NodeCredentials, trust: TrustStore
) -> None:
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(cadata=trust.to_pem().decode())
    server, client = _exchange(server_ssl_context(national, trust), anonymous)
    assert isinstance(server.error, ssl.SSLError)
    assert server.received == b""
    assert client.received == b""


def test_client_from_another_pki_is_refused(
    national: NodeCredentials, trust: TrustStore, tmp_path: Path
) -> None:
    other = NetworkPKI.init(tmp_path, NOW)
    stranger = other.issue_node("prefecture", "prefecture", now=NOW)
    # the stranger trusts our root, so only the server's check can stop it
    server, client = _exchange(
        server_ssl_context(national, trust), client_ssl_context(stranger, trust)
    )
    assert isinstance(server.error, ssl.SSLError)
    assert "certificate verify failed" in str(server.error)
    assert client.received == b""


def test_server_from_another_pki_is_refused(
    prefecture: NodeCredentials, trust: TrustStore, tmp_path: Path
) -> None:
    other = NetworkPKI.init(tmp_path, NOW)
    impostor = other.issue_node("national", "national", now=NOW)
    _server, client = _exchange(
        server_ssl_context(impostor, trust), client_ssl_context(prefecture, trust)
    )
    assert isinstance(client.error, ssl.SSLCertVerificationError)


def test_uvicorn_files(national: NodeCredentials, trust: TrustStore, tmp_path: Path) -> None:
    files = write_uvicorn_tls_files(national, trust, tmp_path / "tls")
    assert stat.S_IMODE(files.ssl_keyfile.stat().st_mode) == 0o600
    kwargs = files.uvicorn_kwargs()
    assert kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    # the files are exactly what an ssl server context (as uvicorn builds it) can load
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files.ssl_certfile, files.ssl_keyfile)
    ctx.load_verify_locations(files.ssl_ca_certs)
    assert files.ssl_certfile.read_bytes().count(b"BEGIN CERTIFICATE") == 2  # leaf + issuing CA
