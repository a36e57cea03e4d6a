"""Engines that behave the same on SQLite (embedded default) and PostgreSQL (production).

pysqlite defers ``BEGIN`` until the first write, so a read-then-write "transaction" is not one.
We switch its own transaction handling off and emit ``BEGIN`` ourselves (SQLAlchemy's
documented recipe); write transactions use ``BEGIN IMMEDIATE`` so that two writers never
deadlock on a lock upgrade.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_url(path: Path) -> str:
    """URL of a node's SQLite file (one file per node)."""
    return f"sqlite:///{path}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the project's connection settings for its dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class _SqliteWriter:
    """The one-writer-at-a-time of a SQLite file: a lock for the threads of this process,
    and an exclusive ``flock`` on ``<file>-writer.lock`` for the processes (held by the
    outermost write transaction of the thread holding the thread lock)."""

    def __init__(self, database: str | None) -> None:
        self.threads = threading.RLock()
        self.path = None if database in {None, "", ":memory:"} else f"{database}-writer.lock"
        self._fd: int | None = None
        self._pid = 0
        self._depth = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self.threads:
            if self._depth == 0 and self.path is not None:
                fcntl.flock(self._file(), fcntl.LOCK_EX)  # waits in the kernel, GIL released
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self.path is not None:
                    fcntl.flock(self._file(), fcntl.LOCK_UN)

    def __del__(self) -> None:  # the engine is gone: so is its lock file descriptor
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            assert self.path is not None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd


_SQLITE_WRITERS: WeakKeyDictionary[Engine, _SqliteWriter] = WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


def _sqlite_writer(engine: Engine) -> _SqliteWriter:
    with _SQLITE_WRITERS_GUARD:
        writer = _SQLITE_WRITERS.get(engine)
        if writer is None:
            writer = _SQLITE_WRITERS[engine] = _SqliteWriter(engine.url.database)
        return writer


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: commit on success, roll back on any error.

    SQLite has one writer at a time; writers queue on a lock instead of on SQLite's busy
    handler, whose growing sleeps (1, 2, 5, 10 … 100 ms) turned a queue of 16 writers into
    second-long tails: the threads of a process on a thread lock, the processes using this
    function (uvicorn workers, the CLI) on a file lock beside the database. Other writers of
    the file still meet BEGIN IMMEDIATE and the busy timeout.
    """
    if not is_sqlite(engine):
        with engine.connect() as conn, conn.begin():
            yield conn
        return
    with _sqlite_writer(engine).held(), engine.connect() as conn:
        conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only unit of work with a consistent snapshot."""
    with engine.connect() as conn, conn.begin():
        yield conn
