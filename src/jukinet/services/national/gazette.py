"""The annual gazette notice (公告) of provision: rows, totals and the notice's particulars.

One row per (recipient, affair, month, method) with a non-zero count, live counters
(``provision_counts``) and counts carried over from a previous system
(``imported_provision_counts``) summed per key. Rows follow the order of the affairs in the
annex (別表第一, as listed in the 2013 publication), then month, then method (即時提供,
電気通信回線, 磁気媒体). An affair the 2013 list does not know (added later by law) follows
the known ones, by id, and is printed with its id as its text.

Issuer: the notice is published by the designated processor (指定情報処理機関) in office on
the notice's date — 財団法人地方自治情報センター until 2014-03-31, then 地方公共団体情報
システム機構 (J-LIS, established 2014-04-01, which took over the role). A notice for the
2012-08..2013-07 year dated in 2013 is therefore issued by the former, as it was published.
Legal basis: 住民基本台帳法第30条の11第6項, the article in force for the notices of that time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from jukinet.domain.affairs import affairs_2013
from jukinet.domain.eras import format_era_date, format_era_month, parse_period
from jukinet.store.db import read_transaction
from jukinet.store.provision_stats import summed_counts

CSV_HEADER = (
    "recipient",
    "affair_id",
    "affair",
    "year_month",
    "era_month",
    "method",
    "method_ja",
    "count",
)
METHODS = ("immediate", "batch_line", "batch_media")
METHOD_JA = {"immediate": "即時提供", "batch_line": "電気通信回線", "batch_media": "磁気媒体"}
LEGAL_BASIS = "住民基本台帳法第30条の11第6項"
LASDEC = "財団法人地方自治情報センター"
JLIS = "地方公共団体情報システム機構"
JLIS_FROM = date(2014, 4, 1)
METHODS_NOTE = (
    "提供方法欄の「即時提供」は本人確認情報の即時提供を、「電気通信回線」は電気通信回線を"
    "通じた一括提供を、「磁気媒体」は磁気媒体による一括提供をいう。"
)


def issuer_on(day: date) -> str:
    """The designated processor that publishes a notice dated ``day``."""
    return JLIS if day >= JLIS_FROM else LASDEC


@dataclass(frozen=True, slots=True)
class GazetteRow:
    recipient: str
    affair_id: str
    affair: str
    year_month: str
    era_month: str
    method: str
    method_ja: str
    count: int

    def as_csv(self) -> tuple[str, ...]:
        return (
            self.recipient,
            self.affair_id,
            self.affair,
            self.year_month,
            self.era_month,
            self.method,
            self.method_ja,
            str(self.count),
        )


@dataclass(frozen=True, slots=True)
class GazetteNotice:
    """Everything the published notice shows."""

    months: tuple[str, ...]  # 'YYYY-MM', in order
    rows: tuple[GazetteRow, ...]
    notice_date: date
    issuer: str
    legal_basis: str = LEGAL_BASIS
    methods_note: str = METHODS_NOTE

    @property
    def total(self) -> int:
        return sum(r.count for r in self.rows)

    @property
    def period_ja(self) -> str:
        first, last = self.months[0], self.months[-1]
        return f"{_era_month(first)}から{_era_month(last)}まで"

    @property
    def notice_date_ja(self) -> str:
        return format_era_date(self.notice_date, "date")

    def total_by_method(self) -> dict[str, int]:
        totals = dict.fromkeys(METHODS, 0)
        for r in self.rows:
            totals[r.method] = totals.get(r.method, 0) + r.count
        return totals

    def monthly_by_method(self) -> dict[str, list[int]]:
        """For each method, its count in each month of the period (zeros included)."""
        index = {m: i for i, m in enumerate(self.months)}
        series = {method: [0] * len(self.months) for method in METHODS}
        for r in self.rows:
            series.setdefault(r.method, [0] * len(self.months))[index[r.year_month]] += r.count
        return series


def _era_month(year_month: str) -> str:
    return format_era_month(int(year_month[:4]), int(year_month[5:7]), "year_month")


def period_months(period: str) -> tuple[str, ...]:
    return tuple(f"{y:04d}-{m:02d}" for y, m in parse_period(period))


def gazette_notice(engine: Engine, period: str, notice_date: date) -> GazetteNotice:
    """The notice for ``period`` ('2012-08..2013-07'), dated ``notice_date``."""
    months = period_months(period)
    with read_transaction(engine) as conn:
        counts = summed_counts(conn, months)
    annex = affairs_2013()
    order = {a.affair_id: i for i, a in enumerate(annex)}
    texts = {a.affair_id: a.affair for a in annex}
    method_order = {m: i for i, m in enumerate(METHODS)}
    counts.sort(
        key=lambda c: (
            order.get(c.affair_id, len(order)),
            c.affair_id,
            c.recipient,
            c.year_month,
            method_order.get(c.method, len(METHODS)),
            c.method,
        )
    )
    rows = tuple(
        GazetteRow(
            recipient=c.recipient,
            affair_id=c.affair_id,
            affair=texts.get(c.affair_id, c.affair_id),
            year_month=c.year_month,
            era_month=_era_month(c.year_month),
            method=c.method,
            method_ja=METHOD_JA.get(c.method, c.method),
            count=c.count,
        )
        for c in counts
    )
    return GazetteNotice(months, rows, notice_date, issuer_on(notice_date))


def gazette_csv(rows: Sequence[GazetteRow]) -> str:
    """The notice's table as CSV, header first (one line per row, LF)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(r.as_csv() for r in rows)
    return out.getvalue()
