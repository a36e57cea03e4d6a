"""Signed recipient requests: a documented subset of RFC 9421 (HTTP Message Signatures).

uvicorn never passes the TLS client certificate to the application, so a recipient proves who
it is by signing every request with the key of its certificate from the recipients issuing
CA. This module is the pure part shared by clients (:func:`sign_request`) and the national
center (:func:`parse_signature`, :func:`verify_request`): the headers, the signature base and
every check that needs no database. Nonce replay and the recipient register belong to
``services/national/recipient_auth.py``; docs/security.md describes the format for clients.

Headers::

    Content-Digest: sha-256=:<base64 SHA-256 of the body bytes>:   (RFC 9530)
    Jukinet-Certificate: <base64 DER>  |  sha256:<hex fingerprint, once the server knows it>
    Jukinet-Signature: created=<unix seconds>, nonce=<base64url>, alg=<algorithm>, sig=<base64>

Signature base (RFC 9421 §2.5 layout, fixed components, lines joined by LF, no final LF)::

    "@method": POST
    "@request-target": /provision/batch?affair_id=NENKIN-1
    "content-digest": sha-256=:…:
    "@signature-params": ("@method" "@request-target" "content-digest");created=…;nonce="…";alg="…";keyid="<fingerprint>"

The body is covered through its declared digest (as in RFC 9421 + 9530), so a multi-gigabyte
batch file is verified while it streams, not held in memory first.
"""  # noqa: E501

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from weakref import WeakKeyDictionary

from cryptography import x509
from cryptography.x509.oid import NameOID

from jukinet.net.pki import (
    RECIPIENTS_PURPOSE,
    NodeCredentials,
    NodeIdentity,
    SignatureError,
    TrustStore,
    fingerprint,
    recipient_name,
)

__all__ = [
    "CERTIFICATE_HEADER",
    "CONTENT_DIGEST_HEADER",
    "SIGNATURE_HEADER",
    "WINDOW",
    "RequestSignature",
    "VerifiedRequest",
    "body_matches",
    "content_digest",
    "digest_mismatch",
    "parse_signature",
    "request_target",
    "sign_request",
    "signature_base",
    "verify_request",
]

CONTENT_DIGEST_HEADER: Final = "Content-Digest"
CERTIFICATE_HEADER: Final = "Jukinet-Certificate"
SIGNATURE_HEADER: Final = "Jukinet-Signature"
WINDOW: Final = timedelta(seconds=300)
"""``created`` may be this far from the server clock either way; nonces are kept as long."""
FINGERPRINT_PREFIX: Final = "sha256:"
COVERED: Final = '("@method" "@request-target" "content-digest")'

_FIELDS: Final = ("created", "nonce", "alg", "sig")
_CREATED = re.compile(r"\d{1,11}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_ALGORITHM = re.compile(r"[A-Za-z0-9-]{1,40}")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/]{43}=):")
_METHOD = re.compile(r"[A-Z]{1,16}")
_TARGET = re.compile(r"/[\x21-\x7e]*")
"""Origin form as sent: printable ASCII, percent-encoded, no spaces (so no line can be forged
inside the signature base)."""


@dataclass(frozen=True, slots=True)
class RequestSignature:
    """The two headers of a signed request, parsed but not verified."""

    created: int
    nonce: str
    algorithm: str
    signature: bytes
    content_sha256: bytes
    """The body digest the client declared (and signed)."""
    certificate_fingerprint: str
    certificate_der: bytes | None
    """``None`` when the request carried only the fingerprint."""


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A request whose signature, certificate and timing passed (nonce not yet checked)."""

    recipient: str
    fingerprint: str
    algorithm: str
    nonce: str
    created: datetime
    signer: NodeIdentity
    content_sha256: bytes
    """The signed body digest: a streamed body must match it (:func:`body_matches`)."""


def _malformed(header: str, message: str) -> SignatureError:
    return SignatureError("malformed_signature", f"{header}: {message}", header)


def request_target(path: str, query: str = "") -> str:
    """The ``@request-target``: the path and query exactly as sent (percent-encoded)."""
    return f"{path}?{query}" if query else path


def _checked(method: str, target: str) -> tuple[str, str]:
    if not _METHOD.fullmatch(method):
        raise SignatureError("malformed_request", f"method {method!r} cannot be signed", "method")
    if not _TARGET.fullmatch(target):
        raise SignatureError(
            "malformed_request",
            "the request target must be percent-encoded printable ASCII starting with '/'",
            "target",
        )
    return method, target


def content_digest(sha256: bytes) -> str:
    """The ``Content-Digest`` value (RFC 9530) of a body's SHA-256."""
    return f"sha-256=:{base64.b64encode(sha256).decode('ascii')}:"


def signature_base(
    method: str,
    target: str,
    content_sha256: bytes,
    *,
    created: int,
    nonce: str,
    algorithm: str,
    certificate_fingerprint: str,
) -> bytes:
    """The exact bytes signed: method, target, body digest and the signature parameters."""
    if len(content_sha256) != hashlib.sha256().digest_size:
        raise ValueError("content_sha256 must be a SHA-256 digest (32 bytes)")
    method, target = _checked(method, target)
    params = (
        f'{COVERED};created={created};nonce="{nonce}";alg="{algorithm}";'
        f'keyid="{certificate_fingerprint}"'
    )
    lines = (
        f'"@method": {method}',
        f'"@request-target": {target}',
        f'"content-digest": {content_digest(content_sha256)}',
        f'"@signature-params": {params}',
    )
    return "\n".join(lines).encode("ascii")


def sign_request(
    credentials: NodeCredentials,
    method: str,
    url_path: str,
    body: bytes = b"",
    *,
    body_sha256: bytes | None = None,
    now: datetime | None = None,
    nonce: str | None = None,
    send_certificate: bool = True,
) -> dict[str, str]:
    """The headers that authenticate one request (``url_path`` with its query, as sent).

    ``body_sha256`` replaces ``body`` for a file too large to hold (hash it while reading).
    ``send_certificate=False`` sends only the fingerprint: cheaper, but the server answers
    ``certificate_unknown`` until it has seen the certificate in full.
    """
    digest = body_sha256 if body_sha256 is not None else hashlib.sha256(body).digest()
    created = int((now or datetime.now(UTC)).timestamp())
    nonce = nonce or secrets.token_urlsafe(18)
    algorithm = str(credentials.algorithm)
    base = signature_base(
        method.upper(),
        url_path,
        digest,
        created=created,
        nonce=nonce,
        algorithm=algorithm,
        certificate_fingerprint=credentials.fingerprint,
    )
    signature = base64.b64encode(credentials.sign(base)).decode("ascii")
    certificate = (
        base64.b64encode(credentials.certificate_der).decode("ascii")
        if send_certificate
        else FINGERPRINT_PREFIX + credentials.fingerprint
    )
    return {
        CONTENT_DIGEST_HEADER: content_digest(digest),
        CERTIFICATE_HEADER: certificate,
        SIGNATURE_HEADER: f"created={created}, nonce={nonce}, alg={algorithm}, sig={signature}",
    }


def _b64(text: str, header: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(header, f"{what} is not base64") from None


def parse_signature(
    certificate_header: str | None, signature_header: str, digest_header: str | None
) -> RequestSignature:
    """The three headers, strictly: exactly the four parameters, each well-formed."""
    if not certificate_header:
        raise _malformed(CERTIFICATE_HEADER, "missing (the signer's certificate or fingerprint)")
    found = _DIGEST.fullmatch((digest_header or "").strip())
    if found is None:
        raise _malformed(CONTENT_DIGEST_HEADER, "expected sha-256=:<base64 SHA-256 of the body>:")
    content_sha256 = base64.b64decode(found.group(1))
    params: dict[str, str] = {}
    for item in signature_header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or key not in _FIELDS or key in params:
            raise _malformed(SIGNATURE_HEADER, f"unexpected parameter {item.strip()[:40]!r}")
        params[key] = value.strip()
    missing = [k for k in _FIELDS if k not in params]
    if missing:
        raise _malformed(SIGNATURE_HEADER, f"missing {', '.join(missing)}")
    if not _CREATED.fullmatch(params["created"]):
        raise _malformed(SIGNATURE_HEADER, "created is not a Unix time in seconds")
    if not _NONCE.fullmatch(params["nonce"]):
        raise _malformed(SIGNATURE_HEADER, "nonce must be 16-64 base64url characters")
    if not _ALGORITHM.fullmatch(params["alg"]):
        raise _malformed(SIGNATURE_HEADER, "alg is not an algorithm identifier")
    signature = _b64(params["sig"], SIGNATURE_HEADER, "sig")
    text = certificate_header.strip()
    if text.startswith(FINGERPRINT_PREFIX):
        fp = text.removeprefix(FINGERPRINT_PREFIX)
        if not _FINGERPRINT.fullmatch(fp):
            raise _malformed(CERTIFICATE_HEADER, "fingerprint must be 64 lowercase hex digits")
        der = None
    else:
        der = _b64(text, CERTIFICATE_HEADER, "the certificate")
        fp = fingerprint(der)
    return RequestSignature(
        int(params["created"]), params["nonce"], params["alg"], signature, content_sha256, fp, der
    )


@dataclass(frozen=True, slots=True)
class _Certificate:
    """What the issuer check needs of a certificate, parsed once per certificate."""

    subject: str
    issuer: str
    issuer_key: bytes | None
    recipient: str | None


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


@lru_cache(maxsize=4096)
def _certificate(der: bytes) -> _Certificate:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise SignatureError(
            "malformed_certificate", f"malformed certificate: {exc}", CERTIFICATE_HEADER
        ) from None
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        issuer_key = aki.value.key_identifier
    except x509.ExtensionNotFound:
        issuer_key = None
    return _Certificate(
        cert.subject.rfc4514_string(),
        cert.issuer.rfc4514_string(),
        issuer_key,
        recipient_name(cert),
    )


_ISSUERS: WeakKeyDictionary[TrustStore, tuple[object, object, tuple[set[bytes], set[bytes]]]] = (
    WeakKeyDictionary()
)


def _recipient_issuers(trust: TrustStore) -> tuple[set[bytes], set[bytes]]:
    """Key ids of the trust store's recipients issuing CA(s), and of every CA it trusts
    (computed once per trust store: its CA tuples are never changed, only replaced)."""
    cached = _ISSUERS.get(trust)
    if cached is not None and cached[0] is trust.roots and cached[1] is trust.intermediates:
        return cached[2]
    found = _issuers_of(trust)
    _ISSUERS[trust] = (trust.roots, trust.intermediates, found)
    return found


def _issuers_of(trust: TrustStore) -> tuple[set[bytes], set[bytes]]:
    recipients: set[bytes] = set()
    trusted: set[bytes] = set()
    for ca in (*trust.roots, *trust.intermediates):
        ski = _ski(ca)
        if ski is None:
            continue
        trusted.add(ski)
        units = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if any(u.value == RECIPIENTS_PURPOSE for u in units):
            recipients.add(ski)
    return recipients, trusted


def verify_request(
    trust: TrustStore,
    signed: RequestSignature,
    method: str,
    target: str,
    *,
    body: bytes | None,
    now: datetime,
    window: timedelta = WINDOW,
) -> VerifiedRequest:
    """Timing, certificate (recipients CA, chain, validity, CRL), crypto policy at
    ``created``, the signature and the body (``None``: streamed, the caller checks it with
    :func:`body_matches`); raises :class:`SignatureError` naming the first failure."""
    created = datetime.fromtimestamp(signed.created, UTC)
    skew = (created - now).total_seconds()
    if abs(skew) > window.total_seconds():
        where = "ahead of" if skew > 0 else "behind"
        raise SignatureError(
            "stale_created",
            f"created {created.isoformat()} is {abs(int(skew))} s {where} the server clock "
            f"({now.isoformat()}); at most {int(window.total_seconds())} s either way",
            SIGNATURE_HEADER,
        )
    der = signed.certificate_der or trust.certificate_for(signed.certificate_fingerprint)
    if der is None:
        raise SignatureError(
            "certificate_unknown",
            f"certificate {signed.certificate_fingerprint} is not known here: "
            "send it in full (base64 DER)",
            CERTIFICATE_HEADER,
        )
    cert = _certificate(der)
    recipient_cas, trusted = _recipient_issuers(trust)
    if cert.issuer_key not in recipient_cas:
        if cert.issuer_key in trusted:
            raise SignatureError(
                "not_a_recipient_certificate",
                f"certificate of {cert.subject} was issued by {cert.issuer}, "
                "not by the recipients issuing CA",
                CERTIFICATE_HEADER,
            )
        raise SignatureError("unknown_issuer", f"unknown issuer {cert.issuer}", CERTIFICATE_HEADER)
    if cert.recipient is None:
        raise SignatureError(
            "unknown_recipient", f"certificate of {cert.subject} names no recipient", "recipient"
        )
    base = signature_base(
        method,
        target,
        signed.content_sha256,
        created=signed.created,
        nonce=signed.nonce,
        algorithm=signed.algorithm,
        certificate_fingerprint=signed.certificate_fingerprint,
    )
    # At ``created``: chain, validity, revocation, the crypto policy, then the signature.
    signer = trust.verify_message(der, signed.algorithm, base, signed.signature, created)
    trust.verify_signer(der, now)  # and still valid now (cached chain check)
    if body is not None and not body_matches(signed.content_sha256, hashlib.sha256(body).digest()):
        raise digest_mismatch()
    return VerifiedRequest(
        cert.recipient,
        signed.certificate_fingerprint,
        signed.algorithm,
        signed.nonce,
        created,
        signer,
        signed.content_sha256,
    )


def body_matches(signed_sha256: bytes, body_sha256: bytes) -> bool:
    """Whether the body received is the one whose digest was signed."""
    return secrets.compare_digest(signed_sha256, body_sha256)


def digest_mismatch() -> SignatureError:
    return SignatureError(
        "digest_mismatch",
        "the body received does not match its signed Content-Digest",
        CONTENT_DIGEST_HEADER,
    )
