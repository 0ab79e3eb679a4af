"""Operating days: the feed status counts a day without access logs as 欠落 only on an
operating day of the system (weekdays except holidays and 12/29–1/3, unless open every day)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from evidence import services
from tests.evidence.conftest import access_csv

#: 2025-04-24 (Thu) .. 2025-05-07 (Wed): Golden Week (4/29, 5/3–5/6) and two weekends
TODAY = date(2025, 5, 7)
CLOSED = {date(2025, 4, 26), date(2025, 4, 27), date(2025, 4, 29)} | {date(2025, 5, d) for d in range(3, 7)}


@pytest.fixture
def business_day_feed(feed, monkeypatch):
    monkeypatch.setattr(services, "today_jst", lambda: TODAY)
    days = [TODAY - timedelta(days=i) for i in range(14)]
    rows = [
        f"e{i},{day.isoformat()}T10:00:00+09:00,JUKI,u1,view,S1,T1,,"
        for i, day in enumerate(sorted(d for d in days if d not in CLOSED))
    ]
    feed("access", access_csv(*rows))


def test_weekend_and_holiday_without_logs_are_not_gaps(as_role, business_day_feed):
    juki = next(s for s in services.feed_status()["systems"] if s["code"] == "JUKI")
    assert juki["gaps"] == []
    assert {day for day, n, operating in juki["days"] if not operating} == CLOSED
    page = as_role("auditor").get("/evidence/").text
    assert 'title="記録なし"' not in page and page.count('title="閉庁日"') == len(CLOSED)


def test_a_system_open_every_day_counts_every_day(app, business_day_feed):
    app.config["HYOKA_EVIDENCE_OPEN_EVERY_DAY"] = "JUKI, OTHER"
    try:
        juki = next(s for s in services.feed_status()["systems"] if s["code"] == "JUKI")
    finally:
        app.config.pop("HYOKA_EVIDENCE_OPEN_EVERY_DAY")
    assert set(juki["gaps"]) == CLOSED


def test_a_business_day_without_logs_is_a_gap(feed, monkeypatch):
    monkeypatch.setattr(services, "today_jst", lambda: TODAY)
    feed("access", access_csv("e1,2025-05-02T10:00:00+09:00,JUKI,u1,view,S1,T1,,"))
    juki = next(s for s in services.feed_status()["systems"] if s["code"] == "JUKI")
    assert date(2025, 5, 7) in juki["gaps"] and date(2025, 5, 6) not in juki["gaps"]


LOAD_DAY = date(2026, 12, 2)  # a Wednesday


def test_the_demo_quarter_ends_on_the_load_day(app, juki, monkeypatch):
    import sqlalchemy as sa

    from common.db import db
    from evidence import demo, demo_gen
    from evidence.models import AccessDay, Finding

    small = demo_gen.write_feeds
    monkeypatch.setattr(demo_gen, "write_feeds", lambda path, **kw: small(path, events=3_000, **kw))
    monkeypatch.setattr("common.timeutil.today_jst", lambda: LOAD_DAY)
    assert "取り込み" in demo.load_demo({})
    first, last = db.session.execute(sa.select(sa.func.min(AccessDay.day), sa.func.max(AccessDay.day))).one()
    assert last == LOAD_DAY and first >= LOAD_DAY - timedelta(days=91)
    days = db.session.execute(sa.select(Finding.day).where(Finding.day.is_not(None))).scalars().all()
    assert days and all(first <= d <= LOAD_DAY for d in days)


def test_the_moved_quarter_keeps_weekends_and_holidays_closed():
    from evidence import demo_gen
    from evidence.checks import closed_days

    start, end = demo_gen.quarter(LOAD_DAY)
    closed = set(closed_days(start, end))
    feeds = demo_gen.generate(events=3_000, end=LOAD_DAY)
    planted_closed = {
        e for p in demo_gen.planted(end=LOAD_DAY) if p.get("why") in ("weekend", "holiday") for e in p["event_ids"]
    }
    for row in feeds["access"]:
        day = date.fromisoformat(row["occurred_at"][:10])
        assert start <= day <= end
        assert (day in closed) == (row["event_id"] in planted_closed), row
    assert demo_gen.generate(events=3_000, end=LOAD_DAY) == feeds  # deterministic
