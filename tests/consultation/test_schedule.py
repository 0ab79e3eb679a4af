"""Consultations open and close by themselves (``flask tick``) and tell the officers ahead:
walked day by day on the test clock, with the mail read from a real SMTP server."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from common.schedule import tick
from common.timeutil import today_jst
from consultation import services
from tests.conftest import mail_text

OFFICER_MAIL = "koho@city.example.lg.jp"


@pytest.fixture
def app_config(smtp_server):
    return smtp_server.config


@pytest.fixture
def officer(make_user):
    user = make_user("officer")
    user.email = OFFICER_MAIL
    db.session.commit()
    return user


def _on(app, day: date):
    """Move the test clock so that today (Japan time) is ``day``; run a tick."""
    app.config["HYOKA_CLOCK_OFFSET_DAYS"] = (day - (today_jst() - _offset(app))).days
    assert today_jst() == day
    outcomes = tick()
    assert outcomes is not None
    failed = [o.message for o in outcomes if o.failed]
    assert not failed, failed
    return outcomes


def _offset(app) -> timedelta:
    return timedelta(days=int(app.config.get("HYOKA_CLOCK_OFFSET_DAYS") or 0))


def _subjects(smtp_server) -> list[str]:
    return [m["Subject"].strip() for m in smtp_server.to(OFFICER_MAIL)]


def _transitions(consultation) -> list[tuple[str, str]]:
    rows = db.session.execute(
        sa.select(AuditEvent.actor_name, AuditEvent.summary)
        .where(AuditEvent.object_type == "consultation", AuditEvent.action == "transition")
        .where(AuditEvent.object_id == str(consultation.id))
        .order_by(AuditEvent.id)
    ).all()
    return [tuple(r) for r in rows]


def test_a_consultation_opens_on_its_start_date_and_closes_after_its_end_by_itself(
    app, client, smtp_server, officer, make_consultation
):
    start = today_jst() + timedelta(days=10)
    end = start + timedelta(days=29)
    c = make_consultation(start_date=start, end_date=end)
    title = f"意見募集「{c.title}」"

    _on(app, start - timedelta(days=2))
    assert c.status == "scheduled" and _subjects(smtp_server) == []
    assert client.get(f"/public/consultations/{c.id}").status_code == 404

    _on(app, start - timedelta(days=1))  # the day before: the officers are told
    db.session.refresh(c)
    assert c.status == "scheduled"
    assert _subjects(smtp_server) == [f"【Hyoka】意見募集が明日始まります: {c.title}"]
    assert "https://hyoka.city.example.lg.jp/pia/consultations/" in mail_text(smtp_server.messages[-1])

    _on(app, start)  # the start date: open, the draft kept, on the public site
    db.session.refresh(c)
    assert c.status == "open" and c.draft_snapshot is not None
    assert c.opened_late is False
    assert client.get(f"/public/consultations/{c.id}").status_code == 200
    _on(app, start)  # again the same day: nothing more
    assert _transitions(c) == [("tick", f"{title}を募集前から募集中に変更")]

    _on(app, end - timedelta(days=4))
    assert len(_subjects(smtp_server)) == 1
    _on(app, end - timedelta(days=3))  # 3 days before the end: told once
    _on(app, end - timedelta(days=1))
    _on(app, end)  # the last day: still open
    db.session.refresh(c)
    assert c.status == "open"
    assert _subjects(smtp_server)[1:] == [f"【Hyoka】意見募集の締切が近づいています: {c.title}"]
    assert "あと3日" in mail_text(smtp_server.messages[-1])

    _on(app, end + timedelta(days=1))  # the day after the end: closed, not early
    db.session.refresh(c)
    assert c.status == "closed" and c.closed_early is False and c.early_close_reason == ""
    _on(app, end + timedelta(days=1))
    assert _transitions(c) == [
        ("tick", f"{title}を募集前から募集中に変更"),
        ("tick", f"{title}を募集中から募集終了に変更"),
    ]
    assert len(smtp_server.messages) == 2  # no opinions: nothing awaits a reply


def test_closed_with_opinions_awaiting_replies_the_officers_are_told_once(app, smtp_server, officer, make_consultation):
    today = today_jst()
    c = make_consultation(status="open", start_date=today - timedelta(days=31), end_date=today - timedelta(days=1))
    submission = services.add_paper_submission(
        c, actor="test", channel="post", received_on=c.start_date, body="一つ目の意見。二つ目の意見。"
    )
    services.add_opinion(submission, actor="test", summary="二つ目の意見")
    db.session.commit()
    assert services.unanswered_count(c) == 2
    _on(app, today)
    db.session.refresh(c)
    assert c.status == "closed"
    _on(app, today + timedelta(days=1))
    [message] = smtp_server.to(OFFICER_MAIL)
    assert message["Subject"].strip() == f"【Hyoka】意見への市の考え方が入力されていません: {c.title}"
    assert "市の考え方が入力されていない意見が2件あります。" in mail_text(message)


def test_a_period_that_passed_before_it_was_opened_is_reported_not_opened(app, make_consultation):
    today = today_jst()
    c = make_consultation(start_date=today - timedelta(days=40), end_date=today - timedelta(days=11))
    outcome = next(o for o in _on(app, today) if o.job.name == "consultation_periods")
    db.session.refresh(c)
    assert c.status == "scheduled"
    assert "開始されていません" in outcome.message and c.title in outcome.message


def test_the_notices_go_only_to_officers_with_an_address_who_want_them(app, smtp_server, make_user, make_consultation):
    wants = make_user("officer")
    wants.email = "wants@city.example.lg.jp"
    declined = make_user("officer")
    declined.email = "declined@city.example.lg.jp"
    declined.notify_off = ["consultation_opens"]
    editor = make_user("editor", departments=["住民情報課"])
    editor.email = "editor@city.example.lg.jp"
    db.session.commit()
    make_consultation(start_date=today_jst() + timedelta(days=1), end_date=today_jst() + timedelta(days=30))
    _on(app, today_jst())
    assert [m.envelope_to for m in smtp_server.messages] == [["wants@city.example.lg.jp"]]
