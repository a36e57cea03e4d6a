"""Request files of batch provision: both CSV readers agree line for line, Parquet is read, and
files that cannot be request files are refused whole, naming the line or the column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jukinet.domain.errors import RuleViolation
from jukinet.services.national.batch.request_file import (
    COLUMNS,
    RequestFormat,
    check_request_file,
    read_request_file,
)
from jukinet.services.national.batch.request_file import (
    _normalise as normalise,
)
from jukinet.services.national.batch.request_file import (
    _read_csv_exact as read_exact,
)
from jukinet.services.national.batch.request_file import (
    _read_csv_fast as read_fast,
)

HEADER = "row_id,resident_code,name,birth_date,sex,address"


def _write(tmp_path: Path, text: str | bytes, name: str = "request.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_lines_blank_lines_and_wrong_shapes_are_numbered(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"\ufeff{HEADER}\r\n"
        "a1,12345678901,,,,\r\n"
        "\r\n"
        ",,,,,\r\n"
        "a2,1,2\r\n"
        "  \r\n"
        "a3,,鈴木\u3000一郎 ,1950-01-01,male,\u3000東京都\u3000\r\n",
    )
    check_request_file(path, RequestFormat.CSV)
    rows = read_request_file(path, RequestFormat.CSV).to_pylist()
    assert [(r["line"], r["row_id"], r["shape"]) for r in rows] == [
        (2, "a1", None),
        (5, "a2", "row:columns (3 fields, not 6)"),
        (7, "a3", None),
    ]
    assert rows[2]["name"] == "鈴木\u3000一郎"  # stripped at the ends only
    assert rows[2]["address"] == "東京都"
    assert rows[0]["name"] is None  # blank is null


def test_quoted_file_takes_the_exact_reader(tmp_path: Path) -> None:
    path = _write(tmp_path, f'{HEADER}\na1,,"Smith, John",1950-01-01,,\n"a\n2",1,2\n')
    rows = read_request_file(path, RequestFormat.CSV).to_pylist()
    assert [(r["line"], r["row_id"], r["name"], r["shape"]) for r in rows] == [
        (2, "a1", "Smith, John", None),
        (3, "a\n2", None, "row:columns (3 fields, not 6)"),
    ]


_cell = st.text(alphabet="ab 1-\u3000鈴\t", max_size=4)
_line = st.one_of(
    st.lists(_cell, min_size=6, max_size=6).map(",".join),
    st.lists(_cell, min_size=1, max_size=8).map(",".join),
    st.just(""),
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(_line, max_size=12), crlf=st.booleans(), final_newline=st.booleans())
def test_the_fast_reader_agrees_with_the_exact_one(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], crlf: bool, final_newline: bool
) -> None:
    end = "\r\n" if crlf else "\n"
    text = end.join([HEADER, *lines]) + (end if final_newline else "")
    path = _write(tmp_path_factory.mktemp("agree"), text)
    fast = normalise(read_fast(path)).to_pylist()
    exact = normalise(read_exact(path)).to_pylist()
    assert [(r["line"], r["shape"], r["row_id"]) for r in fast] == [
        (r["line"], r["shape"], r["row_id"]) for r in exact
    ]
    assert [r["name"] for r in fast if r["shape"] is None] == [
        r["name"] for r in exact if r["shape"] is None
    ]


@pytest.mark.parametrize(
    ("content", "rule", "words"),
    [
        (b"", "empty", "no header"),
        (b"\n" + HEADER.encode(), "header", "no header"),
        (b"row_id,code\n", "header", "exactly"),
        (HEADER.encode() + b"\na1,,\xff\xfe,,,\n", "encoding", "line 2"),
    ],
)
def test_files_refused_whole(tmp_path: Path, content: bytes, rule: str, words: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(RuleViolation) as refused:
        check_request_file(path, RequestFormat.CSV)
    assert (refused.value.field, refused.value.rule) == ("file", rule)
    assert words in refused.value.message


def test_parquet_request_files(tmp_path: Path) -> None:
    path = tmp_path / "request.parquet"
    table = pa.table(
        {
            "row_id": ["p1", "p2"],
            "resident_code": ["12345678901", None],
            "name": [None, " 山田 "],
            "birth_date": pa.array([None, date(1950, 1, 2)], pa.date32()),
            "sex": [None, None],
            "address": [None, ""],
        }
    )
    pq.write_table(table, path)
    check_request_file(path, RequestFormat.PARQUET)
    rows = read_request_file(path, RequestFormat.PARQUET).to_pylist()
    assert [(r["line"], r["row_id"], r["name"], r["birth_date"], r["address"]) for r in rows] == [
        (1, "p1", None, None, None),
        (2, "p2", "山田", "1950-01-02", None),
    ]


def test_parquet_with_wrong_columns_or_types_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing.parquet"
    pq.write_table(pa.table({"row_id": ["x"]}), missing)
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({c: pa.array([1], pa.int64()) for c in COLUMNS}), wrong)
    broken = _write(tmp_path, b"PAR1 not really", "broken.parquet")
    rules = []
    for path in (missing, wrong, broken):
        with pytest.raises(RuleViolation) as refused:
            check_request_file(path, RequestFormat.PARQUET)
        rules.append(refused.value.rule)
    assert rules == ["header", "schema", "parquet"]
