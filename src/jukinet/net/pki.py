"""The network PKI: signature primitives, the CA hierarchy, node credentials and the trust store.

Every message on the spine is signed by a node key whose certificate chains to the network
root (root CA → issuing CA per purpose → node certificate). Algorithms are named on the wire
by :class:`SignatureAlgorithm` so the crypto policy can retire one (SHA-1 and RSA-1024 in
2014, classical signatures for ML-DSA next) without changing the envelope format.

Findings with cryptography 50 / OpenSSL 3.0 that shaped this module:

* ``x509.verification.PolicyBuilder`` refuses Ed25519 *CA signatures* ("Forbidden public key
  algorithm") but accepts ECDSA, RSA and ML-DSA ones; the leaf's own key may be of any type
  (Ed25519, ECDSA P-256, RSA-1024/2048, ML-DSA-44/65/87 were all accepted). CA keys are
  therefore ECDSA P-256, which OpenSSL 3.0 TLS also understands (it does not know ML-DSA).
* ``CertificateBuilder`` refuses SHA-1 certificate signatures, so "legacy" nodes are modelled
  by their key (RSA-1024) and message algorithm (RSA-PKCS1v15-SHA1), not by a SHA-1 cert.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from jukinet.domain.errors import RuleViolation

__all__ = [
    "RECIPIENTS_PURPOSE",
    "AlgorithmGate",
    "CertificateAuthority",
    "CertificateInfo",
    "KeyFamily",
    "NetworkPKI",
    "NodeCredentials",
    "NodeIdentity",
    "PKIError",
    "Revocation",
    "SignatureAlgorithm",
    "SignatureError",
    "SigningKey",
    "TrustStore",
    "VerifyingKey",
    "algorithm_of",
    "fingerprint",
    "generate_private_key",
    "key_family",
    "key_size_bits",
    "node_identity",
    "recipient_name",
    "safe_node_dirname",
    "sign",
    "verify",
]

SigningKey = (
    ed25519.Ed25519PrivateKey
    | ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | mldsa.MLDSA44PrivateKey
    | mldsa.MLDSA65PrivateKey
    | mldsa.MLDSA87PrivateKey
)
VerifyingKey = (
    ed25519.Ed25519PublicKey
    | ec.EllipticCurvePublicKey
    | rsa.RSAPublicKey
    | mldsa.MLDSA44PublicKey
    | mldsa.MLDSA65PublicKey
    | mldsa.MLDSA87PublicKey
)


class SignatureAlgorithm(StrEnum):
    """Signature algorithm identifiers as they appear on the wire (envelope ``alg``)."""

    ED25519 = "Ed25519"
    ECDSA_P256_SHA256 = "ECDSA-P256-SHA256"
    RSA_PKCS1V15_SHA256 = "RSA-PKCS1v15-SHA256"
    RSA_PKCS1V15_SHA1 = "RSA-PKCS1v15-SHA1"  # legacy: retired by the 2014 migration
    ML_DSA_44 = "ML-DSA-44"
    ML_DSA_65 = "ML-DSA-65"
    ML_DSA_87 = "ML-DSA-87"


class KeyFamily(StrEnum):
    """The key type an algorithm needs; an RSA certificate cannot claim an Ed25519 signature."""

    ED25519 = "ed25519"
    ECDSA_P256 = "ecdsa-p256"
    RSA = "rsa"
    ML_DSA_44 = "ml-dsa-44"
    ML_DSA_65 = "ml-dsa-65"
    ML_DSA_87 = "ml-dsa-87"


_FAMILY: Final[dict[str, KeyFamily]] = {
    SignatureAlgorithm.ED25519: KeyFamily.ED25519,
    SignatureAlgorithm.ECDSA_P256_SHA256: KeyFamily.ECDSA_P256,
    SignatureAlgorithm.RSA_PKCS1V15_SHA256: KeyFamily.RSA,
    SignatureAlgorithm.RSA_PKCS1V15_SHA1: KeyFamily.RSA,
    SignatureAlgorithm.ML_DSA_44: KeyFamily.ML_DSA_44,
    SignatureAlgorithm.ML_DSA_65: KeyFamily.ML_DSA_65,
    SignatureAlgorithm.ML_DSA_87: KeyFamily.ML_DSA_87,
}

RSA_KEY_SIZES: Final = frozenset({1024, 2048, 3072, 4096})
"""1024 exists only to model pre-2014 legacy nodes; the crypto policy rejects it."""


class PKIError(RuntimeError):
    """The PKI on disk or a request to it is unusable (existing CA, missing file, bad name)."""


class SignatureError(RuleViolation):
    """A signature or its certificate failed; ``reason`` says exactly what (human words).

    ``rule`` is a stable identifier (``unknown_issuer``, ``expired``, ``not_yet_valid``,
    ``bad_signature``, ``algorithm_mismatch``, ``revoked`` ...) for callers that map errors.
    """

    def __init__(self, rule: str, reason: str, field: str = "signature") -> None:
        super().__init__(field, rule, reason)
        self.reason = reason


# --- keys and raw signatures -------------------------------------------------------------


def key_family(key: VerifyingKey | SigningKey) -> KeyFamily:
    """The family of a public or private key; unsupported types (other curves) are errors."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return KeyFamily.ED25519
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return KeyFamily.ECDSA_P256
        raise SignatureError("unsupported_key", f"unsupported curve {key.curve.name}", "key")
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return KeyFamily.RSA
    if isinstance(key, mldsa.MLDSA44PublicKey | mldsa.MLDSA44PrivateKey):
        return KeyFamily.ML_DSA_44
    if isinstance(key, mldsa.MLDSA65PublicKey | mldsa.MLDSA65PrivateKey):
        return KeyFamily.ML_DSA_65
    if isinstance(key, mldsa.MLDSA87PublicKey | mldsa.MLDSA87PrivateKey):
        return KeyFamily.ML_DSA_87
    raise SignatureError("unsupported_key", f"unsupported key type {type(key).__name__}", "key")


def generate_private_key(
    algorithm: SignatureAlgorithm | str, rsa_key_size: int = 2048
) -> SigningKey:
    """A fresh key for ``algorithm``; ``rsa_key_size`` 1024 models legacy nodes only."""
    family = _family_of_name(algorithm)
    if family is KeyFamily.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if family is KeyFamily.ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if family is KeyFamily.RSA:
        if rsa_key_size not in RSA_KEY_SIZES:
            raise PKIError(f"RSA key size {rsa_key_size} not one of {sorted(RSA_KEY_SIZES)}")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_key_size)
    if family is KeyFamily.ML_DSA_44:
        return mldsa.MLDSA44PrivateKey.generate()
    if family is KeyFamily.ML_DSA_65:
        return mldsa.MLDSA65PrivateKey.generate()
    return mldsa.MLDSA87PrivateKey.generate()


def algorithm_of(
    public_key: VerifyingKey | SigningKey, hash_name: str = "sha256"
) -> SignatureAlgorithm:
    """The wire identifier for a key; ``hash_name`` ("sha256"/"sha1") matters only for RSA."""
    family = key_family(public_key)
    wanted = hash_name.lower().replace("-", "")
    if family is KeyFamily.RSA:
        if wanted == "sha1":
            return SignatureAlgorithm.RSA_PKCS1V15_SHA1
        if wanted == "sha256":
            return SignatureAlgorithm.RSA_PKCS1V15_SHA256
        raise SignatureError("unsupported_hash", f"no RSA algorithm with {hash_name}", "hash")
    if family is KeyFamily.ECDSA_P256:
        if wanted != "sha256":
            raise SignatureError("unsupported_hash", f"no ECDSA algorithm with {hash_name}", "hash")
        return SignatureAlgorithm.ECDSA_P256_SHA256
    return {
        KeyFamily.ED25519: SignatureAlgorithm.ED25519,
        KeyFamily.ML_DSA_44: SignatureAlgorithm.ML_DSA_44,
        KeyFamily.ML_DSA_65: SignatureAlgorithm.ML_DSA_65,
        KeyFamily.ML_DSA_87: SignatureAlgorithm.ML_DSA_87,
    }[family]


def key_size_bits(public_key: VerifyingKey | SigningKey) -> int:
    """Key size as the crypto policy measures it (RSA modulus, curve order, ML-DSA level)."""
    if isinstance(public_key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return public_key.curve.key_size
    return {
        KeyFamily.ED25519: 256,
        # ML-DSA has no "bits"; report the public key length in bits so larger = stronger.
        KeyFamily.ML_DSA_44: 1312 * 8,
        KeyFamily.ML_DSA_65: 1952 * 8,
        KeyFamily.ML_DSA_87: 2592 * 8,
    }[key_family(public_key)]


def _family_of_name(algorithm: str) -> KeyFamily:
    family = _FAMILY.get(algorithm)
    if family is None:
        raise SignatureError("unknown_algorithm", f"unknown algorithm {algorithm!r}", "algorithm")
    return family


def _sign_raw(key: Any, algorithm: str, data: bytes) -> bytes:
    if algorithm == SignatureAlgorithm.ECDSA_P256_SHA256:
        return bytes(key.sign(data, ec.ECDSA(hashes.SHA256())))
    if algorithm == SignatureAlgorithm.RSA_PKCS1V15_SHA256:
        return bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    if algorithm == SignatureAlgorithm.RSA_PKCS1V15_SHA1:
        return bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA1()))  # noqa: S303 legacy
    return bytes(key.sign(data))  # Ed25519, ML-DSA: the scheme fixes the hash


def _verify_eddsa_mldsa(key: Any, data: bytes, signature: bytes) -> None:
    key.verify(signature, data)


def _verify_ecdsa(key: Any, data: bytes, signature: bytes) -> None:
    key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def _verify_rsa_sha256(key: Any, data: bytes, signature: bytes) -> None:
    key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def _verify_rsa_sha1(key: Any, data: bytes, signature: bytes) -> None:
    key.verify(signature, data, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 legacy


_VERIFIERS: Final[dict[str, Callable[[Any, bytes, bytes], None]]] = {
    SignatureAlgorithm.ED25519: _verify_eddsa_mldsa,
    SignatureAlgorithm.ECDSA_P256_SHA256: _verify_ecdsa,
    SignatureAlgorithm.RSA_PKCS1V15_SHA256: _verify_rsa_sha256,
    SignatureAlgorithm.RSA_PKCS1V15_SHA1: _verify_rsa_sha1,
    SignatureAlgorithm.ML_DSA_44: _verify_eddsa_mldsa,
    SignatureAlgorithm.ML_DSA_65: _verify_eddsa_mldsa,
    SignatureAlgorithm.ML_DSA_87: _verify_eddsa_mldsa,
}


def _mismatch(algorithm: str, family: KeyFamily) -> SignatureError:
    return SignatureError(
        "algorithm_mismatch", f"algorithm mismatch: {algorithm} cannot be made by a {family} key"
    )


def sign(private_key: SigningKey, algorithm: SignatureAlgorithm | str, data: bytes) -> bytes:
    """Sign ``data`` with ``private_key`` under ``algorithm`` (which must fit the key)."""
    family = key_family(private_key)
    if _family_of_name(algorithm) is not family:
        raise _mismatch(algorithm, family)
    return _sign_raw(private_key, algorithm, data)


def verify(
    public_key: VerifyingKey, algorithm: SignatureAlgorithm | str, data: bytes, signature: bytes
) -> None:
    """Raise :class:`SignatureError` ('bad signature', 'algorithm mismatch') unless valid."""
    family = key_family(public_key)
    if _family_of_name(algorithm) is not family:
        raise _mismatch(algorithm, family)
    _verify_checked(public_key, algorithm, data, signature)


def _verify_checked(key: Any, algorithm: str, data: bytes, signature: bytes) -> None:
    try:
        _VERIFIERS[algorithm](key, data, signature)
    except InvalidSignature:
        raise SignatureError("bad_signature", f"bad signature ({algorithm})") from None
    except ValueError as exc:  # malformed signature encodings on some backends
        raise SignatureError("bad_signature", f"bad signature ({algorithm}): {exc}") from None


def fingerprint(cert_der: bytes) -> str:
    """Lowercase hex SHA-256 of the certificate DER: the signer id carried in envelopes."""
    return hashlib.sha256(cert_der).hexdigest()


# --- identities ----------------------------------------------------------------------------

NODE_URI_PREFIX: Final = "urn:jukinet:node:"
ROLE_URI_PREFIX: Final = "urn:jukinet:role:"
RECIPIENT_URI_PREFIX: Final = "urn:jukinet:recipient:"
"""A recipient certificate names its recipient (提供先, percent-encoded UTF-8) in a SAN URI:
the CA, not a database row, binds the key to the recipient the requests are made for."""
_NODE_ID = re.compile(r"^[a-z0-9]+(?:[/.-][a-z0-9]+)*$")
_ROLE = re.compile(r"^[a-z][a-z0-9-]*$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """Who signed: the node id (``municipality/131016``) and its role (``municipality``)."""

    node_id: str
    role: str


def _check_node_id(node_id: str) -> None:
    if not _NODE_ID.fullmatch(node_id):
        raise PKIError(
            f"invalid node id {node_id!r}: lowercase letters/digits separated by '/', '.' or '-'"
        )


def safe_node_dirname(node_id: str) -> str:
    """A directory name for a node id; '_' never occurs in ids, so the mapping is reversible."""
    _check_node_id(node_id)
    return node_id.replace("/", "_")


def node_identity(cert: x509.Certificate) -> NodeIdentity:
    """Read the node id and role back from the certificate's SAN URIs."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise SignatureError("not_a_node", "certificate has no SAN", "certificate") from None
    node_id = role = None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(NODE_URI_PREFIX):
            node_id = uri.removeprefix(NODE_URI_PREFIX)
        elif uri.startswith(ROLE_URI_PREFIX):
            role = uri.removeprefix(ROLE_URI_PREFIX)
    if node_id is None or role is None:
        raise SignatureError(
            "not_a_node", "certificate names no jukinet node id and role", "certificate"
        )
    return NodeIdentity(node_id, role)


def recipient_name(cert: x509.Certificate) -> str | None:
    """The recipient a recipient certificate was issued to (``None``: it names none)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(RECIPIENT_URI_PREFIX):
            return unquote(uri.removeprefix(RECIPIENT_URI_PREFIX))
    return None


# --- issuing -------------------------------------------------------------------------------

ROOT_VALIDITY: Final = timedelta(days=365 * 20 + 5)
INTERMEDIATE_VALIDITY: Final = timedelta(days=365 * 10 + 2)
NODE_VALIDITY: Final = timedelta(days=365 * 3 + 1)
CLOCK_SKEW: Final = timedelta(minutes=5)
"""Certificates start this long before ``now`` so a peer whose clock lags still accepts them."""

ROOT_NAME: Final = "jukinet network root CA"
NODES_PURPOSE: Final = "nodes"
NODES_CA_NAME: Final = "jukinet node issuing CA"
RECIPIENTS_PURPOSE: Final = "recipients"
RECIPIENTS_CA_NAME: Final = "jukinet recipient issuing CA"
CRL_VALIDITY: Final = timedelta(days=7)
"""A CRL's nextUpdate: nodes keep the newest one they were sent regardless (push, not pull)."""
DEFAULT_HOSTS: Final = ("localhost", "127.0.0.1")


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("timezone-aware datetime required")
    return at.astimezone(UTC).replace(microsecond=0)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_name(name: str, purpose: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jukinet"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, purpose),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate with its private key (ECDSA P-256: see the module docstring)."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def purpose(self) -> str:
        values = self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        return str(values[0].value) if values else ""

    def _issue(
        self,
        subject: x509.Name,
        public_key: VerifyingKey | ec.EllipticCurvePublicKey,
        now: datetime,
        validity: timedelta,
        extensions: Sequence[tuple[x509.ExtensionType, bool]],
    ) -> x509.Certificate:
        start = _utc(now) - CLOCK_SKEW
        # A certificate outliving its issuer would only fail later, less clearly.
        end = min(start + validity, self.certificate.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
        )
        for ext, critical in extensions:
            builder = builder.add_extension(ext, critical=critical)
        return builder.sign(self.private_key, hashes.SHA256())

    @classmethod
    def create_root(
        cls, now: datetime, validity: timedelta = ROOT_VALIDITY
    ) -> CertificateAuthority:
        """A self-signed root; it only signs issuing CAs (path length 1)."""
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        name = _ca_name(ROOT_NAME, "root")
        start = _utc(now) - CLOCK_SKEW
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def issue_intermediate(
        self,
        name: str,
        purpose: str,
        now: datetime,
        validity: timedelta = INTERMEDIATE_VALIDITY,
    ) -> CertificateAuthority:
        """An issuing CA (path length 0) for one purpose: ``nodes``, later ``recipients``."""
        if not _PURPOSE.fullmatch(purpose):
            raise PKIError(f"invalid CA purpose {purpose!r}")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(
            _ca_name(name, purpose),
            key.public_key(),
            now,
            validity,
            [
                (x509.BasicConstraints(ca=True, path_length=0), True),
                (_ca_key_usage(), True),
            ],
        )
        return CertificateAuthority(cert, key)

    def issue_leaf(
        self,
        node_id: str,
        role: str,
        public_key: VerifyingKey,
        now: datetime,
        *,
        validity: timedelta = NODE_VALIDITY,
        hosts: Iterable[str] = DEFAULT_HOSTS,
        recipient: str | None = None,
    ) -> x509.Certificate:
        """A node certificate usable both to sign messages and for mutual TLS on ``hosts``;
        ``recipient`` names the recipient of a recipient certificate."""
        _check_node_id(node_id)
        if not _ROLE.fullmatch(role):
            raise PKIError(f"invalid role {role!r}")
        names: list[x509.GeneralName] = [
            x509.UniformResourceIdentifier(NODE_URI_PREFIX + node_id),
            x509.UniformResourceIdentifier(ROLE_URI_PREFIX + role),
        ]
        if recipient is not None:
            if not recipient.strip():
                raise PKIError("a recipient certificate needs the recipient's name")
            uri = RECIPIENT_URI_PREFIX + quote(recipient, safe="")
            names.append(x509.UniformResourceIdentifier(uri))
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jukinet"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                x509.NameAttribute(NameOID.COMMON_NAME, node_id),
            ]
        )
        return self._issue(
            subject,
            public_key,
            now,
            validity,
            [
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=is_rsa,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=False,
                        crl_sign=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    True,
                ),
                (
                    x509.ExtendedKeyUsage(
                        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                    ),
                    False,
                ),
                (x509.SubjectAlternativeName(names), False),
            ],
        )

    def issue_crl(
        self,
        revoked: Sequence[Revocation],
        number: int,
        now: datetime,
        validity: timedelta = CRL_VALIDITY,
    ) -> x509.CertificateRevocationList:
        """A complete CRL of this CA (RFC 5280: AKI and CRL number, signed like its certs)."""
        start = _utc(now)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(start)
            .next_update(start + validity)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
        )
        for entry in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at)
                .add_extension(x509.CRLReason(x509.ReasonFlags(entry.reason)), critical=False)
                .build()
            )
        return builder.sign(self.private_key, hashes.SHA256())


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of a CA's revoked list (kept by the national center next to the CA key)."""

    serial: int
    fingerprint: str
    node_id: str
    revoked_at: datetime
    reason: str = x509.ReasonFlags.unspecified.value

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": str(self.serial),
            "fingerprint": self.fingerprint,
            "node_id": self.node_id,
            "revoked_at": self.revoked_at.isoformat(),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Revocation:
        return cls(
            int(data["serial"]),
            str(data["fingerprint"]),
            str(data["node_id"]),
            datetime.fromisoformat(data["revoked_at"]),
            str(data["reason"]),
        )


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """A certificate the PKI issued, as ``jukinet pki list`` and migration status show it."""

    node_id: str
    role: str
    purpose: str
    algorithm: SignatureAlgorithm
    key_bits: int
    not_after: datetime
    fingerprint: str
    serial: int
    current: bool
    """False for a certificate replaced by a renewal (still valid until it expires)."""
    revoked: bool

    @property
    def key_description(self) -> str:
        family = _FAMILY[self.algorithm]
        return f"RSA-{self.key_bits}" if family is KeyFamily.RSA else str(family)

    def expires_within(self, now: datetime, days: int) -> bool:
        return self.not_after <= now + timedelta(days=days)


# --- files ---------------------------------------------------------------------------------


def _write_file(path: Path, data: bytes, *, private: bool, exclusive: bool) -> None:
    """Write with the final mode from the start (0600 for keys), never briefly world-readable."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    mode = 0o600 if private else 0o644
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def _key_pem(key: SigningKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _load_signing_key(path: Path) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise PKIError(f"missing key file {path}") from None
    if not isinstance(
        key,
        ed25519.Ed25519PrivateKey
        | ec.EllipticCurvePrivateKey
        | rsa.RSAPrivateKey
        | mldsa.MLDSA44PrivateKey
        | mldsa.MLDSA65PrivateKey
        | mldsa.MLDSA87PrivateKey,
    ):
        raise PKIError(f"unsupported key type in {path}: {type(key).__name__}")
    return key


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except FileNotFoundError:
        raise PKIError(f"missing certificate file {path}") from None


def _load_ca(directory: Path, stem: str) -> CertificateAuthority:
    cert = _load_certs(directory / f"{stem}.pem")[0]
    key = _load_signing_key(directory / f"{stem}.key")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PKIError(f"{stem}.key is not an ECDSA key")
    return CertificateAuthority(cert, key)


@dataclass(frozen=True)
class NodeCredentials:
    """A node's certificate, key and chain: what it signs messages and does TLS with."""

    certificate: x509.Certificate = field(repr=False)
    private_key: SigningKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = field(repr=False)
    """Issuing CA(s) then the root: everything above the leaf."""
    algorithm: SignatureAlgorithm
    identity: NodeIdentity = field(init=False)
    certificate_der: bytes = field(init=False, repr=False)
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        family = key_family(self.private_key)
        if _FAMILY[self.algorithm] is not family:
            raise _mismatch(self.algorithm, family)
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        object.__setattr__(self, "identity", node_identity(self.certificate))
        object.__setattr__(self, "certificate_der", der)
        object.__setattr__(self, "fingerprint", fingerprint(der))

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    @property
    def role(self) -> str:
        return self.identity.role

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with the node key under the node's algorithm."""
        return _sign_raw(self.private_key, self.algorithm, data)

    def trust_store(self) -> TrustStore:
        """Trust exactly the chain this node was issued under (root + issuing CA)."""
        return TrustStore.from_certificates(self.chain)

    def save(self, directory: Path, *, overwrite: bool = False) -> None:
        """Write ``cert.pem``, ``key.pem`` (0600), ``chain.pem`` and ``algorithm``."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not overwrite and (directory / "key.pem").exists():
            raise PKIError(f"credentials already exist in {directory}")
        excl = not overwrite
        _write_file(directory / "key.pem", _key_pem(self.private_key), private=True, exclusive=excl)
        _write_file(
            directory / "cert.pem", _cert_pem(self.certificate), private=False, exclusive=False
        )
        _write_file(directory / "chain.pem", _cert_pem(*self.chain), private=False, exclusive=False)
        _write_file(
            directory / "algorithm", f"{self.algorithm}\n".encode(), private=False, exclusive=False
        )

    @classmethod
    def load(cls, directory: Path) -> NodeCredentials:
        """Read what :meth:`save` wrote; without an ``algorithm`` file, derive it from the key."""
        cert = _load_certs(directory / "cert.pem")[0]
        key = _load_signing_key(directory / "key.pem")
        chain = tuple(_load_certs(directory / "chain.pem"))
        alg_file = directory / "algorithm"
        if alg_file.exists():
            algorithm = SignatureAlgorithm(alg_file.read_text().strip())
        else:
            algorithm = algorithm_of(key)
        if cert.public_key() != key.public_key():
            raise PKIError(f"{directory}: cert.pem does not match key.pem")
        return cls(cert, key, chain, algorithm)


@dataclass
class NetworkPKI:
    """The network CA on disk: ``ca/root.*``, ``ca/<purpose>-ca.*``, ``nodes/<node>/``."""

    directory: Path
    root: CertificateAuthority
    issuers: dict[str, CertificateAuthority]

    @property
    def ca_dir(self) -> Path:
        return self.directory / "ca"

    @property
    def nodes_ca(self) -> CertificateAuthority:
        return self.issuers[NODES_PURPOSE]

    @classmethod
    def init(cls, directory: Path, now: datetime) -> NetworkPKI:
        """Create the root and the node issuing CA; refuse to replace an existing CA."""
        ca_dir = directory / "ca"
        if (ca_dir / "root.pem").exists() or (ca_dir / "root.key").exists():
            raise PKIError(f"a network CA already exists in {ca_dir}; refusing to overwrite it")
        ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        root = CertificateAuthority.create_root(now)
        _write_file(ca_dir / "root.key", _key_pem(root.private_key), private=True, exclusive=True)
        _write_file(ca_dir / "root.pem", _cert_pem(root.certificate), private=False, exclusive=True)
        pki = cls(directory, root, {})
        pki.issue_intermediate(NODES_CA_NAME, NODES_PURPOSE, now=now)
        return pki

    @classmethod
    def load(cls, directory: Path) -> NetworkPKI:
        """Load the root and every issuing CA (``ca/*-ca.pem``)."""
        ca_dir = directory / "ca"
        root = _load_ca(ca_dir, "root")
        issuers = {}
        for pem in sorted(ca_dir.glob("*-ca.pem")):
            stem = pem.stem
            issuers[stem.removesuffix("-ca")] = _load_ca(ca_dir, stem)
        if NODES_PURPOSE not in issuers:
            raise PKIError(f"{ca_dir} has no nodes-ca.pem")
        return cls(directory, root, issuers)

    def issue_intermediate(
        self, name: str, purpose: str, now: datetime | None = None
    ) -> CertificateAuthority:
        """Add an issuing CA for ``purpose`` (writes ``ca/<purpose>-ca.{pem,key}``)."""
        if purpose in self.issuers or (self.ca_dir / f"{purpose}-ca.pem").exists():
            raise PKIError(f"an issuing CA for {purpose!r} already exists")
        ca = self.root.issue_intermediate(name, purpose, now or datetime.now(UTC))
        key_path = self.ca_dir / f"{purpose}-ca.key"
        _write_file(key_path, _key_pem(ca.private_key), private=True, exclusive=True)
        _write_file(
            self.ca_dir / f"{purpose}-ca.pem",
            _cert_pem(ca.certificate),
            private=False,
            exclusive=True,
        )
        self.issuers[purpose] = ca
        return ca

    def node_dir(self, node_id: str) -> Path:
        return self.directory / "nodes" / safe_node_dirname(node_id)

    def issue_node(
        self,
        node_id: str,
        role: str,
        algorithm: SignatureAlgorithm | str = SignatureAlgorithm.ED25519,
        now: datetime | None = None,
        *,
        rsa_key_size: int = 2048,
        validity: timedelta = NODE_VALIDITY,
        hosts: Iterable[str] = DEFAULT_HOSTS,
        overwrite: bool = False,
        purpose: str = NODES_PURPOSE,
        recipient: str | None = None,
    ) -> NodeCredentials:
        """Generate a node key, certify it and write ``nodes/<safe id>/``.

        ``overwrite=True`` renews a node (e.g. the 2014 algorithm migration); otherwise an
        existing node directory is an error so a typo cannot silently replace a key.
        ``recipient`` (recipients CA only) names the recipient the certificate acts for.
        """
        if recipient is not None and purpose != RECIPIENTS_PURPOSE:
            raise PKIError("only certificates of the recipients CA name a recipient")
        issuer = self.issuers[purpose]
        key = generate_private_key(algorithm, rsa_key_size)
        cert = issuer.issue_leaf(
            node_id,
            role,
            key.public_key(),
            now or datetime.now(UTC),
            validity=validity,
            hosts=hosts,
            recipient=recipient,
        )
        creds = NodeCredentials(
            cert, key, (issuer.certificate, self.root.certificate), SignatureAlgorithm(algorithm)
        )
        creds.save(self.node_dir(node_id), overwrite=overwrite)
        return creds

    def credentials(self, node_id: str) -> NodeCredentials:
        return NodeCredentials.load(self.node_dir(node_id))

    def trust_store(self) -> TrustStore:
        """Trust the root and every issuing CA of this PKI."""
        return TrustStore([self.root.certificate], [ca.certificate for ca in self.issuers.values()])

    def ensure_issuer(self, purpose: str, name: str, now: datetime) -> CertificateAuthority:
        """The issuing CA for ``purpose``, created if missing (``pki init`` adds recipients)."""
        if purpose in self.issuers:
            return self.issuers[purpose]
        return self.issue_intermediate(name, purpose, now=now)

    def purpose_of(self, cert: x509.Certificate) -> str:
        """Which issuing CA signed ``cert`` (matched by key identifier)."""
        aki = _aki(cert)
        for purpose, ca in self.issuers.items():
            if aki is not None and aki == _ski(ca.certificate):
                return purpose
        raise PKIError(f"{cert.subject.rfc4514_string()} was not issued by this PKI")

    # --- renewal and revocation (the national center operates the CA) ---------------------

    def renew_node(
        self,
        node_id: str,
        algorithm: SignatureAlgorithm | str | None = None,
        now: datetime | None = None,
        *,
        rsa_key_size: int = 2048,
        validity: timedelta = NODE_VALIDITY,
    ) -> NodeCredentials:
        """A new key and certificate for a node (same role, hosts, recipient and issuer;
        ``algorithm`` defaults to the current one). The old certificate is kept under
        ``previous/`` and is *not* revoked: messages it already signed keep verifying through
        the overlap, until it expires, is revoked, or the crypto policy retires its algorithm.
        Its private key is not kept."""
        old = self.credentials(node_id)
        directory = self.node_dir(node_id)
        previous = directory / "previous"
        previous.mkdir(exist_ok=True, mode=0o700)
        _write_file(
            previous / f"{old.fingerprint}.pem",
            _cert_pem(old.certificate),
            private=False,
            exclusive=False,
        )
        _write_file(
            previous / f"{old.fingerprint}.algorithm",
            f"{old.algorithm}\n".encode(),
            private=False,
            exclusive=False,
        )
        san = old.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = [*san.get_values_for_type(x509.DNSName)]
        hosts += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        return self.issue_node(
            node_id,
            old.role,
            algorithm or old.algorithm,
            now,
            rsa_key_size=rsa_key_size,
            validity=validity,
            hosts=hosts,
            overwrite=True,
            purpose=self.purpose_of(old.certificate),
            recipient=recipient_name(old.certificate),
        )

    def _revoked_path(self, purpose: str) -> Path:
        return self.ca_dir / f"{purpose}-revoked.json"

    def _revoked_state(self, purpose: str) -> tuple[int, list[Revocation]]:
        path = self._revoked_path(purpose)
        if not path.exists():
            return 0, []
        data = json.loads(path.read_text())
        return int(data["crl_number"]), [Revocation.from_json(r) for r in data["revoked"]]

    def _write_revoked_state(self, purpose: str, number: int, revoked: list[Revocation]) -> None:
        data = {"crl_number": number, "revoked": [r.to_json() for r in revoked]}
        _write_file(
            self._revoked_path(purpose),
            json.dumps(data, indent=1).encode(),
            private=False,
            exclusive=False,
        )

    def revoked(self, purpose: str = NODES_PURPOSE) -> list[Revocation]:
        """The revoked list of one issuing CA."""
        return self._revoked_state(purpose)[1]

    def revoke(
        self,
        node_id: str,
        now: datetime,
        *,
        fingerprint: str | None = None,
        reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
    ) -> Revocation:
        """Put a node's current certificate (or the one with ``fingerprint``, e.g. a replaced
        one) on its CA's revoked list. Publish and distribute a CRL for nodes to see it."""
        matches = [c for c in self.certificates() if c.node_id == node_id]
        if fingerprint is None:
            matches = [c for c in matches if c.current]
        else:
            matches = [c for c in matches if c.fingerprint == fingerprint]
        if not matches:
            what = f"certificate {fingerprint}" if fingerprint else "current certificate"
            raise PKIError(f"no {what} for node {node_id}")
        info = matches[0]
        number, revoked = self._revoked_state(info.purpose)
        if any(r.serial == info.serial for r in revoked):
            raise PKIError(f"certificate {info.fingerprint} of {node_id} is already revoked")
        entry = Revocation(info.serial, info.fingerprint, node_id, _utc(now), reason.value)
        self._write_revoked_state(info.purpose, number, [*revoked, entry])
        return entry

    def publish_crl(
        self, purpose: str = NODES_PURPOSE, now: datetime | None = None
    ) -> x509.CertificateRevocationList:
        """A new CRL (the next CRL number) of one issuing CA, written to ``ca/<purpose>-ca.crl``."""
        number, revoked = self._revoked_state(purpose)
        crl = self.issuers[purpose].issue_crl(revoked, number + 1, now or datetime.now(UTC))
        self._write_revoked_state(purpose, number + 1, revoked)
        _write_file(
            self.ca_dir / f"{purpose}-ca.crl",
            crl.public_bytes(serialization.Encoding.PEM),
            private=False,
            exclusive=False,
        )
        return crl

    def certificates(self) -> list[CertificateInfo]:
        """Every node and recipient certificate on disk, current and replaced ones."""
        revoked = {r.fingerprint for purpose in self.issuers for r in self.revoked(purpose)}
        found: list[CertificateInfo] = []
        for directory in sorted((self.directory / "nodes").glob("*")):
            if not (directory / "cert.pem").exists():
                continue
            found.append(self._info(directory / "cert.pem", directory / "algorithm", revoked, True))
            for pem in sorted((directory / "previous").glob("*.pem")):
                found.append(self._info(pem, pem.with_suffix(".algorithm"), revoked, False))
        return found

    def _info(
        self, pem: Path, algorithm_file: Path, revoked: set[str], current: bool
    ) -> CertificateInfo:
        cert = _load_certs(pem)[0]
        der = cert.public_bytes(serialization.Encoding.DER)
        key = cert.public_key()
        identity = node_identity(cert)
        if algorithm_file.exists():
            algorithm = SignatureAlgorithm(algorithm_file.read_text().strip())
        else:
            algorithm = algorithm_of(key)  # type: ignore[arg-type]
        fp = fingerprint(der)
        return CertificateInfo(
            node_id=identity.node_id,
            role=identity.role,
            purpose=self.purpose_of(cert),
            algorithm=algorithm,
            key_bits=key_size_bits(key),  # type: ignore[arg-type]
            not_after=cert.not_valid_after_utc,
            fingerprint=fp,
            serial=cert.serial_number,
            current=current,
            revoked=fp in revoked,
        )

    def expiring(self, now: datetime, within_days: int) -> list[CertificateInfo]:
        """Current, unrevoked certificates that expire within ``within_days`` (renew them)."""
        return [
            c
            for c in self.certificates()
            if c.current and not c.revoked and c.expires_within(now, within_days)
        ]


# --- verification --------------------------------------------------------------------------


class AlgorithmGate(Protocol):
    """What the crypto policy looks like to the trust store (``jukinet.net.policy``)."""

    def check(self, algorithm: str, key_bits: int, at: datetime) -> None:
        """Raise :class:`SignatureError` naming the algorithm and its cutoff if refused."""
        ...


@dataclass(frozen=True, slots=True)
class _Verified:
    """A certificate whose chain validated: what the hot path needs, nothing to parse."""

    identity: NodeIdentity
    fingerprint: str
    public_key: Any
    family: KeyFamily
    key_bits: int
    not_before: datetime
    not_after: datetime
    chain_not_before: datetime
    chain_not_after: datetime


def _is_self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _aki(cert: x509.Certificate) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return ext.value.key_identifier


class TrustStore:
    """Validates signer certificates against the network root(s) and checks signatures.

    Chain validation (``PolicyBuilder``) is the expensive step, so its result is cached per
    certificate with the window in which the whole chain is valid; a cache hit costs a dict
    lookup, a revocation-set lookup and two datetime comparisons. Revocation: the newest CRL
    of each issuing CA (:meth:`apply_crl`, which empties the cache so every certificate is
    checked against it again) and ``revoked_fingerprints``. ``policy`` (the node's crypto
    policy) is consulted on every message, before the signature is checked.
    """

    MAX_CACHE: Final = 100_000

    def __init__(
        self,
        roots: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        revoked_fingerprints: set[str] | None = None,
    ) -> None:
        if not roots:
            raise PKIError("a trust store needs at least one root certificate")
        self.roots = tuple(roots)
        self.intermediates = tuple(intermediates)
        self.revoked_fingerprints: set[str] = (
            revoked_fingerprints if revoked_fingerprints is not None else set()
        )
        self._store = Store(list(self.roots))
        self._known_issuers = {
            ski for ski in (_ski(c) for c in (*self.roots, *self.intermediates)) if ski
        }
        self._cache: dict[bytes, _Verified] = {}
        self._by_fingerprint: dict[str, bytes] = {}
        self.policy: AlgorithmGate | None = None
        self._crl_numbers: dict[bytes, int] = {}
        self._revoked_serials: dict[bytes, dict[int, tuple[datetime, str, int]]] = {}

    @classmethod
    def from_certificates(cls, certs: Iterable[x509.Certificate]) -> TrustStore:
        """Self-signed certificates become roots, the rest intermediates."""
        certs = list(certs)
        return cls(
            [c for c in certs if _is_self_signed(c)],
            [c for c in certs if not _is_self_signed(c)],
        )

    @classmethod
    def from_pem(cls, pem: bytes) -> TrustStore:
        return cls.from_certificates(x509.load_pem_x509_certificates(pem))

    def to_pem(self) -> bytes:
        """Roots and intermediates as one PEM bundle (TLS ``cadata``, uvicorn ``ca_certs``)."""
        return _cert_pem(*self.roots, *self.intermediates)

    def fingerprint(self, cert_der: bytes) -> str:
        """The certificate's fingerprint, from the cache when it was verified before."""
        entry = self._cache.get(cert_der)
        return entry.fingerprint if entry is not None else fingerprint(cert_der)

    def certificate_for(self, fp: str) -> bytes | None:
        """DER of a previously verified certificate, for envelopes that carry only the id."""
        return self._by_fingerprint.get(fp)

    def revoke(self, fp: str) -> None:
        """Refuse this certificate from now on (revocation hook)."""
        self.revoked_fingerprints.add(fp)

    def crl_number(self, crl: x509.CertificateRevocationList) -> int:
        try:
            return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
        except x509.ExtensionNotFound:
            raise SignatureError("malformed_crl", "CRL has no CRL number", "crl") from None

    def apply_crl(self, crl: x509.CertificateRevocationList) -> bool:
        """Refuse the certificates this CRL lists, if it is signed by a trusted issuing CA and
        newer than the one installed; returns whether it was installed."""
        try:
            aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        except x509.ExtensionNotFound:
            raise SignatureError("malformed_crl", "CRL has no authority key id", "crl") from None
        issuer_key = aki.value.key_identifier
        issuer = next(
            (c for c in (*self.intermediates, *self.roots) if issuer_key and _ski(c) == issuer_key),
            None,
        )
        if issuer is None or issuer_key is None:
            raise SignatureError(
                "unknown_issuer", f"CRL from unknown issuer {crl.issuer.rfc4514_string()}", "crl"
            )
        if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise SignatureError("bad_signature", "CRL signature invalid", "crl")
        number = self.crl_number(crl)
        if number <= self._crl_numbers.get(issuer_key, 0):
            return False
        revoked: dict[int, tuple[datetime, str, int]] = {}
        for entry in crl:
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            except x509.ExtensionNotFound:
                reason = x509.ReasonFlags.unspecified
            revoked[entry.serial_number] = (entry.revocation_date_utc, reason.value, number)
        self._crl_numbers[issuer_key] = number
        self._revoked_serials[issuer_key] = revoked
        self._cache.clear()  # certificates verified before must meet the new CRL
        self._by_fingerprint.clear()
        return True

    def verify_signer(self, cert_der: bytes, at: datetime) -> NodeIdentity:
        """Validate the certificate's chain to a trusted root at ``at``; return who it is."""
        return self._verified(cert_der, at).identity

    def verify_message(
        self,
        cert_der: bytes,
        algorithm: SignatureAlgorithm | str,
        data: bytes,
        signature: bytes,
        at: datetime,
    ) -> NodeIdentity:
        """Chain check (cached) + the algorithm fits the certificate's key + the signature."""
        entry = self._verified(cert_der, at)
        family = _FAMILY.get(algorithm)
        if family is None:
            raise SignatureError(
                "unknown_algorithm", f"unknown algorithm {algorithm!r}", "algorithm"
            )
        if family is not entry.family:
            raise _mismatch(algorithm, entry.family)
        if self.policy is not None:
            self.policy.check(algorithm, entry.key_bits, at)
        _verify_checked(entry.public_key, algorithm, data, signature)
        return entry.identity

    def _verified(self, cert_der: bytes, at: datetime) -> _Verified:
        entry = self._cache.get(cert_der)
        if (
            entry is not None
            and entry.chain_not_before <= at <= entry.chain_not_after
            and entry.fingerprint not in self.revoked_fingerprints
        ):
            return entry
        return self._validate(cert_der, at)

    def _validate(self, cert_der: bytes, at: datetime) -> _Verified:
        if at.tzinfo is None:
            raise ValueError("timezone-aware datetime required")
        fp = fingerprint(cert_der)
        if fp in self.revoked_fingerprints:
            raise SignatureError("revoked", f"certificate {fp} is revoked", "certificate")
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except ValueError as exc:
            raise SignatureError(
                "malformed_certificate", f"malformed certificate: {exc}", "certificate"
            ) from None
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        if at > not_after:
            raise SignatureError(
                "expired", f"certificate expired at {not_after.isoformat()}", "certificate"
            )
        if at < not_before:
            raise SignatureError(
                "not_yet_valid",
                f"certificate not yet valid (valid from {not_before.isoformat()})",
                "certificate",
            )
        aki = _aki(cert)
        if aki not in self._known_issuers:
            raise SignatureError(
                "unknown_issuer",
                f"unknown issuer {cert.issuer.rfc4514_string()}",
                "certificate",
            )
        revocation = self._revoked_serials.get(aki, {}).get(cert.serial_number) if aki else None
        if revocation is not None:
            revoked_at, reason, number = revocation
            raise SignatureError(
                "revoked",
                f"certificate {fp} of {cert.subject.rfc4514_string()} is revoked "
                f"(since {revoked_at.isoformat()}, reason {reason}, CRL {number})",
                "certificate",
            )
        verifier = PolicyBuilder().store(self._store).time(at).build_client_verifier()
        try:
            verified = verifier.verify(cert, list(self.intermediates))
        except VerificationError as exc:
            raise SignatureError(
                "invalid_chain", f"certificate chain invalid: {exc}", "certificate"
            ) from None
        identity = node_identity(cert)
        public_key = cert.public_key()
        family = key_family(public_key)  # type: ignore[arg-type]
        chain = verified.chain
        entry = _Verified(
            identity=identity,
            fingerprint=fp,
            public_key=public_key,
            family=family,
            key_bits=key_size_bits(public_key),  # type: ignore[arg-type]
            not_before=not_before,
            not_after=not_after,
            chain_not_before=max(c.not_valid_before_utc for c in chain),
            chain_not_after=min(c.not_valid_after_utc for c in chain),
        )
        if len(self._cache) >= self.MAX_CACHE:
            self._cache.clear()
            self._by_fingerprint.clear()
        self._cache[cert_der] = entry
        self._by_fingerprint[fp] = cert_der
        return entry
