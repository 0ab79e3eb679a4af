"""Time zone and display helpers (the body works in Asia/Tokyo)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


def to_jst(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(JST)


def today_jst() -> date:
    """Today in Japan; a test app may move the clock (``HYOKA_CLOCK_OFFSET_DAYS``, testing only)."""
    return (datetime.now(JST) + clock_offset()).date()


def clock_offset() -> timedelta:
    """Days a testing app moved its clock by, to walk a 30-day procedure in one test; never in use otherwise."""
    from flask import current_app, has_app_context

    if not has_app_context() or not current_app.testing:
        return timedelta(0)
    return timedelta(days=int(current_app.config.get("HYOKA_CLOCK_OFFSET_DAYS") or 0))


def fmt_datetime(value: datetime | None) -> str:
    """2025-11-12 09:15 in Japan time; empty for None."""
    return "" if value is None else to_jst(value).strftime("%Y-%m-%d %H:%M")


def fmt_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_jst(value).date()
    return f"{value.year}年{value.month}月{value.day}日"
