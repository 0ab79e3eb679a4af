"""Feed freshness: the cadence in operating days, weekends and holidays, the CLI, the dashboard."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from evidence import freshness
from tests.evidence.conftest import access_csv


def _feed_days(feed, *days):
    feed(
        "access",
        access_csv(*(f"e{i},{day.isoformat()}T10:00:00+09:00,JUKI,u1,view,S1,T1,," for i, day in enumerate(days))),
    )


def _juki(today):
    return next(f for f in freshness.status(today) if f.code == "JUKI")


@pytest.mark.parametrize(
    ("last", "today", "due", "state"),
    [
        # Friday's log on Monday: the weekend is not counted
        (date(2025, 4, 4), date(2025, 4, 7), date(2025, 4, 4), "ok"),
        (date(2025, 4, 4), date(2025, 4, 5), date(2025, 4, 4), "ok"),  # Saturday
        # Tuesday with Friday's log only: Monday's is missing
        (date(2025, 4, 4), date(2025, 4, 8), date(2025, 4, 7), "overdue"),
        # 昭和の日 (Tuesday 4/29) is not an operating day: Wednesday expects Monday's log
        (date(2025, 4, 28), date(2025, 4, 30), date(2025, 4, 28), "ok"),
        # Golden Week (5/3-5/6): Wednesday 5/7 expects Friday 5/2's
        (date(2025, 5, 2), date(2025, 5, 7), date(2025, 5, 2), "ok"),
        (date(2025, 5, 1), date(2025, 5, 7), date(2025, 5, 2), "overdue"),
        # the year end (12/29-1/3): Monday 1/5/2026 expects Friday 12/26's
        (date(2025, 12, 26), date(2026, 1, 5), date(2025, 12, 26), "ok"),
    ],
)
def test_operating_days_decide_what_is_due(feed, last, today, due, state):
    _feed_days(feed, last)
    row = _juki(today)
    assert (row.due, row.status) == (due, state)


def test_cadence_per_system_and_systems_open_every_day(app, feed):
    _feed_days(feed, date(2025, 4, 4))
    tuesday = date(2025, 4, 8)
    app.config[freshness.CADENCE_KEY] = "JUKI=2"
    assert (_juki(tuesday).due, _juki(tuesday).status) == (date(2025, 4, 4), "ok")
    app.config[freshness.CADENCE_KEY] = {"JUKI": 0}
    assert _juki(tuesday).status == "unwatched"
    app.config[freshness.CADENCE_KEY] = ""
    app.config["HYOKA_EVIDENCE_OPEN_EVERY_DAY"] = "JUKI"
    monday = date(2025, 4, 7)
    assert (_juki(monday).due, _juki(monday).status) == (date(2025, 4, 6), "overdue")


def test_a_system_without_logs_is_watched_only_when_configured(app, inventory):
    rows = {f.code: f for f in freshness.status(date(2025, 4, 8))}
    assert rows and all(f.status == "unwatched" for f in rows.values())
    code = sorted(rows)[0]
    app.config[freshness.CADENCE_KEY] = {code: 1}
    row = next(f for f in freshness.status(date(2025, 4, 8)) if f.code == code)
    assert row.status == "overdue" and "記録を受信したことがありません" in row.line()


def test_bad_cadence_setting(app):
    for value in ("JUKI", "JUKI=x", "JUKI=-1"):
        app.config[freshness.CADENCE_KEY] = value
        with pytest.raises(freshness.CadenceError, match=freshness.CADENCE_KEY):
            freshness.cadences()


def test_cli_prints_a_line_per_system_and_exits_1_when_overdue(app, feed, monkeypatch):
    _feed_days(feed, date(2025, 4, 4))
    runner = CliRunner()
    monkeypatch.setattr(freshness, "today_jst", lambda: date(2025, 4, 7))
    result = runner.invoke(app.cli, ["evidence", "freshness"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "OK JUKI 既存住基システム: 最終記録 2025年4月4日、2025年4月4日までの記録が必要(稼働日1日ごと)"
    ]
    monkeypatch.setattr(freshness, "today_jst", lambda: date(2025, 4, 8))
    result = runner.invoke(app.cli, ["evidence", "freshness"])
    assert result.exit_code == 1
    assert result.output.startswith("OVERDUE JUKI 既存住基システム: 遅延 最終記録 2025年4月4日")
    result = runner.invoke(app.cli, ["evidence", "freshness", "--format", "plain"])
    assert result.exit_code == 1
    assert result.output == "JUKI status=overdue last=2025-04-04 due=2025-04-07 cadence=1\n"
    app.config[freshness.CADENCE_KEY] = "JUKI"
    result = runner.invoke(app.cli, ["evidence", "freshness"])
    assert result.exit_code == 2 and "システム=日数" in result.output


def test_dashboard_shows_overdue_feeds(as_role, feed, monkeypatch):
    _feed_days(feed, date(2025, 4, 4))
    c = as_role("auditor")
    monkeypatch.setattr(freshness, "today_jst", lambda: date(2025, 4, 8))
    page = c.get("/evidence/").text
    assert "届いていないフィード" in page and "2025年4月7日までの操作履歴が届いているはずです" in page
    monkeypatch.setattr(freshness, "today_jst", lambda: date(2025, 4, 7))
    page = c.get("/evidence/").text
    assert "届いていないフィード" not in page and "すべて期限内に届いています" in page


def test_doctor_names_overdue_feeds(app, feed, monkeypatch):
    _feed_days(feed, date(2025, 4, 4))
    monkeypatch.setattr(freshness, "today_jst", lambda: date(2025, 4, 7))
    assert freshness.doctor_check().problems == []
    monkeypatch.setattr(freshness, "today_jst", lambda: date(2025, 4, 8))
    assert [p.split(":")[0] for p in freshness.doctor_check().problems] == ["OVERDUE JUKI 既存住基システム"]
    app.config[freshness.CADENCE_KEY] = "JUKI=x"
    assert "整数ではありません" in freshness.doctor_check().problems[0]
