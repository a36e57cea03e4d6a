"""Set-based bulk load of a generated population into a node's store.

The whole load is one transaction: a crash or a bad row leaves the store as it was (DESIGN.md,
"bad input changes nothing"); batches only pace the work and the progress callback. Ids,
household numbers and resident codes are settled up front with a few set-based queries, so
rows stream in without round trips:

- residents rows go in with explicit ids (max(id) + 1 ...), read under a table lock;
- each resident's history row (version 1) and pool row (state 'issued') are derived inside
  the database with ``INSERT … SELECT`` from the rows just written, so Python builds each
  resident's row once;
- resident codes already known to the store (any municipality's pool, or an active entry) are
  found with one join against a temporary table and redrawn, deterministically;
- when a table is empty its secondary indexes are dropped for the load and rebuilt after it
  (one sorted build instead of a million random inserts); the DDL is read from the database,
  so the rebuilt indexes are exactly the migrated ones.

SQLite gets ``executemany`` on the raw sqlite3 connection with a large page cache;
PostgreSQL gets ``COPY … FROM STDIN`` fed with CSV that pyarrow writes in C.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Engine

from jukinet.domain.errors import RuleViolation
from jukinet.services.population.generate import (
    PopulationFrame,
    draw_resident_codes,
    format_codes,
)
from jukinet.store.db import is_sqlite

Progress = Callable[[int, int], None]

BATCH_SIZE = 100_000
HOUSEHOLD_NUMBER_DIGITS = 10  # 世帯番号: the municipality's counter, zero-padded
SQLITE_CACHE_KIB = 262_144  # 256 MiB page cache during the load

REGISTER_COLUMNS = (
    "lg_code",
    "resident_code",
    "status",
    "name",
    "name_kana",
    "alias",
    "former_surname",
    "name_key",
    "birth_date",
    "sex",
    "address",
    "address_key",
    "household_id",
    "relationship",
    "registered_domicile",
    "kind",
    "nationality",
    "foreign_category",
    "residence_status",
    "period_of_stay",
    "stay_expiry",
    "residence_card_number",
    "foreign_resident_since",
    "entry_date",
    "previous_address",
    "previous_lg_code",
    "destination_address",
    "destination_lg_code",
    "change_reason",
    "change_date",
    "version",
)
"""Items of a register entry, in the order rows are written (residents and history alike)."""

_TABLES = ("residents", "resident_history", "resident_code_pool")


def load_population(
    engine: Engine,
    frame: PopulationFrame,
    *,
    recorded_at: datetime,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Append ``frame`` to the register of its municipality; return the residents written.

    Every resident gets a history row (version 1, ``recorded_at``) and its resident code is
    recorded in the pool as issued to the municipality.
    """
    if recorded_at.tzinfo is None:
        raise RuleViolation("recorded_at", "timezone", "must carry a time zone")
    if batch_size < 1:
        raise RuleViolation("batch_size", "positive", "must be ≥ 1")
    loader = _SqliteLoader if is_sqlite(engine) else _PostgresLoader
    with _raw_connection(engine) as raw:
        return loader(raw, frame, recorded_at, progress, batch_size).run()


@contextmanager
def _raw_connection(engine: Engine) -> Iterator[Any]:
    pooled = engine.raw_connection()
    try:
        yield pooled.driver_connection
    finally:
        pooled.close()


class _Loader:
    """The dialect-independent plan; subclasses say how to talk to their database."""

    placeholder = "?"

    def __init__(
        self,
        raw: Any,
        frame: PopulationFrame,
        recorded_at: datetime,
        progress: Progress | None,
        batch_size: int,
    ) -> None:
        self.raw = raw
        self.frame = frame
        self.recorded_at = recorded_at
        self.progress = progress
        self.batch_size = batch_size

    # dialect hooks
    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def finish(self) -> None:
        """Dialect-specific work after the rows are in (sequences ...)."""

    def secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    def deferred_constraints(self, table: str) -> list[tuple[str, str]]:
        """(drop, add) statements of constraints cheaper to check once after the load."""
        return []

    def known_codes(self, codes: pa.Array) -> set[str]:
        raise NotImplementedError

    def write_residents(self, batch: pa.Table) -> None:
        raise NotImplementedError

    def recorded_at_param(self) -> Any:
        return self.recorded_at

    # shared plan
    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = self.raw.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def run(self) -> int:
        total = len(self.frame)
        self.begin()
        try:
            base_resident = int(self.scalar("SELECT coalesce(max(id), 0) FROM residents"))
            base_history = int(self.scalar("SELECT coalesce(max(id), 0) FROM resident_history"))
            empty = {name: self.scalar(f"SELECT 1 FROM {name} LIMIT 1") is None for name in _TABLES}
            first_household = self._reserve_households()
            codes = self._settle_codes(empty)
            dropped = [
                index
                for name in _TABLES
                if empty[name] and total >= 1000
                for index in self.secondary_indexes(name)
            ]
            for name, _ in dropped:
                self.raw.execute(f"DROP INDEX {name}")
            deferred = [
                pair for name in _TABLES if empty[name] for pair in self.deferred_constraints(name)
            ]
            for drop, _ in deferred:
                self.raw.execute(drop)
            table = self._with_ids(codes, base_resident, first_household)
            done = 0
            for offset in range(0, total, self.batch_size):
                batch = table.slice(offset, self.batch_size)
                self.write_residents(batch)
                self._derive(
                    base_resident + offset,
                    base_resident + offset + batch.num_rows,
                    base_history - base_resident,
                )
                done += batch.num_rows
                if self.progress is not None:
                    self.progress(done, total)
            for _, ddl in dropped:
                self.raw.execute(ddl)
            for _, add in deferred:
                self.raw.execute(add)
            self.finish()
            self.commit()
        except BaseException:
            self.rollback()
            raise
        return total

    def _reserve_households(self) -> int:
        """Take household numbers from the municipality's counter (世帯番号 never repeat)."""
        p = self.placeholder
        lg = self.frame.lg_code
        current = self.scalar(
            f"SELECT next_household_number FROM households WHERE lg_code = {p}", (lg,)
        )
        if current is None:  # no counter yet: number on from households already registered
            current = 1 + int(
                self.scalar(
                    f"SELECT count(DISTINCT household_id) FROM residents WHERE lg_code = {p}", (lg,)
                )
            )
        first = int(current)
        self.raw.execute(
            "INSERT INTO households (lg_code, next_household_number) "
            f"VALUES ({p}, {p}) ON CONFLICT (lg_code) "
            "DO UPDATE SET next_household_number = excluded.next_household_number",
            (lg, first + self.frame.households),
        )
        return first

    def _settle_codes(self, empty: dict[str, bool]) -> pa.Array:
        """The frame's codes, with any the store already knows redrawn (seeded, so repeatable)."""
        codes: pa.Array = self.frame.table.column("resident_code").combine_chunks()
        if empty["residents"] and empty["resident_code_pool"]:
            return codes
        clash = self.known_codes(codes)
        attempt = 0
        while clash:
            attempt += 1
            rng = np.random.default_rng(
                [self.frame.seed & (2**63 - 1), int(self.frame.lg_code), attempt, 0x5EED]
            )
            taken = set(codes.to_pylist())
            drawn = format_codes(draw_resident_codes(rng, 2 * len(clash) + 16)).to_pylist()
            fresh = pa.array([c for c in drawn if c not in taken][: len(clash)], pa.string())
            if len(fresh) < len(clash):
                continue
            mask = pc.is_in(codes, value_set=pa.array(sorted(clash), pa.string()))
            codes = pc.replace_with_mask(codes, mask, fresh)
            clash = self.known_codes(fresh)
        return codes

    def _with_ids(self, codes: pa.Array, base_resident: int, first_household: int) -> pa.Table:
        table = self.frame.table
        household = pc.add(table.column("household_index"), first_household)
        household_id = pc.utf8_lpad(household.cast(pa.string()), HOUSEHOLD_NUMBER_DIGITS, "0")
        ids = pa.array(np.arange(base_resident + 1, base_resident + len(self.frame) + 1))
        columns = {name: table.column(name) for name in table.column_names}
        columns["resident_code"] = pa.chunked_array([codes])
        columns["household_id"] = household_id
        return pa.table(
            [ids, *(columns[name] for name in REGISTER_COLUMNS)],
            names=["id", *REGISTER_COLUMNS],
        )

    def _derive(self, low: int, high: int, history_offset: int) -> None:
        """History (version 1) and pool rows of residents low < id <= high, in the database."""
        p = self.placeholder
        items = ", ".join(REGISTER_COLUMNS)
        self.raw.execute(
            f"INSERT INTO resident_history (id, resident_id, {items}, recorded_at) "
            f"SELECT id + {p}, id, {items}, {p} FROM residents WHERE id > {p} AND id <= {p}",
            (history_offset, self.recorded_at_param(), low, high),
        )
        self.raw.execute(
            "INSERT INTO resident_code_pool (resident_code, lg_code, state, state_changed_at) "
            f"SELECT resident_code, lg_code, 'issued', {p} FROM residents "
            f"WHERE id > {p} AND id <= {p} ORDER BY resident_code",
            (self.recorded_at_param(), low, high),
        )


class _SqliteLoader(_Loader):
    def begin(self) -> None:
        # Pragmas before BEGIN: temp_store cannot change inside a transaction.
        self.raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        self.raw.execute("PRAGMA temp_store=MEMORY")
        self.raw.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.raw.execute("COMMIT")
        self._reset()

    def rollback(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")
        self._reset()

    def _reset(self) -> None:
        self.raw.execute("PRAGMA cache_size=-2000")
        self.raw.execute("PRAGMA temp_store=DEFAULT")

    def recorded_at_param(self) -> Any:
        # SQLAlchemy stores DateTime on SQLite as naive ISO text; we store UTC the same way.
        return self.recorded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        rows = self.raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL ORDER BY name",
            (table,),
        ).fetchall()
        return [(str(name), str(sql)) for name, sql in rows]

    def known_codes(self, codes: pa.Array) -> set[str]:
        self.raw.execute("CREATE TEMP TABLE IF NOT EXISTS population_new_codes (code TEXT)")
        self.raw.execute("DELETE FROM population_new_codes")
        self.raw.executemany(
            "INSERT INTO population_new_codes VALUES (?)", ((c,) for c in codes.to_pylist())
        )
        rows = self.raw.execute(
            "SELECT code FROM population_new_codes n WHERE EXISTS "
            "(SELECT 1 FROM resident_code_pool p WHERE p.resident_code = n.code) OR EXISTS "
            "(SELECT 1 FROM residents r WHERE r.resident_code = n.code AND r.status = 'active')"
        ).fetchall()
        self.raw.execute("DROP TABLE population_new_codes")
        return {str(r[0]) for r in rows}

    def write_residents(self, batch: pa.Table) -> None:
        # Binding parameters is most of the cost of executemany, so rows are grouped by kind
        # and change reason, and within a group a column that is constant (all NULL for the
        # foreign items of nationals, lg_code, status ...) becomes a literal and a column
        # equal to an earlier one (change_date = entry_date) reuses its parameter.
        group = pc.binary_join_element_wise(
            batch.column("kind"), batch.column("change_reason"), "|"
        )
        for key in pc.unique(group).to_pylist():
            self._insert_group(batch.filter(pc.equal(group, key)))

    def _insert_group(self, part: pa.Table) -> None:
        values: list[str] = []
        bound: list[pa.Array] = []
        for position, column in enumerate(part.columns):
            array = column.combine_chunks()
            if pa.types.is_date32(array.type):
                array = array.cast(pa.string())  # ISO dates, as SQLAlchemy stores them
            # The id is always bound: it is what makes every row a row, even a group of one.
            literal = None if position == 0 else _sqlite_literal(array)
            if literal is not None:
                values.append(literal)
                continue
            same = next((i for i, b in enumerate(bound) if b.equals(array)), None)
            if same is None:
                bound.append(array)
                same = len(bound) - 1
            values.append(f"?{same + 1}")
        rows = zip(*(a.to_numpy(zero_copy_only=False).tolist() for a in bound), strict=True)
        self.raw.executemany(
            f"INSERT INTO residents (id, {', '.join(REGISTER_COLUMNS)}) "
            f"VALUES ({', '.join(values)})",
            rows,
        )


def _sqlite_literal(array: pa.Array) -> str | None:
    """SQL literal for a column with one value throughout (NULL, a string, an integer)."""
    if array.null_count == len(array):
        return "NULL"
    if array.null_count or pc.count_distinct(array).as_py() != 1:
        return None
    value = array[0].as_py()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


class _PostgresLoader(_Loader):
    placeholder = "%s"

    def begin(self) -> None:
        # Readers go on; other writers of these tables wait until the load commits, so the
        # ids and household numbers read below stay ours.
        self.raw.execute(
            "LOCK TABLE residents, resident_history, resident_code_pool, households "
            "IN SHARE ROW EXCLUSIVE MODE"
        )

    def secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        rows = self.raw.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid "
            "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid) "
            "ORDER BY i.relname",
            (table,),
        ).fetchall()
        return [(f'"{name}"', str(ddl)) for name, ddl in rows]

    def deferred_constraints(self, table: str) -> list[tuple[str, str]]:
        # A foreign key is checked per row with a row lock on the referenced row; re-adding
        # it after the load checks every row with one join.
        rows = self.raw.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(%s) AND contype = 'f' ORDER BY conname",
            (table,),
        ).fetchall()
        return [
            (
                f'ALTER TABLE {table} DROP CONSTRAINT "{name}"',
                f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}',
            )
            for name, ddl in rows
        ]

    def known_codes(self, codes: pa.Array) -> set[str]:
        self.raw.execute("CREATE TEMP TABLE population_new_codes (code text) ON COMMIT DROP")
        with self.raw.cursor().copy("COPY population_new_codes (code) FROM STDIN") as copy:
            copy.write("\n".join(codes.to_pylist()) + "\n")
        rows = self.raw.execute(
            "SELECT code FROM population_new_codes n WHERE EXISTS "
            "(SELECT 1 FROM resident_code_pool p WHERE p.resident_code = n.code) OR EXISTS "
            "(SELECT 1 FROM residents r WHERE r.resident_code = n.code AND r.status = 'active')"
        ).fetchall()
        self.raw.execute("DROP TABLE population_new_codes")
        return {str(r[0]) for r in rows}

    def write_residents(self, batch: pa.Table) -> None:
        buffer = io.BytesIO()
        pacsv.write_csv(
            batch,
            buffer,
            write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"),
        )
        columns = ", ".join(["id", *REGISTER_COLUMNS])
        with self.raw.cursor().copy(
            f"COPY residents ({columns}) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            copy.write(buffer.getbuffer())

    def finish(self) -> None:
        for name in ("residents", "resident_history"):
            self.raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT max(id) FROM {name}))"
            )
