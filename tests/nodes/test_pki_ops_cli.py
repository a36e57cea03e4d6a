"""``jukinet pki``: init, issue, list, renew, revoke (CRL sent to every node), migration status."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jukinet.clock import SystemClock
from jukinet.interfaces.cli.app import app
from jukinet.net.pki import NetworkPKI
from jukinet.nodes.embedded import build_embedded
from jukinet.store.db import read_transaction
from jukinet.store.documents import crl_kind, newest_document

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JUKINET_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_pki_lifecycle(home: Path) -> None:
    assert "network CA created" in run("pki", "init")
    assert "recipients" in run("pki", "init")  # idempotent: adds nothing twice
    node = "municipality/131016"
    run("pki", "issue", node, "--algorithm", "RSA-PKCS1v15-SHA1", "--rsa-key-size", "1024")
    run("pki", "issue", "recipient/jpf", "--purpose", "recipients", "--algorithm", "ML-DSA-65")
    failed = runner.invoke(app, ["pki", "issue", node])
    assert failed.exit_code == 1 and "already exist" in failed.output

    listing = run("pki", "list", "--expiring-days", "2000")
    assert "RSA-1024" in listing and "ml-dsa-65" in listing and "expiring" in listing

    status = run("pki", "migration-status")
    assert node in status and "RSA-PKCS1v15-SHA1" in status and "2014-05-31" in status
    assert "recipient/jpf" not in status  # ML-DSA-65 has no retirement scheduled

    assert "RSA-PKCS1v15-SHA1 → Ed25519" in run("pki", "renew", node, "--algorithm", "Ed25519")
    assert "nothing to migrate" in run("pki", "migration-status")

    out = run("pki", "revoke", "recipient/jpf", "--reason", "keyCompromise")
    assert "revoked recipient/jpf" in out and "sent to" in out
    pki = NetworkPKI.load(home / "pki")
    [revoked] = pki.revoked("recipients")
    assert revoked.node_id == "recipient/jpf" and revoked.reason == "keyCompromise"
    assert "revoked" in run("pki", "list")

    # every node of the embedded network received and kept the CRL
    network = build_embedded(home, SystemClock(), [])
    try:
        for n in network.nodes:
            with read_transaction(n.engine) as conn:
                crl = newest_document(conn, crl_kind("recipients"))
            assert crl is not None and crl.version == 1, n.name
    finally:
        network.dispose()


def test_revoke_unknown_node_is_a_clear_error(home: Path) -> None:
    run("pki", "init")
    result = runner.invoke(app, ["pki", "revoke", "municipality/999999"])
    assert result.exit_code == 1
    assert "no current certificate for node municipality/999999" in result.output
