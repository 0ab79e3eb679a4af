"""Time zone and display helpers (the body works in Asia/Tokyo)."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


def to_jst(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(JST)


def today_jst() -> date:
    return datetime.now(JST).date()


def fmt_datetime(value: datetime | None) -> str:
    """2025-11-12 09:15 in Japan time; empty for None."""
    return "" if value is None else to_jst(value).strftime("%Y-%m-%d %H:%M")


def fmt_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_jst(value).date()
    return f"{value.year}年{value.month}月{value.day}日"
