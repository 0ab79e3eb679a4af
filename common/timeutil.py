"""Time zone and today (the body works in Asia/Tokyo); dates and times as text: common.jpdate."""

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
