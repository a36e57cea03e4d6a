"""The gazette notice's rows: live and imported counts summed, zero rows omitted, exact header."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from sqlalchemy import Engine, insert

from jukinet.services.national.gazette import (
    CSV_HEADER,
    JLIS,
    LASDEC,
    gazette_csv,
    gazette_notice,
)
from jukinet.store.db import write_transaction
from jukinet.store.provision_stats import (
    CountRow,
    imported_provision_counts,
    insert_imported,
    live_provision_counts,
)

PERIOD = "2012-08..2013-07"
NOTICE_DAY = date(2013, 8, 30)


def _live(engine: Engine, *rows: tuple[str, str, str, str, int]) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            insert(live_provision_counts),
            [
                {"recipient": r, "affair_id": a, "year_month": m, "method": k, "count": n}
                for r, a, m, k, n in rows
            ],
        )


def _imported(engine: Engine, *rows: tuple[str, str, str, str, int]) -> None:
    with write_transaction(engine) as conn:
        insert_imported(
            conn,
            [CountRow(*row) for row in rows],
            source_file="old.csv",
            at=datetime(2013, 1, 1, tzinfo=UTC),
        )


def test_rows_sum_live_and_imported_and_follow_annex_order(engine: Engine) -> None:
    _live(
        engine,
        ("日本年金機構", "NENKIN-1", "2013-07", "batch_line", 1000),
        ("日本年金機構", "NENKIN-1", "2012-08", "batch_line", 500),
        ("日本年金機構", "NENKIN-1", "2012-08", "immediate", 3),
        ("総務省", "SOUMU-ONKYU-1", "2012-09", "batch_media", 7),
        ("日本年金機構", "NENKIN-1", "2012-07", "batch_line", 999),  # before the period
        ("日本年金機構", "NENKIN-1", "2013-08", "batch_line", 999),  # after it
        ("日本年金機構", "NENKIN-2", "2012-10", "immediate", 0),  # zero: omitted
    )
    _imported(
        engine,
        ("日本年金機構", "NENKIN-1", "2012-08", "batch_line", 20),  # summed with live 500
        ("総務省", "SOUMU-ONKYU-1", "2012-08", "batch_line", 11),  # imported only
    )
    notice = gazette_notice(engine, PERIOD, NOTICE_DAY)
    got = [(r.affair_id, r.year_month, r.method, r.count) for r in notice.rows]
    assert got == [
        ("SOUMU-ONKYU-1", "2012-08", "batch_line", 11),
        ("SOUMU-ONKYU-1", "2012-09", "batch_media", 7),
        ("NENKIN-1", "2012-08", "immediate", 3),
        ("NENKIN-1", "2012-08", "batch_line", 520),
        ("NENKIN-1", "2013-07", "batch_line", 1000),
    ]
    assert notice.total == 11 + 7 + 3 + 520 + 1000
    assert notice.total_by_method() == {"immediate": 3, "batch_line": 1531, "batch_media": 7}
    assert notice.monthly_by_method()["batch_line"][0] == 531
    assert len(notice.months) == 12
    first = notice.rows[0]
    assert first.recipient == "総務省"
    assert first.era_month == "平成24年8月"
    assert first.method_ja == "電気通信回線"
    assert first.affair.startswith("恩給法")
    assert notice.period_ja == "平成24年8月から平成25年7月まで"
    assert notice.issuer == LASDEC
    assert notice.notice_date_ja == "平成25年8月30日"


def test_totals_equal_the_counts_per_source(engine: Engine) -> None:
    _live(engine, ("日本年金機構", "NENKIN-1", "2012-08", "batch_line", 539_365_200))
    _imported(engine, ("日本年金機構", "NENKIN-1", "2012-09", "batch_media", 12))
    notice = gazette_notice(engine, PERIOD, NOTICE_DAY)
    assert notice.total == 539_365_212
    with engine.connect() as conn:
        imported = conn.execute(imported_provision_counts.select()).all()
    assert len(imported) == 1  # the live table is never written by an import


def test_csv_header_exact_and_one_row_per_key(engine: Engine) -> None:
    _live(
        engine,
        ("日本年金機構", "NENKIN-1", "2012-08", "immediate", 3),
        ("日本年金機構", "NENKIN-1", "2012-08", "batch_media", 4),
    )
    text = gazette_csv(gazette_notice(engine, PERIOD, NOTICE_DAY).rows)
    lines = text.splitlines()
    assert lines[0] == "recipient,affair_id,affair,year_month,era_month,method,method_ja,count"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_HEADER
    assert [(r["method"], r["method_ja"], r["era_month"], r["count"]) for r in rows] == [
        ("immediate", "即時提供", "平成24年8月", "3"),
        ("batch_media", "磁気媒体", "平成24年8月", "4"),
    ]


def test_empty_period_has_no_rows(engine: Engine) -> None:
    notice = gazette_notice(engine, PERIOD, date(2026, 8, 1))
    assert notice.rows == ()
    assert notice.total == 0
    assert notice.issuer == JLIS
    assert gazette_csv(notice.rows).splitlines() == [",".join(CSV_HEADER)]
