"""Pure operator rules: organisations, the permission table, lockout, sessions, card cutoff."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import (
    PERMISSIONS,
    Action,
    AuthRefused,
    LockoutPolicy,
    OrganisationKind,
    Role,
    SessionPolicy,
    Throttle,
    check_legacy_allowed,
    check_login,
    parse_organisation,
    permitted,
)

T0 = datetime(2014, 3, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "org_id", "kind"),
    [
        ("municipality/131016", "municipality/131016", OrganisationKind.MUNICIPALITY),
        ("prefecture/13", "prefecture/13", OrganisationKind.PREFECTURE),
        ("national", "national", OrganisationKind.NATIONAL),
    ],
)
def test_organisations(text: str, org_id: str, kind: OrganisationKind) -> None:
    org = parse_organisation(text)
    assert (org.org_id, org.kind) == (org_id, kind)


@pytest.mark.parametrize(
    "text", ["city/131016", "municipality/13101", "prefecture/48", "prefecture/00", "national/1"]
)
def test_bad_organisations(text: str) -> None:
    with pytest.raises(RuleViolation) as bad:
        parse_organisation(text)
    assert bad.value.rule == "organisation"


def test_login_ids() -> None:
    assert check_login("reg.01") == "reg.01"
    for bad in ["ab", "Admin", "名前", "-x1", "a" * 65]:
        with pytest.raises(RuleViolation):
            check_login(bad)


def test_separation_of_duties() -> None:
    assert not permitted(Role.AUDITOR, Action.RESIDENT_RECORD)
    assert not permitted(Role.ADMINISTRATOR, Action.RESIDENT_RECORD)
    assert not permitted(Role.REGISTRAR, Action.AUDIT_READ)
    assert permitted(Role.CERTIFICATE_CLERK, Action.CERTIFICATE_ISSUE)
    assert not permitted(Role.REGISTRAR, Action.CERTIFICATE_ISSUE)
    assert all(permitted(role, Action.SESSION_VIEW) for role in Role)
    assert {r for r in Role if permitted(r, Action.OPERATOR_MANAGE)} == {Role.ADMINISTRATOR}
    assert set(PERMISSIONS) == set(Role)
    assert all(role.label_ja for role in Role)


def test_lockout_after_five_failures_for_fifteen_minutes() -> None:
    policy = LockoutPolicy()
    throttle = Throttle()
    for n in range(4):
        throttle = throttle.after_failure(T0, policy)
        assert throttle.failures == n + 1 and not throttle.locked(T0)
    throttle = throttle.after_failure(T0, policy)
    assert throttle.locked(T0 + timedelta(minutes=14, seconds=59))
    assert not throttle.locked(T0 + timedelta(minutes=15))
    # after the lock ends, counting starts again from one
    later = throttle.after_failure(T0 + timedelta(minutes=16), policy)
    assert later == Throttle(1, None)


@given(st.lists(st.integers(min_value=0, max_value=3600), max_size=20))
def test_locked_exactly_when_failures_reach_the_limit(gaps: list[int]) -> None:
    policy = LockoutPolicy(max_failures=3, lock_for=timedelta(hours=2))
    throttle, now = Throttle(), T0
    for gap in gaps:
        now += timedelta(seconds=gap)
        throttle = throttle.after_failure(now, policy)
        assert throttle.locked(now) == (throttle.failures >= 3)


def test_session_expiry() -> None:
    policy = SessionPolicy()
    assert policy.expiry(T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=39)) is None
    assert policy.expiry(T0, T0, T0 + timedelta(minutes=30)) == "idle"
    last = T0 + timedelta(hours=7, minutes=59)
    assert policy.expiry(T0, last, T0 + timedelta(hours=8)) == "absolute"


def test_legacy_cutoff() -> None:
    check_legacy_allowed(date(2014, 6, 1), date(2014, 5, 31))
    with pytest.raises(AuthRefused) as retired:
        check_legacy_allowed(date(2014, 6, 1), date(2014, 6, 1))
    assert retired.value.rule == "legacy_retired" and "2014-06-01" in retired.value.message
    with pytest.raises(AuthRefused) as never:
        check_legacy_allowed(None, date(2014, 1, 1))
    assert never.value.rule == "legacy_not_enabled"
