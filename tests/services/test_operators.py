"""Operators on SQLite and PostgreSQL: WebAuthn with user verification, replay, the legacy
card's cutoff, lockout, session expiry and authorisation by role."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.domain.operators import Action, AuthRefused, Role
from jukinet.interfaces.webauthn import PyWebAuthn, RelyingParty
from jukinet.services.operators import (
    IssuedSession,
    OperatorService,
    hash_password,
    verify_password,
)
from jukinet.store import audit as audit_store
from jukinet.store import operators as store
from jukinet.store.db import read_transaction
from tests.support.soft_authenticator import SoftAuthenticator

ORIGIN = "http://localhost:8000"
ORG = "municipality/131016"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2014, 3, 31, 1, 0, tzinfo=UTC))


@pytest.fixture
def service(engine: Engine, clock: FixedClock) -> OperatorService:
    rp = RelyingParty("localhost", "住基ネット", (ORIGIN,))
    svc = OperatorService(engine, clock, PyWebAuthn(rp))
    svc.add_organisation(ORG, "千代田区", legacy_cutoff=date(2014, 6, 1))
    svc.add_organisation("municipality/131130", "渋谷区", legacy_cutoff=None)
    svc.add_operator(ORG, "admin01", "管理 太郎", Role.ADMINISTRATOR)
    svc.add_operator(
        ORG, "reg01", "登録 花子", Role.REGISTRAR, card_number="C-0001", password="correct horse"
    )
    return svc


def enrol(service: OperatorService, login: str) -> SoftAuthenticator:
    token = service.issue_enrolment_token(login, issued_by=None)
    ceremony = service.begin_enrolment_with_token(token)
    authenticator = SoftAuthenticator(ORIGIN)
    service.finish_enrolment(ceremony.ceremony_id, authenticator.create(ceremony.options_json))
    return authenticator


def login(
    service: OperatorService,
    name: str,
    authenticator: SoftAuthenticator,
    *,
    uv: bool = True,
    sign_count: int | None = None,
) -> IssuedSession:
    ceremony = service.begin_login(name)
    response = authenticator.get(ceremony.options_json, uv=uv, sign_count=sign_count)
    return service.finish_login(ceremony.ceremony_id, response)


def test_password_hash_is_salted_scrypt() -> None:
    first, second = hash_password("secret pass"), hash_password("secret pass")
    assert first.startswith("scrypt$") and first != second
    assert verify_password("secret pass", first)
    assert not verify_password("secret pasS", first)


def test_register_and_login_with_user_verification(service: OperatorService) -> None:
    authenticator = enrol(service, "reg01")
    session = login(service, "reg01", authenticator)
    assert session.operator.login == "reg01"
    assert service.authenticate(session.token).role is Role.REGISTRAR
    [(_, n)] = [x for x in service.list_operators(ORG) if x[0].login == "reg01"]
    assert n == 1


def test_registration_without_user_verification_refused(service: OperatorService) -> None:
    token = service.issue_enrolment_token("reg01", issued_by=None)
    ceremony = service.begin_enrolment_with_token(token)
    authenticator = SoftAuthenticator(ORIGIN)
    with pytest.raises(AuthRefused) as refused:
        service.finish_enrolment(
            ceremony.ceremony_id, authenticator.create(ceremony.options_json, uv=False)
        )
    assert refused.value.rule == "user_not_verified"
    assert service.list_operators(ORG)[1][1] == 0


def test_assertion_without_user_verification_refused(
    service: OperatorService, engine: Engine
) -> None:
    authenticator = enrol(service, "reg01")
    with pytest.raises(AuthRefused) as refused:
        login(service, "reg01", authenticator, uv=False)
    assert refused.value.rule == "user_not_verified"
    with read_transaction(engine) as conn:
        [attempt] = store.list_login_attempts(conn, "login:reg01")
    assert (attempt.outcome, attempt.reason) == ("refused", "user_not_verified")


def test_replayed_assertion_refused(service: OperatorService) -> None:
    authenticator = enrol(service, "reg01")
    ceremony = service.begin_login("reg01")
    response = authenticator.get(ceremony.options_json)
    service.finish_login(ceremony.ceremony_id, response)
    with pytest.raises(AuthRefused) as same_challenge:
        service.finish_login(ceremony.ceremony_id, response)
    assert same_challenge.value.rule == "challenge"
    # a fresh challenge signed with an old counter: a cloned authenticator
    with pytest.raises(AuthRefused) as cloned:
        login(service, "reg01", authenticator, sign_count=authenticator.sign_count)
    assert cloned.value.rule == "sign_count"
    assert login(service, "reg01", authenticator).operator.login == "reg01"


def test_enrolment_token_is_one_time_and_needs_an_administrator(
    service: OperatorService,
) -> None:
    admin = service.operator("admin01")
    registrar = service.operator("reg01")
    with pytest.raises(AuthRefused) as refused:
        service.issue_enrolment_token("admin01", issued_by=registrar)
    assert refused.value.rule == "forbidden"
    other = service.add_operator("municipality/131130", "admin02", "渋谷 管理", Role.ADMINISTRATOR)
    with pytest.raises(AuthRefused):
        service.issue_enrolment_token("reg01", issued_by=other)
    with pytest.raises(AuthRefused):
        service.begin_enrolment_by_admin(other, "reg01")
    token = service.issue_enrolment_token("reg01", issued_by=admin)
    ceremony = service.begin_enrolment_with_token(token)
    service.finish_enrolment(
        ceremony.ceremony_id, SoftAuthenticator(ORIGIN).create(ceremony.options_json)
    )
    with pytest.raises(AuthRefused) as used:
        service.begin_enrolment_with_token(token)
    assert used.value.rule == "enrolment_token"
    by_admin = service.begin_enrolment_by_admin(admin, "reg01")
    second = SoftAuthenticator(ORIGIN)
    service.finish_enrolment(by_admin.ceremony_id, second.create(by_admin.options_json))
    assert login(service, "reg01", second).operator.login == "reg01"


def test_legacy_card_before_and_after_cutoff(service: OperatorService, clock: FixedClock) -> None:
    session = service.legacy_login("C-0001", "correct horse")
    assert service.authenticate(session.token).login == "reg01"
    clock.current = datetime(2014, 5, 31, 15, 0, tzinfo=UTC)  # 2014-06-01 00:00 JST
    with pytest.raises(AuthRefused) as refused:
        service.legacy_login("C-0001", "correct horse")
    assert refused.value.rule == "legacy_retired"
    assert "2014-06-01" in refused.value.message


def test_wrong_passwords_lock_the_card(
    service: OperatorService, clock: FixedClock, engine: Engine
) -> None:
    for _ in range(4):
        with pytest.raises(AuthRefused) as wrong:
            service.legacy_login("C-0001", "wrong password")
        assert wrong.value.rule == "bad_credentials"
    with pytest.raises(AuthRefused):
        service.legacy_login("C-0001", "wrong password")
    with pytest.raises(AuthRefused) as locked:
        service.legacy_login("C-0001", "correct horse")  # right, but locked
    assert locked.value.rule == "locked"
    assert locked.value.retry_after == 15 * 60
    with read_transaction(engine) as conn:
        attempts = store.list_login_attempts(conn, "card:C-0001")
    assert [a.reason for a in attempts] == ["bad_credentials"] * 5 + ["locked"]
    clock.advance(timedelta(minutes=15))
    assert service.legacy_login("C-0001", "correct horse").operator.login == "reg01"
    with pytest.raises(AuthRefused) as again:
        service.legacy_login("C-0001", "wrong password")
    assert again.value.rule == "bad_credentials"  # a success resets the count


def test_webauthn_failures_lock_the_login(service: OperatorService) -> None:
    authenticator = enrol(service, "reg01")
    for _ in range(5):
        with pytest.raises(AuthRefused):
            login(service, "reg01", authenticator, uv=False)
    with pytest.raises(AuthRefused) as locked:
        login(service, "reg01", authenticator)
    assert locked.value.rule == "locked"


def test_session_expires_idle_and_absolute(service: OperatorService, clock: FixedClock) -> None:
    session = service.legacy_login("C-0001", "correct horse")
    clock.advance(timedelta(minutes=29))
    service.authenticate(session.token)
    clock.advance(timedelta(minutes=30))
    with pytest.raises(AuthRefused) as idle:
        service.authenticate(session.token)
    assert idle.value.rule == "session_expired"
    busy = service.legacy_login("C-0001", "correct horse")
    for _ in range(16):
        clock.advance(timedelta(minutes=29))
        service.authenticate(busy.token)
    clock.advance(timedelta(minutes=29))
    with pytest.raises(AuthRefused) as absolute:
        service.authenticate(busy.token)
    assert "8 hours" in absolute.value.message
    service.logout(busy.token)


def test_authorisation_by_role_is_recorded(service: OperatorService, engine: Engine) -> None:
    auditor = service.add_operator(ORG, "aud01", "監査 一郎", Role.AUDITOR)
    registrar = service.operator("reg01")
    service.authorise(registrar, Action.RESIDENT_RECORD, frozenset(), "/residents")
    service.authorise(auditor, Action.AUDIT_READ, frozenset(), "/audit")
    with pytest.raises(AuthRefused) as refused:
        service.authorise(auditor, Action.RESIDENT_RECORD, frozenset(), "/residents")
    assert refused.value.rule == "forbidden"
    with pytest.raises(AuthRefused):
        service.authorise(registrar, None, frozenset({Role.ADMINISTRATOR}), "/operators")
    with read_transaction(engine) as conn:
        rows = store.list_actions(conn, auditor.id)
        total = conn.execute(select(func.count()).select_from(store.operator_actions)).scalar()
    assert [(r.action, r.outcome) for r in rows] == [
        ("audit.read", "allowed"),
        ("resident.record", "refused"),
    ]
    assert total == 4


def test_organisation_scope_and_the_audit_log(service: OperatorService, engine: Engine) -> None:
    """A register is read only by its municipality's operators; every decision also lands in
    the directory's hash-chained audit log, in the transaction of the action table's row."""
    registrar = service.operator("reg01")
    service.authorise(
        registrar, Action.RESIDENT_READ, frozenset(), "GET /r", organisation="municipality/131016"
    )
    with pytest.raises(AuthRefused) as other:
        service.authorise(
            registrar,
            Action.RESIDENT_READ,
            frozenset(),
            "GET /r",
            organisation="municipality/131130",
        )
    assert other.value.rule == "other_organisation"
    assert "municipality/131130" in other.value.message
    with read_transaction(engine) as conn:
        entries = list(audit_store.iter_entries(conn))
        actions = store.list_actions(conn, registrar.id)
    assert [(a.action, a.outcome) for a in actions] == [
        ("resident.read", "allowed"),
        ("resident.read", "refused"),
    ]
    assert [(e.actor, e.action, e.object, e.outcome) for e in entries] == [
        ("operator:reg01", "resident.read", "GET /r", "ok"),
        ("operator:reg01", "resident.read", "GET /r", "refused"),
    ]
    assert json.loads(entries[1].detail) == {
        "operator_id": registrar.id,
        "organisation": ORG,
        "role": "registrar",
        "rule": "other_organisation",
    }
