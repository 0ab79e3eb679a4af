from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.jpdate import (
    fiscal_year,
    fiscal_year_label,
    wareki,
    wareki_range,
    wareki_range_short,
    wareki_year,
    weekday_ja,
)


def test_dates_of_004():
    assert wareki(date(2025, 11, 12)) == "令和7年11月12日"
    assert wareki(date(2025, 11, 12), weekday=True) == "令和7年11月12日（水）"
    assert wareki(date(2025, 12, 11), weekday=True) == "令和7年12月11日（木）"


def test_range_as_004_writes_it():
    assert wareki_range(date(2025, 11, 12), date(2025, 12, 11)) == "令和7年11月12日（水）～令和7年12月11日（木）"
    assert wareki_range(date(2025, 11, 12), date(2025, 12, 11), weekday=False) == "令和7年11月12日～令和7年12月11日"


def test_short_range_as_004_annex_header():
    assert wareki_range_short(date(2025, 11, 12), date(2025, 12, 11)) == "令和7年11月12日～12月11日"


def test_short_range_across_years_and_eras():
    assert wareki_range_short(date(2025, 12, 1), date(2026, 1, 9)) == "令和7年12月1日～8年1月9日"
    assert wareki_range_short(date(2019, 4, 15), date(2019, 5, 14)) == "平成31年4月15日～令和元年5月14日"
    assert (
        wareki_range_short(date(2025, 11, 12), date(2025, 12, 11), weekday=True)
        == "令和7年11月12日（水）～12月11日（木）"
    )


def test_range_refuses_end_before_start():
    with pytest.raises(ValueError):
        wareki_range(date(2025, 12, 11), date(2025, 11, 12))
    with pytest.raises(ValueError):
        wareki_range_short(date(2025, 12, 11), date(2025, 11, 12))


@pytest.mark.parametrize(
    "d, expected",
    [
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1873, 1, 1), "明治6年1月1日"),
    ],
)
def test_era_boundaries(d, expected):
    assert wareki(d) == expected


def test_before_the_gregorian_calendar_is_refused():
    with pytest.raises(ValueError):
        wareki(date(1872, 12, 31))


def test_datetime_is_formatted_by_its_calendar_date():
    moment = datetime(2025, 11, 12, 23, 59, tzinfo=timezone(timedelta(hours=9)))
    assert wareki(moment, weekday=True) == "令和7年11月12日（水）"
    assert fiscal_year_label(moment) == "令和7年度"


def test_weekday_ja():
    # 2025-11-10 is a Monday.
    assert [weekday_ja(date(2025, 11, 10) + timedelta(days=i)) for i in range(7)] == list("月火水木金土日")


def test_wareki_year():
    assert wareki_year(date(2025, 11, 12)) == "令和7年"
    assert wareki_year(date(2019, 5, 1)) == "令和元年"


@pytest.mark.parametrize(
    "d, expected",
    [
        (date(2025, 4, 1), "令和7年度"),
        (date(2026, 3, 31), "令和7年度"),
        (date(2025, 3, 31), "令和6年度"),
        (date(2019, 4, 15), "平成31年度"),
        (date(2019, 5, 1), "令和元年度"),
        (date(2020, 3, 31), "令和元年度"),
        (date(2020, 4, 1), "令和2年度"),
        (date(1989, 2, 1), "昭和63年度"),
        (date(1989, 4, 1), "平成元年度"),
    ],
)
def test_fiscal_year_label(d, expected):
    assert fiscal_year_label(d) == expected


@given(st.dates(min_value=date(1873, 1, 1), max_value=date(2200, 12, 31)))
def test_fiscal_year_contains_the_date(d):
    start = date(fiscal_year(d), 4, 1)
    assert start <= d < date(start.year + 1, 4, 1)
    assert fiscal_year_label(d).endswith("年度")
    assert wareki(d).endswith(f"{d.month}月{d.day}日")
