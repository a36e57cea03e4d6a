"""Era dates, fiscal and gazette years.

Checked against ``japanera`` over 1868-01-25..2100-12-31. Before 1873 Japan used the lunisolar
calendar; both this module and japanera convert Gregorian dates proleptically there (era year =
Gregorian year − 1867), so they agree. They disagree only on 1868-01-23/24, which japanera puts
in 明治 and this project (明治 from 1868-01-25, see eras.py) rejects.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from japanera import EraDate

from jukinet.domain.eras import (
    ERAS,
    MEIJI_START,
    era_of,
    era_year_label,
    fiscal_year,
    fiscal_year_label,
    fiscal_year_range,
    format_era_date,
    format_era_month,
    gazette_months,
    gazette_period,
    gazette_year,
    parse_era_date,
    parse_period,
)
from jukinet.domain.errors import RuleViolation

LAST = date(2100, 12, 31)
dates = st.dates(min_value=MEIJI_START, max_value=LAST)
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def japanera_format(d: date) -> str:
    era_date = EraDate.from_date(d)
    year = era_date.strftime("%-Y")
    return f"{era_date.era.kanji}{'元' if year == '1' else year}年{d.month}月{d.day}日"


@given(dates)
def test_format_matches_japanera(d: date) -> None:
    assert format_era_date(d) == japanera_format(d)


def test_format_matches_japanera_on_every_day_around_each_era_change() -> None:
    for era in ERAS:
        for offset in range(-3, 400):
            d = era.start + timedelta(days=offset)
            if d >= MEIJI_START:
                assert format_era_date(d) == japanera_format(d), d


def test_format_matches_japanera_on_every_day_1873_to_2100() -> None:
    d = date(1873, 1, 1)
    while d <= LAST:
        assert format_era_date(d) == japanera_format(d), d
        d += timedelta(days=1)


def test_japanera_differs_only_before_our_meiji_start() -> None:
    for d in (date(1868, 1, 23), date(1868, 1, 24)):
        assert EraDate.from_date(d).era.kanji == "明治"
        with pytest.raises(RuleViolation) as err:
            format_era_date(d)
        assert (err.value.field, err.value.rule) == ("date", "before_meiji")


@given(dates)
def test_parse_inverts_format(d: date) -> None:
    assert parse_era_date(format_era_date(d)) == d


@given(dates)
def test_parse_accepts_1_for_gannen_and_full_width_digits(d: date) -> None:
    text = format_era_date(d).replace("元", "1")
    assert parse_era_date(text) == d
    assert parse_era_date(text.translate(FULL_WIDTH)) == d
    assert parse_era_date(f" {text} ") == d


@pytest.mark.parametrize(
    ("d", "text"),
    [
        (date(2013, 8, 30), "平成25年8月30日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1868, 1, 25), "明治元年1月25日"),
        (date(1872, 12, 31), "明治5年12月31日"),
        (date(1873, 1, 1), "明治6年1月1日"),
    ],
)
def test_known_dates(d: date, text: str) -> None:
    assert format_era_date(d) == text
    assert parse_era_date(text) == d


def test_parse_examples() -> None:
    assert parse_era_date("令和1年5月1日") == date(2019, 5, 1)
    assert parse_era_date("令和元年5月1日") == date(2019, 5, 1)
    assert parse_era_date("令和１年５月１日") == date(2019, 5, 1)
    assert parse_era_date("㍻25年8月30日") == date(2013, 8, 30)
    assert parse_era_date("平成 25年 8月 30日") == date(2013, 8, 30)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("平成31年5月1日", "outside_era"),
        ("平成32年1月1日", "outside_era"),
        ("令和元年4月30日", "outside_era"),
        ("昭和64年1月8日", "outside_era"),
        ("平成元年1月7日", "outside_era"),
        ("明治元年1月24日", "outside_era"),
        ("大正元年7月29日", "outside_era"),
        ("平成25年2月29日", "invalid_date"),
        ("平成25年13月1日", "invalid_date"),
        ("平成25年4月31日", "invalid_date"),
        ("平成0年1月1日", "era_year"),
        ("慶応3年1月1日", "format"),
        ("2013-08-30", "format"),
        ("平成25年8月30", "format"),
        ("", "format"),
    ],
)
def test_parse_rejects(text: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as err:
        parse_era_date(text)
    assert (err.value.field, err.value.rule) == ("date", rule)


def test_leap_day_in_era_is_accepted() -> None:
    assert parse_era_date("平成24年2月29日") == date(2012, 2, 29)


def test_before_meiji_is_refused() -> None:
    with pytest.raises(RuleViolation) as err:
        era_of(date(1868, 1, 24))
    assert err.value.rule == "before_meiji"
    with pytest.raises(RuleViolation):
        format_era_month(1867, 12)


@given(dates)
def test_era_of_is_consistent_with_era_starts(d: date) -> None:
    era, year = era_of(d)
    assert era.start <= d
    assert all(not (era.start < other.start <= d) for other in ERAS)
    assert year == d.year - era.start.year + 1 >= 1


def test_format_era_month() -> None:
    assert format_era_month(2012, 8) == "平成24年8月"
    assert format_era_month(2019, 4) == "平成31年4月"
    assert format_era_month(2019, 5) == "令和元年5月"
    assert format_era_month(1989, 1) == "昭和64年1月"
    assert format_era_month(1989, 2) == "平成元年2月"
    with pytest.raises(RuleViolation) as err:
        format_era_month(2012, 13)
    assert err.value.rule == "month"


@given(dates)
def test_fiscal_year_range_contains_date(d: date) -> None:
    fy = fiscal_year(d)
    first, last = fiscal_year_range(fy)
    assert first <= d <= last
    assert (first.month, first.day, last.month, last.day) == (4, 1, 3, 31)
    assert last.year == first.year + 1 == fy + 1


def test_fiscal_year_boundaries() -> None:
    assert fiscal_year(date(2014, 3, 31)) == 2013
    assert fiscal_year(date(2014, 4, 1)) == 2014
    assert fiscal_year_label(2013) == "平成25年度"
    assert fiscal_year_label(2019) == "令和元年度"
    assert fiscal_year_label(2018) == "平成30年度"
    assert fiscal_year_label(1988) == "昭和63年度"
    assert fiscal_year_label(1989) == "平成元年度"
    assert era_year_label(date(2014, 3, 31)) == "平成25年度"
    assert era_year_label(date(2019, 4, 1)) == "令和元年度"


@given(dates)
def test_gazette_year_period_contains_date(d: date) -> None:
    year = gazette_year(d)
    first, last = gazette_period(year)
    assert (first.year, first.month, first.day) == (year, 8, 1)
    assert (last.year, last.month, last.day) == (year + 1, 7, 1)
    assert first <= d
    assert (d.year, d.month) <= (last.year, last.month)
    assert (d.year, d.month) in gazette_months(year)


def test_gazette_months_are_twelve_consecutive() -> None:
    months = gazette_months(2012)
    assert months[0] == (2012, 8)
    assert months[-1] == (2013, 7)
    assert len(months) == len(set(months)) == 12
    assert gazette_year(date(2013, 7, 31)) == 2012
    assert gazette_year(date(2013, 8, 1)) == 2013


def test_parse_period() -> None:
    assert parse_period("2012-08..2013-07") == gazette_months(2012)
    assert parse_period("2012-08") == [(2012, 8)]
    assert parse_period("2012-12..2013-01") == [(2012, 12), (2013, 1)]


@given(
    st.integers(min_value=1900, max_value=2100),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=0, max_value=60),
)
def test_parse_period_length_and_order(year: int, month: int, extra: int) -> None:
    end_index = year * 12 + month - 1 + extra
    text = f"{year:04d}-{month:02d}..{end_index // 12:04d}-{end_index % 12 + 1:02d}"
    months = parse_period(text)
    assert len(months) == extra + 1
    assert months == sorted(months)
    assert months[0] == (year, month)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("2013-07..2012-08", "order"),
        ("2012-13..2013-07", "month"),
        ("2012-00", "month"),
        ("2012-8..2013-7", "format"),
        ("2012/08..2013/07", "format"),
        ("", "format"),
    ],
)
def test_parse_period_rejects(text: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as err:
        parse_period(text)
    assert (err.value.field, err.value.rule) == ("period", rule)
