"""Japanese dates: 和暦 (era names), weekdays and 年度 (fiscal years, April to March).

The forms follow the published result report of a consultation (reference 004):
「令和7年11月12日（水）～令和7年12月11日（木）」 in the body and
「令和7年11月12日～12月11日」 in the annex header. Digits are half-width, parentheses
and the range tilde are full-width, and the first year of an era is written 元年.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

WEEKDAYS_JA = "月火水木金土日"
RANGE_SEPARATOR = "～"  # U+FF5E, as in 004


class Era(NamedTuple):
    name: str
    start: date


#: Start dates in the Gregorian calendar. 明治 is dated from the proclamation
#: (慶応4年9月8日 = 1868-10-23); Japan kept the lunisolar calendar until 明治5年12月2日,
#: so dates before 1873-01-01 have no Gregorian 和暦 form and are refused.
ERAS: tuple[Era, ...] = (
    Era("令和", date(2019, 5, 1)),
    Era("平成", date(1989, 1, 8)),
    Era("昭和", date(1926, 12, 25)),
    Era("大正", date(1912, 7, 30)),
    Era("明治", date(1868, 10, 23)),
)
GREGORIAN_ADOPTED = date(1873, 1, 1)


def era_of(d: date) -> Era:
    """The era in force on ``d``."""
    d = _as_date(d)
    if d < GREGORIAN_ADOPTED:
        raise ValueError(f"{d.isoformat()} は太陽暦採用（明治6年1月1日）より前の日付です。")
    for era in ERAS:
        if d >= era.start:
            return era
    raise AssertionError("unreachable: 明治 covers every date after 1873")  # pragma: no cover


def _year_label(era: Era, gregorian_year: int) -> str:
    number = gregorian_year - era.start.year + 1
    return "元" if number == 1 else str(number)


def _as_date(d: date) -> date:
    # datetime is a subclass of date; compare and format on the calendar date only.
    return date(d.year, d.month, d.day)


def weekday_ja(d: date) -> str:
    """The weekday as one character: 月 火 水 木 金 土 日."""
    return WEEKDAYS_JA[d.weekday()]


def wareki_year(d: date) -> str:
    """令和7年 (the calendar year, in the era in force on ``d``)."""
    d = _as_date(d)
    era = era_of(d)
    return f"{era.name}{_year_label(era, d.year)}年"


def wareki(d: date, *, weekday: bool = False) -> str:
    """令和7年11月12日, or 令和7年11月12日（水） with ``weekday``."""
    d = _as_date(d)
    text = f"{wareki_year(d)}{d.month}月{d.day}日"
    if weekday:
        text += f"（{weekday_ja(d)}）"
    return text


def wareki_range(start: date, end: date, *, weekday: bool = True) -> str:
    """令和7年11月12日（水）～令和7年12月11日（木）: both ends in full (004, 1 意見の募集期間)."""
    _check_order(start, end)
    return f"{wareki(start, weekday=weekday)}{RANGE_SEPARATOR}{wareki(end, weekday=weekday)}"


def wareki_range_short(start: date, end: date, *, weekday: bool = False) -> str:
    """令和7年11月12日～12月11日 (004, annex header).

    The end date drops what it shares with the start: the era and year when both are the
    same (～12月11日), the era alone when only the year differs (令和7年12月1日～8年1月9日).
    """
    _check_order(start, end)
    start, end = _as_date(start), _as_date(end)
    start_era, end_era = era_of(start), era_of(end)
    end_text = f"{end.month}月{end.day}日"
    if start_era != end_era:
        end_text = wareki_year(end) + end_text
    elif start.year != end.year:
        end_text = f"{_year_label(end_era, end.year)}年" + end_text
    if weekday:
        end_text += f"（{weekday_ja(end)}）"
    return f"{wareki(start, weekday=weekday)}{RANGE_SEPARATOR}{end_text}"


def fiscal_year(d: date) -> int:
    """The Gregorian year in which the 年度 containing ``d`` began (April 1)."""
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_label(d: date) -> str:
    """令和7年度 for any date from 2025-04-01 to 2026-03-31.

    The era is the one in force on ``d`` (so 2019-04-15 is in 平成31年度 and 2019-06-01 in
    令和元年度, as documents of the time were written), unless the 年度 began before that
    era's first year: 1989-02-01 is in 昭和63年度, since there is no 平成0年度.
    """
    d = _as_date(d)
    start_year = fiscal_year(d)
    era = era_of(d)
    if start_year < era.start.year:
        era = era_of(date(start_year, 4, 1))
    return f"{era.name}{_year_label(era, start_year)}年度"


def _check_order(start: date, end: date) -> None:
    if _as_date(end) < _as_date(start):
        raise ValueError("期間の終了日が開始日より前になっています。")
