"""The set-based matcher: its SQL validation names the same ``field:rule`` as the immediate
provision's ``validate_query`` for any row, and its matching follows the same rules."""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jukinet.domain.codes import make_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.domain.names import address_search_key, name_search_key
from jukinet.domain.provision import (
    DEFAULT_FIELDS,
    ProvisionField,
    ProvisionQuery,
    validate_query,
)
from jukinet.services.national.batch.matcher import (
    REASON_SQL,
    RESULT_HEADER,
    LogStamp,
    match_job,
    registry_relation,
)
from jukinet.services.national.batch.registry import SCHEMA
from jukinet.services.national.batch.request_file import COLUMNS

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def python_reason(row: dict[str, str | None]) -> str | None:
    """The immediate provision's rules applied to one request row."""
    if row["shape"] is not None:
        return row["shape"]
    birth = None
    if row["birth_date"] is not None:
        try:
            if not _DATE.fullmatch(row["birth_date"]):
                raise ValueError
            birth = date.fromisoformat(row["birth_date"])
        except ValueError:
            return "birth_date:invalid"
    query = ProvisionQuery(
        affair_id="affair",
        case_reference=row["row_id"] or "",
        resident_code=row["resident_code"],
        name=row["name"],
        birth_date=birth,
        sex=row["sex"],
        address=row["address"],
    )
    try:
        validate_query(query)
    except RuleViolation as exc:
        return f"{'row_id' if exc.field == 'case_reference' else exc.field}:{exc.rule}"
    return None


def _maybe(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), values)


CODE = make_resident_code("1234567890")
_rows = st.fixed_dictionaries(
    {
        "row_id": _maybe(st.one_of(st.text(max_size=3), st.just("x" * 201), st.just("a\x07"))),
        "resident_code": _maybe(
            st.one_of(
                st.just(CODE),
                st.just(CODE[:-1] + str((int(CODE[-1]) + 1) % 10)),
                st.text(alphabet="0123456789a٣", min_size=10, max_size=12),
            )
        ),
        "name": _maybe(st.sampled_from(["山田太郎", "x"])),
        "birth_date": _maybe(
            st.sampled_from(
                ["1950-01-02", "2013-02-30", "0000-01-01", "1950-1-2", "19500102", "9999-12-31"]
            )
        ),
        "sex": _maybe(st.sampled_from(["male", "female", "other"])),
        "address": _maybe(st.sampled_from(["東京都千代田区", "x"])),
        "shape": st.one_of(st.none(), st.just("row:columns (3 fields, not 6)")),
    }
).map(
    # as the request reader leaves them: stripped, blank is null
    lambda row: {k: v if k == "shape" or v is None else (v.strip() or None) for k, v in row.items()}
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_rows, min_size=1, max_size=20))
def test_sql_validation_names_what_validate_query_names(rows: list[dict[str, str | None]]) -> None:
    table = pa.Table.from_pylist(rows, schema=pa.schema([(k, pa.string()) for k in rows[0]]))
    with duckdb.connect() as con:
        con.register("r", table)
        got = [v for (v,) in con.execute(f"SELECT {REASON_SQL} FROM r").fetchall()]
    assert got == [python_reason(row) for row in rows]


def _record(n: int, name: str, **changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "resident_code": make_resident_code(f"{n:010d}"),
        "name": name,
        "name_kana": "ヤマダ",
        "alias": None,
        "former_surname": None,
        "name_key": name_search_key(name),
        "birth_date": date(1950, 1, 2),
        "sex": "male",
        "address": "東京都千代田区一丁目1番",
        "address_key": address_search_key("東京都千代田区一丁目1番"),
        "change_reason": ChangeReason.BIRTH.value,
        "change_date": date(1950, 1, 2),
        "removed": False,
        "superseded_by": None,
    }
    record.update(changes)
    return record


def _request(rows: list[dict[str, str | None]]) -> pa.Table:
    full = [
        {"line": i + 2, **{c: r.get(c) for c in COLUMNS}, "shape": None} for i, r in enumerate(rows)
    ]
    return pa.Table.from_pylist(
        full,
        schema=pa.schema(
            [("line", pa.int64()), *((c, pa.string()) for c in COLUMNS), ("shape", pa.string())]
        ),
    )


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    records = [
        _record(1, "山田太郎"),
        _record(2, "鈴木花子", sex="female"),
        _record(
            3, "鈴木花子", sex="female", address="大阪府", address_key=address_search_key("大阪府")
        ),
        _record(
            4,
            "佐藤一郎",
            removed=True,
            change_reason=ChangeReason.DEATH.value,
            change_date=date(2013, 5, 1),
        ),
        _record(5, "田中", superseded_by=make_resident_code("0000000009")),
    ]
    path = tmp_path / "snapshot.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=SCHEMA), path)
    return path


def _run(
    tmp_path: Path,
    registry: Path,
    rows: list[dict[str, str | None]],
    fields: frozenset[ProvisionField] = DEFAULT_FIELDS,
    *,
    delta: list[dict[str, object]] | None = None,
    slice_rows: int = 1000,
) -> tuple[list[dict[str, str]], list[dict[str, object]]]:
    stamp = LogStamp(datetime(2013, 7, 1, tzinfo=UTC), "日本年金機構", "A1", "batch_line", "job-1")
    tmp_path.mkdir(exist_ok=True)
    result, segment = tmp_path / "result.csv", tmp_path / "segment.parquet"
    with duckdb.connect() as con:
        registry_relation(con, registry, pa.Table.from_pylist(delta or [], schema=SCHEMA))
        match_job(
            con,
            _request(rows),
            fields,
            stamp,
            result_path=result,
            segment_path=segment,
            slice_rows=slice_rows,
        )
    with result.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == RESULT_HEADER
        out = list(reader)
    return out, pq.read_table(segment).to_pylist()


def test_outcomes_fields_and_log_segment(tmp_path: Path, registry: Path) -> None:
    code = make_resident_code
    rows: list[dict[str, str | None]] = [
        {"row_id": "a", "resident_code": code("0000000001")},
        {"row_id": "b", "name": "鈴木 花子", "birth_date": "1950-01-02"},  # two candidates
        {
            "row_id": "c",
            "name": "鈴木花子",
            "birth_date": "1950-01-02",
            "sex": "female",
            "address": "大阪府",
        },
        {"row_id": "d", "resident_code": code("0000000004")},  # deceased
        {"row_id": "e", "resident_code": code("0000000099")},  # nobody
        {"row_id": "f", "name": "田中", "birth_date": "1950-01-02"},  # superseded: not by items
        {"row_id": "g", "resident_code": "123"},
    ]
    fields = frozenset({ProvisionField.RESIDENT_CODE, ProvisionField.NAME, ProvisionField.CHANGE})
    result, segment = _run(tmp_path, registry, rows, fields)
    assert [(r["row_id"], r["outcome"], r["reason"]) for r in result] == [
        ("a", "found", ""),
        ("b", "several_candidates", ""),
        ("c", "found", ""),
        ("d", "found", ""),
        ("e", "not_found", ""),
        ("f", "not_found", ""),
        ("g", "invalid", "resident_code:length"),
    ]
    assert result[0]["name"] == "山田太郎" and result[0]["birth_date"] == ""  # not allowed
    assert result[0]["status"] == "active" and result[0]["change_reason_ja"] == "出生"
    assert (result[3]["status"], result[3]["status_date"]) == ("deceased", "2013-05-01")
    assert all(r["name"] == "" for r in result if r["outcome"] != "found")
    assert [(e["resident_code"], e["case_reference"]) for e in segment] == [
        (code("0000000001"), "a"),
        (code("0000000003"), "c"),
        (code("0000000004"), "d"),
    ]
    assert {(e["recipient"], e["affair_id"], e["method"], e["job_id"]) for e in segment} == {
        ("日本年金機構", "A1", "batch_line", "job-1")
    }


def test_the_delta_wins_over_the_snapshot(tmp_path: Path, registry: Path) -> None:
    moved = _record(1, "山田太郎", address="北海道", change_reason=ChangeReason.MOVE_IN.value)
    born = _record(7, "新生児")
    rows: list[dict[str, str | None]] = [
        {"row_id": "a", "resident_code": make_resident_code("0000000001")},
        {"row_id": "b", "resident_code": make_resident_code("0000000007")},
    ]
    result, _ = _run(tmp_path, registry, rows, delta=[moved, born])
    assert [(r["outcome"], r["address"]) for r in result] == [
        ("found", "北海道"),
        ("found", "東京都千代田区一丁目1番"),
    ]


def test_slices_give_the_same_files_as_one_pass(tmp_path: Path, registry: Path) -> None:
    code = make_resident_code
    rows: list[dict[str, str | None]] = [
        {"row_id": f"r{i}", "resident_code": code(f"{i % 7:010d}")} for i in range(23)
    ]
    rows += [{"row_id": "b", "name": "鈴木花子", "birth_date": "1950-01-02"}]  # several
    one = _run(tmp_path / "one", registry, rows)
    sliced = _run(tmp_path / "sliced", registry, rows, slice_rows=4)
    assert sliced == one
    assert [r["row_id"] for r in one[0]] == [r["row_id"] for r in rows]
    assert one[0][-1]["outcome"] == "several_candidates"
