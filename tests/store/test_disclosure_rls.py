"""Disclosure requests on PostgreSQL: row-level security confines a role without BYPASSRLS to
the office of ``app.office`` (reads and writes), as for the prefectural tenant tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import ProgrammingError

from jukinet.domain.disclosure import EvidenceKind
from jukinet.store import disclosure as store
from jukinet.store.db import make_engine, write_transaction
from jukinet.store.tenancy import tenant
from tests.conftest import _truncate_all
from tests.store.test_row_level_security import tenant_role  # noqa: F401 (a fixture)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    eng = make_engine(postgres_url)
    _truncate_all(eng)
    yield eng
    eng.dispose()


def _request(conn: Connection, office: str) -> int:
    return store.insert_request(
        conn,
        office=office,
        received_on=date(2014, 3, 20),
        request_method="visit",
        delivery_method="visit",
        requester_kind="person",
        requester_name="鈴木　一郎",
        subject_resident_code="24727059608",
        subject_name="鈴木　一郎",
        subject_birth_date=date(1950, 5, 5),
        evidence=frozenset({EvidenceKind.PASSPORT}),
        state="received",
        due_on=date(2014, 4, 3),
        recorded_at=datetime(2014, 3, 20, tzinfo=UTC),
    )


def _offices(conn: Connection) -> list[str]:
    return list(
        conn.execute(text("SELECT office FROM disclosure_requests ORDER BY office")).scalars()
    )


def test_an_office_role_sees_and_writes_only_its_requests(
    pg_engine: Engine,
    tenant_role: str,  # noqa: F811
) -> None:
    with write_transaction(pg_engine) as conn:
        for office in ("national", "13", "27"):
            with tenant(conn, office=office):
                _request(conn, office)
    with pg_engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace "
                "AND relname LIKE 'disclosure_%' AND relkind = 'r' ORDER BY relname"
            )
        ).all()
        assert [tuple(r) for r in rows] == [
            ("disclosure_corrections", True, True),
            ("disclosure_requests", True, True),
        ]
    with pg_engine.begin() as conn:
        conn.execute(text(f'SET LOCAL ROLE "{tenant_role}"'))
        assert _offices(conn) == []  # no office set: nothing, and no error
        with tenant(conn, office="13"):
            assert _offices(conn) == ["13"]
            assert conn.execute(text("UPDATE disclosure_requests SET state = 'x'")).rowcount == 1
        with tenant(conn, office="national"):
            assert _offices(conn) == ["national"]
    with pytest.raises(ProgrammingError, match="row-level security"):
        _insert_as(pg_engine, tenant_role, acting_for="13", office="27")


def _insert_as(engine: Engine, role: str, *, acting_for: str, office: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f'SET LOCAL ROLE "{role}"'))
        with tenant(conn, office=acting_for):
            _request(conn, office)
