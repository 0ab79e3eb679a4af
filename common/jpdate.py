"""Japanese dates and times: the one place where a date or a moment becomes text for a
person, and where a date a person typed becomes a date.

Two written forms:

- 和暦, for the documents the body publishes (評価書, the result report of a consultation,
  the public portal), as the published result report of a consultation writes them
  (reference 004): 「令和7年11月12日（水）～令和7年12月11日（木）」 in the body and
  「令和7年11月12日～12月11日」 in the annex header. Digits are half-width, parentheses and
  the range tilde are full-width, and the first year of an era is written 元年.
- 西暦 in the same shape, for the working screens: 「2026年12月3日」, and a moment in Japan
  time with no offset shown: 「2026年12月3日 17:04」.

:func:`parse_date` reads what people type: 令和8年12月3日, R8.12.3, R8/12/3, 2026/12/3,
2026-12-03, ２０２６年１２月３日 (full width) and the like. Machine formats (the JSON API,
CSV exports, feeds) stay ISO 8601 and do not come through here.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import NamedTuple

from common.timeutil import JST

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
        raise ValueError(f"{d.year}年{d.month}月{d.day}日は太陽暦の採用（明治6年1月1日）より前の日付です。")
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


# --------------------------------------------------------------------------- 西暦, for the working screens


def as_date(value: date | datetime | str | None) -> date | None:
    """The calendar date of ``value``: a date, a moment (its day in Japan) or an ISO 8601
    text (``2026-12-03``, or a moment with its offset); None for None, "" or other text."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _in_japan(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        moment = as_datetime(value)
        if moment is not None:
            return _in_japan(moment).date()
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def as_datetime(value: datetime | str | None) -> datetime | None:
    """A moment from a datetime or an ISO 8601 text; a moment without an offset is UTC (as
    the database keeps them). None for None, "" or other text."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if len(text) <= 10:  # a date alone is not a moment
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    return None


def _in_japan(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(JST)


def format_date(value: date | datetime | str | None) -> str:
    """2026年12月3日 (a moment: its day in Japan); empty for None; other text as it is."""
    day = as_date(value)
    if day is None:
        return "" if value is None else str(value)
    return f"{day.year}年{day.month}月{day.day}日"


def format_datetime(value: datetime | str | None) -> str:
    """2026年12月3日 17:04, in Japan time, no offset shown; empty for None; a date alone as
    :func:`format_date`."""
    moment = as_datetime(value)
    if moment is None:
        return format_date(value) if isinstance(value, (date, str)) else ""
    local = _in_japan(moment)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def format_wareki(value: date | datetime | str | None, *, weekday: bool = False) -> str:
    """令和8年12月3日 for a date, a moment (its day in Japan) or an ISO date text; empty for
    None; other text as it is."""
    day = as_date(value)
    if day is None:
        return "" if value is None else str(value)
    return wareki(day, weekday=weekday)


def format_month_day(value: date | datetime | str | None) -> str:
    """12/3: the short form of a chart's axis or a column head of days."""
    day = as_date(value)
    return "" if day is None else f"{day.month}/{day.day}"


def format_range(start: date | None, end: date | None) -> str:
    """2026年12月3日～2027年1月1日 (one open end: 「2026年12月3日～」, 「～2027年1月1日」)."""
    return f"{format_date(start)}{RANGE_SEPARATOR}{format_date(end)}"


# --------------------------------------------------------------------------- reading what people type

#: how a date field says what it accepts (its hint)
DATE_HINT = "「2026年12月3日」「令和8年12月3日」「R8.12.3」「2026/12/3」のように入力してください。"
MSG_UNREADABLE = "日付として読み取れませんでした。" + DATE_HINT

#: letters people write for an era (R8.12.3)
ERA_LETTERS = {"R": "令和", "H": "平成", "S": "昭和", "T": "大正", "M": "明治"}
_ERA_BY_NAME = {era.name: era for era in ERAS}
_SEP_YEAR = r"\s*(?:年|[./-])\s*"
_SEP_MONTH = r"\s*(?:月|[./-])\s*"
_TAIL = r"\s*日?\s*(?:\(\s*(?P<weekday>[月火水木金土日])\s*\))?"
_ERA_DATE = re.compile(
    r"(?P<era>令和|平成|昭和|大正|明治|[RHSTM])\s*(?P<year>元|\d{1,3})"
    + _SEP_YEAR
    + r"(?P<month>\d{1,2})"
    + _SEP_MONTH
    + r"(?P<day>\d{1,2})"
    + _TAIL,
    re.IGNORECASE,
)
_WESTERN_DATE = re.compile(
    r"(?:西暦\s*)?(?P<year>\d{4})" + _SEP_YEAR + r"(?P<month>\d{1,2})" + _SEP_MONTH + r"(?P<day>\d{1,2})" + _TAIL
)
_COMPACT_DATE = re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})")


def _normalise(text: str) -> str:
    # NFKC: full-width digits, letters and ／．－ become half-width; （水） becomes (水)
    text = unicodedata.normalize("NFKC", text).strip()
    return text.replace("ー", "-").replace("−", "-").replace("‐", "-").replace("―", "-")


def parse_date(text: str) -> date:
    """The date in ``text`` as people type it; ValueError with a Japanese message otherwise.

    令和8年12月3日, 令和元年5月1日, R8.12.3, r8/12/3, H31-4-30, 2026年12月3日, 2026/12/3,
    2026-12-03, 20261203, each also in full width, with spaces or a weekday （木） after it.
    A 和暦 year outside its era (平成32年) or a day that does not exist (2月30日) is refused.
    """
    raw = _normalise(text or "")
    if not raw:
        raise ValueError("日付を入力してください。")
    match = _ERA_DATE.fullmatch(raw)
    if match:
        name = match["era"]
        era = _ERA_BY_NAME.get(name) or _ERA_BY_NAME[ERA_LETTERS[name.upper()]]
        number = 1 if match["year"] == "元" else int(match["year"])
        if number < 1:
            raise ValueError(f"{era.name}0年という年はありません。" + DATE_HINT)
        day = _make_date(era.start.year + number - 1, int(match["month"]), int(match["day"]))
        if era_of(day) != era:
            raise ValueError(_outside_era(era))
        return _check_weekday(day, match["weekday"])
    match = _WESTERN_DATE.fullmatch(raw) or _COMPACT_DATE.fullmatch(raw)
    if match:
        day = _make_date(int(match["year"]), int(match["month"]), int(match["day"]))
        if day < GREGORIAN_ADOPTED:
            raise ValueError("明治6年(1873年)1月1日より前の日付は入力できません。")
        return _check_weekday(day, match.groupdict().get("weekday"))
    raise ValueError(MSG_UNREADABLE)


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{year}年{month}月{day}日という日はありません。") from None


def _check_weekday(day: date, written: str | None) -> date:
    if written and written != weekday_ja(day):
        raise ValueError(
            f"{day.year}年{day.month}月{day.day}日は{weekday_ja(day)}曜日です(「{written}」と入力されています)。"
        )
    return day


def _outside_era(era: Era) -> str:
    index = ERAS.index(era)
    first = wareki(max(era.start, GREGORIAN_ADOPTED))
    if index == 0:
        return f"{era.name}は{first}からです。"
    last = ERAS[index - 1].start.toordinal() - 1
    return f"{era.name}は{first}から{wareki(date.fromordinal(last))}までです。"
