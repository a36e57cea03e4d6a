"""Mutual TLS between nodes, built from the same node certificates that sign messages.

TLS authenticates the channel; the caller's *identity* still comes from the message signature
(uvicorn never hands the client certificate to the application). Both sides require a
certificate chaining to the network root (``CERT_REQUIRED``), TLS 1.3 only.

Findings (OpenSSL 3.0): Ed25519, ECDSA P-256 and RSA-2048 node certificates work for TLS 1.3.
ML-DSA keys cannot be loaded by OpenSSL 3.0's TLS stack, and RSA-1024 is refused at the default
security level ("ee key too small"): such nodes need a separate ECDSA/Ed25519 TLS certificate.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from jukinet.net.pki import NodeCredentials, TrustStore

__all__ = [
    "UvicornTLSFiles",
    "client_ssl_context",
    "server_ssl_context",
    "write_uvicorn_tls_files",
]


def _certfile_pem(creds: NodeCredentials) -> bytes:
    """Leaf then issuing CA(s): the peer needs the intermediate, never the root."""
    certs = [creds.certificate, *(c for c in creds.chain if c.subject != c.issuer)]
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _keyfile_pem(creds: NodeCredentials) -> bytes:
    return creds.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def _load_identity(ctx: ssl.SSLContext, creds: NodeCredentials) -> None:
    """``ssl`` loads keys only from files: write them to a private temp dir for the call."""
    with tempfile.TemporaryDirectory(prefix="jukinet-tls-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        _write(cert, _certfile_pem(creds), 0o600)
        _write(key, _keyfile_pem(creds), 0o600)
        ctx.load_cert_chain(cert, key)


def _context(purpose: ssl.Purpose, creds: NodeCredentials, trust: TrustStore) -> ssl.SSLContext:
    protocol = (
        ssl.PROTOCOL_TLS_SERVER if purpose is ssl.Purpose.CLIENT_AUTH else ssl.PROTOCOL_TLS_CLIENT
    )
    ctx = ssl.SSLContext(protocol)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=trust.to_pem().decode())
    _load_identity(ctx, creds)
    return ctx


def server_ssl_context(creds: NodeCredentials, trust: TrustStore) -> ssl.SSLContext:
    """A server context that refuses clients without a certificate from the network PKI."""
    return _context(ssl.Purpose.CLIENT_AUTH, creds, trust)


def client_ssl_context(
    creds: NodeCredentials, trust: TrustStore, *, check_hostname: bool = True
) -> ssl.SSLContext:
    """A client context presenting the node certificate (use as httpx ``verify=ctx``)."""
    ctx = _context(ssl.Purpose.SERVER_AUTH, creds, trust)
    ctx.check_hostname = check_hostname
    return ctx


@dataclass(frozen=True)
class UvicornTLSFiles:
    """The file paths uvicorn's TLS options take."""

    ssl_certfile: Path
    ssl_keyfile: Path
    ssl_ca_certs: Path

    def uvicorn_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``uvicorn.run``/``Config``; uvicorn's default is CERT_NONE."""
        return {
            "ssl_certfile": str(self.ssl_certfile),
            "ssl_keyfile": str(self.ssl_keyfile),
            "ssl_ca_certs": str(self.ssl_ca_certs),
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
        }


def write_uvicorn_tls_files(
    creds: NodeCredentials, trust: TrustStore, directory: Path
) -> UvicornTLSFiles:
    """Write ``tls-cert.pem`` (leaf + issuing CA), ``tls-key.pem`` (0600), ``tls-ca.pem``."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = UvicornTLSFiles(
        ssl_certfile=directory / "tls-cert.pem",
        ssl_keyfile=directory / "tls-key.pem",
        ssl_ca_certs=directory / "tls-ca.pem",
    )
    _write(files.ssl_certfile, _certfile_pem(creds), 0o644)
    _write(files.ssl_keyfile, _keyfile_pem(creds), 0o600)
    _write(files.ssl_ca_certs, trust.to_pem(), 0o644)
    return files
