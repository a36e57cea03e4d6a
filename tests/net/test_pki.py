"""The network PKI with real cryptography: primitives, issuing, persistence, trust checks."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from jukinet.domain.errors import RuleViolation
from jukinet.net.pki import (
    NetworkPKI,
    NodeCredentials,
    NodeIdentity,
    PKIError,
    SignatureAlgorithm,
    SignatureError,
    TrustStore,
    algorithm_of,
    fingerprint,
    generate_private_key,
    key_size_bits,
    node_identity,
    safe_node_dirname,
    sign,
    verify,
)

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
ALL = list(SignatureAlgorithm)


def _rsa_size(alg: SignatureAlgorithm) -> int:
    return 1024 if alg is SignatureAlgorithm.RSA_PKCS1V15_SHA1 else 2048


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> NetworkPKI:
    return NetworkPKI.init(tmp_path_factory.mktemp("pki"), NOW)


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> NetworkPKI:
    return NetworkPKI.init(tmp_path_factory.mktemp("other"), NOW)


@pytest.fixture(scope="module")
def muni(pki: NetworkPKI) -> NodeCredentials:
    return pki.issue_node("municipality/131016", "municipality", now=NOW)


# --- primitives ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALL, ids=str)
def test_every_algorithm_signs_and_verifies(alg: SignatureAlgorithm) -> None:
    key = generate_private_key(alg, rsa_key_size=_rsa_size(alg))
    data = b"identity update 131016"
    sig = sign(key, alg, data)
    verify(key.public_key(), alg, data, sig)
    with pytest.raises(SignatureError, match="bad signature"):
        verify(key.public_key(), alg, data + b"!", sig)
    other = generate_private_key(alg, rsa_key_size=_rsa_size(alg))
    with pytest.raises(SignatureError, match="bad signature") as info:
        verify(other.public_key(), alg, data, sig)
    assert info.value.rule == "bad_signature"
    assert isinstance(info.value, RuleViolation)


@pytest.mark.parametrize("alg", ALL, ids=str)
def test_algorithm_of_round_trips(alg: SignatureAlgorithm) -> None:
    key = generate_private_key(alg, rsa_key_size=_rsa_size(alg))
    hash_name = "sha1" if alg is SignatureAlgorithm.RSA_PKCS1V15_SHA1 else "sha256"
    assert algorithm_of(key.public_key(), hash_name) is alg


def test_key_sizes() -> None:
    rsa1024 = generate_private_key(SignatureAlgorithm.RSA_PKCS1V15_SHA1, rsa_key_size=1024)
    assert key_size_bits(rsa1024.public_key()) == 1024
    assert key_size_bits(generate_private_key("RSA-PKCS1v15-SHA256").public_key()) == 2048
    assert key_size_bits(generate_private_key("ECDSA-P256-SHA256").public_key()) == 256
    assert key_size_bits(generate_private_key("Ed25519").public_key()) == 256
    assert key_size_bits(generate_private_key("ML-DSA-65").public_key()) > 2048
    with pytest.raises(PKIError, match="RSA key size"):
        generate_private_key(SignatureAlgorithm.RSA_PKCS1V15_SHA256, rsa_key_size=512)


def test_sign_and_verify_refuse_algorithm_not_fitting_the_key() -> None:
    key = generate_private_key(SignatureAlgorithm.ED25519)
    with pytest.raises(SignatureError, match="algorithm mismatch"):
        sign(key, SignatureAlgorithm.ECDSA_P256_SHA256, b"x")
    sig = sign(key, SignatureAlgorithm.ED25519, b"x")
    with pytest.raises(SignatureError, match="algorithm mismatch"):
        verify(key.public_key(), SignatureAlgorithm.ML_DSA_65, b"x", sig)
    with pytest.raises(SignatureError, match="unknown algorithm"):
        verify(key.public_key(), "DSA-SHA1", b"x", sig)


_PROPERTY_KEY = ed25519.Ed25519PrivateKey.generate()


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=256), bit=st.integers(min_value=0), in_sig=st.booleans())
def test_property_sign_verify_and_single_bit_flip(data: bytes, bit: int, in_sig: bool) -> None:
    alg = SignatureAlgorithm.ED25519
    sig = sign(_PROPERTY_KEY, alg, data)
    verify(_PROPERTY_KEY.public_key(), alg, data, sig)
    flip_sig = in_sig or not data
    target = bytearray(sig if flip_sig else data)
    i = bit % (len(target) * 8)
    target[i // 8] ^= 1 << (i % 8)
    flipped_data, flipped_sig = (data, bytes(target)) if flip_sig else (bytes(target), sig)
    with pytest.raises(SignatureError, match="bad signature"):
        verify(_PROPERTY_KEY.public_key(), alg, flipped_data, flipped_sig)


# --- the CA on disk ------------------------------------------------------------------------


def test_init_writes_layout_with_private_keys(tmp_path: Path) -> None:
    NetworkPKI.init(tmp_path, NOW)
    ca = tmp_path / "ca"
    for name in ("root.pem", "root.key", "nodes-ca.pem", "nodes-ca.key"):
        assert (ca / name).is_file(), name
    for key in ("root.key", "nodes-ca.key"):
        assert stat.S_IMODE((ca / key).stat().st_mode) == 0o600
    root = x509.load_pem_x509_certificate((ca / "root.pem").read_bytes())
    assert "jukinet network root CA" in root.subject.rfc4514_string()
    assert root.not_valid_after_utc - root.not_valid_before_utc >= timedelta(days=365 * 20)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    NetworkPKI.init(tmp_path, NOW)
    before = (tmp_path / "ca" / "root.key").read_bytes()
    with pytest.raises(PKIError, match="already exists"):
        NetworkPKI.init(tmp_path, NOW)
    assert (tmp_path / "ca" / "root.key").read_bytes() == before


def test_load_round_trip(pki: NetworkPKI) -> None:
    loaded = NetworkPKI.load(pki.directory)
    assert loaded.root.certificate == pki.root.certificate
    assert loaded.nodes_ca.certificate == pki.nodes_ca.certificate
    creds = loaded.issue_node("prefecture", "prefecture", now=NOW)
    assert pki.trust_store().verify_signer(creds.certificate_der, NOW) == NodeIdentity(
        "prefecture", "prefecture"
    )


def test_generic_intermediate_for_recipients(tmp_path: Path) -> None:
    pki = NetworkPKI.init(tmp_path, NOW)
    ca = pki.issue_intermediate("jukinet recipient issuing CA", "recipients", now=NOW)
    assert ca.purpose == "recipients"
    assert (tmp_path / "ca" / "recipients-ca.key").is_file()
    with pytest.raises(PKIError, match="already exists"):
        pki.issue_intermediate("again", "recipients", now=NOW)
    loaded = NetworkPKI.load(tmp_path)
    assert set(loaded.issuers) == {"nodes", "recipients"}
    creds = loaded.issue_node("recipient.jpf", "recipient", now=NOW, purpose="recipients")
    assert loaded.trust_store().verify_signer(creds.certificate_der, NOW).role == "recipient"


def test_node_certificate_contents(muni: NodeCredentials, pki: NetworkPKI) -> None:
    cert = muni.certificate
    assert node_identity(cert) == NodeIdentity("municipality/131016", "municipality")
    assert muni.node_id == "municipality/131016" and muni.role == "municipality"
    assert muni.algorithm is SignatureAlgorithm.ED25519
    ext = cert.extensions
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "urn:jukinet:node:municipality/131016" in san.get_values_for_type(
        x509.UniformResourceIdentifier
    )
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    ku = ext.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_encipherment
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = pki.nodes_ca.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    assert aki.key_identifier == ski.digest
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= timedelta(days=365 * 3)
    assert muni.fingerprint == fingerprint(muni.certificate_der)
    assert len(muni.fingerprint) == 64 and muni.fingerprint == muni.fingerprint.lower()


def test_rsa_node_has_key_encipherment(pki: NetworkPKI) -> None:
    creds = pki.issue_node("municipality/011002", "municipality", "RSA-PKCS1v15-SHA256", NOW)
    ku = creds.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_encipherment


def test_node_credentials_files_and_load(pki: NetworkPKI) -> None:
    creds = pki.issue_node(
        "municipality/272272",
        "municipality",
        SignatureAlgorithm.RSA_PKCS1V15_SHA1,
        NOW,
        rsa_key_size=1024,
    )
    directory = pki.directory / "nodes" / "municipality_272272"
    assert directory == pki.node_dir("municipality/272272")
    for name in ("cert.pem", "key.pem", "chain.pem"):
        assert (directory / name).is_file()
    assert stat.S_IMODE((directory / "key.pem").stat().st_mode) == 0o600
    loaded = NodeCredentials.load(directory)
    assert loaded.fingerprint == creds.fingerprint
    assert loaded.algorithm is SignatureAlgorithm.RSA_PKCS1V15_SHA1
    assert isinstance(loaded.private_key, rsa.RSAPrivateKey)
    assert key_size_bits(loaded.private_key.public_key()) == 1024
    assert loaded.identity == creds.identity
    trust = loaded.trust_store()
    assert trust.verify_message(
        loaded.certificate_der, loaded.algorithm, b"m", loaded.sign(b"m"), NOW
    )
    with pytest.raises(PKIError, match="already exist"):
        pki.issue_node("municipality/272272", "municipality", now=NOW)
    renewed = pki.issue_node("municipality/272272", "municipality", now=NOW, overwrite=True)
    assert NodeCredentials.load(directory).fingerprint == renewed.fingerprint


def test_invalid_node_ids_refused(pki: NetworkPKI) -> None:
    for bad in ("../etc", "Municipality/1", "a_b", "", "a//b"):
        with pytest.raises(PKIError, match="invalid node id"):
            safe_node_dirname(bad)
    with pytest.raises(PKIError, match="invalid role"):
        pki.issue_node("national", "Bad Role", now=NOW)


# --- trust ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALL, ids=str)
def test_verify_message_every_node_algorithm(pki: NetworkPKI, alg: SignatureAlgorithm) -> None:
    creds = pki.issue_node(
        f"node-{alg.lower()}", "municipality", alg, NOW, rsa_key_size=_rsa_size(alg)
    )
    trust = pki.trust_store()
    data = b'{"type":"heartbeat"}'
    who = trust.verify_message(creds.certificate_der, str(alg), data, creds.sign(data), NOW)
    assert who == creds.identity
    with pytest.raises(SignatureError, match="bad signature"):
        trust.verify_message(creds.certificate_der, alg, data + b" ", creds.sign(data), NOW)


def test_other_root_is_unknown_issuer(pki: NetworkPKI, other_pki: NetworkPKI) -> None:
    stranger = other_pki.issue_node("municipality/131016", "municipality", now=NOW)
    with pytest.raises(SignatureError, match="unknown issuer") as info:
        pki.trust_store().verify_message(
            stranger.certificate_der, stranger.algorithm, b"x", stranger.sign(b"x"), NOW
        )
    assert info.value.rule == "unknown_issuer"


def test_expired_and_not_yet_valid_name_the_dates(muni: NodeCredentials) -> None:
    trust = muni.trust_store()
    not_after = muni.certificate.not_valid_after_utc
    not_before = muni.certificate.not_valid_before_utc
    with pytest.raises(
        SignatureError, match=re.escape(f"expired at {not_after.isoformat()}")
    ) as info:
        trust.verify_signer(muni.certificate_der, not_after + timedelta(seconds=1))
    assert info.value.rule == "expired"
    with pytest.raises(SignatureError, match="not yet valid") as info:
        trust.verify_signer(muni.certificate_der, not_before - timedelta(seconds=1))
    assert not_before.isoformat() in info.value.reason
    assert info.value.rule == "not_yet_valid"


def test_cache_still_checks_validity_window(muni: NodeCredentials) -> None:
    trust = muni.trust_store()
    data = b"x"
    sig = muni.sign(data)
    assert trust.verify_message(muni.certificate_der, muni.algorithm, data, sig, NOW)
    assert trust.certificate_for(muni.fingerprint) == muni.certificate_der
    assert trust.fingerprint(muni.certificate_der) == muni.fingerprint
    later = muni.certificate.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(SignatureError, match="expired at"):
        trust.verify_message(muni.certificate_der, muni.algorithm, data, sig, later)
    # the cached success is not poisoned by the failure, nor the failure by the cache
    assert trust.verify_message(muni.certificate_der, muni.algorithm, data, sig, NOW)


def test_algorithm_mismatch(pki: NetworkPKI) -> None:
    creds = pki.issue_node("municipality/401005", "municipality", "RSA-PKCS1v15-SHA256", NOW)
    with pytest.raises(SignatureError, match="algorithm mismatch") as info:
        pki.trust_store().verify_message(
            creds.certificate_der, SignatureAlgorithm.ED25519, b"x", creds.sign(b"x"), NOW
        )
    assert info.value.rule == "algorithm_mismatch"
    with pytest.raises(SignatureError, match="unknown algorithm"):
        pki.trust_store().verify_message(creds.certificate_der, "MD5", b"x", b"", NOW)


def test_revoked_fingerprint_rejected_even_after_caching(muni: NodeCredentials) -> None:
    trust = muni.trust_store()
    assert trust.verify_signer(muni.certificate_der, NOW) == muni.identity
    trust.revoke(muni.fingerprint)
    with pytest.raises(SignatureError, match="revoked") as info:
        trust.verify_signer(muni.certificate_der, NOW)
    assert info.value.rule == "revoked"
    fresh = TrustStore(trust.roots, trust.intermediates, revoked_fingerprints={muni.fingerprint})
    with pytest.raises(SignatureError, match="revoked"):
        fresh.verify_signer(muni.certificate_der, NOW)


def test_malformed_certificate(muni: NodeCredentials) -> None:
    with pytest.raises(SignatureError, match="malformed certificate"):
        muni.trust_store().verify_signer(b"not a certificate", NOW)


def test_ca_certificate_is_not_a_signer(pki: NetworkPKI) -> None:
    der = pki.nodes_ca.certificate.public_bytes(Encoding.DER)
    with pytest.raises(SignatureError):
        pki.trust_store().verify_signer(der, NOW)


def test_trust_store_pem_round_trip(pki: NetworkPKI, muni: NodeCredentials) -> None:
    trust = TrustStore.from_pem(pki.trust_store().to_pem())
    assert trust.roots == (pki.root.certificate,)
    assert trust.verify_signer(muni.certificate_der, NOW) == muni.identity


def _leaf_with(pki: NetworkPKI, *extensions: tuple[x509.ExtensionType, bool]) -> bytes:
    """A certificate from the network's own node CA, with the extensions a test chooses."""
    ca = pki.nodes_ca
    key = ed25519.Ed25519PrivateKey.generate()
    names = x509.SubjectAlternativeName(
        [
            x509.UniformResourceIdentifier("urn:jukinet:node:municipality/131016"),
            x509.UniformResourceIdentifier("urn:jukinet:role:municipality"),
        ]
    )
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(names, False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(ca.private_key, hashes.SHA256()).public_bytes(Encoding.DER)


@pytest.mark.parametrize(
    "usage",
    [
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),  # a TLS server, not a signer
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
    ],
)
def test_certificate_with_wrong_key_usage_is_refused(
    pki: NetworkPKI, usage: x509.ExtendedKeyUsage
) -> None:
    key_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    der = _leaf_with(pki, (key_usage, True), (usage, False))
    with pytest.raises(SignatureError) as err:
        pki.trust_store().verify_signer(der, datetime.now(UTC))
    assert err.value.rule == "invalid_chain"
