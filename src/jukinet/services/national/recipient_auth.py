"""Who is calling the recipients' provision API: a recipient proven by a signed request (its
certificate from the recipients issuing CA), or, transitionally, by its bearer key.

``net/request_signing.py`` checks the signature, the certificate and the crypto policy; this
adds what needs the national center's database: CRLs and policies stored by another process
(a CLI revocation must bite in every worker), the recipient register (unknown, suspended) and
nonce replay. Every decision is audited as ``provision.authenticate`` naming the credential,
so recipients still on a bearer key stay visible until keys are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from cryptography import x509
from sqlalchemy import Connection, Engine

from jukinet.clock import Clock
from jukinet.domain.audit import Outcome
from jukinet.domain.operators import AuthRefused
from jukinet.net.pki import RECIPIENTS_PURPOSE, SignatureError, TrustStore
from jukinet.net.policy import policy_of_document
from jukinet.net.request_signing import (
    WINDOW,
    RequestSignature,
    VerifiedRequest,
    body_matches,
    digest_mismatch,
    parse_signature,
    verify_request,
)
from jukinet.services.audit import AuditLog
from jukinet.services.national.provision import hash_key
from jukinet.store import provision as store
from jukinet.store.audit import NewEntry
from jukinet.store.db import write_transaction
from jukinet.store.documents import POLICY_KIND, crl_kind, newest_document, newest_versions
from jukinet.store.recipient_nonces import purge_nonces, record_nonce

PURGE_EVERY: Final = timedelta(seconds=60)
"""Each process deletes expired nonces at most this often (in a request's transaction)."""
ACTION: Final = "provision.authenticate"
CRL_KIND: Final = crl_kind(RECIPIENTS_PURPOSE)


class Credential(StrEnum):
    CERTIFICATE = "certificate"
    BEARER_KEY = "bearer_key"  # transitional: recipients move to certificates


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The headers of a signed request, as received."""

    signature: str
    certificate: str | None
    digest: str | None


@dataclass(frozen=True, slots=True)
class AuthenticatedRecipient:
    """The recipient a request acts for, and what proved it."""

    name: str
    credential: Credential
    certificate: str | None = None
    """Fingerprint of the signing certificate (``certificate`` credential only)."""
    content_sha256: bytes | None = None
    """The signed body digest, when the body was not there to check yet (streamed)."""


@dataclass(slots=True)
class Attempt:
    """One request's claim to be a recipient, checked as far as the database allows: the
    signature, certificate and policy of a signed request, or the hash of a bearer key.

    :meth:`RecipientAuthService.admit` finishes it inside a transaction; ``actor`` and
    ``detail`` are what its audit entry records, however it ends."""

    request: str
    """``METHOD target`` (the audit entry's object)."""
    now: datetime
    detail: dict[str, Any]
    actor: str = "recipient:?"
    signed: RequestSignature | None = None
    verified: VerifiedRequest | None = None
    method: str = ""
    target: str = ""
    body: bytes | None = None
    key_hash: str | None = None
    refusal: AuthRefused | None = None
    """Refused before the database (bad signature, stale, revoked ...)."""
    audited: bool = True
    """False for a request carrying no credential at all (refused, not recorded)."""
    documents: int = 0
    """The service's document generation its signature was verified under."""


class RecipientAuthService:
    """Authenticates recipients' requests on the national center's database.

    Holds per-process state (the document versions last seen, the next purge), so one
    instance serves every request of a process.

    Either in a transaction of its own (:meth:`authenticate_signed`,
    :meth:`authenticate_bearer`), or in the caller's, in two steps: :meth:`attempt_signed` /
    :meth:`attempt_bearer` check what needs no database (outside any transaction), then
    :meth:`admit` (recipient register, nonce; or :meth:`check` with the nonces recorded by
    the caller, many in one statement) and :meth:`accepted` / :meth:`refused` (the audit
    entry) inside the caller's write transaction, with whatever else it writes. A signature
    checked before a newer CRL or policy was installed is checked again by :meth:`check`.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        trust: TrustStore | None,
        audit: AuditLog | None = None,
        *,
        window: timedelta = WINDOW,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.trust = trust
        self.audit = audit or AuditLog(clock)
        self.window = window
        self._versions: dict[str, int] | None = None
        self._generation = 0  # bumped whenever a newer CRL or policy is installed
        self._next_purge: datetime | None = None

    # --- in a transaction of their own -----------------------------------------------------

    def authenticate_signed(
        self, method: str, target: str, headers: SignedHeaders, body: bytes | None
    ) -> AuthenticatedRecipient:
        """Verify a signed request and consume its nonce; AuthRefused names the reason.

        ``body`` ``None``: the body is still to be streamed; the caller passes its digest to
        :meth:`confirm_body` once received."""
        return self.authenticate(self.attempt_signed(method, target, headers, body))

    def authenticate_bearer(self, key: str | None, method: str, target: str) -> str:
        """The recipient holding bearer ``key``; AuthRefused names the reason."""
        return self.authenticate(self.attempt_bearer(key, method, target)).name

    def authenticate(self, attempt: Attempt) -> AuthenticatedRecipient:
        """Finish ``attempt`` in a transaction of its own, audited; a refusal is recorded in
        another (the first rolled back), then raised."""
        if attempt.refusal is not None and not attempt.audited:
            raise attempt.refusal
        try:
            with write_transaction(self.engine) as conn:
                changed = self.documents_changed(conn)
                recipient = self.admit(conn, attempt, documents_changed=changed)
                self.purge_if_due(conn, attempt.now)
                self.audit.record_all(conn, [self.accepted(attempt)])
        except AuthRefused as exc:
            with write_transaction(self.engine) as conn:
                self.audit.record_all(conn, [self.refused(attempt, exc, self.clock.now())])
            raise
        return recipient

    def confirm_body(
        self, recipient: AuthenticatedRecipient, body_sha256: bytes, method: str, target: str
    ) -> None:
        """Refuse (and record) a streamed body whose digest is not the one signed."""
        signed = recipient.content_sha256
        if signed is None or body_matches(signed, body_sha256):
            return
        exc = digest_mismatch()
        refusal = AuthRefused(exc.field, exc.rule, exc.reason)
        attempt = Attempt(
            f"{method} {target}"[:300],
            self.clock.now(),
            {"credential": recipient.credential.value, "certificate": recipient.certificate},
            f"recipient:{recipient.name}",
        )
        with write_transaction(self.engine) as conn:
            self.audit.record_all(conn, [self.refused(attempt, refusal, attempt.now)])
        raise refusal

    # --- outside any transaction -------------------------------------------------------------

    def attempt_signed(
        self, method: str, target: str, headers: SignedHeaders, body: bytes | None
    ) -> Attempt:
        """Parse and verify a signed request (CPU only: no database); a failure is kept in
        ``refusal``, to be audited and raised by :meth:`admit`."""
        now = self.clock.now()
        attempt = Attempt(
            f"{method} {target}"[:300],
            now,
            {"credential": Credential.CERTIFICATE.value},
            method=method,
            target=target,
            body=body,
        )
        attempt.documents = self._generation
        try:
            signed = parse_signature(headers.certificate, headers.signature, headers.digest)
            attempt.signed = signed
            attempt.detail.update(certificate=signed.certificate_fingerprint, alg=signed.algorithm)
            attempt.verified = self._verify(signed, method, target, body, now)
            attempt.actor = f"recipient:{attempt.verified.recipient}"
        except SignatureError as exc:
            attempt.refusal = AuthRefused(exc.field, exc.rule, exc.reason)
        return attempt

    def attempt_bearer(self, key: str | None, method: str, target: str) -> Attempt:
        """A bearer key's attempt: its hash, looked up by :meth:`admit`. No key at all is
        refused without an audit entry."""
        attempt = Attempt(
            f"{method} {target}"[:300],
            self.clock.now(),
            {"credential": Credential.BEARER_KEY.value},
        )
        if not key:
            attempt.audited = False
            attempt.refusal = AuthRefused(
                "credential",
                "not_authenticated",
                "no recipient credential: sign the request (Jukinet-Signature) "
                "or send a bearer key",
            )
        else:
            attempt.key_hash = hash_key(key)
        return attempt

    # --- inside the caller's transaction -------------------------------------------------------

    def admit(
        self,
        conn: Connection,
        attempt: Attempt,
        *,
        documents_changed: bool,
        reads: store.TransactionReads | None = None,
    ) -> AuthenticatedRecipient:
        """The recipient ``attempt`` proves, its nonce consumed; AuthRefused otherwise (nothing
        written then). ``documents_changed``: :meth:`documents_changed` of this transaction
        said so (a signed request is verified again). ``reads``: the rows this transaction
        has read already."""
        recipient = self.check(conn, attempt, documents_changed=documents_changed, reads=reads)
        if attempt.verified is not None and not record_nonce(conn, **self.nonce_row(attempt)):
            raise self.replayed(attempt)
        return recipient

    def check(
        self,
        conn: Connection,
        attempt: Attempt,
        *,
        documents_changed: bool,
        reads: store.TransactionReads | None = None,
    ) -> AuthenticatedRecipient:
        """:meth:`admit` but for the nonce, which the caller then records in the same
        transaction (``store.recipient_nonces.record_nonces`` for many; :meth:`replayed`
        for one already used)."""
        if attempt.refusal is not None:
            raise attempt.refusal
        reads = reads or store.TransactionReads(conn)
        if attempt.key_hash is not None:
            found = reads.recipient_by_key_hash(attempt.key_hash)
            if found is None:
                raise AuthRefused("credential", "not_authenticated", "unknown recipient credential")
            attempt.actor = f"recipient:{found.name}"
            self._admissible(found.name, found)
            return AuthenticatedRecipient(found.name, Credential.BEARER_KEY)
        signed, verified = attempt.signed, attempt.verified
        assert signed is not None
        assert verified is not None
        try:
            # a CRL or policy another process stored, installed since the signature was checked
            if documents_changed or attempt.documents != self._generation:
                attempt.documents = self._generation
                verified = self._verify(
                    signed, attempt.method, attempt.target, attempt.body, attempt.now
                )
                attempt.verified = verified
        except SignatureError as exc:
            raise AuthRefused(exc.field, exc.rule, exc.reason) from None
        name = verified.recipient
        self._admissible(name, reads.recipient(name))
        return AuthenticatedRecipient(
            name,
            Credential.CERTIFICATE,
            verified.fingerprint,
            None if attempt.body is not None else verified.content_sha256,
        )

    @staticmethod
    def nonce_row(attempt: Attempt) -> dict[str, Any]:
        """The nonce a checked signed attempt consumes (``recipient_request_nonces`` row)."""
        verified = attempt.verified
        assert verified is not None
        return {
            "recipient": verified.recipient,
            "nonce": verified.nonce,
            "created_at": verified.created,
            "certificate": verified.fingerprint,
        }

    @staticmethod
    def replayed(attempt: Attempt) -> AuthRefused:
        verified = attempt.verified
        assert verified is not None
        return AuthRefused(
            "nonce",
            "replayed_nonce",
            f"nonce {verified.nonce} was already used by {verified.recipient} (replayed request)",
        )

    def accepted(self, attempt: Attempt) -> NewEntry:
        """The audit entry of an admitted attempt."""
        return self.audit.entry(
            actor=attempt.actor,
            action=ACTION,
            obj=attempt.request,
            detail=attempt.detail,
            at=attempt.now,
        )

    def refused(self, attempt: Attempt, refusal: AuthRefused, at: datetime) -> NewEntry:
        """The audit entry of a refused attempt, naming the rule."""
        return self.audit.entry(
            actor=attempt.actor,
            action=ACTION,
            obj=attempt.request,
            outcome=Outcome.REFUSED,
            detail={**attempt.detail, "rule": refusal.rule},
            at=at,
        )

    def documents_changed(self, conn: Connection) -> bool:
        """Install a newer recipients CRL or crypto policy from the database; True if any.
        One small query (the newest version of each kind) when nothing changed."""
        versions = newest_versions(conn)
        if self.trust is None or versions == self._versions:
            return False
        self._versions = versions
        changed = False
        if CRL_KIND in versions:
            crl = newest_document(conn, CRL_KIND)
            if crl is not None:
                changed = self.trust.apply_crl(x509.load_der_x509_crl(crl.content))
        held = getattr(self.trust.policy, "version", -1)
        if versions.get(POLICY_KIND, -1) > held:
            document = newest_document(conn, POLICY_KIND)
            if document is not None:
                self.trust.policy = policy_of_document(document.content)
                changed = True
        if changed:
            self._generation += 1
        return changed

    def purge_if_due(self, conn: Connection, now: datetime) -> None:
        """Delete expired nonces, at most once per ``PURGE_EVERY`` in this process."""
        if self._next_purge is None or now >= self._next_purge:
            purge_nonces(conn, now - self.window)
            self._next_purge = now + PURGE_EVERY

    # --- shared ------------------------------------------------------------------------------

    def _verify(
        self,
        signed: RequestSignature,
        method: str,
        target: str,
        body: bytes | None,
        now: datetime,
    ) -> VerifiedRequest:
        if self.trust is None:
            raise SignatureError(
                "unknown_issuer", "this process trusts no recipients issuing CA", "certificate"
            )
        return verify_request(
            self.trust, signed, method, target, body=body, now=now, window=self.window
        )

    @staticmethod
    def _admissible(name: str, recipient: store.Recipient | None) -> None:
        if recipient is None:
            raise AuthRefused("recipient", "unknown_recipient", f"{name} is not a recipient")
        if recipient.suspended:
            raise AuthRefused(
                "recipient", "recipient_suspended", f"provision to {name} is suspended"
            )
