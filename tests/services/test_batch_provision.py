"""Batch provision on the national center, on SQLite and PostgreSQL: the result file, invalid
rows, re-submission, the provision log, the monthly counters and refusals."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.domain.provision import AffairGrant, ProvisionField, ProvisionMethod
from jukinet.services.national.batch_provision import RESULT_HEADER, BatchProvisionService
from jukinet.services.national.provision import ProvisionService
from jukinet.store import provision as store
from jukinet.store import provision_jobs
from jukinet.store.db import read_transaction
from tests.support.provision import (
    PENSION,
    first_affair,
    national_record,
    resident_code,
    store_national,
)

CLOCK = FixedClock(datetime(2013, 7, 31, 14, 30, tzinfo=UTC))  # still July in Japan
HEADER = "row_id,resident_code,name,birth_date,sex,address\n"


@pytest.fixture
def service(engine: Engine) -> BatchProvisionService:
    ProvisionService(engine, CLOCK).seed()
    records = [
        national_record(1, "鈴木　一郎"),
        national_record(
            3, "佐藤次郎", change_reason=ChangeReason.DEATH, change_date=date(2013, 5, 2)
        ),
        national_record(4, "田中三郎", address="大阪府大阪市北区1番"),
        national_record(5, "田中三郎", address="京都府京都市中京区2番"),
    ]
    store_national(engine, records, CLOCK)
    return BatchProvisionService(engine, CLOCK)


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == RESULT_HEADER
    return list(reader)


REQUEST = (
    HEADER
    + f"r1,{resident_code(1)},,,,\n"
    + "r2,,鈴木一郎,1940-04-01,,\n"
    + "r3,,田中三郎,1940-04-01,,\n"
    + "r4,,田中三郎,1940-04-01,male,大阪府大阪市北区１番\n"
    + f"r5,{resident_code(9)},,,,\n"
    + "r6,,佐藤次郎,1940-13-01,,\n"
    + "\n"
    + f"r7,{resident_code(3)},,,,\n"
    + "r8,12345,,,,\n"
    + ",,鈴木一郎,1940-04-01,,\n"
    + "r10,,鈴木一郎,1940-04-01,male,\n"
    + "r11,too,few\n"
)


def test_batch_result_rows_in_order_with_outcomes(
    service: BatchProvisionService, engine: Engine
) -> None:
    affair = first_affair(engine)
    submission = service.submit(
        PENSION, affair, REQUEST.encode(), method=ProvisionMethod.BATCH_LINE
    )
    job = submission.job
    assert submission.created
    assert (job.status, job.total_rows, job.processed_rows) == ("done", 11, 11)
    assert (job.provided_rows, job.invalid_rows) == (4, 5)
    result = service.result(job.id)
    assert result is not None
    rows = _rows(result)
    outcomes = [(r["row_id"], r["line"], r["outcome"], r["reason"]) for r in rows]
    assert outcomes == [
        ("r1", "2", "found", ""),
        ("r2", "3", "found", ""),
        ("r3", "4", "several_candidates", ""),
        ("r4", "5", "found", ""),
        ("r5", "6", "not_found", ""),
        ("r6", "7", "invalid", "birth_date:invalid"),
        ("r7", "9", "found", ""),
        ("r8", "10", "invalid", "resident_code:length"),
        ("", "11", "invalid", "row_id:required"),
        ("r10", "12", "invalid", "address:four_items"),
        ("r11", "13", "invalid", "row:columns (3 fields, not 6)"),
    ]
    assert rows[0]["name"] == "鈴木　一郎"
    assert rows[0]["status"] == "active"
    assert rows[3]["resident_code"] == resident_code(4)
    assert (rows[6]["status"], rows[6]["change_reason"], rows[6]["change_date"]) == (
        "deceased",
        "death",
        "2013-05-02",
    )
    assert all(rows[i]["name"] == "" for i in (2, 4, 5))
    with read_transaction(engine) as conn:
        assert store.counts(conn) == [(PENSION, affair, "2013-07", "batch_line", 4)]
        log = conn.execute(select(store.provision_log).order_by(store.provision_log.c.id)).all()
    assert [(e.resident_code, e.case_reference, e.job_id) for e in log] == [
        (resident_code(1), "r1", job.id),
        (resident_code(1), "r2", job.id),
        (resident_code(4), "r4", job.id),
        (resident_code(3), "r7", job.id),
    ]
    assert {e.method for e in log} == {"batch_line"}


def test_resubmitting_the_same_file_does_not_provide_twice(
    service: BatchProvisionService, engine: Engine
) -> None:
    affair = first_affair(engine)
    data = (HEADER + f"a,{resident_code(1)},,,,\n").encode()
    first = service.submit(PENSION, affair, data, method=ProvisionMethod.BATCH_MEDIA)
    again = service.submit(PENSION, affair, data, method=ProvisionMethod.BATCH_MEDIA)
    assert not again.created
    assert again.job.id == first.job.id
    other = service.submit(
        PENSION,
        affair,
        data + f"b,{resident_code(1)},,,,\n".encode(),
        method=ProvisionMethod.BATCH_MEDIA,
    )
    assert other.created
    with read_transaction(engine) as conn:
        assert store.counts(conn) == [(PENSION, affair, "2013-07", "batch_media", 3)]
        assert conn.execute(select(func.count()).select_from(store.provision_log)).scalar() == 3


def test_only_the_allowed_fields_are_returned(
    service: BatchProvisionService, engine: Engine
) -> None:
    ProvisionService(engine, CLOCK).add_affair(
        AffairGrant(
            affair_id="TEST-NARROW",
            recipient=PENSION,
            valid_from=date(2002, 8, 5),
            valid_until=None,
            allowed_fields=frozenset({ProvisionField.RESIDENT_CODE}),
        ),
        law="test",
        affair="test",
    )
    data = (HEADER + f"a,{resident_code(1)},,,,\n").encode()
    job = service.submit(PENSION, "TEST-NARROW", data, method=ProvisionMethod.BATCH_LINE).job
    result = service.result(job.id)
    assert result is not None
    row = _rows(result)[0]
    assert (row["resident_code"], row["status"]) == (resident_code(1), "active")
    assert all(row[c] == "" for c in ("name", "birth_date", "sex", "address", "change_date"))


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"\xff\xfe", "encoding"),
        (b"", "empty"),
        (b"row_id,resident_code\nx,1\n", "header"),
        ((b"row_id,resident_code,name,birth_date,sex,address,extra\n"), "header"),
    ],
)
def test_malformed_files_are_refused_whole(
    service: BatchProvisionService, engine: Engine, data: bytes, rule: str
) -> None:
    with pytest.raises(RuleViolation) as caught:
        service.submit(PENSION, first_affair(engine), data, method=ProvisionMethod.BATCH_LINE)
    assert (caught.value.field, caught.value.rule) == ("file", rule)
    with read_transaction(engine) as conn:
        assert store.counts(conn) == []
        assert (
            conn.execute(select(func.count()).select_from(provision_jobs.provision_jobs)).scalar()
            == 0
        )


def test_refusals_of_the_affair(service: BatchProvisionService, engine: Engine) -> None:
    data = (HEADER + f"a,{resident_code(1)},,,,\n").encode()
    with pytest.raises(RuleViolation) as caught:
        service.submit(PENSION, "SOUMU-ONKYU-1", data, method=ProvisionMethod.BATCH_LINE)
    assert caught.value.rule == "affair_not_listed"
    with pytest.raises(RuleViolation) as caught:
        service.submit("nobody", "SOUMU-ONKYU-1", data, method=ProvisionMethod.BATCH_LINE)
    assert caught.value.rule == "unknown_recipient"
    affair = first_affair(engine)
    ProvisionService(engine, CLOCK).suspend(PENSION, affair_id=affair)
    with pytest.raises(RuleViolation) as caught:
        service.submit(PENSION, affair, data, method=ProvisionMethod.BATCH_LINE)
    assert caught.value.rule == "affair_suspended"
    with read_transaction(engine) as conn:
        assert store.counts(conn) == []


def test_large_file_is_matched_in_chunks(service: BatchProvisionService, engine: Engine) -> None:
    affair = first_affair(engine)
    lines = [f"r{i},{resident_code(1 if i % 2 else 9)},,,,\n" for i in range(1, 1201)]
    job = service.submit(
        PENSION, affair, (HEADER + "".join(lines)).encode(), method=ProvisionMethod.BATCH_LINE
    ).job
    assert (job.total_rows, job.provided_rows) == (1200, 600)
    result = service.result(job.id)
    assert result is not None
    assert [r["row_id"] for r in _rows(result)] == [f"r{i}" for i in range(1, 1201)]
