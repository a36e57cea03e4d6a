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
from typing import Any, Final, NoReturn

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


class RecipientAuthService:
    """Authenticates recipients' requests on the national center's database.

    Holds per-process state (the document versions last seen, the next purge), so one
    instance serves every request of a process.
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
        self._next_purge: datetime | None = None

    # --- signed requests ---------------------------------------------------------------------

    def authenticate_signed(
        self, method: str, target: str, headers: SignedHeaders, body: bytes | None
    ) -> AuthenticatedRecipient:
        """Verify a signed request and consume its nonce; AuthRefused names the reason.

        ``body`` ``None``: the body is still to be streamed; the caller passes its digest to
        :meth:`confirm_body` once received."""
        now = self.clock.now()
        request = f"{method} {target}"[:300]
        detail: dict[str, Any] = {"credential": Credential.CERTIFICATE.value}
        actor = "recipient:?"
        try:
            signed = parse_signature(headers.certificate, headers.signature, headers.digest)
            detail.update(certificate=signed.certificate_fingerprint, alg=signed.algorithm)
            verified = self._verify(signed, method, target, body, now)
            actor = f"recipient:{verified.recipient}"
            with write_transaction(self.engine) as conn:
                if self._documents_changed(conn):  # a CRL or policy another process stored
                    verified = self._verify(signed, method, target, body, now)
                self._admit(conn, verified.recipient)
                if not record_nonce(
                    conn,
                    recipient=verified.recipient,
                    nonce=verified.nonce,
                    created_at=verified.created,
                    certificate=verified.fingerprint,
                ):
                    raise AuthRefused(
                        "nonce",
                        "replayed_nonce",
                        f"nonce {verified.nonce} was already used by {verified.recipient} "
                        "(replayed request)",
                    )
                self._purge_if_due(conn, now)
                self.audit.record(
                    conn, actor=actor, action=ACTION, obj=request, detail=detail, at=now
                )
        except SignatureError as exc:
            self._refuse(AuthRefused(exc.field, exc.rule, exc.reason), actor, request, detail)
        except AuthRefused as exc:
            self._refuse(exc, actor, request, detail)
        return AuthenticatedRecipient(
            verified.recipient,
            Credential.CERTIFICATE,
            verified.fingerprint,
            None if body is not None else verified.content_sha256,
        )

    def confirm_body(
        self, recipient: AuthenticatedRecipient, body_sha256: bytes, method: str, target: str
    ) -> None:
        """Refuse (and record) a streamed body whose digest is not the one signed."""
        signed = recipient.content_sha256
        if signed is None or body_matches(signed, body_sha256):
            return
        exc = digest_mismatch()
        self._refuse(
            AuthRefused(exc.field, exc.rule, exc.reason),
            f"recipient:{recipient.name}",
            f"{method} {target}"[:300],
            {"credential": recipient.credential.value, "certificate": recipient.certificate},
        )

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

    def _documents_changed(self, conn: Connection) -> bool:
        """Install a newer recipients CRL or crypto policy from the database; True if any."""
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
        return changed

    def _purge_if_due(self, conn: Connection, now: datetime) -> None:
        if self._next_purge is None or now >= self._next_purge:
            purge_nonces(conn, now - self.window)
            self._next_purge = now + PURGE_EVERY

    # --- bearer keys (transitional) ------------------------------------------------------------

    def authenticate_bearer(self, key: str | None, method: str, target: str) -> str:
        """The recipient holding bearer ``key``; AuthRefused names the reason."""
        if not key:
            raise AuthRefused(
                "credential",
                "not_authenticated",
                "no recipient credential: sign the request (Jukinet-Signature) "
                "or send a bearer key",
            )
        now = self.clock.now()
        request = f"{method} {target}"[:300]
        detail: dict[str, Any] = {"credential": Credential.BEARER_KEY.value}
        actor = "recipient:?"
        try:
            with write_transaction(self.engine) as conn:
                recipient = store.recipient_by_key_hash(conn, hash_key(key))
                if recipient is None:
                    raise AuthRefused(
                        "credential", "not_authenticated", "unknown recipient credential"
                    )
                actor = f"recipient:{recipient.name}"
                self._admit(conn, recipient.name)
                self.audit.record(
                    conn, actor=actor, action=ACTION, obj=request, detail=detail, at=now
                )
        except AuthRefused as exc:
            self._refuse(exc, actor, request, detail)
        return recipient.name

    # --- shared ------------------------------------------------------------------------------

    def _admit(self, conn: Connection, name: str) -> None:
        recipient = store.get_recipient(conn, name)
        if recipient is None:
            raise AuthRefused("recipient", "unknown_recipient", f"{name} is not a recipient")
        if recipient.suspended:
            raise AuthRefused(
                "recipient", "recipient_suspended", f"provision to {name} is suspended"
            )

    def _refuse(
        self, refusal: AuthRefused, actor: str, request: str, detail: dict[str, Any]
    ) -> NoReturn:
        """Record the refusal on its own (the request's transaction rolled back), then raise."""
        with write_transaction(self.engine) as conn:
            self.audit.record(
                conn,
                actor=actor,
                action=ACTION,
                obj=request,
                outcome=Outcome.REFUSED,
                detail={**detail, "rule": refusal.rule},
            )
        raise refusal
