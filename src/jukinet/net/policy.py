"""The crypto policy: which signature algorithms and key sizes the network accepts, and when.

Algorithms are retired on a date (暗号危殆化: SHA-1 and RSA-1024 by the end of May 2014;
classical signatures for ML-DSA next), so the policy is a signed, versioned document rather
than code: the national center signs it, sends it to every node as a ``policy_update``
message, every node keeps the newest version it was sent (``store.documents``) and checks
every incoming message against it (through its :class:`~jukinet.net.pki.TrustStore`, at the
time the message is received). A fresh network runs on :data:`DEFAULT_POLICY` (version 0).

A rule accepts an algorithm with keys of at least ``min_key_bits`` while
``not_before <= now < not_after`` (either bound may be open). An algorithm may have several
rules (RSA-SHA256 with 1024-bit keys until a cutoff, with 2048-bit keys always).

Re-keying without downtime follows from this: a renewed node signs with its new key at once,
its old certificate stays valid, so messages sealed under the old key (e.g. waiting in an
outbox) keep verifying until the old algorithm's cutoff.

TLS note: OpenSSL 3.0 cannot do TLS with ML-DSA or RSA-1024 keys, so those certificates are
for message signing only; a node that needs ``jukinet serve`` (mutual TLS) uses an ECDSA,
Ed25519 or RSA ≥ 2048 certificate for its TLS endpoint.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from sqlalchemy import Connection, Engine

from jukinet.domain.errors import RuleViolation
from jukinet.net.envelope import OpenedMessage
from jukinet.net.pki import NodeCredentials, SignatureAlgorithm, SignatureError, TrustStore
from jukinet.store.db import read_transaction
from jukinet.store.documents import POLICY_KIND, crl_kind, newest_documents, store_if_newer

__all__ = [
    "DEFAULT_POLICY",
    "AlgorithmRule",
    "CryptoPolicy",
    "NetworkDocuments",
    "PolicyError",
    "open_policy",
    "sign_policy",
]


_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,35}")
"""An issuing CA's purpose (``nodes``, ``recipients``), short enough for ``crl:<purpose>``."""


class PolicyError(SignatureError):
    """A message signed with an algorithm or key size the crypto policy does not accept now."""


def _day(at: datetime) -> str:
    """Cutoffs at midnight UTC read as a date ("retired on 2014-05-31")."""
    at = at.astimezone(UTC)
    return at.date().isoformat() if at.time() == datetime.min.time() else at.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"policy time {value!r} needs a timezone")
    return parsed


@dataclass(frozen=True, slots=True)
class AlgorithmRule:
    """One algorithm, a minimum key size and the window in which it is accepted."""

    algorithm: SignatureAlgorithm
    min_key_bits: int = 0
    not_before: datetime | None = None
    not_after: datetime | None = None
    """The first instant it is refused (the cutoff)."""

    def in_window(self, at: datetime) -> bool:
        return (self.not_before is None or self.not_before <= at) and (
            self.not_after is None or at < self.not_after
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm": str(self.algorithm),
            "min_key_bits": self.min_key_bits,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "not_after": self.not_after.isoformat() if self.not_after else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlgorithmRule:
        return cls(
            SignatureAlgorithm(data["algorithm"]),
            int(data.get("min_key_bits") or 0),
            _parse_time(data.get("not_before")),
            _parse_time(data.get("not_after")),
        )


@dataclass(frozen=True)
class CryptoPolicy:
    """A versioned list of rules; the newest version a node was sent wins."""

    version: int
    issued_at: datetime
    rules: tuple[AlgorithmRule, ...]
    _by_algorithm: dict[str, tuple[AlgorithmRule, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by: dict[str, list[AlgorithmRule]] = {}
        for rule in self.rules:
            by.setdefault(str(rule.algorithm), []).append(rule)
        object.__setattr__(self, "_by_algorithm", {k: tuple(v) for k, v in by.items()})

    def check(self, algorithm: str, key_bits: int, at: datetime) -> None:
        """Raise :class:`PolicyError` naming the algorithm and the cutoff unless accepted."""
        rules = self._by_algorithm.get(algorithm)
        if rules is None:
            raise PolicyError(
                "algorithm_not_allowed",
                f"{algorithm} is not allowed by crypto policy v{self.version}",
                "algorithm",
            )
        for rule in rules:
            if key_bits >= rule.min_key_bits and rule.in_window(at):
                return
        raise self._refusal(algorithm, rules, key_bits, at)

    def _refusal(
        self, algorithm: str, rules: tuple[AlgorithmRule, ...], key_bits: int, at: datetime
    ) -> PolicyError:
        in_force = [r.min_key_bits for r in rules if r.in_window(at)]
        cutoffs = [r.not_after for r in rules if r.not_after and at >= r.not_after]
        if in_force:  # the algorithm is accepted now, only with larger keys
            since = f"; {key_bits}-bit keys retired on {_day(max(cutoffs))}" if cutoffs else ""
            return PolicyError(
                "key_too_small",
                f"{algorithm} with a {key_bits}-bit key is below the minimum of "
                f"{min(in_force)} bits{since} (crypto policy v{self.version})",
                "algorithm",
            )
        if cutoffs:
            return PolicyError(
                "algorithm_retired",
                f"{algorithm} retired on {_day(max(cutoffs))} "
                f"(crypto policy v{self.version}, message time {at.isoformat()})",
                "algorithm",
            )
        starts = [r.not_before for r in rules if r.not_before and at < r.not_before]
        return PolicyError(
            "algorithm_not_yet_allowed",
            f"{algorithm} not accepted before {_day(min(starts))} (crypto policy v{self.version})",
            "algorithm",
        )

    def deadline(self, algorithm: str, key_bits: int, at: datetime) -> datetime | None:
        """When a certificate of this algorithm and key size stops being accepted (the latest
        cutoff of the rules accepting it now or later); ``None`` if no retirement is
        scheduled. A deadline in the past means already refused."""
        rules = [r for r in self._by_algorithm.get(algorithm, ()) if key_bits >= r.min_key_bits]
        if not rules:
            return at
        if any(r.not_after is None for r in rules):
            return None
        return max(r.not_after for r in rules if r.not_after is not None)

    def payload(self) -> bytes:
        """Canonical JSON bytes: what the national center signs."""
        return json.dumps(
            {
                "version": self.version,
                "issued_at": self.issued_at.isoformat(),
                "rules": [r.to_json() for r in self.rules],
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> CryptoPolicy:
        data = json.loads(payload)
        issued_at = _parse_time(data["issued_at"])
        assert issued_at is not None
        return cls(
            int(data["version"]),
            issued_at,
            tuple(AlgorithmRule.from_json(r) for r in data["rules"]),
        )

    @classmethod
    def from_rules(
        cls, version: int, issued_at: datetime, rules: Iterable[AlgorithmRule]
    ) -> CryptoPolicy:
        return cls(version, issued_at, tuple(rules))


def _utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


SHA1_RSA1024_CUTOFF: Final = _utc(2014, 5, 31)
"""End of the 2014 renewal window: every municipal CS renewed by the end of May 2014."""
ML_DSA_FROM: Final = _utc(2024, 8, 13)
"""FIPS 204 (ML-DSA) published."""

DEFAULT_POLICY: Final = CryptoPolicy(
    version=0,
    issued_at=_utc(2012, 11, 1),
    rules=(
        AlgorithmRule(SignatureAlgorithm.RSA_PKCS1V15_SHA1, 1024, None, SHA1_RSA1024_CUTOFF),
        AlgorithmRule(SignatureAlgorithm.RSA_PKCS1V15_SHA256, 1024, None, SHA1_RSA1024_CUTOFF),
        AlgorithmRule(SignatureAlgorithm.RSA_PKCS1V15_SHA256, 2048),
        AlgorithmRule(SignatureAlgorithm.ECDSA_P256_SHA256, 256),
        AlgorithmRule(SignatureAlgorithm.ED25519),
        AlgorithmRule(SignatureAlgorithm.ML_DSA_44, 0, ML_DSA_FROM),
        AlgorithmRule(SignatureAlgorithm.ML_DSA_65, 0, ML_DSA_FROM),
        AlgorithmRule(SignatureAlgorithm.ML_DSA_87, 0, ML_DSA_FROM),
    ),
)
"""Built into every node for a fresh network; any issued policy (version ≥ 1) replaces it."""


# --- the signed document ------------------------------------------------------------------


def sign_policy(credentials: NodeCredentials, policy: CryptoPolicy) -> bytes:
    """The policy as the national center signs it: JSON with the exact payload bytes."""
    if credentials.role != "national":
        raise SignatureError("not_national", "only the national center signs the crypto policy")
    payload = policy.payload()
    return json.dumps(
        {
            "policy": base64.b64encode(payload).decode(),
            "alg": str(credentials.algorithm),
            "cert": base64.b64encode(credentials.certificate_der).decode(),
            "sig": base64.b64encode(credentials.sign(payload)).decode(),
        },
        separators=(",", ":"),
    ).encode()


def open_policy(trust: TrustStore, document: bytes, at: datetime) -> CryptoPolicy:
    """Verify a signed policy (by a national-center certificate, under the policy in force)."""
    try:
        outer = json.loads(document)
        payload = base64.b64decode(outer["policy"], validate=True)
        cert = base64.b64decode(outer["cert"], validate=True)
        signature = base64.b64decode(outer["sig"], validate=True)
        algorithm = str(outer["alg"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # nested past the parser
        raise RuleViolation("policy", "malformed", f"malformed policy document: {exc}") from None
    signer = trust.verify_message(cert, algorithm, payload, signature, at)
    if signer.role != "national":
        raise RuleViolation("policy", "not_national", f"policy signed by {signer.node_id}")
    try:
        return CryptoPolicy.from_payload(payload)
    except (ValueError, KeyError, TypeError) as exc:
        raise RuleViolation("policy", "malformed", f"malformed policy: {exc}") from None


def policy_of_document(document: bytes) -> CryptoPolicy:
    """The policy inside a stored document (verified when it was received)."""
    return CryptoPolicy.from_payload(base64.b64decode(json.loads(document)["policy"]))


# --- what every node does with the documents -----------------------------------------------


class NetworkDocuments:
    """A node's newest CRLs and crypto policy: kept in its database, enforced by its trust.

    Documents are installed into the trust store when the handler runs, inside the receiving
    transaction; if that transaction rolls back, the sender resends and the same (idempotent)
    document is applied again, and a restart reloads exactly what was committed.
    """

    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust

    def install(self, conn: Connection) -> None:
        """Load the newest stored policy (or the default) and CRLs into the trust store."""
        documents = newest_documents(conn)
        policy = documents.get(POLICY_KIND)
        self.trust.policy = policy_of_document(policy.content) if policy else DEFAULT_POLICY
        for kind, doc in documents.items():
            if kind.startswith("crl:"):
                self.trust.apply_crl(x509.load_der_x509_crl(doc.content))

    def install_from(self, engine: Engine) -> None:
        with read_transaction(engine) as conn:
            self.install(conn)

    @property
    def policy(self) -> CryptoPolicy:
        policy = self.trust.policy
        return policy if isinstance(policy, CryptoPolicy) else DEFAULT_POLICY

    def accept_crl(self, conn: Connection, crl_der: bytes, purpose: str, now: datetime) -> bool:
        """Store and enforce a CRL newer than the one held; older or equal ones are ignored."""
        try:
            crl = x509.load_der_x509_crl(crl_der)
        except ValueError as exc:
            raise RuleViolation("crl", "malformed", f"malformed CRL: {exc}") from None
        number = self.trust.crl_number(crl)
        if not self.trust.apply_crl(crl):
            return False
        store_if_newer(conn, crl_kind(purpose), number, crl.last_update_utc, crl_der, at=now)
        return True

    def accept_policy(self, conn: Connection, document: bytes, now: datetime) -> bool:
        """Store and enforce a signed policy newer than the one in force."""
        policy = open_policy(self.trust, document, now)
        if policy.version <= self.policy.version:
            return False
        store_if_newer(conn, POLICY_KIND, policy.version, policy.issued_at, document, at=now)
        self.trust.policy = policy
        return True

    def on_crl_update(self, conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        body = opened.envelope.body
        try:
            der = base64.b64decode(body["crl"], validate=True)
        except (ValueError, KeyError, TypeError) as exc:
            raise RuleViolation("crl", "malformed", f"malformed crl_update: {exc}") from None
        purpose = body.get("purpose")
        if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
            # it names the document kept (``crl:<purpose>``), so it must fit the column
            raise RuleViolation("purpose", "malformed", "the purpose of an issuing CA")
        self.accept_crl(conn, der, purpose, now)

    def on_policy_update(self, conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        document = opened.envelope.body.get("document")
        if not isinstance(document, str):
            raise RuleViolation("policy", "malformed", "policy_update without a document")
        self.accept_policy(conn, document.encode(), now)
