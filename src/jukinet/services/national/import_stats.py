"""Import monthly provision counts carried over from a previous system (``import-stats``).

The file is CSV, UTF-8 (a byte-order mark is tolerated), with exactly the header
``recipient,affair_id,year_month,method,count``. Every row is checked — the affair is one of
the annex (別表第一) and belongs to that recipient, the month is real and not before the
network began provision (2002-08), the method is one of the three, the count a positive
integer — and the key must be new (neither repeated in the file nor imported before). Any
error refuses the whole file: every error found is reported with its line and field, and
nothing is written.

Affairs are checked against the annex of the 2013 publication shipped with the package
(:func:`jukinet.domain.affairs.affairs_2013`); a pair added later by law needs that list (or
the live recipients' table) to know it first.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from jukinet.domain.affairs import Affair, affairs_2013
from jukinet.domain.errors import RuleViolation
from jukinet.store.db import write_transaction
from jukinet.store.provision_stats import CountRow, existing_imported, insert_imported

HEADER = ("recipient", "affair_id", "year_month", "method", "count")
METHODS = ("immediate", "batch_line", "batch_media")
FIRST_MONTH = (2002, 8)  # provision through the network began in August 2002
MAX_COUNT = 2**63 - 1
MAX_ERRORS = 100

_YEAR_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")
_COUNT_RE = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class LineError:
    """What is wrong with one field of one line (line 1 is the header)."""

    line: int
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message} [{self.rule}]"


class StatsFileRefused(RuleViolation):
    """The file was refused as a whole; ``errors`` lists what was found, first error first."""

    def __init__(self, source: str, errors: list[LineError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            first.field, first.rule, f"{source}: refused, nothing imported: {first}{more}"
        )
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ImportResult:
    source_file: str
    rows: int
    total: int


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StatsFileRefused(
            "file",
            [
                LineError(
                    line,
                    "encoding",
                    "utf8",
                    f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                    "save the file as UTF-8",
                )
            ],
        ) from exc


def parse_stats(data: bytes, source: str = "file") -> list[CountRow]:
    """Every row of the file, validated; raises :class:`StatsFileRefused` listing the errors."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[LineError] = []
    header = next(reader, None)
    if header is None:
        raise StatsFileRefused(source, [LineError(1, "header", "empty", "the file is empty")])
    if tuple(h.strip() for h in header) != HEADER:
        raise StatsFileRefused(
            source,
            [
                LineError(
                    1,
                    "header",
                    "header",
                    f"expected exactly {','.join(HEADER)}, got {','.join(header)}",
                )
            ],
        )
    annex = {a.affair_id: a for a in affairs_2013()}
    recipients = {a.recipient for a in annex.values()}
    rows: list[CountRow] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(HEADER):
                errors.append(
                    LineError(
                        line, "row", "columns", f"expected {len(HEADER)} fields, got {len(record)}"
                    )
                )
                continue
            row = _check_row(line, [c.strip() for c in record], annex, recipients, errors)
            if row is None:
                continue
            key = (row.recipient, row.affair_id, row.year_month, row.method)
            if key in seen:
                errors.append(
                    LineError(
                        line,
                        "year_month",
                        "duplicate",
                        f"the same recipient, affair, month and method as line {seen[key]}",
                    )
                )
                continue
            seen[key] = line
            rows.append(row)
            if len(errors) >= MAX_ERRORS:
                break
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, "row", "csv", f"malformed CSV: {exc}"))
    if errors:
        raise StatsFileRefused(source, errors)
    return rows


def _check_row(
    line: int,
    cells: list[str],
    annex: dict[str, Affair],
    recipients: set[str],
    errors: list[LineError],
) -> CountRow | None:
    recipient, affair_id, year_month, method, count_text = cells
    before = len(errors)
    if recipient not in recipients:
        errors.append(
            LineError(line, "recipient", "unknown_recipient", f"no recipient {recipient!r}")
        )
    affair = annex.get(affair_id)
    if affair is None:
        errors.append(
            LineError(line, "affair_id", "unknown_affair", f"no affair {affair_id!r} in the annex")
        )
    elif recipient in recipients and affair.recipient != recipient:
        errors.append(
            LineError(
                line,
                "affair_id",
                "affair_not_for_recipient",
                f"affair {affair_id!r} is not listed for {recipient!r}",
            )
        )
    match = _YEAR_MONTH_RE.fullmatch(year_month)
    if match is None or not 1 <= int(match[2]) <= 12:
        errors.append(
            LineError(line, "year_month", "month", f"expected a month YYYY-MM, got {year_month!r}")
        )
    elif (int(match[1]), int(match[2])) < FIRST_MONTH:
        errors.append(
            LineError(
                line,
                "year_month",
                "before_network",
                f"{year_month} is before provision began (2002-08)",
            )
        )
    if method not in METHODS:
        errors.append(
            LineError(
                line, "method", "method", f"expected one of {', '.join(METHODS)}, got {method!r}"
            )
        )
    count = 0
    if _COUNT_RE.fullmatch(count_text) is None or not 0 < int(count_text) <= MAX_COUNT:
        errors.append(
            LineError(line, "count", "count", f"expected a positive integer, got {count_text!r}")
        )
    else:
        count = int(count_text)
    if len(errors) > before:
        return None
    return CountRow(recipient, affair_id, year_month, method, count)


def import_stats(engine: Engine, data: bytes, *, source_file: str, at: datetime) -> ImportResult:
    """Validate the whole file, then insert it in one transaction; all or nothing.

    A key already imported (by this or an earlier file) refuses the file, naming the line and
    the file that holds it: carried-over counts are imported once, never added twice.
    """
    rows = parse_stats(data, source_file)
    lines = {(r.recipient, r.affair_id, r.year_month, r.method): i for i, r in enumerate(rows)}
    with write_transaction(engine) as conn:
        held = existing_imported(conn, rows)
        if held:
            numbered = _line_numbers(data)
            errors = [
                LineError(
                    numbered[lines[(k.recipient, k.affair_id, k.year_month, k.method)]],
                    "year_month",
                    "already_imported",
                    f"already imported from {k.source_file}",
                )
                for k in held
            ]
            raise StatsFileRefused(source_file, sorted(errors, key=lambda e: e.line))
        insert_imported(conn, rows, source_file=source_file, at=at)
    return ImportResult(source_file, len(rows), sum(r.count for r in rows))


def _line_numbers(data: bytes) -> list[int]:
    """The line number of each data row, in the order :func:`parse_stats` returns them."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader, None)
    return [reader.line_num for record in reader if any(cell.strip() for cell in record)]
