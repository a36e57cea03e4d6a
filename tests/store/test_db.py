"""Transactions really are transactions on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, insert, select

from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.tables import resident_code_pool

AT = datetime(2014, 1, 1, tzinfo=UTC)


def pool_count(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(resident_code_pool)).scalar_one())


def add(conn: object, code: str) -> None:
    conn.execute(  # type: ignore[attr-defined]
        insert(resident_code_pool).values(
            resident_code=code, lg_code="131016", state="available", state_changed_at=AT
        )
    )


def test_error_rolls_back_every_write(engine: Engine) -> None:
    def crash_mid_transaction() -> None:
        with write_transaction(engine) as conn:
            add(conn, "24727059608")
            raise RuntimeError("crash mid-transaction")

    with pytest.raises(RuntimeError):
        crash_mid_transaction()
    assert pool_count(engine) == 0


def test_commit_is_visible_to_others(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        add(conn, "24727059608")
    assert pool_count(engine) == 1


def test_concurrent_writers_serialise_without_lost_updates(engine: Engine) -> None:
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(20):
                with write_transaction(engine) as conn:
                    n = conn.execute(
                        select(func.count()).select_from(resident_code_pool)
                    ).scalar_one()
                    add(conn, f"{prefix}{i:05d}{n % 10}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("11111", "22222")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool_count(engine) == 40
