"""Batch provision (一括提供): a recipient's request file answered row by row.

A recipient submits a request file through the API (batch over the line, ``batch_line``) or
the national operator imports one from a media directory (batch on media, ``batch_media``).

Request file: CSV, UTF-8 (a byte-order mark is tolerated), with a header naming exactly the
columns ``row_id,resident_code,name,birth_date,sex,address`` (in this order or another). Each
row asks for one person, either

- by ``resident_code`` (the other items empty), or
- by basic items: ``name`` + ``birth_date`` (``YYYY-MM-DD``), optionally with ``sex``
  (``male``/``female``) and ``address`` together (the four basic items).

``row_id`` is the recipient's own reference for the row (required, at most 200 characters, no
control characters); it is the case reference recorded in the provision log. Blank lines are
skipped. A file that is not UTF-8, is empty or lacks the header is refused as a whole (nothing
is done). A malformed row is reported in the result by its line number (line 1 is the header)
and reason (``field:rule``, e.g. ``birth_date:invalid``) while the valid rows are served.

The affair is checked once for the whole file (listed for the recipient, inside its window,
neither suspended); every row receives the affair's allowed fields. Matching follows the
immediate provision (``jukinet.domain.provision``) but is set-based: codes and (name key,
birth date) pairs are looked up in chunks of ``CHUNK`` with ``IN`` queries, never one query per
row.

Result file: CSV with the header ``RESULT_HEADER``, one row per request row in the request's
order: ``outcome`` is ``found``, ``not_found``, ``several_candidates`` or ``invalid``; fields the
affair may not receive are left empty, as are all fields of any other outcome than ``found``.

Every provided record is appended to the provision log (with the job id and the row id) and
counted in the monthly counters of the method, in the same transaction that records the job as
done — a job is provided completely or not at all. The same file (same SHA-256) submitted again
by the same recipient for the same affair returns the earlier job and provides nothing.

Jobs run synchronously in this slice; the job row already carries status and progress so the
work can move to a worker later.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, select, tuple_
from sqlalchemy.exc import IntegrityError

from jukinet.clock import JST, Clock
from jukinet.domain.audit import Outcome
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import IdentityRecord
from jukinet.domain.names import address_search_key, name_search_key
from jukinet.domain.provision import (
    AffairGrant,
    MatchOutcome,
    ProvisionMethod,
    ProvisionQuery,
    project,
    validate_query,
    year_month,
)
from jukinet.services.audit import AuditLog
from jukinet.store import provision as store
from jukinet.store import provision_jobs as jobs
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.identity_records import row_to_record
from jukinet.store.tables import national_identity_records

HEADER = ("row_id", "resident_code", "name", "birth_date", "sex", "address")
RESULT_HEADER = (
    "row_id",
    "line",
    "outcome",
    "reason",
    "resident_code",
    "name",
    "birth_date",
    "sex",
    "address",
    "change_reason",
    "change_date",
    "status",
)
RECORD_COLUMNS = RESULT_HEADER[4:]
INVALID = "invalid"
CHUNK = 500

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One request row: its line, its row id and either a valid query or the reason why not."""

    line: int
    row_id: str
    query: ProvisionQuery | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    job: jobs.ProvisionJob
    created: bool  # False: the same file was submitted before; this is the earlier job


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refuse(rule: str, message: str) -> RuleViolation:
    return RuleViolation("file", rule, message)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _refuse("encoding", f"line {line}: the file is not UTF-8") from None


def _row(line: int, values: list[str], columns: dict[str, int], affair_id: str) -> RequestRow:
    row_id = values[columns["row_id"]].strip() if len(values) > columns["row_id"] else ""
    if len(values) != len(HEADER):
        return RequestRow(line, row_id, None, f"row:columns ({len(values)} fields, not 6)")

    def item(name: str) -> str | None:
        value = values[columns[name]].strip()
        return value or None

    birth_text = item("birth_date")
    birth: date | None = None
    if birth_text is not None:
        try:
            if not _DATE_RE.fullmatch(birth_text):
                raise ValueError(birth_text)
            birth = date.fromisoformat(birth_text)
        except ValueError:
            return RequestRow(line, row_id, None, "birth_date:invalid")
    query = ProvisionQuery(
        affair_id=affair_id,
        case_reference=row_id,
        resident_code=item("resident_code"),
        name=item("name"),
        birth_date=birth,
        sex=item("sex"),
        address=item("address"),
    )
    try:
        validate_query(query)
    except RuleViolation as exc:
        field = "row_id" if exc.field == "case_reference" else exc.field
        return RequestRow(line, row_id, None, f"{field}:{exc.rule}")
    return RequestRow(line, row_id, query)


def parse_request_file(data: bytes, affair_id: str) -> list[RequestRow]:
    """The rows of a request file, or a RuleViolation (field ``file``) refusing it whole."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise _refuse("empty", "the file is empty (no header)")
        names = [h.strip() for h in header]
        if sorted(names) != sorted(HEADER):
            raise _refuse("header", f"the header must name exactly {','.join(HEADER)}")
        columns = {name: i for i, name in enumerate(names)}
        rows: list[RequestRow] = []
        line = reader.line_num
        for values in reader:
            start, line = line + 1, reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            rows.append(_row(start, values, columns, affair_id))
    except csv.Error as exc:
        raise _refuse("malformed", f"line {reader.line_num}: {exc}") from None
    return rows


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def match_rows(conn: Connection, rows: list[RequestRow]) -> list[list[IdentityRecord]]:
    """The candidates of every row (empty for invalid rows), set-based in chunks."""
    t = national_identity_records
    codes = sorted({r.query.resident_code for r in rows if r.query and r.query.resident_code})
    by_code: dict[str, IdentityRecord] = {}
    for chunk in _chunks(codes):
        for found in conn.execute(select(t).where(t.c.resident_code.in_(chunk))):
            by_code[found.resident_code] = row_to_record(found)
    pairs = sorted(
        {
            (name_search_key(r.query.name), r.query.birth_date)
            for r in rows
            if r.query and r.query.name is not None and r.query.birth_date is not None
        }
    )
    by_items: dict[tuple[str, date], list[Any]] = defaultdict(list)
    for chunk in _chunks(pairs):
        query = select(t).where(
            tuple_(t.c.name_key, t.c.birth_date).in_(chunk), t.c.superseded_by.is_(None)
        )
        for found in conn.execute(query.order_by(t.c.resident_code)):
            by_items[(found.name_key, found.birth_date)].append(found)
    out: list[list[IdentityRecord]] = []
    for r in rows:
        q = r.query
        if q is None:
            out.append([])
        elif q.resident_code is not None:
            record = by_code.get(q.resident_code)
            out.append([] if record is None else [record])
        else:
            assert q.name is not None
            assert q.birth_date is not None
            address_key = None if q.address is None else address_search_key(q.address)
            out.append(
                [
                    row_to_record(c)
                    for c in by_items.get((name_search_key(q.name), q.birth_date), [])
                    if (q.sex is None or c.sex == q.sex)
                    and (address_key is None or c.address_key == address_key)
                ]
            )
    return out


def _result_line(row: RequestRow, outcome: str, record: dict[str, Any] | None) -> list[str]:
    values = record or {}
    return [
        row.row_id,
        str(row.line),
        outcome,
        row.reason or "",
        *(str(values.get(c, "")) for c in RECORD_COLUMNS),
    ]


class BatchProvisionService:
    """Batch provision jobs on the national center's database."""

    def __init__(self, engine: Engine, clock: Clock, audit: AuditLog | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    def submit(
        self,
        recipient: str,
        affair_id: str,
        data: bytes,
        *,
        method: ProvisionMethod,
        source_name: str | None = None,
        actor: str | None = None,
    ) -> Submission:
        """Run the request file ``data`` of ``recipient`` for ``affair_id`` as a job (or return
        the earlier job of the same file). Refusals raise a RuleViolation after an audit entry."""
        if method is ProvisionMethod.IMMEDIATE:
            raise ValueError("batch provision is batch_line or batch_media")
        actor = actor or f"recipient:{recipient}"
        digest = content_hash(data)
        try:
            with read_transaction(self.engine) as conn:
                self._grant(conn, recipient, affair_id)
                earlier = jobs.job_by_hash(conn, recipient, affair_id, digest)
            if earlier is not None:
                return Submission(earlier, created=False)
            rows = parse_request_file(data, affair_id)
            with write_transaction(self.engine) as conn:
                job = self._run(
                    conn, recipient, affair_id, rows, method, digest, source_name, actor
                )
            return Submission(job, created=True)
        except IntegrityError:
            # the same file submitted concurrently: the other submission's job stands
            with read_transaction(self.engine) as conn:
                earlier = jobs.job_by_hash(conn, recipient, affair_id, digest)
            if earlier is None:
                raise
            return Submission(earlier, created=False)
        except RuleViolation as exc:
            with write_transaction(self.engine) as conn:
                self.audit.record(
                    conn,
                    actor=actor,
                    action=f"provision.{method.value}",
                    obj=f"affair/{affair_id}",
                    outcome=Outcome.REFUSED,
                    detail={"field": exc.field, "rule": exc.rule, "content_hash": digest},
                )
            raise

    def _grant(self, conn: Connection, recipient: str, affair_id: str) -> AffairGrant:
        who = store.get_recipient(conn, recipient)
        if who is None:
            raise RuleViolation("recipient", "unknown_recipient", f"{recipient} is not a recipient")
        if who.suspended:
            raise RuleViolation(
                "recipient", "recipient_suspended", f"provision to {recipient} is suspended"
            )
        grant = store.get_affair(conn, affair_id)
        if grant is None or grant.recipient != recipient:
            raise RuleViolation(
                "affair_id", "affair_not_listed", f"{affair_id} is not listed for {recipient}"
            )
        today = self.clock.now().astimezone(JST).date()
        grant.check(recipient, today, grant.allowed_fields)
        return grant

    def _run(  # noqa: PLR0917
        self,
        conn: Connection,
        recipient: str,
        affair_id: str,
        rows: list[RequestRow],
        method: ProvisionMethod,
        digest: str,
        source_name: str | None,
        actor: str,
    ) -> jobs.ProvisionJob:
        now = self.clock.now()
        today = now.astimezone(JST).date()
        grant = self._grant(conn, recipient, affair_id)
        job_id = str(uuid.uuid4())
        jobs.insert_job(
            conn,
            id=job_id,
            recipient=recipient,
            affair_id=affair_id,
            method=method.value,
            content_hash=digest,
            source_name=source_name,
            status="running",
            total_rows=len(rows),
            processed_rows=0,
            provided_rows=0,
            invalid_rows=0,
            submitted_at=now,
        )
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(RESULT_HEADER)
        provided = invalid = 0
        log_entries: list[dict[str, object]] = []
        for row, candidates in zip(rows, match_rows(conn, rows), strict=True):
            if row.query is None:
                invalid += 1
                writer.writerow(_result_line(row, INVALID, None))
            elif len(candidates) != 1:
                outcome = (
                    MatchOutcome.NOT_FOUND if not candidates else MatchOutcome.SEVERAL_CANDIDATES
                )
                writer.writerow(_result_line(row, outcome.value, None))
            else:
                record = candidates[0]
                log_entries.append(
                    {
                        "provided_at": now,
                        "recipient": recipient,
                        "affair_id": affair_id,
                        "method": method.value,
                        "resident_code": record.resident_code,
                        "case_reference": row.row_id,
                        "request_id": None,
                        "job_id": job_id,
                    }
                )
                provided += 1
                projected = project(record, grant.allowed_fields)
                writer.writerow(_result_line(row, MatchOutcome.FOUND.value, projected))
        store.append_logs(conn, log_entries)
        if provided:
            store.increment_count(
                conn,
                recipient=recipient,
                affair_id=affair_id,
                year_month=year_month(today),
                method=method.value,
                by=provided,
            )
        jobs.update_job(
            conn,
            job_id,
            status="done",
            processed_rows=len(rows),
            provided_rows=provided,
            invalid_rows=invalid,
            finished_at=now,
            result_csv=out.getvalue(),
        )
        self.audit.record(
            conn,
            actor=actor,
            action=f"provision.{method.value}",
            obj=f"affair/{affair_id}",
            detail={
                "job_id": job_id,
                "content_hash": digest,
                "rows": len(rows),
                "provided": provided,
                "invalid": invalid,
            },
            at=now,
        )
        job = jobs.get_job(conn, job_id)
        assert job is not None
        return job

    def job(self, job_id: str, recipient: str | None = None) -> jobs.ProvisionJob | None:
        """The job, or None when unknown (or, given ``recipient``, not that recipient's)."""
        with read_transaction(self.engine) as conn:
            job = jobs.get_job(conn, job_id)
        if job is None or (recipient is not None and job.recipient != recipient):
            return None
        return job

    def result(self, job_id: str) -> str | None:
        """The result file of a finished job (None while it runs or when unknown)."""
        with read_transaction(self.engine) as conn:
            return jobs.job_result(conn, job_id)
