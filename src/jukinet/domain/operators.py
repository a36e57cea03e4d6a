"""Operators of the network (操作者): organisations, roles, what each role may do, and the rules
of login (lockout after repeated failures, session expiry, the legacy card's cutoff).

Pure rules only: no storage, no clock reads. Services pass ``now`` in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from jukinet.domain.errors import RuleViolation


class Role(StrEnum):
    REGISTRAR = "registrar"  # 住民記録担当
    CERTIFICATE_CLERK = "certificate_clerk"  # 証明書交付担当
    DISCLOSURE_OFFICER = "disclosure_officer"  # 本人確認情報開示担当
    AUDITOR = "auditor"  # 監査担当
    ADMINISTRATOR = "administrator"  # 管理者

    @property
    def label_ja(self) -> str:
        return _ROLE_JA[self]


_ROLE_JA = {
    Role.REGISTRAR: "住民記録担当",
    Role.CERTIFICATE_CLERK: "証明書交付担当",
    Role.DISCLOSURE_OFFICER: "本人確認情報開示担当",
    Role.AUDITOR: "監査担当",
    Role.ADMINISTRATOR: "管理者",
}


class Action(StrEnum):
    """What an operator asks to do; every request is authorised as one of these."""

    RESIDENT_READ = "resident.read"
    RESIDENT_RECORD = "resident.record"
    CERTIFICATE_ISSUE = "certificate.issue"
    DISCLOSURE_PROVIDE = "disclosure.provide"  # every step of a disclosure request
    DISCLOSURE_REPORT = "disclosure.report"  # the overdue list and statistics: no personal data
    AUDIT_READ = "audit.read"
    OPERATOR_MANAGE = "operator.manage"
    NETWORK_MONITOR = "network.monitor"
    SESSION_VIEW = "session.view"


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.REGISTRAR: frozenset({Action.RESIDENT_READ, Action.RESIDENT_RECORD}),
    Role.CERTIFICATE_CLERK: frozenset({Action.RESIDENT_READ, Action.CERTIFICATE_ISSUE}),
    Role.DISCLOSURE_OFFICER: frozenset(
        {Action.RESIDENT_READ, Action.DISCLOSURE_PROVIDE, Action.DISCLOSURE_REPORT}
    ),
    Role.AUDITOR: frozenset({Action.AUDIT_READ, Action.NETWORK_MONITOR, Action.DISCLOSURE_REPORT}),
    Role.ADMINISTRATOR: frozenset(
        {Action.OPERATOR_MANAGE, Action.AUDIT_READ, Action.NETWORK_MONITOR}
    ),
}
"""Separation of duties: an administrator manages operators and watches the network but records
no resident, and an auditor reads the audit trail and watches the network but reads no
resident. Every role may view its own session. Disclosure requests are the disclosure officer's
(``disclosure.provide``: intake, decision, delivery, corrections, the letters); the auditor
watches their deadlines and counts (``disclosure.report``: the overdue list and the statistics,
which carry no personal data) without reading a request.

What a permission reaches is further limited by organisation (``check_organisation``): reading
a register needs an operator of that municipality; watching the network (24-hour monitoring),
an operator of the national center."""


def permitted(role: Role, action: Action) -> bool:
    return action is Action.SESSION_VIEW or action in PERMISSIONS[role]


class OrganisationKind(StrEnum):
    MUNICIPALITY = "municipality"
    PREFECTURE = "prefecture"
    NATIONAL = "national"


_ORG_FORMS = {
    OrganisationKind.MUNICIPALITY: re.compile(r"^\d{6}$"),
    OrganisationKind.PREFECTURE: re.compile(r"^(0[1-9]|[1-3]\d|4[0-7])$"),
}


@dataclass(frozen=True, slots=True)
class Organisation:
    """Who operators work for: a municipality (lg code), a prefecture (2 digits) or the
    national center. Its id reads like a node id: ``municipality/131016``, ``prefecture/13``,
    ``national``."""

    kind: OrganisationKind
    code: str = ""

    @property
    def org_id(self) -> str:
        return (
            self.kind.value
            if self.kind is OrganisationKind.NATIONAL
            else f"{self.kind}/{self.code}"
        )


def parse_organisation(text: str, field: str = "organisation") -> Organisation:
    kind_text, _, code = text.strip().partition("/")
    try:
        kind = OrganisationKind(kind_text)
    except ValueError:
        raise RuleViolation(
            field,
            "organisation",
            f"{text!r}: an organisation is municipality/<lg code>, prefecture/<code> or national",
        ) from None
    if kind is OrganisationKind.NATIONAL:
        if code:
            raise RuleViolation(field, "organisation", f"{text!r}: the national center has no code")
        return Organisation(kind)
    if not _ORG_FORMS[kind].match(code):
        raise RuleViolation(field, "organisation", f"{text!r}: bad {kind} code {code!r}")
    return Organisation(kind, code)


_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def check_login(login: str, field: str = "login") -> str:
    if not _LOGIN.match(login):
        raise RuleViolation(
            field, "login", f"{login!r}: 3-64 characters of a-z, 0-9, '.', '_' or '-'"
        )
    return login


# --- refusals -------------------------------------------------------------------------------


class AuthRefused(RuleViolation):
    """A login, enrolment or request was refused; ``rule`` says why (stable identifiers).

    ``retry_after`` is set for a lockout (seconds until it ends)."""

    def __init__(
        self, field: str, rule: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(field, rule, message)
        self.retry_after = retry_after


def check_organisation(operator_org: str, required_org: str, what: str) -> None:
    """Tenancy: an operator acts only for its own organisation (``other_organisation``)."""
    if operator_org != required_org:
        raise AuthRefused(
            "organisation",
            "other_organisation",
            f"{what} for {required_org} needs an operator of {required_org}; "
            f"this operator belongs to {operator_org}",
        )


# --- lockout --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """``max_failures`` consecutive failures lock a principal for ``lock_for``."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Throttle:
    """Consecutive failed logins of one principal (an operator id or a card number)."""

    failures: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime, policy: LockoutPolicy) -> Throttle:
        failures = 0 if self.locked_until is not None and not self.locked(now) else self.failures
        failures += 1
        if failures >= policy.max_failures:
            return Throttle(failures, now + policy.lock_for)
        return Throttle(failures, None)


def lockout_refusal(field: str, throttle: Throttle, now: datetime) -> AuthRefused:
    assert throttle.locked_until is not None
    seconds = max(1, int((throttle.locked_until - now).total_seconds()))
    return AuthRefused(
        field,
        "locked",
        f"too many failed logins: locked until {throttle.locked_until.isoformat()}",
        retry_after=seconds,
    )


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=8)

    def expiry(self, created_at: datetime, last_seen_at: datetime, now: datetime) -> str | None:
        """Why a session has expired at ``now`` (``"absolute"`` or ``"idle"``), or None."""
        if now >= created_at + self.absolute:
            return "absolute"
        if now >= last_seen_at + self.idle:
            return "idle"
        return None


# --- legacy operator card -------------------------------------------------------------------


def check_legacy_allowed(cutoff: date | None, today: date) -> None:
    """The operator card + password works only before the organisation's cutoff date (on the
    cutoff day itself it is refused). No cutoff set: the organisation never had cards."""
    if cutoff is None:
        raise AuthRefused(
            "card_number",
            "legacy_not_enabled",
            "the operator card is not enabled for this organisation: log in with WebAuthn",
        )
    if today >= cutoff:
        raise AuthRefused(
            "card_number",
            "legacy_retired",
            f"the operator card was retired on {cutoff.isoformat()} for this organisation: "
            "log in with a biometric authenticator (WebAuthn)",
        )
