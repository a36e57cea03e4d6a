"""PKI operations: recipients CA, renewal with overlap, revocation and CRLs, expiry warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from jukinet.net.pki import (
    RECIPIENTS_CA_NAME,
    RECIPIENTS_PURPOSE,
    NetworkPKI,
    PKIError,
    SignatureAlgorithm,
    SignatureError,
)

NOW = datetime(2014, 3, 3, tzinfo=UTC)
CHIYODA = "municipality/131016"


@pytest.fixture
def pki(tmp_path: Path) -> NetworkPKI:
    return NetworkPKI.init(tmp_path / "pki", NOW - timedelta(days=1))


def test_renewal_changes_key_and_algorithm_and_keeps_the_old_certificate_valid(
    pki: NetworkPKI,
) -> None:
    old = pki.issue_node(
        CHIYODA, "municipality", SignatureAlgorithm.RSA_PKCS1V15_SHA1, NOW, rsa_key_size=1024
    )
    new = pki.renew_node(CHIYODA, SignatureAlgorithm.ED25519, NOW + timedelta(days=1))
    assert new.algorithm is SignatureAlgorithm.ED25519
    assert new.fingerprint != old.fingerprint and new.identity == old.identity
    assert pki.credentials(CHIYODA).fingerprint == new.fingerprint
    trust = pki.trust_store()
    at = NOW + timedelta(days=2)
    for creds in (old, new):  # the overlap: both verify
        signature = creds.sign(b"payload")
        assert trust.verify_message(
            creds.certificate_der, creds.algorithm, b"payload", signature, at
        )
    infos = {c.fingerprint: c for c in pki.certificates()}
    assert infos[old.fingerprint].current is False
    assert infos[old.fingerprint].key_description == "RSA-1024"
    assert infos[new.fingerprint].current is True
    assert not list((pki.node_dir(CHIYODA) / "previous").glob("*.key"))  # old key not kept


def test_renewal_keeps_hosts_and_issuer(pki: NetworkPKI) -> None:
    pki.ensure_issuer(RECIPIENTS_PURPOSE, RECIPIENTS_CA_NAME, NOW)
    pki.issue_node("recipient/jpf", "recipient", now=NOW, purpose=RECIPIENTS_PURPOSE, hosts=["a"])
    renewed = pki.renew_node("recipient/jpf", SignatureAlgorithm.ML_DSA_65, NOW)
    san = renewed.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["a"]
    assert pki.purpose_of(renewed.certificate) == RECIPIENTS_PURPOSE


def test_revocation_crl_and_trust_store_refusal(pki: NetworkPKI) -> None:
    creds = pki.issue_node(CHIYODA, "municipality", now=NOW)
    trust = pki.trust_store()
    assert trust.verify_signer(creds.certificate_der, NOW)  # cached before the CRL arrives
    entry = pki.revoke(CHIYODA, NOW, reason=x509.ReasonFlags.key_compromise)
    with pytest.raises(PKIError, match="already revoked"):
        pki.revoke(CHIYODA, NOW)
    crl = pki.publish_crl(now=NOW)
    assert crl.is_signature_valid(pki.nodes_ca.certificate.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(entry.serial) is not None
    assert (pki.ca_dir / "nodes-ca.crl").is_file()
    assert trust.apply_crl(crl)
    with pytest.raises(SignatureError, match="revoked") as info:
        trust.verify_signer(creds.certificate_der, NOW)
    assert info.value.rule == "revoked" and "keyCompromise" in info.value.reason
    assert "CRL 1" in info.value.reason
    assert not trust.apply_crl(crl)  # the same number again: ignored
    assert [c.revoked for c in pki.certificates()] == [True]


def test_older_crl_is_ignored(pki: NetworkPKI) -> None:
    creds = pki.issue_node(CHIYODA, "municipality", now=NOW)
    empty = pki.publish_crl(now=NOW)
    pki.revoke(CHIYODA, NOW)
    listing = pki.publish_crl(now=NOW)
    trust = pki.trust_store()
    assert trust.apply_crl(listing)
    assert not trust.apply_crl(empty)  # a replayed older CRL cannot un-revoke
    with pytest.raises(SignatureError, match="revoked"):
        trust.verify_signer(creds.certificate_der, NOW)


def test_crl_of_a_foreign_ca_is_refused(pki: NetworkPKI, tmp_path: Path) -> None:
    other = NetworkPKI.init(tmp_path / "other", NOW)
    with pytest.raises(SignatureError, match="unknown issuer") as info:
        pki.trust_store().apply_crl(other.publish_crl(now=NOW))
    assert info.value.rule == "unknown_issuer"


def test_revoking_a_replaced_certificate_by_fingerprint(pki: NetworkPKI) -> None:
    old = pki.issue_node(CHIYODA, "municipality", now=NOW)
    new = pki.renew_node(CHIYODA, now=NOW)
    pki.revoke(CHIYODA, NOW, fingerprint=old.fingerprint, reason=x509.ReasonFlags.superseded)
    trust = pki.trust_store()
    trust.apply_crl(pki.publish_crl(now=NOW))
    with pytest.raises(SignatureError, match="superseded"):
        trust.verify_signer(old.certificate_der, NOW)
    assert trust.verify_signer(new.certificate_der, NOW) == new.identity
    with pytest.raises(PKIError, match="no certificate"):
        pki.revoke(CHIYODA, NOW, fingerprint="0" * 64)


def test_expiring_certificates(pki: NetworkPKI) -> None:
    pki.issue_node(CHIYODA, "municipality", now=NOW, validity=timedelta(days=30))
    pki.issue_node("prefecture", "prefecture", now=NOW)
    assert [c.node_id for c in pki.expiring(NOW, 60)] == [CHIYODA]
    assert pki.expiring(NOW, 10) == []
    pki.revoke(CHIYODA, NOW)
    assert pki.expiring(NOW, 60) == []  # a revoked certificate needs no renewal warning
