"""Operators: registration, enrolment of authenticators, login (WebAuthn with user verification,
or the legacy operator card until its cutoff), sessions, and authorisation of every action.

Every refusal is recorded in the same transaction that counts it, then raised: a refused login
changes nothing but the throttle and the attempts log. Every authorisation decision and operator
action is recorded twice in one transaction: in ``operator_actions`` (queried per operator) and in
the directory database's hash-chained audit log (``services.audit``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine

from jukinet.clock import Clock, today_in_japan
from jukinet.domain.audit import Outcome
from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import (
    Action,
    AuthRefused,
    LockoutPolicy,
    Role,
    SessionPolicy,
    Throttle,
    check_legacy_allowed,
    check_login,
    check_organisation,
    lockout_refusal,
    parse_organisation,
    permitted,
)
from jukinet.interfaces.webauthn import CeremonyFailed, PyWebAuthn, credential_id_of
from jukinet.services.audit import AuditLog
from jukinet.store import operators as store
from jukinet.store.db import read_transaction, write_transaction

CEREMONY_TTL = timedelta(minutes=5)
ENROLMENT_TOKEN_TTL = timedelta(hours=24)

# --- passwords (legacy operator card) -------------------------------------------------------

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A salted scrypt hash: ``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, _unb64(digest))


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))  # equal work for unknown card numbers


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operator:
    """An operator as the rest of the system sees one (no secrets)."""

    id: int
    org_id: str
    login: str
    display_name: str
    role: Role

    @classmethod
    def of(cls, r: store.OperatorRecord) -> Operator:
        return cls(r.id, r.org_id, r.login, r.display_name, r.role)


@dataclass(frozen=True, slots=True)
class Ceremony:
    """A started WebAuthn ceremony: its id (sent back with the response) and the options."""

    ceremony_id: str
    options_json: str


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str
    operator: Operator
    expires_at: datetime  # the absolute limit


class OperatorService:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        webauthn: PyWebAuthn,
        *,
        lockout: LockoutPolicy | None = None,
        sessions: SessionPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.webauthn = webauthn
        self.lockout = lockout or LockoutPolicy()
        self.sessions = sessions or SessionPolicy()
        self.audit = AuditLog(clock)

    # --- directory --------------------------------------------------------------------------

    def add_organisation(self, org: str, name: str, legacy_cutoff: date | None = None) -> str:
        """Register (or update) an organisation; returns its id."""
        org_id = parse_organisation(org).org_id
        with write_transaction(self.engine) as conn:
            store.upsert_organisation(conn, org_id, name, legacy_cutoff)
        return org_id

    def add_operator(
        self,
        org: str,
        login: str,
        display_name: str,
        role: Role,
        *,
        card_number: str | None = None,
        password: str | None = None,
    ) -> Operator:
        org_id = parse_organisation(org).org_id
        check_login(login)
        if (card_number is None) != (password is None):
            raise RuleViolation("card_number", "legacy_pair", "give a card number and a password")
        if password is not None and len(password) < 8:
            raise RuleViolation("password", "too_short", "a password has at least 8 characters")
        password_hash = None if password is None else hash_password(password)
        with write_transaction(self.engine) as conn:
            if store.get_organisation(conn, org_id) is None:
                raise RuleViolation("organisation", "not_found", f"{org_id} is not registered")
            if store.get_operator_by_login(conn, login) is not None:
                raise RuleViolation("login", "exists", f"operator {login!r} exists already")
            if card_number is not None and store.get_operator_by_card(conn, card_number):
                raise RuleViolation("card_number", "exists", "this card is issued already")
            operator_id = store.insert_operator(
                conn,
                org_id=org_id,
                login=login,
                display_name=display_name,
                role=role,
                user_handle=secrets.token_bytes(32),
                card_number=card_number,
                password_hash=password_hash,
                now=self.clock.now(),
            )
        return Operator(operator_id, org_id, login, display_name, role)

    def list_operators(self, org: str | None = None) -> list[tuple[Operator, int]]:
        """Operators (of one organisation, or all) with their number of authenticators."""
        org_id = None if org is None else parse_organisation(org).org_id
        with read_transaction(self.engine) as conn:
            return [
                (Operator.of(r), len(store.list_credentials(conn, r.id)))
                for r in store.list_operators(conn, org_id)
            ]

    def operator(self, login: str) -> Operator:
        with read_transaction(self.engine) as conn:
            return Operator.of(self._operator(conn, login))

    # --- enrolment --------------------------------------------------------------------------

    def issue_enrolment_token(self, login: str, *, issued_by: Operator | None) -> str:
        """A one-time token with which ``login`` enrols an authenticator. Only an administrator
        of the operator's organisation issues one (``issued_by=None``: the local CLI, run by
        whoever administers the node's host). A refusal is recorded."""
        try:
            with write_transaction(self.engine) as conn:
                target = self._operator(conn, login)
                if issued_by is not None:
                    self._check_administrator_of(issued_by, target.org_id)
                token = secrets.token_urlsafe(32)
                store.insert_enrolment_token(
                    conn,
                    _token_hash(token),
                    target.id,
                    None if issued_by is None else issued_by.id,
                    self.clock.now() + ENROLMENT_TOKEN_TTL,
                )
        except AuthRefused as refusal:
            assert issued_by is not None
            self._record_refusal(issued_by, f"enrolment token for {login}", refusal)
            raise
        return token

    def begin_enrolment_with_token(self, token: str) -> Ceremony:
        token_hash = _token_hash(token)
        with write_transaction(self.engine) as conn:
            found = store.get_enrolment_token(conn, token_hash)
            now = self.clock.now()
            if found is None or found[2] is not None or now >= found[1]:
                raise AuthRefused(
                    "token", "enrolment_token", "the enrolment token is unknown, used or expired"
                )
            target = store.get_operator_by_id(conn, found[0])
            assert target is not None
            return self._begin_registration(conn, target, token_hash=token_hash, by=None)

    def begin_enrolment_by_admin(self, admin: Operator, login: str) -> Ceremony:
        """An administrator enrols an authenticator for an operator of their organisation at
        the administrator's own terminal (the operator present). A refusal is recorded."""
        try:
            with write_transaction(self.engine) as conn:
                target = self._operator(conn, login)
                self._check_administrator_of(admin, target.org_id)
                return self._begin_registration(conn, target, token_hash=None, by=admin.id)
        except AuthRefused as refusal:
            self._record_refusal(admin, f"authenticator enrolment for {login}", refusal)
            raise

    def _begin_registration(
        self,
        conn: Connection,
        target: store.OperatorRecord,
        *,
        token_hash: str | None,
        by: int | None,
    ) -> Ceremony:
        options = self.webauthn.registration_options(
            user_handle=target.user_handle,
            user_name=target.login,
            display_name=target.display_name,
            exclude=[c.credential_id for c in store.list_credentials(conn, target.id)],
        )
        return self._store_ceremony(
            conn,
            "register",
            target.id,
            options.challenge,
            f"login:{target.login}",
            token_hash=token_hash,
            by=by,
            options_json=options.json,
        )

    def finish_enrolment(self, ceremony_id: str, credential_json: str) -> Operator:
        now = self.clock.now()
        with write_transaction(self.engine) as conn:
            ceremony = self._take_ceremony(conn, ceremony_id, "register", now)
            assert ceremony.operator_id is not None
            target = store.get_operator_by_id(conn, ceremony.operator_id)
            assert target is not None
            refusal: AuthRefused | None = None
            try:
                new = self.webauthn.verify_registration(credential_json, ceremony.challenge)
            except CeremonyFailed as exc:
                refusal = _ceremony_refusal(exc)
            else:
                if store.credential_exists(conn, new.credential_id):
                    refusal = AuthRefused(
                        "credential", "credential_exists", "this authenticator is enrolled already"
                    )
                elif ceremony.enrolment_token_hash is not None and not store.use_enrolment_token(
                    conn, ceremony.enrolment_token_hash, now
                ):
                    refusal = AuthRefused(
                        "token", "enrolment_token", "the enrolment token was used already"
                    )
                else:
                    store.insert_credential(
                        conn,
                        operator_id=target.id,
                        credential_id=new.credential_id,
                        public_key=new.public_key,
                        sign_count=new.sign_count,
                        enrolled_by=ceremony.enrolled_by,
                        now=now,
                    )
        if refusal is not None:
            raise refusal
        return Operator.of(target)

    # --- login ------------------------------------------------------------------------------

    def begin_login(self, login: str) -> Ceremony:
        """Options for ``navigator.credentials.get`` naming the operator's authenticators. An
        unknown operator gets options too (naming nothing), so logins are not enumerable."""
        with write_transaction(self.engine) as conn:
            store.delete_expired_ceremonies(conn, self.clock.now())
            record = store.get_operator_by_login(conn, login)
            allow = [] if record is None else store.list_credentials(conn, record.id)
            options = self.webauthn.authentication_options([c.credential_id for c in allow])
            return self._store_ceremony(
                conn,
                "login",
                None if record is None else record.id,
                options.challenge,
                f"login:{login}",
                token_hash=None,
                by=None,
                options_json=options.json,
            )

    def finish_login(self, ceremony_id: str, credential_json: str) -> IssuedSession:
        now = self.clock.now()
        with write_transaction(self.engine) as conn:
            ceremony = self._take_ceremony(conn, ceremony_id, "login", now)
            outcome = self._webauthn_login(conn, ceremony, credential_json, now)
        if isinstance(outcome, AuthRefused):
            raise outcome
        return outcome

    def _webauthn_login(
        self, conn: Connection, ceremony: store.CeremonyRecord, credential_json: str, now: datetime
    ) -> IssuedSession | AuthRefused:
        principal = ceremony.principal
        throttle = store.get_throttle(conn, principal)
        if throttle.locked(now):
            locked = lockout_refusal("login", throttle, now)
            self._attempt(
                conn,
                principal,
                method="webauthn",
                operator_id=ceremony.operator_id,
                now=now,
                refusal=locked,
            )
            return locked
        record = (
            None
            if ceremony.operator_id is None
            else store.get_operator_by_id(conn, ceremony.operator_id)
        )
        refusal: AuthRefused | None = None
        try:
            credential_id = credential_id_of(credential_json)
            stored = next(
                (
                    c
                    for c in ([] if record is None else store.list_credentials(conn, record.id))
                    if c.credential_id == credential_id
                ),
                None,
            )
            if record is None or stored is None or not record.active:
                refusal = AuthRefused(
                    "credential", "bad_credentials", "unknown operator or authenticator"
                )
            else:
                sign_count = self.webauthn.verify_authentication(
                    credential_json, ceremony.challenge, stored.public_key, stored.sign_count
                )
        except CeremonyFailed as exc:
            refusal = _ceremony_refusal(exc)
        if refusal is not None:
            self._count_failure(
                conn,
                principal,
                method="webauthn",
                operator_id=ceremony.operator_id,
                now=now,
                refusal=refusal,
            )
            return refusal
        assert record is not None
        assert stored is not None
        store.update_sign_count(conn, stored.id, sign_count, now)
        return self._open_session(conn, record, principal, "webauthn", now)

    def legacy_login(self, card_number: str, password: str) -> IssuedSession:
        """Operator card + password, accepted only before the organisation's cutoff."""
        now = self.clock.now()
        principal = f"card:{card_number}"
        with write_transaction(self.engine) as conn:
            outcome = self._legacy_login(conn, principal, card_number, password, now)
        if isinstance(outcome, AuthRefused):
            raise outcome
        return outcome

    def _legacy_login(
        self, conn: Connection, principal: str, card_number: str, password: str, now: datetime
    ) -> IssuedSession | AuthRefused:
        record = store.get_operator_by_card(conn, card_number)
        operator_id = None if record is None else record.id
        throttle = store.get_throttle(conn, principal)
        if throttle.locked(now):
            refusal = lockout_refusal("card_number", throttle, now)
            self._attempt(
                conn, principal, method="legacy", operator_id=operator_id, now=now, refusal=refusal
            )
            return refusal
        if record is not None:
            found = store.get_organisation(conn, record.org_id)
            assert found is not None
            try:
                check_legacy_allowed(found[1], today_in_japan(self.clock))
            except AuthRefused as retired:
                self._attempt(
                    conn,
                    principal,
                    method="legacy",
                    operator_id=operator_id,
                    now=now,
                    refusal=retired,
                )
                return retired
        stored_hash = (
            _DUMMY_HASH if record is None or record.password_hash is None else record.password_hash
        )
        if not verify_password(password, stored_hash) or record is None or not record.active:
            refusal = AuthRefused("card_number", "bad_credentials", "wrong card number or password")
            self._count_failure(
                conn, principal, method="legacy", operator_id=operator_id, now=now, refusal=refusal
            )
            return refusal
        return self._open_session(conn, record, principal, "legacy", now)

    # --- sessions ---------------------------------------------------------------------------

    def authenticate(self, token: str) -> Operator:
        """The operator of a live session; refreshes its idle timer."""
        now = self.clock.now()
        token_hash = _token_hash(token)
        with write_transaction(self.engine) as conn:
            session = store.get_session(conn, token_hash)
            if session is None or session.ended_at is not None:
                raise AuthRefused("session", "not_authenticated", "not logged in")
            expiry = self.sessions.expiry(session.created_at, session.last_seen_at, now)
            if expiry is not None:
                store.end_session(conn, token_hash, now)
                outcome: Operator | AuthRefused = AuthRefused(
                    "session",
                    "session_expired",
                    "the session expired (8 hours since login)"
                    if expiry == "absolute"
                    else "the session expired (30 minutes without activity)",
                )
            else:
                record = store.get_operator_by_id(conn, session.operator_id)
                assert record is not None
                if record.active:
                    store.touch_session(conn, token_hash, now)
                    outcome = Operator.of(record)
                else:
                    outcome = AuthRefused("session", "not_authenticated", "operator disabled")
        if isinstance(outcome, AuthRefused):
            raise outcome
        return outcome

    def logout(self, token: str) -> None:
        with write_transaction(self.engine) as conn:
            store.end_session(conn, _token_hash(token), self.clock.now())

    # --- authorisation ----------------------------------------------------------------------

    def authorise(
        self,
        operator: Operator,
        action: Action | None,
        roles: frozenset[Role],
        target: str,
        *,
        organisation: str | None = None,
    ) -> None:
        """Allow ``operator`` to do ``action`` on ``target`` if it belongs to ``organisation``
        (when given: the tenant the target belongs to) and its role has the permission (and is
        one of ``roles``, when given); record the decision either way, with the rule that
        refused it."""
        name = action.value if action is not None else "role:" + ",".join(sorted(roles))
        refusal: AuthRefused | None = None
        try:
            if organisation is not None:
                check_organisation(operator.org_id, parse_organisation(organisation).org_id, name)
            if not (action is None or permitted(operator.role, action)) or (
                roles and operator.role not in roles
            ):
                raise AuthRefused(
                    "role", "forbidden", f"a {operator.role.value} may not do {name} ({target})"
                )
        except AuthRefused as refused:
            refusal = refused
        self.record_action(
            operator,
            name,
            target,
            "allowed" if refusal is None else "refused",
            rule=None if refusal is None else refusal.rule,
        )
        if refusal is not None:
            raise refusal

    def record_action(
        self,
        operator: Operator,
        action: str,
        target: str,
        outcome: str,
        *,
        rule: str | None = None,
    ) -> None:
        """Record an operator action (``allowed`` or ``refused``, and the rule that refused it)
        in the operator directory's action table and, in the same transaction, in its
        tamper-evident audit log (actor ``operator:<login>``)."""
        now = self.clock.now()
        with write_transaction(self.engine) as conn:
            store.insert_action(
                conn,
                at=now,
                operator_id=operator.id,
                org_id=operator.org_id,
                action=action,
                target=target,
                outcome=outcome,
            )
            self.audit.record(
                conn,
                actor=f"operator:{operator.login}",
                action=action,
                obj=target,
                outcome=Outcome.OK if outcome == "allowed" else Outcome.REFUSED,
                detail={
                    "operator_id": operator.id,
                    "organisation": operator.org_id,
                    "role": operator.role.value,
                    "rule": rule,
                },
                at=now,
            )

    # --- helpers ----------------------------------------------------------------------------

    def _operator(self, conn: Connection, login: str) -> store.OperatorRecord:
        record = store.get_operator_by_login(conn, login)
        if record is None:
            raise RuleViolation("login", "not_found", f"no operator {login!r}")
        return record

    def _record_refusal(self, operator: Operator, target: str, refusal: AuthRefused) -> None:
        self.record_action(
            operator, Action.OPERATOR_MANAGE.value, target, "refused", rule=refusal.rule
        )

    @staticmethod
    def _check_administrator_of(admin: Operator, org_id: str) -> None:
        if admin.role is not Role.ADMINISTRATOR or admin.org_id != org_id:
            raise AuthRefused(
                "role",
                "forbidden",
                f"only an administrator of {org_id} enrols its operators' authenticators",
            )

    def _store_ceremony(
        self,
        conn: Connection,
        purpose: str,
        operator_id: int | None,
        challenge: bytes,
        principal: str,
        *,
        token_hash: str | None,
        by: int | None,
        options_json: str,
    ) -> Ceremony:
        ceremony_id = secrets.token_urlsafe(32)
        store.insert_ceremony(
            conn,
            store.CeremonyRecord(
                ceremony_id=ceremony_id,
                purpose=purpose,
                operator_id=operator_id,
                challenge=challenge,
                enrolment_token_hash=token_hash,
                enrolled_by=by,
                principal=principal[:80],
                expires_at=self.clock.now() + CEREMONY_TTL,
            ),
        )
        return Ceremony(ceremony_id, options_json)

    @staticmethod
    def _take_ceremony(
        conn: Connection, ceremony_id: str, purpose: str, now: datetime
    ) -> store.CeremonyRecord:
        ceremony = store.take_ceremony(conn, ceremony_id)
        if ceremony is None or ceremony.purpose != purpose or now >= ceremony.expires_at:
            raise AuthRefused(
                "ceremony", "challenge", "unknown, used or expired challenge: start again"
            )
        return ceremony

    def _count_failure(
        self,
        conn: Connection,
        principal: str,
        *,
        method: str,
        operator_id: int | None,
        now: datetime,
        refusal: AuthRefused,
    ) -> None:
        throttle = store.get_throttle(conn, principal).after_failure(now, self.lockout)
        store.put_throttle(conn, principal, throttle)
        self._attempt(
            conn, principal, method=method, operator_id=operator_id, now=now, refusal=refusal
        )

    @staticmethod
    def _attempt(
        conn: Connection,
        principal: str,
        *,
        method: str,
        operator_id: int | None,
        now: datetime,
        refusal: AuthRefused | None,
    ) -> None:
        store.insert_login_attempt(
            conn,
            at=now,
            principal=principal[:80],
            method=method,
            operator_id=operator_id,
            outcome="ok" if refusal is None else "refused",
            reason=None if refusal is None else refusal.rule,
        )

    def _open_session(
        self,
        conn: Connection,
        record: store.OperatorRecord,
        principal: str,
        method: str,
        now: datetime,
    ) -> IssuedSession:
        store.put_throttle(conn, principal, Throttle())
        self._attempt(conn, principal, method=method, operator_id=record.id, now=now, refusal=None)
        token = secrets.token_urlsafe(32)
        store.insert_session(conn, _token_hash(token), record.id, method, now)
        return IssuedSession(token, Operator.of(record), now + self.sessions.absolute)


def _ceremony_refusal(exc: CeremonyFailed) -> AuthRefused:
    if exc.user_not_verified:
        return AuthRefused(
            "credential",
            "user_not_verified",
            "the authenticator did not verify the operator (biometric or PIN required)",
        )
    if exc.sign_count:
        return AuthRefused(
            "credential",
            "sign_count",
            f"replayed or cloned authenticator: {exc.reason}",
        )
    return AuthRefused(
        "credential", "bad_credentials", f"authenticator response refused: {exc.reason}"
    )
