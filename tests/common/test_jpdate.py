from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.jpdate import (
    ERA_LETTERS,
    era_of,
    fiscal_year,
    fiscal_year_label,
    format_date,
    format_datetime,
    format_range,
    format_wareki,
    parse_date,
    wareki,
    wareki_range,
    wareki_range_short,
    wareki_year,
    weekday_ja,
)
from common.timeutil import JST


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


# --------------------------------------------------------------------------- 西暦 and moments, for the working screens


def test_format_date_takes_dates_moments_and_iso_text():
    assert format_date(date(2026, 12, 3)) == "2026年12月3日"
    assert format_date("2026-12-03") == "2026年12月3日"
    # a moment is dated by its day in Japan: 20:00 UTC is already the next day there
    assert format_date(datetime(2026, 12, 3, 20, 0, tzinfo=UTC)) == "2026年12月4日"
    assert format_date("2026-12-03T20:00:00+00:00") == "2026年12月4日"
    assert format_date(None) == "" and format_date("") == ""
    assert format_date("未定") == "未定"  # text that is no date is left as it is


def test_format_datetime_is_japan_time_without_offset():
    assert format_datetime(datetime(2026, 12, 3, 8, 4, 52, tzinfo=UTC)) == "2026年12月3日 17:04"
    assert format_datetime("2026-12-03T08:04:52+00:00") == "2026年12月3日 17:04"
    assert format_datetime("2025-11-12T08:45:00+09:00") == "2025年11月12日 08:45"
    assert format_datetime(datetime(2026, 12, 3, 8, 4)) == "2026年12月3日 17:04"  # naive: UTC, as stored
    assert format_datetime(date(2026, 12, 3)) == "2026年12月3日"
    assert format_datetime(None) == ""


def test_format_wareki_and_range():
    assert format_wareki("2025-01-31") == "令和7年1月31日"
    assert format_wareki(datetime(2019, 4, 30, 15, 30, tzinfo=UTC)) == "令和元年5月1日"
    assert format_wareki(date(2025, 11, 12), weekday=True) == "令和7年11月12日（水）"
    assert format_wareki(None) == ""
    assert format_range(date(2025, 4, 1), date(2025, 6, 30)) == "2025年4月1日～2025年6月30日"


@given(st.datetimes(min_value=datetime(1873, 1, 2), max_value=datetime(2200, 12, 30), timezones=st.just(UTC)))
def test_formatted_moment_has_no_iso_trace(moment):
    text = format_datetime(moment)
    assert "T" not in text and "+" not in text and "UTC" not in text and "-" not in text
    local = moment.astimezone(JST)
    assert text.startswith(f"{local.year}年{local.month}月{local.day}日 ")


# --------------------------------------------------------------------------- reading what people type


@pytest.mark.parametrize(
    "typed",
    [
        "令和8年12月3日",
        "R8.12.3",
        "R8/12/3",
        "r8-12-3",
        "Ｒ８．１２．３",
        "令和８年１２月３日",
        "令和8年12月3日（木）",
        "令和 8 年 12 月 3 日",
        "2026年12月3日",
        "２０２６年１２月３日",
        "2026/12/3",
        "２０２６／１２／３",
        "2026-12-03",
        "2026.12.03",
        "20261203",
        " 2026/12/3 ",
        "西暦2026年12月3日",
    ],
)
def test_parse_date_reads_what_people_type(typed):
    assert parse_date(typed) == date(2026, 12, 3)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("令和元年5月1日", date(2019, 5, 1)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("H31.4.30", date(2019, 4, 30)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("S64.1.7", date(1989, 1, 7)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("大正15年12月24日", date(1926, 12, 24)),
        ("明治6年1月1日", date(1873, 1, 1)),
    ],
)
def test_parse_date_across_eras(typed, expected):
    assert parse_date(typed) == expected


@pytest.mark.parametrize(
    "typed, says",
    [
        ("", "日付を入力してください"),
        ("あした", "日付として読み取れませんでした"),
        ("2026年12月", "日付として読み取れませんでした"),
        ("12/3", "日付として読み取れませんでした"),
        ("2026/2/30", "2026年2月30日という日はありません"),
        ("令和8年13月1日", "という日はありません"),
        ("平成32年1月1日", "平成は平成元年1月8日から平成31年4月30日までです"),
        ("令和元年4月30日", "令和は令和元年5月1日からです"),
        ("令和0年1月1日", "令和0年という年はありません"),
        ("X8.12.3", "日付として読み取れませんでした"),
        ("1872/12/31", "明治6年(1873年)1月1日より前"),
        ("令和8年12月3日（月）", "木曜日です"),
    ],
)
def test_parse_date_refuses_in_japanese(typed, says):
    with pytest.raises(ValueError) as err:
        parse_date(typed)
    assert says in str(err.value)
    assert not any(ch.isascii() and ch.isalpha() for ch in str(err.value).replace("R8.12.3", ""))


@given(st.dates(min_value=date(1873, 1, 1), max_value=date(2200, 12, 31)))
def test_every_written_form_reads_back(d):
    assert parse_date(wareki(d)) == d
    assert parse_date(wareki(d, weekday=True)) == d
    assert parse_date(format_date(d)) == d
    assert parse_date(d.isoformat()) == d
    era = era_of(d)
    letter = next(k for k, v in ERA_LETTERS.items() if v == era.name)
    assert parse_date(f"{letter}{d.year - era.start.year + 1}.{d.month}.{d.day}") == d
