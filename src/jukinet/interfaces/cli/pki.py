"""``jukinet pki``: the network CA under JUKINET_HOME/pki, renewals, revocation, migration.

Revoking (and renewing) publishes a new CRL that the national center sends to every node of
the embedded network before the command returns. ML-DSA and RSA-1024 certificates sign
messages only: OpenSSL 3.0 cannot use them for TLS (``jukinet serve``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from rich.table import Table

from jukinet.interfaces.cli.common import clock, console, network, settings
from jukinet.net.pki import (
    NODES_PURPOSE,
    RECIPIENTS_CA_NAME,
    RECIPIENTS_PURPOSE,
    CertificateInfo,
    NetworkPKI,
    PKIError,
    SignatureAlgorithm,
)
from jukinet.net.policy import DEFAULT_POLICY, CryptoPolicy
from jukinet.services.national.pki import current_policy
from jukinet.store.db import make_engine, sqlite_url

app = typer.Typer(help="Network PKI: CAs, node certificates, renewal, revocation, crypto policy.")

EXPIRY_WARNING_DAYS = 90
REASONS = {flag.value.lower(): flag for flag in x509.ReasonFlags}


def _directory() -> Path:
    return settings().home / "pki"


def _load() -> NetworkPKI:
    directory = _directory()
    if not (directory / "ca" / "root.pem").exists():
        raise typer.BadParameter(f"no network CA in {directory}: run `jukinet pki init` first")
    return NetworkPKI.load(directory)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error[/red]: {message}")
    return typer.Exit(1)


def _distribute_crl(pki: NetworkPKI, purpose: str, now: datetime) -> None:
    crl = pki.publish_crl(purpose, now)
    with network() as net:
        sent = net.publish_crl(crl, purpose)
    console.print(f"CRL {purpose} published and sent to {sent} node(s)")


@app.command("init")
def init() -> None:
    """Create the root CA and the issuing CAs for nodes and for recipients."""
    now = clock().now()
    directory = _directory()
    if (directory / "ca" / "root.pem").exists():
        pki = NetworkPKI.load(directory)
        console.print(f"network CA already in {directory}")
    else:
        pki = NetworkPKI.init(directory, now)
        console.print(f"network CA created in {directory}")
    pki.ensure_issuer(RECIPIENTS_PURPOSE, RECIPIENTS_CA_NAME, now)
    for purpose, ca in sorted(pki.issuers.items()):
        console.print(f"  {purpose}: until {ca.certificate.not_valid_after_utc:%Y-%m-%d}")


AlgorithmOption = Annotated[
    SignatureAlgorithm | None, typer.Option("--algorithm", help="signature algorithm")
]
KeySizeOption = Annotated[int, typer.Option("--rsa-key-size", help="RSA modulus bits")]


@app.command("issue")
def issue(
    node_id: str,
    role: Annotated[str | None, typer.Option(help="default: the node id's first part")] = None,
    algorithm: AlgorithmOption = None,
    rsa_key_size: KeySizeOption = 2048,
    purpose: Annotated[str, typer.Option(help="nodes | recipients")] = NODES_PURPOSE,
    recipient: Annotated[
        str | None,
        typer.Option(help="the recipient (e.g. 日本年金機構) a recipients certificate acts for"),
    ] = None,
) -> None:
    """Issue a certificate and key for a node or recipient (refuses to replace one).

    A recipient signs its provision requests with a certificate of ``--purpose recipients``
    naming it with ``--recipient``; the key stays in ``pki/nodes/<id>/`` for the recipient."""
    pki = _load()
    now = clock().now()
    if recipient is not None:
        purpose = RECIPIENTS_PURPOSE
    if purpose == RECIPIENTS_PURPOSE:
        pki.ensure_issuer(RECIPIENTS_PURPOSE, RECIPIENTS_CA_NAME, now)
    if purpose not in pki.issuers:
        raise _fail(f"no issuing CA for {purpose!r}")
    try:
        creds = pki.issue_node(
            node_id,
            role or node_id.split("/", 1)[0],
            algorithm or SignatureAlgorithm.ED25519,
            now,
            rsa_key_size=rsa_key_size,
            purpose=purpose,
            recipient=recipient,
        )
    except PKIError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{creds.node_id}: {creds.algorithm}, fingerprint {creds.fingerprint}")
    if purpose == RECIPIENTS_PURPOSE and recipient is None:
        console.print(
            "[yellow]note[/yellow]: no --recipient: this certificate cannot sign provision requests"
        )


@app.command("renew")
def renew(
    node_id: str,
    algorithm: AlgorithmOption = None,
    rsa_key_size: KeySizeOption = 2048,
    revoke_previous: Annotated[
        bool, typer.Option(help="revoke the replaced certificate now (no overlap)")
    ] = False,
) -> None:
    """New key and certificate for a node; the old certificate stays valid (overlap)."""
    pki = _load()
    now = clock().now()
    try:
        old = pki.credentials(node_id)
        creds = pki.renew_node(node_id, algorithm, now, rsa_key_size=rsa_key_size)
    except PKIError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{node_id}: {old.algorithm} → {creds.algorithm} ({creds.fingerprint[:16]})")
    if revoke_previous:
        pki.revoke(node_id, now, fingerprint=old.fingerprint, reason=x509.ReasonFlags.superseded)
    _distribute_crl(pki, pki.purpose_of(creds.certificate), now)


@app.command("revoke")
def revoke(
    node_id: str,
    fingerprint: Annotated[
        str | None, typer.Option(help="a replaced certificate; default: the current one")
    ] = None,
    reason: Annotated[str, typer.Option(help=", ".join(REASONS))] = "unspecified",
) -> None:
    """Revoke a certificate, publish the CRL and send it to every node."""
    flag = REASONS.get(reason.lower().replace("-", ""))
    if flag is None:
        raise _fail(f"unknown reason {reason!r}: one of {', '.join(REASONS)}")
    pki = _load()
    now = clock().now()
    try:
        entry = pki.revoke(node_id, now, fingerprint=fingerprint, reason=flag)
    except PKIError as exc:
        raise _fail(str(exc)) from None
    console.print(f"revoked {entry.node_id} certificate {entry.fingerprint} ({entry.reason})")
    purpose = next(c.purpose for c in pki.certificates() if c.fingerprint == entry.fingerprint)
    _distribute_crl(pki, purpose, now)


@app.command("list")
def list_certificates(
    days: Annotated[int, typer.Option("--expiring-days", help="warn window")] = (
        EXPIRY_WARNING_DAYS
    ),
    all_certificates: Annotated[bool, typer.Option("--all", help="also replaced ones")] = False,
) -> None:
    """Every certificate: node, role, algorithm, key size, not-after, revoked, expiring."""
    pki = _load()
    now = clock().now()
    table = Table("node", "role", "algorithm", "key", "not after", "revoked", "expiring", "fp")
    for c in pki.certificates():
        if not (c.current or all_certificates):
            continue
        expiring = c.current and not c.revoked and c.expires_within(now, days)
        table.add_row(
            c.node_id if c.current else f"{c.node_id} (replaced)",
            c.role,
            str(c.algorithm),
            c.key_description,
            f"{c.not_after:%Y-%m-%d}",
            "revoked" if c.revoked else "",
            "[yellow]expiring[/yellow]" if expiring else "",
            c.fingerprint[:16],
        )
    console.print(table)
    for c in pki.expiring(now, days):
        console.print(f"[yellow]warning[/yellow]: {c.node_id} expires {c.not_after:%Y-%m-%d}")


def _policy() -> CryptoPolicy:
    """The policy the national center holds (the built-in default before any was issued)."""
    database = settings().home.resolve() / "national.db"
    if not database.exists():
        return DEFAULT_POLICY
    engine = make_engine(sqlite_url(database))
    try:
        return current_policy(engine)
    finally:
        engine.dispose()


def still_to_migrate(
    certificates: list[CertificateInfo], policy: CryptoPolicy, now: datetime
) -> list[tuple[CertificateInfo, datetime]]:
    """Current, unrevoked certificates on an algorithm or key size with a retirement date."""
    found = []
    for c in certificates:
        if not c.current or c.revoked:
            continue
        deadline = policy.deadline(c.algorithm, c.key_bits, now)
        if deadline is not None:
            found.append((c, deadline))
    return sorted(found, key=lambda pair: (pair[1], pair[0].node_id))


@app.command("migration-status")
def migration_status() -> None:
    """Every node and recipient still on an algorithm scheduled for retirement."""
    pki = _load()
    now = clock().now()
    policy = _policy()
    pending = still_to_migrate(pki.certificates(), policy, now)
    if not pending:
        console.print(f"nothing to migrate under crypto policy v{policy.version}")
        return
    table = Table("node", "role", "purpose", "algorithm", "key", "deadline", "status")
    for c, deadline in pending:
        status = "[red]retired[/red]" if deadline <= now else f"{(deadline - now).days} days left"
        table.add_row(
            c.node_id,
            c.role,
            c.purpose,
            str(c.algorithm),
            c.key_description,
            f"{deadline:%Y-%m-%d}",
            status,
        )
    console.print(f"crypto policy v{policy.version}: {len(pending)} certificate(s) to migrate")
    console.print(table)
