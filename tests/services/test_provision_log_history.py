"""The provision log over time: the per-person history (rows and segments merged, newest first,
only within the 7-year retention), the scheduled purge of months past retention, and the
compaction of a closed month's segments into code-range files with tamper evidence intact
(SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from jukinet.clock import FixedClock
from jukinet.domain.errors import RuleViolation
from jukinet.services.national import provision_segments
from jukinet.services.national.provision_log import (
    SEGMENT_COLUMNS,
    ProvisionLog,
    SegmentAltered,
    record_segment,
    segment_path,
)
from jukinet.store import audit as audit_store
from jukinet.store import provision_log as store
from jukinet.store.db import read_transaction, write_transaction
from tests.services.test_provision_log import (
    AUG,
    PENSION,
    SEP,
    append,
    code,
    problems,
    record,
    tamper,
    write_segment,
)
from tests.support.provision import network_with_national_on

OCT = datetime(2013, 10, 3, 3, 0, tzinfo=UTC)
SEVEN_YEARS_ON = datetime(2020, 9, 10, 3, 0, tzinfo=UTC)  # retention keeps 2013-09 on


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path / "national"


def history(log: ProvisionLog, n: int) -> list[tuple[datetime, str, str | None, str]]:
    return [(e.provided_at, e.method, e.job_id, e.case_reference) for e in log.entries_for(code(n))]


def record_spread(
    engine: Engine,
    files: Path,
    job_id: str,
    codes: list[int],
    *,
    at: datetime = AUG,
    year_month: str = "2013-08",
    row_group_size: int = 7,
) -> Path:
    """A segment in small row groups (several per file, as a batch job writes a big one)."""
    path = segment_path(files, year_month, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE s (provided_at TIMESTAMPTZ, recipient VARCHAR, affair_id VARCHAR, "
        "method VARCHAR, resident_code VARCHAR, request_id VARCHAR, job_id VARCHAR, "
        "case_reference VARCHAR)"
    )
    con.executemany(
        "INSERT INTO s VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
        [
            [at, PENSION, "NENKIN-2", "batch_line", code(n), job_id, f"{job_id}-{i}"]
            for i, n in enumerate(codes)
        ],
    )
    table = con.sql(
        f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM s ORDER BY resident_code"
    ).to_arrow_table()
    con.close()
    pq.write_table(table, path, row_group_size=row_group_size)
    with write_transaction(engine) as conn:
        record_segment(
            conn, files, job_id=job_id, year_month=year_month, path=path, entries=len(codes), at=at
        )
    return path


# --- the per-person history ----------------------------------------------------------------------


def test_history_merges_rows_and_many_row_groups_newest_first(engine: Engine, files: Path) -> None:
    log = ProvisionLog(engine, files, FixedClock(OCT))
    append(engine, 40, at=AUG)  # codes 1..40 as rows
    record_spread(engine, files, "job-a", list(range(1, 100)))  # 15 row groups of 7
    record_spread(engine, files, "job-b", [5, 5, 6, 50, 7], at=SEP, year_month="2013-09")
    with pq.ParquetFile(files / "provision_log/year_month=2013-08/job-job-a.parquet") as f:
        assert f.metadata.num_row_groups == 15
    assert history(log, 5) == [
        (SEP, "batch_line", "job-b", "job-b-1"),
        (SEP, "batch_line", "job-b", "job-b-0"),
        (AUG + timedelta(seconds=5), "immediate", None, "case-5"),
        (AUG, "batch_line", "job-a", "job-a-4"),
    ]
    for n in (1, 7, 8, 14, 15, 99):  # first and last codes of row groups
        assert (AUG, "batch_line", "job-a", f"job-a-{n - 1}") in history(log, n)
    assert log.entries_for(code(100)) == []
    assert log.entries_for(code(0)) == []


def test_history_finds_entries_in_a_file_not_sorted_by_code(engine: Engine, files: Path) -> None:
    log = ProvisionLog(engine, files, FixedClock(OCT))
    path = segment_path(files, "2013-08", "job-u")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    codes = [9, 1, 8, 2, 7, 3, 6, 4, 5, 1]
    con.execute(
        f"COPY (SELECT TIMESTAMPTZ '2013-08-10 03:00:00+00' AS provided_at, '{PENSION}' AS "
        "recipient, 'NENKIN-2' AS affair_id, 'batch_line' AS method, lpad(c::VARCHAR, 11, '0') "
        "AS resident_code, NULL::VARCHAR AS request_id, 'job-u' AS job_id, i::VARCHAR AS "
        f"case_reference FROM (SELECT unnest({codes}) AS c, unnest(range({len(codes)})) AS i)) "
        f"TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 2)"
    )
    con.close()
    with write_transaction(engine) as conn:
        record_segment(
            conn, files, job_id="job-u", year_month="2013-08", path=path, entries=10, at=AUG
        )
    assert sorted(e.case_reference for e in log.entries_for(code(1))) == ["1", "9"]
    assert [e.case_reference for e in log.entries_for(code(5))] == ["8"]


def test_a_rewritten_file_is_read_afresh(engine: Engine, files: Path) -> None:
    """The footer cache checks a file's size and mtime: a job re-run that overwrote its file
    before recording it is read as it is now."""
    log = ProvisionLog(engine, files, FixedClock(OCT))
    write_segment(files, "job-a", [1, 2, 3])
    provision_segments.find_entries([segment_path(files, "2013-08", "job-a")], code(2))
    record(engine, files, "job-a", [2, 4, 6, 8, 10, 12, 14, 16])
    assert [e.job_id for e in log.entries_for(code(16))] == ["job-a"]


def test_history_keeps_to_retention_before_any_purge(engine: Engine, files: Path) -> None:
    clock = FixedClock(OCT)
    log = ProvisionLog(engine, files, clock)
    append(engine, 1, at=AUG)
    append(engine, 1, at=SEP)
    record(engine, files, "job-a", [1])
    record(engine, files, "job-b", [1], at=SEP, year_month="2013-09")
    assert len(log.entries_for(code(1))) == 4
    clock.current = SEVEN_YEARS_ON  # 2013-08 is past retention, not purged yet
    assert [(e.provided_at.month, e.method) for e in log.entries_for(code(1))] == [
        (9, "immediate"),
        (9, "batch_line"),
    ]


# --- purge ----------------------------------------------------------------------------------


def test_upkeep_purges_months_past_retention_once_a_day_and_records_it(
    engine: Engine, files: Path
) -> None:
    clock = FixedClock(OCT)
    log = ProvisionLog(engine, files, clock)
    append(engine, 3, at=AUG)
    append(engine, 2, at=SEP, first=1)
    old = record(engine, files, "job-a", [1, 2])
    kept = record(engine, files, "job-b", [1], at=SEP, year_month="2013-09")
    log.upkeep()  # seals; nothing is past retention
    with read_transaction(engine) as conn:
        assert store.list_purges(conn) == []
    clock.current = SEVEN_YEARS_ON
    log.upkeep()
    with read_transaction(engine) as conn:
        (purge,) = store.list_purges(conn)
        entry = audit_store.get_entry(conn, purge.seq)
        assert store.count_after(conn, 0) == 2  # September's rows
    assert (purge.before_month, purge.rows, purge.segments) == ("2013-09", 3 + 2, 1)
    assert entry is not None and entry.action == store.PURGE_ACTION
    months = entry.detail_data["months"]  # on PostgreSQL also empty partitions other tests left
    assert "2013-08" in months
    assert all(m < "2013-09" for m in months)
    assert not old.exists() and kept.exists()
    assert [e.provided_at.month for e in log.entries_for(code(1))] == [9, 9]
    assert log.entries_for(code(3)) == []
    assert {k[2] for k in log.counts()} == {"2013-09"}
    report = log.verify()
    assert report.ok, report.findings
    assert (report.rows, report.segment_entries) == (2, 1)

    append(engine, 1, at=AUG, first=7)  # a straggler of a purged month (restored data)
    clock.advance(timedelta(hours=3))
    log.upkeep()  # the same day: no second purge
    clock.advance(timedelta(days=1))
    log.upkeep()  # the next day: already purged up to 2013-09
    with read_transaction(engine) as conn:
        assert len(store.list_purges(conn)) == 1
    clock.current = datetime(2020, 10, 5, tzinfo=UTC)  # September is past retention now
    log.upkeep()
    with read_transaction(engine) as conn:
        purges = store.list_purges(conn)
        assert store.count_after(conn, 0) == 0
    assert [p.before_month for p in purges] == ["2013-09", "2013-10"]
    assert not kept.exists()
    assert log.entries_for(code(1)) == []
    assert log.verify().ok


def test_purge_refuses_months_retention_keeps(engine: Engine, files: Path) -> None:
    log = ProvisionLog(engine, files, FixedClock(SEVEN_YEARS_ON))
    with pytest.raises(RuleViolation) as exc:
        log.purge_before("2013-10")
    assert exc.value.rule == "retention"
    if engine.dialect.name == "postgresql":  # month partitions earlier tests left, empty
        with write_transaction(engine) as conn:
            store.drop_months_before(conn, "2013-09")
    assert log.purge_expired() is None  # nothing there: nothing recorded
    with read_transaction(engine) as conn:
        assert store.list_purges(conn) == []


def test_the_national_node_purges_in_its_periodic_upkeep(engine: Engine, tmp_path: Path) -> None:
    clock = FixedClock(OCT)
    network = network_with_national_on(engine, tmp_path, clock)
    try:
        national = network.national
        assert national.files is not None
        append(national.engine, 2, at=AUG)
        national.checkpoint_audit()
        clock.current = SEVEN_YEARS_ON + timedelta(days=1)
        national.checkpoint_audit()
        with read_transaction(national.engine) as conn:
            (purge,) = store.list_purges(conn)
            checkpoint = audit_store.latest_checkpoint(conn)
        assert purge.rows == 2
        assert checkpoint is not None and checkpoint.seq >= purge.seq  # signed soon after
        report = ProvisionLog(national.engine, national.files, clock).verify()
        assert report.ok, report.findings  # (its certificates expired in these seven years)
    finally:
        network.dispose()


# --- compaction --------------------------------------------------------------------------------


def _month_of_jobs(engine: Engine, files: Path) -> None:
    """Three jobs of August with overlapping codes and rows; one job of September."""
    rng = random.Random(6)
    append(engine, 30, at=AUG)
    record_spread(engine, files, "job-a", list(range(1, 301)))
    record_spread(engine, files, "job-b", list(range(2, 601, 2)), at=AUG + timedelta(hours=1))
    record_spread(
        engine, files, "job-c", [rng.randrange(1, 700) for _ in range(250)], row_group_size=50
    )
    record(engine, files, "job-d", [5, 6], at=SEP, year_month="2013-09")


def test_compaction_rewrites_a_month_and_every_history_stays_the_same(
    engine: Engine, files: Path
) -> None:
    clock = FixedClock(OCT)
    log = ProvisionLog(engine, files, clock)
    _month_of_jobs(engine, files)
    before = {n: history(log, n) for n in range(0, 702, 3)}
    counts = log.counts()
    assert log.compactable() == ["2013-08", "2013-09"]
    compaction = log.compact_month("2013-08", file_rows=100)
    assert compaction is not None
    assert [j for j, _, _ in compaction.replaced] == ["job-a", "job-b", "job-c"]
    assert compaction.entries == 300 + 300 + 250
    assert len(compaction.produced) >= 5
    ranges = [(first, last) for _, _, _, first, last in compaction.produced]
    assert all(a <= b for a, b in ranges)
    assert all(b < c for (_, b), (c, _) in itertools.pairwise(ranges))
    assert {n: history(log, n) for n in range(0, 702, 3)} == before
    assert log.counts() == counts
    month = files / "provision_log" / "year_month=2013-08"
    assert sorted(p.name for p in month.iterdir()) == [
        f"job-compact-2013-08-1-{i:04d}.parquet" for i in range(len(compaction.produced))
    ]
    report = log.verify()
    assert report.ok, report.findings
    assert (report.segments, report.segment_entries) == (len(compaction.produced) + 1, 852)
    assert log.compactable() == ["2013-09"]
    assert log.compact_month("2013-08") is None  # nothing left to compact
    with read_transaction(engine) as conn:
        entry = audit_store.get_entry(conn, compaction.seq)
    assert entry is not None and entry.action == store.COMPACTION_ACTION


def test_a_look_up_reads_one_file_per_compacted_month(engine: Engine, files: Path) -> None:
    log = ProvisionLog(engine, files, FixedClock(OCT))
    _month_of_jobs(engine, files)
    log.compact_month("2013-08", file_rows=100)
    with read_transaction(engine) as conn:
        catalogue = log._catalogue(conn)
    assert len(catalogue.paths_for(code(300), "2013-08")) == 2  # August's file, September's job
    assert catalogue.paths_for(code(300), "2013-09") == [
        "provision_log/year_month=2013-09/job-job-d.parquet"
    ]


def test_the_open_month_is_compacted_after_many_jobs_and_again_once_closed(
    engine: Engine, files: Path
) -> None:
    clock = FixedClock(datetime(2013, 8, 31, 12, 0, tzinfo=UTC))
    log = ProvisionLog(engine, files, clock)
    for j in range(7):
        record(engine, files, f"job-{j}", [j + 1, j + 2])
    assert log.compactable() == []  # 7 job files of the open month
    record(engine, files, "job-7", [8, 9])
    assert log.compactable() == ["2013-08"]
    (first,) = log.compact_due()
    assert first.entries == 16
    record(engine, files, "job-late", [2, 9])  # a long job of August, recorded later
    clock.current = datetime(2013, 9, 2, tzinfo=UTC)  # ended, within the grace period
    assert log.compactable() == []
    clock.current = datetime(2013, 9, 3, tzinfo=UTC)
    assert log.compactable() == ["2013-08"]
    (second,) = log.compact_due()
    assert {j for j, _, _ in second.replaced} == {p[0] for p in first.produced} | {"job-late"}
    assert second.produced[0][0] == "compact-2013-08-2-0000"
    assert second.entries == 18
    assert log.compact_due() == []
    assert [e.job_id for e in log.entries_for(code(2))] == ["job-late", "job-1", "job-0"]
    with read_transaction(engine) as conn:
        assert len(log._catalogue(conn).paths_for(code(2), "2013-08")) == 1
    report = log.verify()
    assert report.ok, report.findings
    assert (report.segments, report.segment_entries) == (len(second.produced), 18)


def test_compaction_refuses_an_altered_file(engine: Engine, files: Path) -> None:
    log = ProvisionLog(engine, files, FixedClock(OCT))
    path = record(engine, files, "job-a", [1, 2, 3])
    record(engine, files, "job-b", [4])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SegmentAltered, match="job-a"):
        log.compact_month("2013-08")
    with read_transaction(engine) as conn:
        assert store.list_compactions(conn) == []
    assert path.exists()


def test_tampering_after_compaction_is_found(engine: Engine, files: Path) -> None:
    log = ProvisionLog(engine, files, FixedClock(OCT))
    _month_of_jobs(engine, files)
    compaction = log.compact_month("2013-08", file_rows=100)
    assert compaction is not None
    assert log.verify().ok
    where = f"compaction 2013-08 (audit entry {compaction.seq})"

    produced = files / "provision_log/year_month=2013-08/job-compact-2013-08-1-0001.parquet"
    original = produced.read_bytes()
    data = bytearray(original)
    data[len(data) // 3] ^= 0xFF
    produced.write_bytes(bytes(data))
    assert problems(log.verify()) == [
        (
            "segment provision_log/year_month=2013-08/job-compact-2013-08-1-0001.parquet "
            "(job compact-2013-08-1-0001)",
            "altered",
        )
    ]
    produced.write_bytes(original)
    assert log.verify().ok

    tamper(engine, "UPDATE provision_log_segments SET entries = 299 WHERE job_id = 'job-a'")
    assert (where, "altered") in problems(log.verify())
    tamper(engine, "UPDATE provision_log_segments SET entries = 300 WHERE job_id = 'job-a'")
    tamper(
        engine,
        "UPDATE provision_log_compactions SET produced = "
        "replace(produced, '\"00000000001\"', '\"00000000002\"')",
    )
    assert ("compaction 2013-08", "altered") in problems(log.verify())  # differs from its entry
    with read_transaction(engine) as conn:
        (row,) = store.list_compactions(conn)
    assert row.produced[0][3] == code(2)
    tamper(engine, f"DELETE FROM provision_log_compactions WHERE seq = {compaction.seq}")
    found = problems(log.verify())
    assert (f"audit entry {compaction.seq}", "removed") in found  # its entry has no row
    assert (
        "segment provision_log/year_month=2013-08/job-job-a.parquet (job job-a)",
        "missing",
    ) in (found)


def test_purge_after_compaction_counts_each_entry_once(engine: Engine, files: Path) -> None:
    clock = FixedClock(OCT)
    log = ProvisionLog(engine, files, clock)
    _month_of_jobs(engine, files)
    log.compact_month("2013-08", file_rows=100)
    clock.current = SEVEN_YEARS_ON
    purge = log.purge_expired()
    assert purge is not None
    assert (purge.rows, purge.before_month) == (30 + 850, "2013-09")
    assert not list((files / "provision_log" / "year_month=2013-08").iterdir())
    report = log.verify()
    assert report.ok, report.findings
    assert (report.segments, report.segment_entries) == (1, 2)
    assert log.compactable() == ["2013-09"]
