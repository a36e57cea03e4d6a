"""Shared fixtures: every storage test runs on real SQLite and on real PostgreSQL.

PostgreSQL gets one database per xdist worker, migrated once; each test starts from empty
tables. Set ``JUKINET_TEST_POSTGRES=optional`` to run without PostgreSQL outside CI; in CI an
unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from jukinet.store.db import make_engine, sqlite_url
from jukinet.store.migrate import upgrade
from jukinet.store.schema import metadata

PG_ADMIN_URL = os.environ.get(
    "JUKINET_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_required() -> bool:
    return os.environ.get("CI") == "true" or (
        os.environ.get("JUKINET_TEST_POSTGRES", "required") != "optional"
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"jukinet_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if _postgres_required():
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable and JUKINET_TEST_POSTGRES=optional: {exc}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        eng = make_engine(sqlite_url(tmp_path / "node.db"))
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    eng = make_engine(url)
    _truncate_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """A migrated, empty PostgreSQL database, for behaviour only PostgreSQL has."""
    eng = make_engine(postgres_url)
    _truncate_all(eng)
    yield eng
    eng.dispose()


def _truncate_all(eng: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with eng.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def postgres_schema_per_node(url: str) -> Callable[[str], str]:
    """Map node names to fresh schemas of one test database (each node its own tables)."""

    def node_url(name: str) -> str:
        schema = f"node_{name}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return f"{url}?options=-csearch_path%3D{schema}"

    return node_url
