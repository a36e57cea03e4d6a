"""The provision log: seals over its rows, Parquet segments of batch jobs, per-person reading,
counts, and tampering by direct SQL or on disk found and named (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import Engine, text

from jukinet.clock import FixedClock
from jukinet.domain.audit import canonical_detail, canonical_entry, chain_digest
from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision import ProvisionQuery
from jukinet.net.messages import NATIONAL_NODE, Role
from jukinet.net.pki import NetworkPKI
from jukinet.services.audit import AuditLog
from jukinet.services.national.provision import ProvisionService
from jukinet.services.national.provision_log import (
    SEGMENT_COLUMNS,
    LogReport,
    ProvisionLog,
    record_segment,
    segment_path,
)
from jukinet.store import audit as audit_store
from jukinet.store import provision as provision_store
from jukinet.store import provision_log as store
from jukinet.store.db import read_transaction, write_transaction
from tests.support.provision import (
    first_affair,
    national_record,
    network_with_national_on,
    resident_code,
    store_national,
)

AUG = datetime(2013, 8, 10, 3, 0, tzinfo=UTC)  # 2013-08-10 12:00 in Japan
SEP = datetime(2013, 9, 2, 3, 0, tzinfo=UTC)
PENSION = "日本年金機構"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(SEP + timedelta(days=1))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path / "national"


@pytest.fixture
def log(engine: Engine, files: Path, clock: FixedClock) -> ProvisionLog:
    return ProvisionLog(engine, files, clock)


def code(n: int) -> str:
    return f"{n:011d}"


def append(engine: Engine, count: int, at: datetime = AUG, first: int = 1, **kw: object) -> None:
    with write_transaction(engine) as conn:
        for n in range(first, first + count):
            store.append_log(
                conn,
                provided_at=at + timedelta(seconds=n),
                recipient=PENSION,
                affair_id="NENKIN-1",
                method="immediate",
                resident_code=code(n),
                case_reference=f"case-{n}",
                request_id=f"req-{n}",
                **kw,  # type: ignore[arg-type]
            )


def insert_with_id(engine: Engine, log_id: int, at: datetime = AUG) -> None:
    """A row with a chosen id (as a sequence leaves gaps, or as an attacker inserts)."""
    with engine.begin() as conn:
        store.ensure_months(conn, [store.month_of(at)])
        conn.execute(
            store.provision_log.insert().values(
                id=log_id,
                provided_at=at,
                recipient=PENSION,
                affair_id="NENKIN-1",
                method="immediate",
                resident_code=code(log_id),
                case_reference=f"case-{log_id}",
            )
        )


def tamper(engine: Engine, sql: str) -> None:
    """Direct SQL as a privileged attacker (on PostgreSQL past the append-only trigger)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in sql.split(";"):
            conn.execute(text(statement))


def problems(report: LogReport) -> list[tuple[str, str]]:
    return [(f.where, f.problem) for f in report.findings]


def write_segment(
    files: Path, job_id: str, codes: list[int], *, at: datetime = AUG, year_month: str = "2013-08"
) -> Path:
    """A segment as the batch job writes it: DuckDB COPY, the columns in order, by code."""
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
        [[at, PENSION, "NENKIN-2", "batch_line", code(n), job_id, f"row-{n}"] for n in codes],
    )
    columns = ", ".join(SEGMENT_COLUMNS)
    con.execute(
        f"COPY (SELECT {columns} FROM s ORDER BY resident_code) TO '{path}' (FORMAT parquet)"
    )
    con.close()
    return path


def record(engine: Engine, files: Path, job_id: str, codes: list[int], **kw: object) -> Path:
    path = write_segment(files, job_id, codes, **kw)  # type: ignore[arg-type]
    with write_transaction(engine) as conn:
        record_segment(
            conn,
            files,
            job_id=job_id,
            year_month=str(kw.get("year_month", "2013-08")),
            path=path,
            entries=len(codes),
            at=AUG,
        )
    return path


# --- seals -----------------------------------------------------------------------------------


def test_seals_tile_the_ids_and_an_untouched_log_verifies(
    engine: Engine, log: ProvisionLog
) -> None:
    append(engine, 5)
    first = log.seal(max_rows=2)
    assert [(s.first_id, s.last_id, s.rows) for s in first] == [(1, 2, 2), (3, 4, 2), (5, 5, 1)]
    append(engine, 3, first=6)
    report = log.verify()
    assert report.ok, report.findings
    assert (report.rows, report.seals, report.unsealed) == (5, 3, 3)
    assert [(s.first_id, s.last_id) for s in log.seal()] == [(6, 8)]
    assert log.seal() == []  # nothing new
    report = log.verify()
    assert report.ok and (report.rows, report.seals, report.unsealed) == (8, 4, 0)
    with read_transaction(engine) as conn:
        seals = store.list_seals(conn)
        entry = audit_store.get_entry(conn, seals[-1].seq)
    assert entry is not None and entry.action == store.SEAL_ACTION
    assert entry.detail_data["sha256"] == seals[-1].sha256
    assert entry.detail_data["prev"] == seals[-2].seq  # seals are chained to each other


def test_an_altered_row_is_named_by_its_seal(engine: Engine, log: ProvisionLog) -> None:
    append(engine, 6)
    log.seal(max_rows=3)
    tamper(engine, "UPDATE provision_log SET recipient = '国税庁' WHERE id = 5")
    report = log.verify()
    assert problems(report) == [("ids 4-6", "altered")]
    assert report.first is not None and "2013-08" in report.first.message


def test_a_deleted_row_is_named_by_its_seal(engine: Engine, log: ProvisionLog) -> None:
    append(engine, 6)
    log.seal(max_rows=3)
    tamper(engine, "DELETE FROM provision_log WHERE id = 2")
    report = log.verify()
    assert problems(report) == [("ids 1-3", "removed")]
    assert report.first is not None and "1 rows removed" in report.first.message


def test_a_row_inserted_inside_a_sealed_range_is_found(engine: Engine, log: ProvisionLog) -> None:
    for log_id in (1, 2, 5):  # a sequence leaves gaps (rolled-back appends)
        insert_with_id(engine, log_id)
    assert [(s.first_id, s.last_id, s.rows) for s in log.seal()] == [(1, 5, 3)]
    assert log.verify().ok
    insert_with_id(engine, 3)
    report = log.verify()
    assert problems(report) == [("ids 1-5", "inserted")]


def test_an_altered_or_removed_seal_is_found(engine: Engine, log: ProvisionLog) -> None:
    append(engine, 6)
    log.seal(max_rows=2)
    with read_transaction(engine) as conn:
        seals = store.list_seals(conn)
    tamper(engine, f"UPDATE provision_log_seals SET rows = 3 WHERE seq = {seals[0].seq}")
    assert ("seal of ids 1-2", "altered") in problems(log.verify())
    tamper(engine, f"UPDATE provision_log_seals SET rows = 2 WHERE seq = {seals[0].seq}")
    assert log.verify().ok
    tamper(engine, f"DELETE FROM provision_log_seals WHERE seq = {seals[1].seq}")
    found = problems(log.verify())
    assert ("ids 3-4", "removed") in found  # a gap in the tiling
    assert (f"audit entry {seals[1].seq}", "removed") in found  # its entry has no row
    tamper(engine, f"DELETE FROM provision_log_seals WHERE seq = {seals[2].seq}")
    # the last seal gone: its rows look unsealed, but its audit entry is still there
    assert (f"audit entry {seals[2].seq}", "removed") in problems(log.verify())


def test_an_audit_entry_of_a_seal_rewritten_is_found(engine: Engine, log: ProvisionLog) -> None:
    append(engine, 2)
    (seal,) = log.seal()
    tamper(
        engine,
        "UPDATE audit_log SET detail = replace(detail, '\"rows\"\\:2', '\"rows\"\\:1') "
        f"WHERE seq = {seal.seq}",
    )
    assert (f"audit entry {seal.seq}", "altered") in problems(log.verify())


def test_rows_seal_and_entry_rewritten_together_are_caught_by_the_checkpoint(
    engine: Engine, log: ProvisionLog, tmp_path: Path, clock: FixedClock
) -> None:
    """An attacker who rewrites a row, its seal and the whole audit chain after it defeats
    the digests; the node's signed checkpoint does not move with them."""
    pki = NetworkPKI.init(tmp_path / "pki", AUG - timedelta(days=1))
    creds = pki.issue_node(NATIONAL_NODE, Role.NATIONAL.value, now=AUG)
    append(engine, 2)
    log.seal()
    with write_transaction(engine) as conn:
        AuditLog(clock).checkpoint(conn, creds)
    assert log.verify(pki.trust_store()).ok
    tamper(engine, "UPDATE provision_log SET case_reference = 'forged' WHERE id = 1")
    with read_transaction(engine) as conn:
        rows = list(store.iter_rows(conn, 0, 2))
        (seal,) = store.list_seals(conn)
        entry = audit_store.get_entry(conn, seal.seq)
    assert entry is not None
    digest = store.RangeDigest()
    for row in rows:
        digest.add(row)
    forged = store.Seal(seal.seq, 1, 2, 2, digest.sha256, digest.months, seal.sealed_at)
    detail = canonical_detail({**forged.detail(), "prev": 0})
    new_digest = chain_digest(
        entry.prev_digest,
        canonical_entry(
            entry.seq,
            entry.at,
            actor=entry.actor,
            action=entry.action,
            obj=entry.object,
            outcome=entry.outcome,
            detail=detail,
        ),
    )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text("UPDATE provision_log_seals SET sha256 = :s, months = :m WHERE seq = :q"),
            {"s": digest.sha256, "m": store.months_json(digest.months), "q": seal.seq},
        )
        conn.execute(
            text("UPDATE audit_log SET detail = :d, digest = :g WHERE seq = :q"),
            {"d": detail, "g": new_digest, "q": seal.seq},
        )
        conn.execute(text("UPDATE audit_head SET digest = :g"), {"g": new_digest})
    assert log.verify().ok  # the digests alone are fooled: the seal is the last entry
    report = log.verify(pki.trust_store())
    assert report.audit_checked
    assert any(f.where == f"audit entry {seal.seq}" for f in report.findings)


def test_seal_waits_for_an_append_in_flight(
    postgres_engine: Engine, files: Path, clock: FixedClock
) -> None:
    """PostgreSQL draws ids before commit: id 1 may commit after id 2. The seal must not
    cover 2 and leave 1 behind it for ever."""
    log = ProvisionLog(postgres_engine, files, clock)
    append(postgres_engine, 1, first=99)  # creates the month's partition
    in_flight = postgres_engine.connect()
    tx = in_flight.begin()
    store.append_log(
        in_flight,
        provided_at=AUG,
        recipient=PENSION,
        affair_id="NENKIN-1",
        method="immediate",
        resident_code=code(1),
        case_reference="slow",
    )
    append(postgres_engine, 1, first=2)  # committed, with a higher id
    sealed: list[store.Seal] = []
    sealer = threading.Thread(target=lambda: sealed.extend(log.seal()))
    sealer.start()
    time.sleep(0.5)
    assert sealer.is_alive()  # waiting for the append in flight
    tx.commit()
    in_flight.close()
    sealer.join(timeout=10)
    assert [(s.first_id, s.last_id, s.rows) for s in sealed] == [(1, 3, 3)]
    assert log.verify().ok


def test_seal_if_due(engine: Engine, log: ProvisionLog, clock: FixedClock) -> None:
    assert log.seal_if_due() == []
    append(engine, 2)
    assert len(log.seal_if_due()) == 1  # the first seal is always due
    append(engine, 2, first=3)
    assert log.seal_if_due(every=timedelta(hours=1), every_rows=10) == []
    clock.advance(timedelta(hours=2))
    assert len(log.seal_if_due(every=timedelta(hours=1), every_rows=10)) == 1


# --- segments ----------------------------------------------------------------------------------


def test_segments_verify_and_tampering_on_disk_is_found(
    engine: Engine, log: ProvisionLog, files: Path
) -> None:
    first = record(engine, files, "job-a", [3, 1, 2])
    second = record(engine, files, "job-b", [4, 5])
    orphan = write_segment(files, "job-c", [6])  # written, its job rolled back
    report = log.verify()
    assert report.ok, report.findings
    assert (report.segments, report.segment_entries, report.entries) == (2, 5, 5)
    assert report.orphans == [orphan.relative_to(files).as_posix()]
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0xFF
    first.write_bytes(bytes(data))
    second.unlink()
    found = problems(log.verify())
    assert found == [
        ("segment provision_log/year_month=2013-08/job-job-a.parquet (job job-a)", "altered"),
        ("segment provision_log/year_month=2013-08/job-job-b.parquet (job job-b)", "missing"),
    ]


def test_a_segment_is_recorded_with_its_digest_and_audit_entry(engine: Engine, files: Path) -> None:
    path = record(engine, files, "job-a", [1, 2])
    with read_transaction(engine) as conn:
        (segment,) = store.list_segments(conn)
        entry = audit_store.get_entry(conn, segment.seq)
    assert segment.path == "provision_log/year_month=2013-08/job-job-a.parquet"
    assert segment.entries == 2
    assert entry is not None and entry.action == store.SEGMENT_ACTION
    assert entry.detail_data["sha256"] == segment.sha256
    assert segment.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_record_segment_refuses_a_file_that_is_not_a_segment(engine: Engine, files: Path) -> None:
    path = write_segment(files, "job-a", [1, 2])
    with write_transaction(engine) as conn:
        with pytest.raises(ValueError, match="not 3"):
            record_segment(
                conn, files, job_id="job-a", year_month="2013-08", path=path, entries=3, at=AUG
            )
        with pytest.raises(ValueError, match="must be at"):
            record_segment(
                conn, files, job_id="job-z", year_month="2013-08", path=path, entries=2, at=AUG
            )
    other = segment_path(files, "2013-08", "job-b")
    duckdb.connect().execute(f"COPY (SELECT 1 AS resident_code) TO '{other}' (FORMAT parquet)")
    with write_transaction(engine) as conn, pytest.raises(ValueError, match="columns"):
        record_segment(
            conn, files, job_id="job-b", year_month="2013-08", path=other, entries=1, at=AUG
        )
    with read_transaction(engine) as conn:
        assert store.list_segments(conn) == []


def test_entries_for_merges_rows_and_segments_newest_first(
    engine: Engine, log: ProvisionLog, files: Path
) -> None:
    append(engine, 2, at=AUG)  # codes 1, 2
    append(engine, 1, at=SEP, first=1)  # code 1 again, in September
    record(engine, files, "job-a", [1, 5], at=AUG + timedelta(days=1))
    record(engine, files, "job-b", [2], at=SEP, year_month="2013-09")
    entries = log.entries_for(code(1))
    assert [(e.provided_at, e.method, e.job_id) for e in entries] == [
        (SEP + timedelta(seconds=1), "immediate", None),
        (AUG + timedelta(days=1), "batch_line", "job-a"),
        (AUG + timedelta(seconds=1), "immediate", None),
    ]
    assert entries[1].log_id is None and entries[1].case_reference == "row-1"
    assert entries[2].log_id is not None and entries[2].request_id == "req-1"
    assert log.entries_for(code(9)) == []


def test_counts_cover_rows_and_segments(engine: Engine, log: ProvisionLog, files: Path) -> None:
    append(engine, 3, at=AUG)
    append(engine, 1, at=datetime(2013, 8, 31, 16, 0, tzinfo=UTC))  # 9月1日 01:00 in Japan
    record(engine, files, "job-a", [1, 2, 3, 4])
    record(engine, files, "job-b", [5], at=SEP, year_month="2013-09")
    assert log.counts() == {
        (PENSION, "NENKIN-1", "2013-08", "immediate"): 3,
        (PENSION, "NENKIN-1", "2013-09", "immediate"): 1,
        (PENSION, "NENKIN-2", "2013-08", "batch_line"): 4,
        (PENSION, "NENKIN-2", "2013-09", "batch_line"): 1,
    }


# --- purge -------------------------------------------------------------------------------------


def test_purge_drops_old_months_records_it_and_the_rest_still_verifies(
    engine: Engine, files: Path
) -> None:
    clock = FixedClock(datetime(2020, 10, 1, tzinfo=UTC))
    log = ProvisionLog(engine, files, clock)
    append(engine, 3, at=AUG)
    append(engine, 2, at=SEP, first=4)
    log.seal()  # one seal across both months
    old = record(engine, files, "job-a", [1])
    kept = record(engine, files, "job-b", [2], at=SEP, year_month="2013-09")
    with pytest.raises(RuleViolation) as exc:
        log.purge_before("2013-11")  # retention keeps 7 years: from 2013-10
    assert exc.value.rule == "retention"
    purge = log.purge_before("2013-09")
    assert purge is not None
    assert (purge.rows, purge.segments) == (3 + 1, 1)
    assert log.purge_before("2013-09") is None  # done already
    with read_transaction(engine) as conn:
        assert store.count_after(conn, 0) == 2
        assert "2013-08" not in store.log_partitions(conn)
        entry = audit_store.get_entry(conn, purge.seq)
    assert entry is not None and entry.action == store.PURGE_ACTION
    assert entry.detail_data["before_month"] == "2013-09"
    assert not old.exists() and kept.exists()
    report = log.verify()
    assert report.ok, report.findings
    assert (report.rows, report.segments) == (2, 1)
    assert [e.method for e in log.entries_for(code(1))] == []
    tamper(engine, "DELETE FROM provision_log WHERE id = 5")
    assert problems(log.verify()) == [("ids 1-5", "removed")]


# --- the national node ----------------------------------------------------------------------------


def test_the_national_node_seals_with_its_periodic_checkpoint(
    engine: Engine, tmp_path: Path, clock: FixedClock
) -> None:
    network = network_with_national_on(engine, tmp_path, clock)
    try:
        national = network.national
        assert national.files is not None
        if engine.dialect.name == "postgresql":
            with read_transaction(engine) as conn:  # made ahead when the node was built
                assert {"2013-09", "2013-12"} <= set(store.log_partitions(conn))
        append(national.engine, 3)
        national.checkpoint_audit()
        with read_transaction(national.engine) as conn:
            (seal,) = store.list_seals(conn)
            checkpoint = audit_store.latest_checkpoint(conn)
        assert (seal.first_id, seal.last_id) == (1, 3)
        assert checkpoint is not None and checkpoint.seq >= seal.seq  # the seal is signed
        report = ProvisionLog(national.engine, national.files, clock).verify(national.trust)
        assert report.ok, report.findings
    finally:
        network.dispose()


def test_the_gazette_counters_equal_the_log(engine: Engine, log: ProvisionLog) -> None:
    """Immediate provision counts what it logs: the counters and the log agree month by month
    (2013-07-31 23:30 in Japan is July, 00:30 the next day August)."""
    service = ProvisionService(engine, FixedClock(datetime(2013, 7, 31, 14, 30, tzinfo=UTC)))
    service.seed()
    store_national(engine, [national_record(1, "鈴木　一郎")], service.clock)
    affair = first_affair(engine, PENSION)
    query = ProvisionQuery(
        affair_id=affair, case_reference="CASE-1", resident_code=resident_code(1)
    )
    for _ in range(2):
        service.immediate(PENSION, query)
    service.clock = FixedClock(datetime(2013, 7, 31, 15, 30, tzinfo=UTC))
    service.immediate(PENSION, query)
    with read_transaction(engine) as conn:
        counters = {(r, a, m, k): n for r, a, m, k, n in provision_store.counts(conn)}
    assert counters == {
        (PENSION, affair, "2013-07", "immediate"): 2,
        (PENSION, affair, "2013-08", "immediate"): 1,
    }
    assert log.counts() == counters
