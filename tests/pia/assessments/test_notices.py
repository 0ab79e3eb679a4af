"""The deadlines' notifications: 見直し 30 days before and overdue, the 5-year re-assessment
6 months before; to the officers and the 事務's own department; mailed by ``flask tick``."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from common.db import db
from common.schedule import tick
from common.timeutil import today_jst
from pia.assessments.notices import annual_review_notices, months_before, reassessment_notices
from tests.conftest import mail_html, mail_text

#: the demo 全項目評価書 of make_assessment is published on 2025-01-31
ANNUAL_REVIEW_DUE = date(2026, 1, 31)
REASSESSMENT_DUE = date(2030, 1, 31)


@pytest.fixture
def juki(make_assessment):
    return make_assessment("juki")


@pytest.fixture
def people(make_user):
    officer = make_user("officer")
    own = make_user("editor", departments=["住民情報課"])
    other = make_user("editor", departments=["市民税課"])
    auditor = make_user("auditor")
    return officer, own, other, auditor


def _keys(notices):
    return [n.key for n in notices]


def test_months_before_keeps_the_day_or_takes_the_months_last():
    assert months_before(date(2030, 1, 31), 6) == date(2029, 7, 31)
    assert months_before(date(2030, 8, 31), 6) == date(2030, 2, 28)
    assert months_before(date(2032, 8, 31), 6) == date(2032, 2, 29)


def test_annual_review_is_announced_from_30_days_before_and_when_overdue(app, juki, people):
    officer, own, other, auditor = people
    assert list(annual_review_notices(ANNUAL_REVIEW_DUE - timedelta(days=31))) == []
    [soon] = annual_review_notices(ANNUAL_REVIEW_DUE - timedelta(days=30))
    assert soon.key == f"annual_review_due:{juki.id}:2026-01-31"
    assert soon.subject == f"見直しの期限が近づいています: {juki.title}"
    assert "2026年1月31日までに見直しを行う必要があります(あと30日)" in soon.paragraphs[0]
    assert {u.id for u in soon.recipients} == {officer.id, own.id}
    assert _keys(annual_review_notices(ANNUAL_REVIEW_DUE)) == [soon.key]
    [overdue] = annual_review_notices(ANNUAL_REVIEW_DUE + timedelta(days=1))
    assert overdue.key == f"annual_review_overdue:{juki.id}:2026-01-31"
    assert "見直しの期限(2026年1月31日)を過ぎています" in overdue.paragraphs[0]
    assert overdue.link == f"http://127.0.0.1:5000/assessments/{juki.id}"


def test_a_recorded_annual_review_moves_the_due_date(app, juki, people):
    from pia.assessments import services

    services.record_annual_review(juki, reviewed_on=date(2026, 1, 20), actor=people[0], result="no_change")
    db.session.commit()
    assert list(annual_review_notices(ANNUAL_REVIEW_DUE + timedelta(days=1))) == []
    assert _keys(annual_review_notices(date(2027, 1, 1))) == [f"annual_review_due:{juki.id}:2027-01-20"]


def test_reassessment_is_announced_from_6_months_before(app, juki, people):
    assert list(reassessment_notices(date(2029, 7, 30))) == []
    [notice] = reassessment_notices(date(2029, 7, 31))
    assert notice.key == f"reassessment_due:{juki.id}:2030-01-31"
    assert "2025年1月31日の公表から5年となる2030年1月31日までに" in notice.paragraphs[0]
    assert _keys(reassessment_notices(REASSESSMENT_DUE)) == [notice.key]
    assert list(reassessment_notices(REASSESSMENT_DUE + timedelta(days=1))) == []


class TestMailed:
    @pytest.fixture
    def app_config(self, smtp_server):
        return smtp_server.config

    def test_the_tick_mails_the_officer_and_the_own_department_once(self, app, smtp_server, juki, people):
        officer, own, other, auditor = people
        for user in people:
            user.email = f"{user.username}@city.example.lg.jp"
        db.session.commit()
        app.config["HYOKA_CLOCK_OFFSET_DAYS"] = (ANNUAL_REVIEW_DUE - timedelta(days=10) - today_jst()).days
        tick()
        tick()
        assert sorted(m.envelope_to[0] for m in smtp_server.messages) == sorted([officer.email, own.email])
        message = smtp_server.to(own.email)[0]
        assert message["Subject"].strip() == f"【Hyoka】見直しの期限が近づいています: {juki.title}"
        assert "(あと10日)" in mail_text(message)
        link = f"https://hyoka.city.example.lg.jp/pia/assessments/{juki.id}"
        assert link in mail_text(message) and f'href="{link}"' in mail_html(message)
