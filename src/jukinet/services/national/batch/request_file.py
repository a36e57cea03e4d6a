"""Request files of batch provision (一括提供の依頼ファイル): CSV or Parquet in, an Arrow table out.

CSV: UTF-8 (a byte-order mark is tolerated) with a header naming exactly the columns
``row_id,resident_code,name,birth_date,sex,address`` in any order; line 1 is the header. Blank
lines (and lines whose fields are all blank) are skipped. A line with another number of fields
is kept as a row whose ``shape`` names the count, so the result can report it by line while the
valid rows are served.

Parquet: the same six columns (string; ``birth_date`` may also be a date); ``line`` is then the
row's number (1 for the first row).

Values are stripped of white space (Unicode, so the ideographic space too) and empty values
become null. A file that is not UTF-8, is empty, lacks the header or is not a readable Parquet
file is refused as a whole (a RuleViolation on field ``file``) before anything is done.

Reading is columnar: a file without quote characters — every request file a recipient's system
writes for names, dates and codes — is split by NumPy (line numbers, field counts) and parsed by
Arrow's multithreaded reader; a file with quotes takes Python's ``csv`` module, exact for quoted
newlines and commas, and slower.
"""

from __future__ import annotations

import codecs
import csv
import io
from enum import StrEnum
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from jukinet.domain.errors import RuleViolation

COLUMNS = ("row_id", "resident_code", "name", "birth_date", "sex", "address")
FIELDS = len(COLUMNS)
BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 26  # bytes scanned per NumPy pass: bounded memory for files of gigabytes


class RequestFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def refuse(rule: str, message: str) -> RuleViolation:
    return RuleViolation("file", rule, message)


# --- whole-file checks, at submission -------------------------------------------------------


def check_request_file(path: Path, fmt: RequestFormat) -> None:
    """Refuse a file that cannot be a request file (encoding, header, Parquet schema), reading
    no more than the header and, for CSV, streaming once through the bytes for UTF-8."""
    if fmt is RequestFormat.PARQUET:
        _parquet_columns(path)
        return
    _check_utf8(path)
    _csv_header(path)


def _check_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = lines + block[: exc.start].count(b"\n")
                raise refuse("encoding", f"line {line}: the file is not UTF-8") from None
            lines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise refuse("encoding", f"line {lines}: the file ends inside a character") from None


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as f:
        first = f.readline(1 << 16)
    if first.startswith(BOM):
        first = first[len(BOM) :]
    if not first.strip():
        raise refuse("empty" if not first else "header", "the file has no header line")
    names = [h.strip() for h in next(csv.reader([first.decode("utf-8")]))]
    if sorted(names) != sorted(COLUMNS):
        raise refuse("header", f"the header must name exactly {','.join(COLUMNS)}")
    return names


def _parquet_columns(path: Path) -> pa.Schema:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise refuse("parquet", f"not a readable Parquet file: {exc}") from None
    names = sorted(schema.names)
    if names != sorted(COLUMNS):
        raise refuse("header", f"the columns must be exactly {','.join(COLUMNS)}")
    for name in COLUMNS:
        kind = schema.field(name).type
        ok = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
        if not ok and not (name == "birth_date" and pa.types.is_date(kind)):
            raise refuse("schema", f"column {name} is {kind}, not a string")
    return schema


# --- reading --------------------------------------------------------------------------------


def read_request_file(path: Path, fmt: RequestFormat) -> pa.Table:
    """The rows of a checked request file: ``line``, the six columns (null when blank) and
    ``shape`` (null, or why the line is not a row of six fields)."""
    if fmt is RequestFormat.PARQUET:
        return _normalise(_read_parquet(path))
    with path.open("rb") as f:
        f.readline()  # a quoted header is read by the csv module either way
        quoted = any(b'"' in block for block in iter(lambda: f.read(_BLOCK), b""))
    return _normalise(_read_csv_exact(path) if quoted else _read_csv_fast(path))


def _without_blank_rows(table: pa.Table) -> pa.Table:
    """Drop rows whose six values are all blank (white space in Unicode terms, which a byte
    scan cannot see): the exact reader skips such lines too."""
    blank = pc.is_null(table["shape"])
    for name in COLUMNS:
        blank = pc.and_(blank, pc.is_null(table[name]))
    return table.filter(pc.invert(blank))


def _read_parquet(path: Path) -> pa.Table:
    table = pq.read_table(path, columns=list(COLUMNS))
    columns = {
        name: pc.cast(table[name], pa.string())
        if name != "birth_date" or not pa.types.is_date(table[name].type)
        else pc.strftime(table[name], "%Y-%m-%d")
        for name in COLUMNS
    }
    n = table.num_rows
    return pa.table(
        {
            "line": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            **columns,
            "shape": pa.nulls(n, pa.string()),
        }
    )


def _line_bounds(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, before ``\\r\\n``/``\\n``) of every line of ``data``."""
    newlines = np.flatnonzero(data == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    if len(ends) and ends[-1] == starts[-1]:  # the file ends with a newline: no last line
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (data[np.maximum(ends - 1, 0)] == ord("\r"))
    return starts, ends - has_cr


def _counts(mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many ``mask`` bytes each line holds, from its start to the next line's start
    (``reduceat``: no per-line loop, no prefix sum the size of the file)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(mask, starts, dtype=np.int64)


def _read_csv_fast(path: Path) -> pa.Table:
    raw = (
        np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.zeros(0, np.uint8)
    )
    offset = len(BOM) if raw[: len(BOM)].tobytes() == BOM else 0
    data = raw[offset:]
    starts, ends = _line_bounds(data)
    names = _csv_header(path)
    commas = _counts(data == ord(","), starts)
    filler = data == ord(",")
    for blank in b" \t\r\n":
        filler |= data == blank
    content = _counts(~filler, starts)  # bytes that are not separators or white space
    del filler
    body = slice(1, None)  # line 1 is the header
    lines = np.arange(1, len(starts) + 1, dtype=np.int64)[body]
    commas, content, length = commas[body], content[body], (ends - starts)[body]
    arrow_rows = (length > 0) & (commas == FIELDS - 1)  # what Arrow's reader will return
    rest = data[starts[1] :] if len(starts) > 1 else data[:0]
    if not arrow_rows.any():  # Arrow refuses an empty input
        parsed = pa.table({name: pa.array([], pa.string()) for name in names})
    else:
        parsed = _arrow_csv(rest, names)
    if parsed.num_rows != int(arrow_rows.sum()):  # pragma: no cover - a reader disagreement
        raise refuse("malformed", "the file's lines could not be read consistently")
    keep = ~(content[arrow_rows] == 0)  # drop lines of blank fields only
    rows = parsed.filter(pa.array(keep)).select(list(COLUMNS))
    bad = (content > 0) & (commas != FIELDS - 1)
    at = names.index("row_id")
    bad_lines: list[int] = []
    bad_fields: list[int] = []
    bad_ids: list[str | None] = []
    for line, s, e in zip(
        lines[bad].tolist(), starts[body][bad].tolist(), ends[body][bad].tolist(), strict=True
    ):
        fields = data[s:e].tobytes().decode("utf-8").split(",")
        if all(not f.strip() for f in fields):  # blank in Unicode terms (e.g. U+3000 only)
            continue
        bad_lines.append(line)
        bad_fields.append(len(fields))
        bad_ids.append(fields[at] if at < len(fields) else None)
    row_table = rows.append_column("line", pa.array(lines[arrow_rows][keep])).append_column(
        "shape", pa.nulls(rows.num_rows, pa.string())
    )
    bad_table = _shape_rows(bad_lines, bad_fields, bad_ids)
    merged = pa.concat_tables([row_table.select(bad_table.column_names), bad_table])
    return merged.sort_by("line")


def _arrow_csv(data: np.ndarray, names: list[str]) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(data.data),
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(
            quote_char=False, ignore_empty_lines=True, invalid_row_handler=lambda _row: "skip"
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
        ),
    )


def _shape_rows(lines: list[int], fields: list[int], row_ids: list[str | None]) -> pa.Table:
    """Rows for lines of the wrong shape: their line, row id (when there is one) and why."""
    n = len(lines)
    shapes = [f"row:columns ({f} fields, not {FIELDS})" for f in fields]
    return pa.table(
        {
            "line": pa.array(lines, pa.int64()),
            "row_id": pa.array(row_ids, pa.string()),
            **{name: pa.nulls(n, pa.string()) for name in COLUMNS[1:]},
            "shape": pa.array(shapes, pa.string()),
        }
    )


def _read_csv_exact(path: Path) -> pa.Table:
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        columns = {h.strip(): i for i, h in enumerate(header)}
        values: dict[str, list[str | None]] = {name: [] for name in COLUMNS}
        lines: list[int] = []
        shapes: list[str | None] = []
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not fields or all(not v.strip() for v in fields):
                continue
            lines.append(start)
            ok = len(fields) == FIELDS
            shapes.append(None if ok else f"row:columns ({len(fields)} fields, not {FIELDS})")
            for name in COLUMNS:
                i = columns[name]
                keep = ok or (name == "row_id" and i < len(fields))
                values[name].append(fields[i] if keep else None)
    except csv.Error as exc:
        raise refuse("malformed", f"line {reader.line_num}: {exc}") from None
    return pa.table(
        {
            "line": pa.array(lines, pa.int64()),
            **{name: pa.array(values[name], pa.string()) for name in COLUMNS},
            "shape": pa.array(shapes, pa.string()),
        }
    )


def _normalise(table: pa.Table) -> pa.Table:
    """Strip every value of white space and make blank values null; drop blank rows."""
    out = {}
    for name in COLUMNS:
        stripped = pc.utf8_trim_whitespace(table[name])
        out[name] = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)
    return _without_blank_rows(pa.table({"line": table["line"], **out, "shape": table["shape"]}))
