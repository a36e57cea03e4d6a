"""One batch job's matching, set-based in DuckDB: validate every row, match by code and by basic
items, write the result file and the provision-log segment.

The rules are those of the immediate provision (``jukinet.domain.provision``): ``REASON_SQL``
states ``validate_query`` (and the birth-date parse before it) as one SQL expression, in the
same order, so each invalid row gets the ``field:rule`` that the immediate API would name — a
property test holds the two together. Search keys of basic-item rows are computed in Python
(``jukinet.domain.names``), the one rule set for names and addresses.

Matching: by code, the record with that code (superseded ones included: the recipient learns of
the new code through the change reason); by basic items, the current records (not superseded)
with that name key and birth date, and sex and address key when given. Exactly one candidate is
``found``; more is ``several_candidates`` and reveals nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from jukinet.domain.identity import ChangeReason
from jukinet.domain.names import address_search_key, name_search_key
from jukinet.domain.provision import CASE_REFERENCE_MAX, ProvisionField
from jukinet.services.national.provision_segments import SEGMENT_ROW_GROUP_ROWS

RESULT_HEADER = (
    "row_id",
    "line",
    "outcome",
    "reason",
    "status",
    "status_date",
    "resident_code",
    "name",
    "name_kana",
    "alias",
    "former_surname",
    "birth_date",
    "sex",
    "address",
    "change_reason",
    "change_reason_ja",
    "change_date",
)
"""The result file's columns; fields the affair may not receive are always empty."""

_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)  # domain.codes.resident_code_check_digit, left to right
_CHECK_SUM = " + ".join(
    f"CAST(substr(resident_code, {i}, 1) AS INTEGER) * {w}" for i, w in enumerate(_WEIGHTS, 1)
)
_CHECK = f"CASE WHEN ({_CHECK_SUM}) % 11 <= 1 THEN 0 ELSE 11 - ({_CHECK_SUM}) % 11 END"
_BASIC_GIVEN = (
    "(name IS NOT NULL OR birth_date IS NOT NULL OR sex IS NOT NULL OR address IS NOT NULL)"
)

REASON_SQL = f"""CASE
    WHEN shape IS NOT NULL THEN shape
    WHEN birth_date IS NOT NULL
        AND (NOT regexp_full_match(birth_date, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
        OR try_cast(birth_date AS DATE) IS NULL OR birth_date < '0001') THEN 'birth_date:invalid'
    WHEN row_id IS NULL THEN 'row_id:required'
    WHEN length(row_id) > {CASE_REFERENCE_MAX} OR regexp_matches(row_id, '[\\x00-\\x1f\\x7f]')
        THEN 'row_id:invalid'
    WHEN resident_code IS NOT NULL AND {_BASIC_GIVEN} THEN 'resident_code:one_way'
    WHEN resident_code IS NOT NULL AND length(resident_code) <> 11 THEN 'resident_code:length'
    WHEN resident_code IS NOT NULL AND NOT regexp_full_match(resident_code, '[0-9]{{11}}')
        THEN 'resident_code:digits'
    WHEN resident_code IS NOT NULL AND {_CHECK} <> CAST(substr(resident_code, 11, 1) AS INTEGER)
        THEN 'resident_code:check_digit'
    WHEN resident_code IS NOT NULL THEN NULL
    WHEN name IS NULL THEN 'name:required'
    WHEN birth_date IS NULL THEN 'birth_date:required'
    WHEN sex IS NULL AND address IS NOT NULL THEN 'sex:four_items'
    WHEN address IS NULL AND sex IS NOT NULL THEN 'address:four_items'
    WHEN sex IS NOT NULL AND sex NOT IN ('male', 'female') THEN 'sex:invalid'
END"""
"""Why a request row is invalid (``field:rule``), or NULL when it is a valid query."""

_FIELD_COLUMNS: dict[ProvisionField, tuple[str, ...]] = {
    ProvisionField.RESIDENT_CODE: ("resident_code",),
    ProvisionField.NAME: ("name",),
    ProvisionField.NAME_KANA: ("name_kana",),
    ProvisionField.ALIAS: ("alias",),
    ProvisionField.FORMER_SURNAME: ("former_surname",),
    ProvisionField.BIRTH_DATE: ("birth_date",),
    ProvisionField.SEX: ("sex",),
    ProvisionField.ADDRESS: ("address",),
    ProvisionField.CHANGE: ("change_reason", "change_reason_ja", "change_date"),
}
_REGISTRY_COLUMNS = (
    "resident_code, name, name_kana, alias, former_surname, name_key, birth_date, sex, "
    "address, address_key, change_reason, change_date, removed, superseded_by"
)


@dataclass(frozen=True, slots=True)
class MatchCounts:
    rows: int
    provided: int
    invalid: int


@dataclass(frozen=True, slots=True)
class LogStamp:
    """What every provision-log entry of the job carries besides the person and the row id."""

    provided_at: datetime
    recipient: str
    affair_id: str
    method: str
    job_id: str


def with_search_keys(request: pa.Table) -> pa.Table:
    """``request`` with ``ord`` (its order) and the search keys of the basic-item rows (only
    those rows reach Python: a file asking by code stays columnar)."""
    n = request.num_rows
    rows = np.flatnonzero(np.asarray(request["resident_code"].is_null()))
    subset = request.take(pa.array(rows, pa.int64()))
    name_keys = np.full(n, None, dtype=object)
    address_keys = np.full(n, None, dtype=object)
    name_keys[rows] = [
        None if v is None else name_search_key(v) for v in subset["name"].to_pylist()
    ]
    address_keys[rows] = [
        None if v is None else address_search_key(v) for v in subset["address"].to_pylist()
    ]
    return (
        request.append_column("ord", pa.array(np.arange(n, dtype=np.int64)))
        .append_column("name_key", pa.array(name_keys, pa.string()))
        .append_column("address_key", pa.array(address_keys, pa.string()))
    )


def registry_relation(con: duckdb.DuckDBPyConnection, snapshot: Path, delta: pa.Table) -> None:
    """Define the view ``registry``: the snapshot with the delta's newer versions winning."""
    con.register("registry_delta", delta)
    source = f"read_parquet('{_quote(snapshot)}')"
    if delta.num_rows == 0:
        con.execute(f"CREATE OR REPLACE TEMP VIEW registry AS SELECT * FROM {source}")
        return
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW registry AS
        SELECT {_REGISTRY_COLUMNS} FROM {source} s
        WHERE NOT EXISTS (SELECT 1 FROM registry_delta d WHERE d.resident_code = s.resident_code)
        UNION ALL SELECT {_REGISTRY_COLUMNS} FROM registry_delta"""
    )


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


_OUTCOMES = pa.array(["invalid", "found", "several_candidates", "not_found"])
RESULT_SCHEMA = pa.schema(
    [
        ("line", pa.int64())
        if name == "line"
        else (name, pa.date32())
        if name in {"status_date", "birth_date", "change_date"}
        else (name, pa.string())
        for name in RESULT_HEADER
    ]
)
_HIT_COLUMNS = (
    "resident_code, name, name_kana, alias, former_surname, birth_date, sex, address, "
    "change_reason, change_date, removed"
)


SLICE_ROWS = 2_000_000
"""Result rows assembled at a time: a 40-million-row job keeps memory bounded (DuckDB spills
its tables to disk; Python holds one slice)."""


def match_job(
    con: duckdb.DuckDBPyConnection,
    request: pa.Table,
    allowed: frozenset[ProvisionField],
    stamp: LogStamp,
    *,
    result_path: Path,
    segment_path: Path,
    slice_rows: int = SLICE_ROWS,
) -> MatchCounts:
    """Match ``request`` against the view ``registry``; write the result CSV (one row per
    request row, in order) and the log segment (one row per provided record, by code).

    DuckDB validates and joins; the result is put in request order slice by slice by NumPy
    index arithmetic (no sort of the wide rows) and streamed to the CSV file."""
    con.register("request_rows", with_search_keys(request))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE q AS
        SELECT ord, line, row_id, resident_code, name_key, address_key, sex,
               try_cast(birth_date AS DATE) AS birth_day, {REASON_SQL} AS reason
        FROM request_rows"""
    )
    con.unregister("request_rows")
    # Basic items first find candidate codes on the narrow key columns; then one wide scan
    # fetches the records of every row that has exactly one person to provide.
    candidates = con.sql(
        """SELECT q.ord, r.resident_code, count(*) OVER (PARTITION BY q.ord) AS n
        FROM q JOIN (
            SELECT resident_code, name_key, birth_date, sex, address_key FROM registry
            WHERE superseded_by IS NULL
        ) r ON r.name_key = q.name_key AND r.birth_date = q.birth_day
        WHERE q.reason IS NULL AND q.resident_code IS NULL
            AND (q.sex IS NULL OR r.sex = q.sex)
            AND (q.address_key IS NULL OR r.address_key = q.address_key)"""
    ).to_arrow_table()
    counts = np.asarray(candidates["n"])
    several_ords = np.unique(np.asarray(candidates["ord"])[counts > 1])
    con.register("by_items", candidates.filter(pa.array(counts == 1)))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE hits AS
        WITH wanted AS (
            SELECT ord, resident_code FROM q WHERE reason IS NULL AND resident_code IS NOT NULL
            UNION ALL SELECT ord, resident_code FROM by_items
        )
        SELECT w.ord, {_prefixed("r")}
        FROM wanted w JOIN registry r ON r.resident_code = w.resident_code"""
    )
    con.unregister("by_items")
    rows = invalid = provided = 0
    with pacsv.CSVWriter(result_path, RESULT_SCHEMA) as writer:
        for first in range(0, max(request.num_rows, 1), slice_rows):
            last = min(first + slice_rows, request.num_rows)
            part = con.sql(
                "SELECT row_id, line, reason FROM q WHERE ord >= $1 AND ord < $2 ORDER BY ord",
                params=[first, last],
            ).to_arrow_table()
            found = con.sql(
                "SELECT * FROM hits WHERE ord >= $1 AND ord < $2", params=[first, last]
            ).to_arrow_table()
            several = several_ords[(several_ords >= first) & (several_ords < last)] - first
            table, bad = _result_slice(part, found, several, first, allowed)
            writer.write_table(table)
            rows, invalid, provided = rows + part.num_rows, invalid + bad, provided + found.num_rows
    _write_segment(con, segment_path, stamp)
    return MatchCounts(rows=rows, invalid=invalid, provided=provided)


def _result_slice(
    part: pa.Table,
    found: pa.Table,
    several: np.ndarray,
    first: int,
    allowed: frozenset[ProvisionField],
) -> tuple[pa.Table, int]:
    """The result rows of request rows ``first …``: the slice's rows and how many invalid."""
    rows = part.num_rows
    position = np.full(rows, -1, dtype=np.int64)
    position[np.asarray(found["ord"]) - first] = np.arange(found.num_rows)
    is_found = position >= 0
    is_several = np.zeros(rows, dtype=bool)
    is_several[several] = True
    invalid = np.asarray(part["reason"].is_valid())
    outcome = _OUTCOMES.take(  # index into the four outcomes: no million Python strings
        pa.array(np.where(invalid, 0, np.where(is_found, 1, np.where(is_several, 2, 3))))
    )
    records = found.take(pa.array(position, mask=~is_found))
    table = _result_table(part, part["reason"], outcome, records, allowed)
    return table.cast(RESULT_SCHEMA), int(invalid.sum())


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in _HIT_COLUMNS.split(","))


def _result_table(
    request: pa.Table,
    reasons: pa.ChunkedArray,
    outcome: pa.Array,
    records: pa.Table,
    allowed: frozenset[ProvisionField],
) -> pa.Table:
    removed = pc.fill_null(records["removed"], False)
    deceased = pc.equal(records["change_reason"], ChangeReason.DEATH.value)
    status = pc.if_else(
        records["removed"].is_null(),
        pa.scalar(None, pa.string()),
        pc.if_else(removed, pc.if_else(deceased, "deceased", "removed"), "active"),
    )
    reason_ja = pc.take(
        pa.array([r.label_ja for r in ChangeReason]),
        pc.index_in(records["change_reason"], pa.array([r.value for r in ChangeReason])),
    )
    values = {
        "resident_code": records["resident_code"],
        "name": records["name"],
        "name_kana": records["name_kana"],
        "alias": records["alias"],
        "former_surname": records["former_surname"],
        "birth_date": records["birth_date"],
        "sex": records["sex"],
        "address": records["address"],
        "change_reason": records["change_reason"],
        "change_reason_ja": reason_ja,
        "change_date": records["change_date"],
    }
    columns: dict[str, Any] = {
        "row_id": request["row_id"],
        "line": request["line"],
        "outcome": outcome,
        "reason": reasons,
        "status": status,
        "status_date": pc.if_else(removed, records["change_date"], pa.scalar(None, pa.date32())),
    }
    for field, names in _FIELD_COLUMNS.items():
        for name in names:
            value = values[name]
            columns[name] = value if field in allowed else pa.nulls(len(value), value.type)
    return pa.table(columns)


def _write_segment(con: duckdb.DuckDBPyConnection, path: Path, stamp: LogStamp) -> None:
    """The job's provision-log entries, sorted by resident code, in small row groups (a
    per-person look-up reads one row group per file)."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE stamp AS
        SELECT $1::TIMESTAMPTZ AS provided_at, $2::VARCHAR AS recipient,
               $3::VARCHAR AS affair_id, $4::VARCHAR AS method, $5::VARCHAR AS job_id""",
        [stamp.provided_at, stamp.recipient, stamp.affair_id, stamp.method, stamp.job_id],
    )
    con.execute(
        f"""COPY (
            SELECT s.provided_at, s.recipient, s.affair_id, s.method, h.resident_code,
                   NULL::VARCHAR AS request_id, s.job_id, q.row_id AS case_reference
            FROM hits h JOIN q USING (ord), stamp s
            ORDER BY h.resident_code, h.ord
        ) TO '{_quote(path)}' (FORMAT parquet, ROW_GROUP_SIZE {SEGMENT_ROW_GROUP_ROWS})"""
    )
