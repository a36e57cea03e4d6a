"""Japanese eras (和暦) 明治–令和, fiscal years and gazette years.

Certificates, notices and the disclosure documents print dates in the era calendar, so the
conversion lives here once.

Era starts (the first day written in the new era):

* 明治 1868-01-25. Meiji was proclaimed on 慶応4年9月8日 (1868-10-23) and made retroactive to
  the first day of 慶応4年, i.e. lunisolar 1868-01-01 = Gregorian 1868-01-25. ``japanera``
  uses 1868-01-23; this project follows STACK.md (1868-01-25).
* 大正 1912-07-30, 昭和 1926-12-25, 平成 1989-01-08, 令和 2019-05-01. On 1912-07-30 and
  1926-12-25 both the old and the new era were in use; the new era wins, as in the official
  gazette and in ``japanera``.

1868-01-25..1872-12-31: Japan still used the lunisolar calendar (the Gregorian calendar began
on 明治6年1月1日 = 1873-01-01). The project stores Gregorian dates throughout and converts them
*proleptically*: era year = Gregorian year − 1867, Gregorian month and day. So 1872-12-31 is
written 明治5年12月31日 although that lunisolar date never existed. Nobody with such a birth
date is alive, and the rule keeps formatting and parsing exact inverses.

The first year of an era is written 元年; parsing accepts 元 and 1, full-width digits and the
era ligatures (㍾㍽㍼㍻㋿) through NFKC.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from jukinet.domain.errors import RuleViolation


@dataclass(frozen=True, slots=True)
class Era:
    """One era: its name and the first Gregorian day written in it."""

    name: str
    start: date


ERAS: tuple[Era, ...] = (
    Era("明治", date(1868, 1, 25)),
    Era("大正", date(1912, 7, 30)),
    Era("昭和", date(1926, 12, 25)),
    Era("平成", date(1989, 1, 8)),
    Era("令和", date(2019, 5, 1)),
)
MEIJI_START = ERAS[0].start
_BY_NAME = {era.name: i for i, era in enumerate(ERAS)}

_DATE_RE = re.compile(r"(明治|大正|昭和|平成|令和)(元|[0-9]{1,3})年([0-9]{1,2})月([0-9]{1,2})日")
_PERIOD_RE = re.compile(r"([0-9]{4})-([0-9]{2})(?:\.\.([0-9]{4})-([0-9]{2}))?")


def era_of(d: date, field: str = "date") -> tuple[Era, int]:
    """The era in force on ``d`` and the year within it (1 for 元年)."""
    if d < MEIJI_START:
        raise RuleViolation(
            field, "before_meiji", f"{d.isoformat()} is before 明治 ({MEIJI_START.isoformat()})"
        )
    era = ERAS[0]
    for candidate in ERAS:
        if candidate.start <= d:
            era = candidate
    return era, d.year - era.start.year + 1


def _year_text(year: int) -> str:
    return "元" if year == 1 else str(year)


def format_era_date(d: date, field: str = "date") -> str:
    """``2013-08-30`` -> ``平成25年8月30日``; the first year is written 元年."""
    era, year = era_of(d, field)
    return f"{era.name}{_year_text(year)}年{d.month}月{d.day}日"


def parse_era_date(text: str, field: str = "date") -> date:
    """Inverse of :func:`format_era_date`; accepts 元 or 1, full-width digits, spaces around.

    Rejects an impossible day (``invalid_date``) and a date the named era does not cover
    (``outside_era``: 平成31年5月1日 is 令和元年5月1日).
    """
    normalized = "".join(unicodedata.normalize("NFKC", text).split())
    match = _DATE_RE.fullmatch(normalized)
    if match is None:
        raise RuleViolation(field, "format", f"not an era date like 平成25年8月30日: {text!r}")
    name, year_text, month_text, day_text = match.groups()
    year = 1 if year_text == "元" else int(year_text)
    if year < 1:
        raise RuleViolation(field, "era_year", f"era year must be 元 or at least 1: {text!r}")
    index = _BY_NAME[name]
    era = ERAS[index]
    try:
        result = date(era.start.year + year - 1, int(month_text), int(day_text))
    except ValueError as exc:
        raise RuleViolation(field, "invalid_date", f"no such date: {text!r}") from exc
    following = ERAS[index + 1].start if index + 1 < len(ERAS) else None
    if result < era.start or (following is not None and result >= following):
        raise RuleViolation(
            field,
            "outside_era",
            f"{text!r} ({result.isoformat()}) is outside {name}",
        )
    return result


def format_era_month(year: int, month: int, field: str = "month") -> str:
    """``(2012, 8)`` -> ``平成24年8月``, in the era in force on the month's first day.

    The gazette notice names months. 1989-01 is therefore 昭和64年1月 (its first week was
    Shōwa); the 2019 change fell on a month boundary, so 2019-04 is 平成31年4月 and 2019-05 is
    令和元年5月.
    """
    if not 1 <= month <= 12:
        raise RuleViolation(field, "month", f"month must be 1-12, got {month}")
    era, era_year = era_of(date(year, month, 1), field)
    return f"{era.name}{_year_text(era_year)}年{month}月"


def fiscal_year(d: date) -> int:
    """The fiscal year (April–March) containing ``d``, named by its starting year."""
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_range(fy: int) -> tuple[date, date]:
    """First and last day of fiscal year ``fy``: ``(fy-04-01, fy+1-03-31)``."""
    return date(fy, 4, 1), date(fy + 1, 3, 31)


def fiscal_year_label(fy: int, field: str = "fiscal_year") -> str:
    """``2013`` -> ``平成25年度``.

    A fiscal year is named in the era in force at the end of its starting calendar year: FY2019
    (started under 平成, 令和 from May) is 令和元年度 as the government wrote it after the
    change, while FY1988 (平成 began in January 1989) stays 昭和63年度.
    """
    era, year = era_of(date(fy, 12, 31), field)
    return f"{era.name}{_year_text(year)}年度"


def era_year_label(d: date, field: str = "date") -> str:
    """The fiscal-year label of the fiscal year containing ``d`` (``平成25年度``)."""
    return fiscal_year_label(fiscal_year(d), field)


def gazette_year(d: date) -> int:
    """The gazette year (August–July) containing ``d``, named by the year it starts in."""
    return d.year if d.month >= 8 else d.year - 1


def gazette_period(year: int) -> tuple[date, date]:
    """First days of the first and last month of gazette year ``year``: Aug ``year``, Jul next."""
    return date(year, 8, 1), date(year + 1, 7, 1)


def gazette_months(year: int) -> list[tuple[int, int]]:
    """The twelve ``(year, month)`` pairs of gazette year ``year``, in order."""
    return [(year + (m - 1) // 12, (m - 1) % 12 + 1) for m in range(8, 20)]


def parse_period(text: str, field: str = "period") -> list[tuple[int, int]]:
    """``'2012-08..2013-07'`` (or a single ``'2012-08'``) -> the months it covers, in order."""
    match = _PERIOD_RE.fullmatch(text.strip())
    if match is None:
        raise RuleViolation(field, "format", f"expected YYYY-MM..YYYY-MM, got {text!r}")
    start_year, start_month = int(match[1]), int(match[2])
    if match[3] is None:
        end_year, end_month = start_year, start_month
    else:
        end_year, end_month = int(match[3]), int(match[4])
    for month in (start_month, end_month):
        if not 1 <= month <= 12:
            raise RuleViolation(field, "month", f"month must be 01-12 in {text!r}")
    first = start_year * 12 + start_month - 1
    last = end_year * 12 + end_month - 1
    if last < first:
        raise RuleViolation(field, "order", f"period ends before it starts: {text!r}")
    return [(i // 12, i % 12 + 1) for i in range(first, last + 1)]
