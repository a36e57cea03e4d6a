"""Wide-area certificate tables on PostgreSQL: tenant tables of the municipality (row-level
security on ``app.lg_code``, forced), like ``residents``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import ProgrammingError

from jukinet.domain.certificates import Options, Requester, WideAreaRequest
from jukinet.store import certificates as store
from jukinet.store.db import make_engine, write_transaction
from jukinet.store.tenancy import tenant
from tests.conftest import _truncate_all
from tests.store.test_row_level_security import tenant_role  # noqa: F401 (a fixture)

CHIYODA, KAMAKURA = "131016", "142042"
AT = datetime(2014, 3, 3, tzinfo=UTC)
TABLES = ("certificate_fees", "certificate_items_answers", "wide_area_certificates")


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    eng = make_engine(postgres_url)
    _truncate_all(eng)
    yield eng
    eng.dispose()


def _request(conn: Connection, lg_code: str, request_id: str) -> int:
    request = WideAreaRequest(
        "271004", Requester("24727059608", "鈴木　一郎", date(1950, 5, 5)), (), Options(), "旅券"
    )
    return store.insert_request(
        conn,
        lg_code=lg_code,
        request_id=request_id,
        request=request,
        requested_by="test",
        requested_at=AT,
        request_message_id=request_id,
    )


def test_policies_are_forced(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relname = ANY(:names) "
                "ORDER BY relname"
            ),
            {"names": list(TABLES)},
        ).all()
    assert [tuple(r) for r in rows] == [(t, True, True) for t in TABLES]


def test_a_municipality_role_sees_and_writes_only_its_own(
    pg_engine: Engine,
    tenant_role: str,  # noqa: F811
) -> None:
    with write_transaction(pg_engine) as conn:
        for n, lg_code in enumerate((CHIYODA, KAMAKURA)):
            _request(conn, lg_code, f"r{n}")
            store.set_fee(conn, lg_code, 300, AT)
    with pg_engine.begin() as conn:
        conn.execute(text(f'SET LOCAL ROLE "{tenant_role}"'))
        with tenant(conn, lg_code=KAMAKURA):
            assert [r.lg_code for r in store.list_requests(conn, CHIYODA)] == []
            assert [r.lg_code for r in store.list_requests(conn, KAMAKURA)] == [KAMAKURA]
            assert store.fee_of(conn, CHIYODA) is None
    with pg_engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text(f'SET LOCAL ROLE "{tenant_role}"'))
        conn.execute(text("SELECT set_config('app.lg_code', :lg, true)"), {"lg": KAMAKURA})
        with pytest.raises(ProgrammingError):
            _request(conn, CHIYODA, "r9")  # the policy's WITH CHECK refuses the other tenant
        transaction.rollback()
