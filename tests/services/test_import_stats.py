"""Carried-over statistics: a good file is imported; every bad one is refused whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from jukinet.services.national.import_stats import StatsFileRefused, import_stats
from jukinet.store.provision_stats import imported_provision_counts

AT = datetime(2013, 8, 1, tzinfo=UTC)
HEADER = "recipient,affair_id,year_month,method,count\n"
GOOD = (
    HEADER + "日本年金機構,NENKIN-1,2012-08,batch_line,40000000\n"
    "日本年金機構,NENKIN-1,2012-08,immediate,1200\n"
    "総務省,SOUMU-ONKYU-1,2012-09,batch_media,35\n"
)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(imported_provision_counts)
        ).scalar_one()


def test_good_file_is_imported(engine: Engine) -> None:
    result = import_stats(engine, GOOD.encode(), source_file="old.csv", at=AT)
    assert (result.rows, result.total) == (3, 40_001_235)
    with engine.connect() as conn:
        rows = conn.execute(
            select(imported_provision_counts).order_by(imported_provision_counts.c.count)
        ).all()
    assert [(r.affair_id, r.method, r._mapping["count"], r.source_file) for r in rows] == [
        ("SOUMU-ONKYU-1", "batch_media", 35, "old.csv"),
        ("NENKIN-1", "immediate", 1200, "old.csv"),
        ("NENKIN-1", "batch_line", 40_000_000, "old.csv"),
    ]


def test_bom_is_tolerated(engine: Engine) -> None:
    assert (
        import_stats(engine, b"\xef\xbb\xbf" + GOOD.encode(), source_file="b.csv", at=AT).rows == 3
    )


BAD_ROW = "日本年金機構,NENKIN-1,2012-10,batch_line,5\n"


@pytest.mark.parametrize(
    ("row", "field", "rule"),
    [
        ("財務局,ZAIMU-1,2012-08,immediate,1\n", "recipient", "unknown_recipient"),
        ("日本年金機構,NENKIN-99,2012-08,immediate,1\n", "affair_id", "unknown_affair"),
        ("日本年金機構,ZAIMU-1,2012-08,immediate,1\n", "affair_id", "affair_not_for_recipient"),
        ("日本年金機構,NENKIN-1,2012-13,immediate,1\n", "year_month", "month"),
        ("日本年金機構,NENKIN-1,2012/08,immediate,1\n", "year_month", "month"),
        ("日本年金機構,NENKIN-1,2001-08,immediate,1\n", "year_month", "before_network"),
        ("日本年金機構,NENKIN-1,2012-08,online,1\n", "method", "method"),
        ("日本年金機構,NENKIN-1,2012-08,immediate,0\n", "count", "count"),
        ("日本年金機構,NENKIN-1,2012-08,immediate,-3\n", "count", "count"),
        ("日本年金機構,NENKIN-1,2012-08,immediate,1.5\n", "count", "count"),
        ("日本年金機構,NENKIN-1,2012-08,immediate\n", "row", "columns"),
        ("日本年金機構,NENKIN-1,2012-10,batch_line,7\n", "year_month", "duplicate"),
    ],
)
def test_bad_row_refuses_the_file(engine: Engine, row: str, field: str, rule: str) -> None:
    data = (HEADER + BAD_ROW + row).encode()
    with pytest.raises(StatsFileRefused) as caught:
        import_stats(engine, data, source_file="bad.csv", at=AT)
    error = caught.value.errors[0]
    assert (error.line, error.field, error.rule) == (3, field, rule)
    assert "line 3" in caught.value.message
    assert field in str(caught.value)
    assert _count(engine) == 0


def test_every_error_is_reported_with_its_line(engine: Engine) -> None:
    data = (
        HEADER
        + "日本年金機構,NENKIN-1,2012-08,immediate,x\n"
        + BAD_ROW
        + "x,NENKIN-1,2012-08,fax,1\n"
    ).encode()
    with pytest.raises(StatsFileRefused) as caught:
        import_stats(engine, data, source_file="bad.csv", at=AT)
    assert [(e.line, e.field) for e in caught.value.errors] == [
        (2, "count"),
        (4, "recipient"),
        (4, "method"),
    ]
    assert _count(engine) == 0


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        (GOOD.encode("shift_jis"), "encoding", "utf8"),
        (b"", "header", "empty"),
        (b"recipient,affair_id,year_month,count\n", "header", "header"),
        (b"recipient,affair,year_month,method,count\n", "header", "header"),
    ],
)
def test_bad_file_is_refused(engine: Engine, data: bytes, field: str, rule: str) -> None:
    with pytest.raises(StatsFileRefused) as caught:
        import_stats(engine, data, source_file="bad.csv", at=AT)
    error = caught.value.errors[0]
    assert (error.field, error.rule) == (field, rule)
    assert error.line in {1, 2}
    assert _count(engine) == 0


def test_shift_jis_error_names_the_line(engine: Engine) -> None:
    data = HEADER.encode() + "日本年金機構,NENKIN-1,2012-08,immediate,1\n".encode("shift_jis")
    with pytest.raises(StatsFileRefused) as caught:
        import_stats(engine, data, source_file="sjis.csv", at=AT)
    assert (caught.value.errors[0].line, caught.value.errors[0].field) == (2, "encoding")
    assert "UTF-8" in caught.value.message


def test_reimport_is_refused_and_keeps_the_first(engine: Engine) -> None:
    import_stats(engine, GOOD.encode(), source_file="old.csv", at=AT)
    again = (HEADER + BAD_ROW + "総務省,SOUMU-ONKYU-1,2012-09,batch_media,35\n").encode()
    with pytest.raises(StatsFileRefused) as caught:
        import_stats(engine, again, source_file="again.csv", at=AT)
    error = caught.value.errors[0]
    assert (error.line, error.rule) == (3, "already_imported")
    assert "old.csv" in error.message
    assert _count(engine) == 3  # the new row of line 2 was not imported either
