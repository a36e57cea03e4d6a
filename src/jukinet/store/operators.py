"""Tables and data functions of operators: organisations, operators, their WebAuthn credentials,
enrolment tokens, pending ceremonies, login throttles and attempts, sessions and actions.

Secrets are never stored as given: session and enrolment tokens as SHA-256, passwords as a
salted scrypt hash (see ``jukinet.services.operators.passwords``). Every function takes an open
connection inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    Row,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from jukinet.domain.operators import Role, Throttle
from jukinet.store.tables import BigId, UTCDateTime, metadata

organisations = Table(
    "organisations",
    metadata,
    Column("org_id", String(32), primary_key=True),  # municipality/131016, prefecture/13 ...
    Column("name", Text, nullable=False),
    Column("legacy_cutoff", Date),  # operator cards refused from this date (JST)
)

operators = Table(
    "operators",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", String(32), ForeignKey("organisations.org_id"), nullable=False),
    Column("login", String(64), nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("role", String(24), nullable=False),
    Column("user_handle", LargeBinary(64), nullable=False, unique=True),  # WebAuthn user.id
    Column("card_number", String(32), unique=True),  # legacy operator card
    Column("password_hash", Text),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

operator_credentials = Table(
    "operator_credentials",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", BigId, ForeignKey("operators.id"), nullable=False, index=True),
    Column("credential_id", LargeBinary(1024), nullable=False, unique=True),
    Column("public_key", LargeBinary, nullable=False),  # COSE key
    Column("sign_count", BigInteger, nullable=False),
    Column("enrolled_by", BigId, ForeignKey("operators.id")),  # None: by an enrolment token
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
)

enrolment_tokens = Table(
    "enrolment_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator_id", BigId, ForeignKey("operators.id"), nullable=False, index=True),
    Column("issued_by", BigId, ForeignKey("operators.id")),  # None: the local CLI
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

webauthn_ceremonies = Table(
    "webauthn_ceremonies",
    metadata,
    Column("ceremony_id", String(64), primary_key=True),
    Column("purpose", String(12), nullable=False),  # register | login
    Column("operator_id", BigId, ForeignKey("operators.id")),
    Column("challenge", LargeBinary(64), nullable=False),
    Column("enrolment_token_hash", String(64)),
    Column("enrolled_by", BigId, ForeignKey("operators.id")),
    Column("principal", String(80), nullable=False),  # what a failure is counted against
    Column("expires_at", UTCDateTime, nullable=False),
)

login_throttles = Table(
    "login_throttles",
    metadata,
    Column("principal", String(80), primary_key=True),  # login:<id> | card:<number>
    Column("failures", BigInteger, nullable=False),
    Column("locked_until", UTCDateTime),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("principal", String(80), nullable=False),
    Column("method", String(12), nullable=False),  # webauthn | legacy
    Column("operator_id", BigId, ForeignKey("operators.id")),
    Column("outcome", String(8), nullable=False),  # ok | refused
    Column("reason", Text),
    Index(None, "principal", "at"),
)

operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator_id", BigId, ForeignKey("operators.id"), nullable=False, index=True),
    Column("method", String(12), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
)

operator_actions = Table(
    "operator_actions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("operator_id", BigId, ForeignKey("operators.id"), nullable=False),
    Column("org_id", String(32), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", Text, nullable=False),
    Column("outcome", String(8), nullable=False),  # allowed | refused
    Index(None, "operator_id", "at"),
)


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    id: int
    org_id: str
    login: str
    display_name: str
    role: Role
    user_handle: bytes
    card_number: str | None
    password_hash: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    id: int
    operator_id: int
    credential_id: bytes
    public_key: bytes
    sign_count: int


@dataclass(frozen=True, slots=True)
class CeremonyRecord:
    ceremony_id: str
    purpose: str
    operator_id: int | None
    challenge: bytes
    enrolment_token_hash: str | None
    enrolled_by: int | None
    principal: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    token_hash: str
    operator_id: int
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


def _operator(row: Row[tuple[object, ...]]) -> OperatorRecord:
    m = row._mapping
    return OperatorRecord(
        id=m["id"],
        org_id=m["org_id"],
        login=m["login"],
        display_name=m["display_name"],
        role=Role(m["role"]),
        user_handle=bytes(m["user_handle"]),
        card_number=m["card_number"],
        password_hash=m["password_hash"],
        active=bool(m["active"]),
    )


# --- organisations --------------------------------------------------------------------------


def upsert_organisation(conn: Connection, org_id: str, name: str, cutoff: date | None) -> None:
    existing = conn.execute(
        select(organisations.c.org_id).where(organisations.c.org_id == org_id)
    ).first()
    values = {"name": name, "legacy_cutoff": cutoff}
    if existing is None:
        conn.execute(insert(organisations).values(org_id=org_id, **values))
    else:
        conn.execute(update(organisations).where(organisations.c.org_id == org_id).values(values))


def get_organisation(conn: Connection, org_id: str) -> tuple[str, date | None] | None:
    """The organisation's name and legacy cutoff, or None."""
    row = conn.execute(
        select(organisations.c.name, organisations.c.legacy_cutoff).where(
            organisations.c.org_id == org_id
        )
    ).first()
    return None if row is None else (row.name, row.legacy_cutoff)


# --- operators ------------------------------------------------------------------------------


def insert_operator(
    conn: Connection,
    *,
    org_id: str,
    login: str,
    display_name: str,
    role: Role,
    user_handle: bytes,
    card_number: str | None,
    password_hash: str | None,
    now: datetime,
) -> int:
    result = conn.execute(
        insert(operators)
        .values(
            org_id=org_id,
            login=login,
            display_name=display_name,
            role=role.value,
            user_handle=user_handle,
            card_number=card_number,
            password_hash=password_hash,
            active=True,
            created_at=now,
        )
        .returning(operators.c.id)
    )
    return int(result.scalar_one())


def get_operator_by_login(conn: Connection, login: str) -> OperatorRecord | None:
    row = conn.execute(select(operators).where(operators.c.login == login)).first()
    return None if row is None else _operator(row)


def get_operator_by_id(conn: Connection, operator_id: int) -> OperatorRecord | None:
    row = conn.execute(select(operators).where(operators.c.id == operator_id)).first()
    return None if row is None else _operator(row)


def get_operator_by_card(conn: Connection, card_number: str) -> OperatorRecord | None:
    row = conn.execute(select(operators).where(operators.c.card_number == card_number)).first()
    return None if row is None else _operator(row)


def list_operators(conn: Connection, org_id: str | None = None) -> list[OperatorRecord]:
    query = select(operators).order_by(operators.c.org_id, operators.c.login)
    if org_id is not None:
        query = query.where(operators.c.org_id == org_id)
    return [_operator(r) for r in conn.execute(query)]


# --- credentials ----------------------------------------------------------------------------


def insert_credential(
    conn: Connection,
    *,
    operator_id: int,
    credential_id: bytes,
    public_key: bytes,
    sign_count: int,
    enrolled_by: int | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(operator_credentials).values(
            operator_id=operator_id,
            credential_id=credential_id,
            public_key=public_key,
            sign_count=sign_count,
            enrolled_by=enrolled_by,
            created_at=now,
        )
    )


def list_credentials(conn: Connection, operator_id: int) -> list[CredentialRecord]:
    rows = conn.execute(
        select(operator_credentials)
        .where(operator_credentials.c.operator_id == operator_id)
        .order_by(operator_credentials.c.id)
    )
    return [
        CredentialRecord(
            r.id, r.operator_id, bytes(r.credential_id), bytes(r.public_key), r.sign_count
        )
        for r in rows
    ]


def credential_exists(conn: Connection, credential_id: bytes) -> bool:
    return (
        conn.execute(
            select(operator_credentials.c.id).where(
                operator_credentials.c.credential_id == credential_id
            )
        ).first()
        is not None
    )


def update_sign_count(
    conn: Connection, credential_row_id: int, sign_count: int, now: datetime
) -> None:
    conn.execute(
        update(operator_credentials)
        .where(operator_credentials.c.id == credential_row_id)
        .values(sign_count=sign_count, last_used_at=now)
    )


# --- enrolment tokens -----------------------------------------------------------------------


def insert_enrolment_token(
    conn: Connection,
    token_hash: str,
    operator_id: int,
    issued_by: int | None,
    expires_at: datetime,
) -> None:
    conn.execute(
        insert(enrolment_tokens).values(
            token_hash=token_hash,
            operator_id=operator_id,
            issued_by=issued_by,
            expires_at=expires_at,
        )
    )


def get_enrolment_token(
    conn: Connection, token_hash: str
) -> tuple[int, datetime, datetime | None] | None:
    """The token's operator id, expiry and use time, or None."""
    row = conn.execute(
        select(
            enrolment_tokens.c.operator_id,
            enrolment_tokens.c.expires_at,
            enrolment_tokens.c.used_at,
        ).where(enrolment_tokens.c.token_hash == token_hash)
    ).first()
    return None if row is None else (row.operator_id, row.expires_at, row.used_at)


def use_enrolment_token(conn: Connection, token_hash: str, now: datetime) -> bool:
    """Mark the token used; False if it had been used already (one-time)."""
    result = conn.execute(
        update(enrolment_tokens)
        .where(enrolment_tokens.c.token_hash == token_hash, enrolment_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


# --- ceremonies -----------------------------------------------------------------------------


def insert_ceremony(conn: Connection, ceremony: CeremonyRecord) -> None:
    conn.execute(
        insert(webauthn_ceremonies).values(
            ceremony_id=ceremony.ceremony_id,
            purpose=ceremony.purpose,
            operator_id=ceremony.operator_id,
            challenge=ceremony.challenge,
            enrolment_token_hash=ceremony.enrolment_token_hash,
            enrolled_by=ceremony.enrolled_by,
            principal=ceremony.principal,
            expires_at=ceremony.expires_at,
        )
    )


def take_ceremony(conn: Connection, ceremony_id: str) -> CeremonyRecord | None:
    """Read and delete a pending ceremony: each challenge is answered at most once."""
    row = conn.execute(
        select(webauthn_ceremonies).where(webauthn_ceremonies.c.ceremony_id == ceremony_id)
    ).first()
    if row is None:
        return None
    conn.execute(
        delete(webauthn_ceremonies).where(webauthn_ceremonies.c.ceremony_id == ceremony_id)
    )
    m = row._mapping
    return CeremonyRecord(
        ceremony_id=m["ceremony_id"],
        purpose=m["purpose"],
        operator_id=m["operator_id"],
        challenge=bytes(m["challenge"]),
        enrolment_token_hash=m["enrolment_token_hash"],
        enrolled_by=m["enrolled_by"],
        principal=m["principal"],
        expires_at=m["expires_at"],
    )


def delete_expired_ceremonies(conn: Connection, now: datetime) -> None:
    conn.execute(delete(webauthn_ceremonies).where(webauthn_ceremonies.c.expires_at < now))


# --- throttles and attempts -----------------------------------------------------------------


def get_throttle(conn: Connection, principal: str) -> Throttle:
    row = conn.execute(
        select(login_throttles.c.failures, login_throttles.c.locked_until).where(
            login_throttles.c.principal == principal
        )
    ).first()
    return Throttle() if row is None else Throttle(row.failures, row.locked_until)


def put_throttle(conn: Connection, principal: str, throttle: Throttle) -> None:
    conn.execute(delete(login_throttles).where(login_throttles.c.principal == principal))
    if throttle != Throttle():
        conn.execute(
            insert(login_throttles).values(
                principal=principal,
                failures=throttle.failures,
                locked_until=throttle.locked_until,
            )
        )


def insert_login_attempt(
    conn: Connection,
    *,
    at: datetime,
    principal: str,
    method: str,
    operator_id: int | None,
    outcome: str,
    reason: str | None,
) -> None:
    conn.execute(
        insert(login_attempts).values(
            at=at,
            principal=principal,
            method=method,
            operator_id=operator_id,
            outcome=outcome,
            reason=reason,
        )
    )


def list_login_attempts(conn: Connection, principal: str) -> Sequence[Row[tuple[object, ...]]]:
    return conn.execute(
        select(login_attempts)
        .where(login_attempts.c.principal == principal)
        .order_by(login_attempts.c.id)
    ).all()


# --- sessions -------------------------------------------------------------------------------


def insert_session(
    conn: Connection, token_hash: str, operator_id: int, method: str, now: datetime
) -> None:
    conn.execute(
        insert(operator_sessions).values(
            token_hash=token_hash,
            operator_id=operator_id,
            method=method,
            created_at=now,
            last_seen_at=now,
        )
    )


def get_session(conn: Connection, token_hash: str) -> SessionRecord | None:
    row = conn.execute(
        select(operator_sessions).where(operator_sessions.c.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return SessionRecord(
        row.token_hash, row.operator_id, row.created_at, row.last_seen_at, row.ended_at
    )


def touch_session(conn: Connection, token_hash: str, now: datetime) -> None:
    conn.execute(
        update(operator_sessions)
        .where(operator_sessions.c.token_hash == token_hash)
        .values(last_seen_at=now)
    )


def end_session(conn: Connection, token_hash: str, now: datetime) -> None:
    conn.execute(
        update(operator_sessions)
        .where(operator_sessions.c.token_hash == token_hash, operator_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


# --- actions --------------------------------------------------------------------------------


def insert_action(
    conn: Connection,
    *,
    at: datetime,
    operator_id: int,
    org_id: str,
    action: str,
    target: str,
    outcome: str,
) -> None:
    conn.execute(
        insert(operator_actions).values(
            at=at,
            operator_id=operator_id,
            org_id=org_id,
            action=action,
            target=target,
            outcome=outcome,
        )
    )


def list_actions(conn: Connection, operator_id: int) -> Sequence[Row[tuple[object, ...]]]:
    return conn.execute(
        select(operator_actions)
        .where(operator_actions.c.operator_id == operator_id)
        .order_by(operator_actions.c.id)
    ).all()
