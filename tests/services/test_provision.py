"""Immediate provision on the national center, on SQLite and PostgreSQL: outcomes, refusals,
the provision log, the monthly counters and the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from jukinet.clock import FixedClock
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, IdentityRecord, Sex
from jukinet.domain.provision import MatchOutcome, ProvisionField, ProvisionQuery
from jukinet.services.national.provision import ProvisionService
from jukinet.store import provision as store
from jukinet.store.db import read_transaction, write_transaction
from tests.support.provision import (
    PENSION,
    first_affair,
    national_record,
    resident_code,
    store_national,
)

# 2013-07-31 23:30 JST is still July in Japan (counters use Japan's month).
CLOCK = FixedClock(datetime(2013, 7, 31, 14, 30, tzinfo=UTC))
KIKIN = "国民年金基金連合会"


def _record(n: int, name: str, **kw: object) -> IdentityRecord:
    return national_record(n, name, **{"name_kana": "スズキイチロウ", **kw})


@pytest.fixture
def service(engine: Engine) -> ProvisionService:
    svc = ProvisionService(engine, CLOCK)
    assert svc.seed() == 47
    assert svc.seed() == 0
    records = [
        _record(1, "鈴木　一郎"),
        _record(2, "髙橋花子", sex=Sex.FEMALE, birth_date=date(1945, 1, 1)),
        _record(3, "佐藤次郎", change_reason=ChangeReason.DEATH, change_date=date(2013, 5, 2)),
        _record(4, "田中三郎", address="大阪府大阪市北区1番"),
        _record(5, "田中三郎", address="京都府京都市中京区2番"),
    ]
    store_national(engine, records, CLOCK)
    return svc


def _q(affair: str, **kw: object) -> ProvisionQuery:
    return ProvisionQuery(affair_id=affair, case_reference="CASE-1", **kw)  # type: ignore[arg-type]


def test_found_by_code_logs_counts_and_audits(service: ProvisionService, engine: Engine) -> None:
    affair = first_affair(engine, PENSION)
    result = service.immediate(PENSION, _q(affair, resident_code=resident_code(1)))
    assert result.outcome is MatchOutcome.FOUND
    assert result.record is not None
    assert result.record["name"] == "鈴木　一郎"
    assert result.record["status"] == "active"
    assert "name_kana" not in result.record  # not an allowed field by default
    service.immediate(PENSION, _q(affair, resident_code=resident_code(1)))
    with read_transaction(engine) as conn:
        log = store.log_of_person(conn, resident_code(1))
        assert [(r.recipient, r.affair_id, r.method, r.case_reference) for r in log] == [
            (PENSION, affair, "immediate", "CASE-1")
        ] * 2
        assert store.counts(conn) == [(PENSION, affair, "2013-07", "immediate", 2)]
        n = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    assert n == 2


def test_found_by_basic_items_on_search_keys(service: ProvisionService, engine: Engine) -> None:
    affair = first_affair(engine, PENSION)
    four = _q(
        affair,
        name="鈴木一郎",
        birth_date=date(1940, 4, 1),
        sex="male",
        address="東京都千代田区霞が関2-1-2",
    )
    assert service.immediate(PENSION, four).outcome is MatchOutcome.FOUND
    two = _q(affair, name="高橋 花子", birth_date=date(1945, 1, 1))
    assert service.immediate(PENSION, two).outcome is MatchOutcome.FOUND


def test_deceased_not_found_and_several(service: ProvisionService, engine: Engine) -> None:
    affair = first_affair(engine, PENSION)
    dead = service.immediate(PENSION, _q(affair, resident_code=resident_code(3)))
    assert dead.record is not None
    assert (dead.record["status"], dead.record["status_date"]) == ("deceased", "2013-05-02")
    assert service.immediate(PENSION, _q(affair, resident_code=resident_code(9))).outcome is (
        MatchOutcome.NOT_FOUND
    )
    several = service.immediate(PENSION, _q(affair, name="田中三郎", birth_date=date(1940, 4, 1)))
    assert several.outcome is MatchOutcome.SEVERAL_CANDIDATES
    assert several.record is None
    one = _q(
        affair,
        name="田中三郎",
        birth_date=date(1940, 4, 1),
        sex="male",
        address="大阪府大阪市北区1番",
    )
    assert service.immediate(PENSION, one).outcome is MatchOutcome.FOUND
    with read_transaction(engine) as conn:
        assert store.counts(conn) == [(PENSION, affair, "2013-07", "immediate", 2)]


def test_refusals_are_named_and_logged(service: ProvisionService, engine: Engine) -> None:
    pension = first_affair(engine, PENSION)
    other = first_affair(engine, "総務省")
    cases = [
        ("国税庁", _q(pension, resident_code=resident_code(1)), "unknown_recipient"),
        (PENSION, _q(other, resident_code=resident_code(1)), "affair_not_listed"),
        (
            PENSION,
            ProvisionQuery(
                pension,
                "C",
                resident_code=resident_code(1),
                fields=frozenset({ProvisionField.NAME_KANA}),
            ),
            "field_not_allowed",
        ),
    ]
    for recipient, query, rule in cases:
        with pytest.raises(RuleViolation) as exc:
            service.immediate(recipient, query)
        assert exc.value.rule == rule
    service.suspend(PENSION)
    with pytest.raises(RuleViolation) as exc:
        service.immediate(PENSION, _q(pension, resident_code=resident_code(1)))
    assert exc.value.rule == "recipient_suspended"
    service.suspend(PENSION, suspended=False)
    service.suspend(PENSION, affair_id=pension)
    with pytest.raises(RuleViolation) as exc:
        service.immediate(PENSION, _q(pension, resident_code=resident_code(1)))
    assert exc.value.rule == "affair_suspended"
    with read_transaction(engine) as conn:
        assert conn.execute(select(func.count()).select_from(store.provision_log)).scalar() == 0
        refused = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE outcome = 'refused'")
        ).scalar_one()
    assert refused == 5


def test_outside_window(service: ProvisionService, engine: Engine) -> None:
    early = ProvisionService(engine, FixedClock(datetime(2012, 8, 1, tzinfo=UTC)))
    affair = first_affair(engine, KIKIN)  # lawful from 2012-09-01
    with pytest.raises(RuleViolation) as exc:
        early.immediate(KIKIN, _q(affair, resident_code=resident_code(1)))
    assert (exc.value.field, exc.value.rule) == ("affair_id", "outside_window")
    assert service.immediate(KIKIN, _q(affair, resident_code=resident_code(1))).outcome is (
        MatchOutcome.FOUND
    )


def test_credentials(service: ProvisionService) -> None:
    key = service.issue_key(PENSION)
    assert service.authenticate(key) == PENSION
    for bad in (None, "", key + "x"):
        with pytest.raises(RuleViolation) as exc:
            service.authenticate(bad)
        assert exc.value.rule == "not_authenticated"
    assert service.authenticate(service.issue_key(PENSION)) == PENSION
    with pytest.raises(RuleViolation):
        service.authenticate(key)  # re-issuing retires the old credential


def test_provision_log_is_append_only_on_postgresql(postgres_engine: Engine) -> None:
    svc = ProvisionService(postgres_engine, CLOCK)
    svc.seed()
    store_national(postgres_engine, [_record(1, "鈴木一郎")], CLOCK)
    svc.immediate(
        PENSION, _q(first_affair(postgres_engine, PENSION), resident_code=resident_code(1))
    )
    with pytest.raises(DBAPIError), write_transaction(postgres_engine) as conn:
        conn.execute(text("DELETE FROM provision_log"))
