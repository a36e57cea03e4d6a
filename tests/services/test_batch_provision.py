"""Batch provision on the national center, on SQLite and PostgreSQL: jobs queued and run by a
worker, the result file, invalid rows, re-submission, the provision-log segment, the monthly
counters, refusals at submission and at run time, a worker that died."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.domain.provision import AffairGrant, ProvisionField, ProvisionMethod
from jukinet.services.national.batch.matcher import RESULT_HEADER
from jukinet.services.national.batch.service import LEASE, BatchProvisionService
from jukinet.services.national.provision import ProvisionService
from jukinet.services.national.provision_log import ProvisionLog
from jukinet.store import provision as store
from jukinet.store import provision_jobs
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.provision_jobs import ProvisionJob
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
def service(engine: Engine, tmp_path: Path) -> BatchProvisionService:
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
    return BatchProvisionService(engine, CLOCK, tmp_path / "national")


def _run(
    service: BatchProvisionService,
    affair: str,
    data: bytes,
    method: ProvisionMethod = ProvisionMethod.BATCH_LINE,
    recipient: str = PENSION,
) -> ProvisionJob:
    """Submit ``data`` and let the worker run it; the job as it ends."""
    submission = service.submit(recipient, affair, service.stage_bytes(data), method=method)
    assert submission.job.status == "queued" if submission.created else "done"
    service.run_pending()
    job = service.job(submission.job.id)
    assert job is not None
    return job


def _rows(service: BatchProvisionService, job: ProvisionJob) -> list[dict[str, str]]:
    path = service.result_file(job)
    assert path is not None
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == RESULT_HEADER
        return list(reader)


def _log(service: BatchProvisionService) -> ProvisionLog:
    return ProvisionLog(service.engine, service.files, CLOCK)


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
    job = _run(service, affair, REQUEST.encode())
    assert (job.status, job.total_rows, job.processed_rows) == ("done", 11, 11)
    assert (job.provided_rows, job.invalid_rows) == (4, 5)
    rows = _rows(service, job)
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
    log = _log(service)
    assert log.counts() == {(PENSION, affair, "2013-07", "batch_line"): 4}
    entries = [
        (e.resident_code, e.case_reference, e.job_id, e.method)
        for code in (resident_code(1), resident_code(3), resident_code(4))
        for e in log.entries_for(code)
    ]
    assert sorted(entries) == sorted(
        [
            (resident_code(1), "r1", job.id, "batch_line"),
            (resident_code(1), "r2", job.id, "batch_line"),
            (resident_code(3), "r7", job.id, "batch_line"),
            (resident_code(4), "r4", job.id, "batch_line"),
        ]
    )


def test_resubmitting_the_same_file_does_not_provide_twice(
    service: BatchProvisionService, engine: Engine
) -> None:
    affair = first_affair(engine)
    data = (HEADER + f"a,{resident_code(1)},,,,\n").encode()
    media = ProvisionMethod.BATCH_MEDIA
    first = _run(service, affair, data, media)
    again = service.submit(PENSION, affair, service.stage_bytes(data), method=media)
    assert not again.created
    assert (again.job.id, again.job.status) == (first.id, "done")
    assert service.run_pending() == []
    other = _run(service, affair, data + f"b,{resident_code(1)},,,,\n".encode(), media)
    assert other.id != first.id
    with read_transaction(engine) as conn:
        assert store.counts(conn) == [(PENSION, affair, "2013-07", "batch_media", 3)]
    assert _log(service).counts() == {(PENSION, affair, "2013-07", "batch_media"): 3}
    assert list((service.files / "provision" / "incoming").iterdir()) == []


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
    row = _rows(service, _run(service, "TEST-NARROW", data))[0]
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
        service.submit(
            PENSION,
            first_affair(engine),
            service.stage_bytes(data),
            method=ProvisionMethod.BATCH_LINE,
        )
    assert (caught.value.field, caught.value.rule) == ("file", rule)
    assert list((service.files / "provision" / "requests").glob("*")) == []
    with read_transaction(engine) as conn:
        assert store.counts(conn) == []
        assert (
            conn.execute(select(func.count()).select_from(provision_jobs.provision_jobs)).scalar()
            == 0
        )


def test_refusals_of_the_affair(service: BatchProvisionService, engine: Engine) -> None:
    data = (HEADER + f"a,{resident_code(1)},,,,\n").encode()
    line = ProvisionMethod.BATCH_LINE
    with pytest.raises(RuleViolation) as caught:
        service.submit(PENSION, "SOUMU-ONKYU-1", service.stage_bytes(data), method=line)
    assert caught.value.rule == "affair_not_listed"
    with pytest.raises(RuleViolation) as caught:
        service.submit("nobody", "SOUMU-ONKYU-1", service.stage_bytes(data), method=line)
    assert caught.value.rule == "unknown_recipient"
    affair = first_affair(engine)
    ProvisionService(engine, CLOCK).suspend(PENSION, affair_id=affair)
    with pytest.raises(RuleViolation) as caught:
        service.submit(PENSION, affair, service.stage_bytes(data), method=line)
    assert caught.value.rule == "affair_suspended"
    with read_transaction(engine) as conn:
        assert store.counts(conn) == []


def test_an_affair_suspended_before_the_job_runs_fails_it_and_provides_nothing(
    service: BatchProvisionService, engine: Engine
) -> None:
    affair = first_affair(engine)
    data = (HEADER + f"a,{resident_code(1)},,,,\n").encode()
    queued = service.submit(
        PENSION, affair, service.stage_bytes(data), method=ProvisionMethod.BATCH_LINE
    ).job
    ProvisionService(engine, CLOCK).suspend(PENSION, affair_id=affair)
    (job,) = service.run_pending()
    assert (job.id, job.status, job.provided_rows) == (queued.id, "failed", 0)
    assert job.error is not None and "affair_suspended" in job.error
    assert service.result_file(job) is None
    assert _log(service).counts() == {}
    with read_transaction(engine) as conn:
        assert store.counts(conn) == []


def test_a_job_of_a_worker_that_died_is_taken_over_after_its_lease(
    service: BatchProvisionService, engine: Engine
) -> None:
    affair = first_affair(engine)
    data = (HEADER + f"a,{resident_code(1)},,,,\n").encode()
    queued = service.submit(
        PENSION, affair, service.stage_bytes(data), method=ProvisionMethod.BATCH_LINE
    ).job
    with write_transaction(engine) as conn:  # a worker claimed it, then died
        assert provision_jobs.claim(conn, queued, CLOCK.now())
    assert service.run_pending() == []  # its lease still holds
    later = FixedClock(CLOCK.now() + LEASE + timedelta(seconds=1))
    (job,) = BatchProvisionService(engine, later, service.files).run_pending()
    assert (job.id, job.status, job.provided_rows) == (queued.id, "done", 1)
    assert _log(service).counts() == {(PENSION, affair, "2013-07", "batch_line"): 1}


def test_records_changed_after_the_snapshot_are_provided_as_they_are_now(
    service: BatchProvisionService, engine: Engine
) -> None:
    affair = first_affair(engine)
    data = (HEADER + f"a,{resident_code(1)},,,,\nb,{resident_code(8)},,,,\n").encode()
    first = _rows(service, _run(service, affair, data))
    assert [r["outcome"] for r in first] == ["found", "not_found"]
    store_national(
        engine,
        [
            national_record(
                1,
                "鈴木　一郎",
                address="北海道札幌市1番",
                change_reason=ChangeReason.MOVE_IN,
                change_date=date(2013, 7, 1),
            ),
            national_record(8, "新人"),
        ],
        CLOCK,
    )
    again = _rows(service, _run(service, affair, data + b"\n"))  # another file: a new job
    assert [(r["outcome"], r["address"]) for r in again] == [
        ("found", "北海道札幌市1番"),
        ("found", again[1]["address"]),
    ]


def test_a_large_file_keeps_its_order(service: BatchProvisionService, engine: Engine) -> None:
    affair = first_affair(engine)
    lines = [f"r{i},{resident_code(1 if i % 2 else 9)},,,,\n" for i in range(1, 1201)]
    job = _run(service, affair, (HEADER + "".join(lines)).encode())
    assert (job.total_rows, job.provided_rows) == (1200, 600)
    assert [r["row_id"] for r in _rows(service, job)] == [f"r{i}" for i in range(1, 1201)]
