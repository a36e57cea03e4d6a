"""Signed recipient requests, the pure part: signature base, headers, and every refusal that
needs no database (timing, issuer, recipient name, chain, CRL, crypto policy, tampering)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from jukinet.net.pki import (
    RECIPIENTS_CA_NAME,
    RECIPIENTS_PURPOSE,
    NetworkPKI,
    NodeCredentials,
    SignatureAlgorithm,
    SignatureError,
    TrustStore,
    recipient_name,
)
from jukinet.net.policy import DEFAULT_POLICY
from jukinet.net.request_signing import (
    CERTIFICATE_HEADER,
    CONTENT_DIGEST_HEADER,
    SIGNATURE_HEADER,
    VerifiedRequest,
    parse_signature,
    sign_request,
    signature_base,
    verify_request,
)

NOW = datetime(2014, 3, 31, 1, 0, tzinfo=UTC)
PENSION = "日本年金機構"
JPF = "recipient/jpf"
PATH = "/provision/immediate"
BODY = b'{"affair_id":"NENKIN-1","case_reference":"C-1"}'


@pytest.fixture
def pki(tmp_path: Path) -> NetworkPKI:
    pki = NetworkPKI.init(tmp_path / "pki", NOW - timedelta(days=1))
    pki.ensure_issuer(RECIPIENTS_PURPOSE, RECIPIENTS_CA_NAME, NOW - timedelta(days=1))
    return pki


@pytest.fixture
def trust(pki: NetworkPKI) -> TrustStore:
    store = pki.trust_store()
    store.policy = DEFAULT_POLICY
    return store


def issue(
    pki: NetworkPKI,
    node_id: str = JPF,
    recipient: str | None = PENSION,
    algorithm: SignatureAlgorithm = SignatureAlgorithm.ED25519,
    **kw: object,
) -> NodeCredentials:
    return pki.issue_node(
        node_id,
        "recipient",
        algorithm,
        NOW,
        purpose=RECIPIENTS_PURPOSE,
        recipient=recipient,
        **kw,  # type: ignore[arg-type]
    )


def check(
    trust: TrustStore,
    headers: dict[str, str],
    *,
    method: str = "POST",
    target: str = PATH,
    body: bytes | None = BODY,
    now: datetime = NOW,
) -> VerifiedRequest:
    signed = parse_signature(
        headers.get(CERTIFICATE_HEADER),
        headers[SIGNATURE_HEADER],
        headers.get(CONTENT_DIGEST_HEADER),
    )
    return verify_request(trust, signed, method, target, body=body, now=now)


def refusal(trust: TrustStore, headers: dict[str, str], **kw: object) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        check(trust, headers, **kw)  # type: ignore[arg-type]
    return caught.value


def test_signature_base_layout() -> None:
    digest = hashlib.sha256(b"{}").digest()
    base = signature_base(
        "POST",
        "/provision/batch?affair_id=NENKIN-1",
        digest,
        created=1396227600,
        nonce="AAAAAAAAAAAAAAAAAAAAAAAA",
        algorithm="Ed25519",
        certificate_fingerprint="ab" * 32,
    )
    assert base.decode().split("\n") == [
        '"@method": POST',
        '"@request-target": /provision/batch?affair_id=NENKIN-1',
        f'"content-digest": sha-256=:{base64.b64encode(digest).decode()}:',
        '"@signature-params": ("@method" "@request-target" "content-digest");created=1396227600;'
        f'nonce="AAAAAAAAAAAAAAAAAAAAAAAA";alg="Ed25519";keyid="{"ab" * 32}"',
    ]


def test_headers_and_a_valid_signature(pki: NetworkPKI, trust: TrustStore) -> None:
    creds = issue(pki)
    headers = sign_request(creds, "post", PATH, BODY, now=NOW)
    assert set(headers) == {CERTIFICATE_HEADER, SIGNATURE_HEADER, CONTENT_DIGEST_HEADER}
    assert base64.b64decode(headers[CERTIFICATE_HEADER]) == creds.certificate_der
    assert headers[CONTENT_DIGEST_HEADER] == (
        f"sha-256=:{base64.b64encode(hashlib.sha256(BODY).digest()).decode()}:"
    )
    params = dict(p.split("=", 1) for p in headers[SIGNATURE_HEADER].split(", "))
    assert params["created"] == str(int(NOW.timestamp())) and params["alg"] == "Ed25519"
    verified = check(trust, headers)
    assert (verified.recipient, verified.fingerprint) == (PENSION, creds.fingerprint)
    assert verified.created == NOW and verified.signer.node_id == JPF


@pytest.mark.parametrize(
    "algorithm",
    [
        SignatureAlgorithm.ECDSA_P256_SHA256,
        SignatureAlgorithm.RSA_PKCS1V15_SHA256,
        SignatureAlgorithm.ML_DSA_65,
    ],
)
def test_every_current_algorithm(pki: NetworkPKI, algorithm: SignatureAlgorithm) -> None:
    later = datetime(2026, 11, 1, tzinfo=UTC)  # ML-DSA is accepted from 2024-08-13
    root_pki = NetworkPKI.init(pki.directory.parent / "later", later - timedelta(days=1))
    root_pki.ensure_issuer(RECIPIENTS_PURPOSE, RECIPIENTS_CA_NAME, later - timedelta(days=1))
    creds = root_pki.issue_node(
        JPF, "recipient", algorithm, later, purpose=RECIPIENTS_PURPOSE, recipient=PENSION
    )
    store = root_pki.trust_store()
    store.policy = DEFAULT_POLICY
    assert check(store, sign_request(creds, "POST", PATH, BODY, now=later), now=later)


def test_a_streamed_body_is_checked_by_the_caller(pki: NetworkPKI, trust: TrustStore) -> None:
    creds = issue(pki)
    digest = hashlib.sha256(BODY).digest()
    headers = sign_request(creds, "POST", PATH, body_sha256=digest, now=NOW)
    whole = sign_request(creds, "POST", PATH, BODY, now=NOW)
    assert headers[CONTENT_DIGEST_HEADER] == whole[CONTENT_DIGEST_HEADER]
    verified = check(trust, headers, body=None)
    assert verified.content_sha256 == digest


def test_tampering_is_refused(pki: NetworkPKI, trust: TrustStore) -> None:
    headers = sign_request(issue(pki), "POST", PATH, BODY, now=NOW)
    assert refusal(trust, headers, body=BODY + b" ").rule == "digest_mismatch"
    assert refusal(trust, headers, target=PATH + "?x=1").rule == "bad_signature"
    assert refusal(trust, headers, method="PUT").rule == "bad_signature"
    forged = {
        **headers,
        CONTENT_DIGEST_HEADER: sign_request(issue(pki, "recipient/other"), "POST", PATH, b"x")[
            CONTENT_DIGEST_HEADER
        ],
    }
    assert refusal(trust, forged, body=b"x").rule == "bad_signature"
    signature = headers[SIGNATURE_HEADER]
    sig = signature.rsplit("sig=", 1)[1]
    flipped = base64.b64encode(bytes([base64.b64decode(sig)[0] ^ 1]) + base64.b64decode(sig)[1:])
    bad = {**headers, SIGNATURE_HEADER: signature.replace(sig, flipped.decode())}
    assert refusal(trust, bad).rule == "bad_signature"


def test_created_must_be_within_300_seconds(pki: NetworkPKI, trust: TrustStore) -> None:
    creds = issue(pki)
    for skew in (timedelta(seconds=300), timedelta(seconds=-300)):
        assert check(trust, sign_request(creds, "POST", PATH, BODY, now=NOW + skew))
    for skew in (timedelta(seconds=301), timedelta(seconds=-301)):
        refused = refusal(trust, sign_request(creds, "POST", PATH, BODY, now=NOW + skew))
        assert refused.rule == "stale_created"
        assert "301 s" in refused.reason and "300 s" in refused.reason


def test_certificates_of_other_issuers_are_refused(
    pki: NetworkPKI, trust: TrustStore, tmp_path: Path
) -> None:
    node = pki.issue_node("national", "national", now=NOW)  # the nodes CA
    refused = refusal(trust, sign_request(node, "POST", PATH, BODY, now=NOW))
    assert refused.rule == "not_a_recipient_certificate"
    assert "recipients issuing CA" in refused.reason
    foreign = NetworkPKI.init(tmp_path / "foreign", NOW - timedelta(days=1))
    foreign.ensure_issuer(RECIPIENTS_PURPOSE, RECIPIENTS_CA_NAME, NOW - timedelta(days=1))
    impostor = issue(foreign)
    assert refusal(trust, sign_request(impostor, "POST", PATH, BODY, now=NOW)).rule == (
        "unknown_issuer"
    )


def test_a_certificate_naming_no_recipient_is_refused(pki: NetworkPKI, trust: TrustStore) -> None:
    anonymous = issue(pki, recipient=None)
    refused = refusal(trust, sign_request(anonymous, "POST", PATH, BODY, now=NOW))
    assert refused.rule == "unknown_recipient"


def test_expired_and_revoked_certificates(pki: NetworkPKI, trust: TrustStore) -> None:
    creds = issue(pki, validity=timedelta(days=30))
    later = NOW + timedelta(days=31)
    refused = refusal(trust, sign_request(creds, "POST", PATH, BODY, now=later), now=later)
    assert refused.rule == "expired"

    current = issue(pki, "recipient/jpf2")
    assert check(trust, sign_request(current, "POST", PATH, BODY, now=NOW))
    pki.revoke("recipient/jpf2", NOW, reason=x509.ReasonFlags.key_compromise)
    assert trust.apply_crl(pki.publish_crl(RECIPIENTS_PURPOSE, NOW))
    refused = refusal(trust, sign_request(current, "POST", PATH, BODY, now=NOW))
    assert refused.rule == "revoked" and "keyCompromise" in refused.reason


def test_a_retired_algorithm_is_refused_naming_the_cutoff(
    pki: NetworkPKI, trust: TrustStore
) -> None:
    legacy = issue(pki, algorithm=SignatureAlgorithm.RSA_PKCS1V15_SHA1, rsa_key_size=1024)
    assert check(trust, sign_request(legacy, "POST", PATH, BODY, now=NOW))
    after = datetime(2014, 6, 1, tzinfo=UTC)
    refused = refusal(trust, sign_request(legacy, "POST", PATH, BODY, now=after), now=after)
    assert refused.rule == "algorithm_retired"
    assert "RSA-PKCS1v15-SHA1 retired on 2014-05-31" in refused.reason


def test_a_fingerprint_alone_once_the_certificate_is_known(
    pki: NetworkPKI, trust: TrustStore
) -> None:
    creds = issue(pki)
    short = sign_request(creds, "POST", PATH, BODY, now=NOW, send_certificate=False)
    assert short[CERTIFICATE_HEADER] == f"sha256:{creds.fingerprint}"
    assert refusal(trust, short).rule == "certificate_unknown"
    check(trust, sign_request(creds, "POST", PATH, BODY, now=NOW))
    again = sign_request(creds, "POST", PATH, BODY, now=NOW, send_certificate=False)
    assert check(trust, again).recipient == PENSION


def test_renewal_keeps_the_recipient_and_both_certificates_sign(
    pki: NetworkPKI, trust: TrustStore
) -> None:
    old = issue(pki)
    new = pki.renew_node(JPF, SignatureAlgorithm.ECDSA_P256_SHA256, NOW)
    assert recipient_name(new.certificate) == PENSION
    for creds in (old, new):
        assert check(trust, sign_request(creds, "POST", PATH, BODY, now=NOW)).recipient == PENSION


@pytest.mark.parametrize(
    ("change", "header"),
    [
        ({SIGNATURE_HEADER: "created=1, nonce=short, alg=Ed25519, sig=AA=="}, SIGNATURE_HEADER),
        ({SIGNATURE_HEADER: "created=1396227600, alg=Ed25519, sig=AA=="}, SIGNATURE_HEADER),
        ({CONTENT_DIGEST_HEADER: "sha-512=:AA==:"}, CONTENT_DIGEST_HEADER),
        ({CERTIFICATE_HEADER: "sha256:XYZ"}, CERTIFICATE_HEADER),
        ({CERTIFICATE_HEADER: "not base64!"}, CERTIFICATE_HEADER),
    ],
)
def test_malformed_headers(pki: NetworkPKI, change: dict[str, str], header: str) -> None:
    headers = {**sign_request(issue(pki), "POST", PATH, BODY, now=NOW), **change}
    with pytest.raises(SignatureError) as caught:
        parse_signature(
            headers[CERTIFICATE_HEADER], headers[SIGNATURE_HEADER], headers[CONTENT_DIGEST_HEADER]
        )
    assert (caught.value.rule, caught.value.field) == ("malformed_signature", header)


def test_targets_must_be_sent_encoded(pki: NetworkPKI) -> None:
    with pytest.raises(SignatureError) as caught:
        sign_request(issue(pki), "GET", "/provision/batch?affair_id=年金", now=NOW)
    assert caught.value.rule == "malformed_request"
