"""Notifications by mail: kept once per event and person, sent to a real SMTP server at once
or as a daily digest, never with a 個人番号, nothing sent twice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from common import notify
from common.db import db
from common.models import Notification
from common.mynumber import contains_my_number
from common.mynumber_guard import MASK
from common.schedule import tick
from tests.conftest import mail_html, mail_text

#: a 個人番号 with a valid check digit
MY_NUMBER = "123456789018"


@pytest.fixture
def app_config(smtp_server):
    return smtp_server.config


@pytest.fixture
def notices():
    """The events the test kind ``test_kind`` produces on each tick (a list to fill)."""
    return []


@pytest.fixture
def test_kind(app, notices):
    def produce(today):
        return list(notices)

    kind = notify.Kind(
        name="test_kind",
        label="テストの通知",
        audience="保護評価担当",
        roles=frozenset({"officer"}),
        produce=produce,
        order=1,
    )
    notify.register_kind(app, kind)
    return kind


@pytest.fixture
def officer(make_user):
    def make(email="tanaka@city.example.lg.jp", mode="immediate", off=None):
        user = make_user("officer")
        user.email = email
        user.notify_mode = mode
        user.notify_off = off
        db.session.commit()
        return user

    return make


def _notice(key, recipients, text="住民基本台帳に関する事務の見直しの期限は2026年1月31日です。"):
    return notify.Notice(
        key=key,
        subject=f"見直しの期限が近づいています({key})",
        paragraphs=[text, "見直しの結果を記録してください。"],
        link=notify.page_url("assessments.assessment", assessment_id=7),
        recipients=recipients,
    )


def _job(outcomes, name="notifications"):
    return next(o for o in outcomes if o.job.name == name)


def test_a_notification_arrives_as_japanese_text_with_an_html_part_and_an_absolute_link(
    app, smtp_server, test_kind, notices, officer
):
    user = officer()
    notices.append(_notice("a", [user]))
    outcome = _job(tick())
    assert not outcome.failed, outcome.message
    [message] = smtp_server.messages
    assert message.envelope_to == [user.email]
    assert message["From"] == "hyoka@city.example.lg.jp"
    assert message["Subject"].strip() == "【Hyoka】見直しの期限が近づいています(a)"
    text = mail_text(message)
    assert text.startswith(f"{user.display_name} 様")
    assert "住民基本台帳に関する事務の見直しの期限は2026年1月31日です。" in text
    # the link is absolute, under HYOKA_BASE_URL (with its path), and so is the settings page
    assert "https://hyoka.city.example.lg.jp/pia/assessments/7" in text
    assert "https://hyoka.city.example.lg.jp/pia/account/notifications" in text
    html = mail_html(message)
    assert '<a href="https://hyoka.city.example.lg.jp/pia/assessments/7">' in html
    assert '<p style="margin: 0 0 .6em;">見直しの結果を記録してください。</p>' in html


def test_running_the_tick_twice_sends_nothing_twice(app, smtp_server, test_kind, notices, officer, count_rows):
    user = officer()
    notices.append(_notice("a", [user, user]))  # named twice: one notification
    tick()
    tick()
    assert len(smtp_server.messages) == 1
    assert count_rows(Notification) == 1
    notices.append(_notice("b", [user]))  # a new event goes, the old one does not
    tick()
    assert [m["Subject"].strip() for m in smtp_server.messages][1:] == ["【Hyoka】見直しの期限が近づいています(b)"]


def test_a_my_number_never_leaves_in_a_mail(app, smtp_server, test_kind, notices, officer):
    user = officer()
    notice = _notice(
        "a", [user], text=f"問い合わせのあった番号 {MY_NUMBER[:4]}-{MY_NUMBER[4:8]}-{MY_NUMBER[8:]} について"
    )
    notice.subject = f"番号 {MY_NUMBER}"
    notices.append(notice)
    tick()
    [message] = smtp_server.messages
    for part in (message["Subject"], mail_text(message), mail_html(message)):
        assert not contains_my_number(part)
    assert MASK in mail_text(message) and MASK in mail_html(message) and MASK in message["Subject"]


def test_what_a_person_turned_off_or_has_no_address_for_is_not_sent(
    app, smtp_server, test_kind, notices, officer, make_user
):
    off = officer(email="off@city.example.lg.jp", off=["test_kind"])
    without = make_user("officer")
    disabled = officer(email="gone@city.example.lg.jp")
    disabled.active = False
    db.session.commit()
    on = officer(email="on@city.example.lg.jp")
    notices.append(_notice("a", [off, without, disabled, on]))
    tick()
    assert [m.envelope_to for m in smtp_server.messages] == [["on@city.example.lg.jp"]]


def test_turned_off_after_it_was_kept_it_is_not_sent(app, smtp_server, test_kind, notices, officer):
    user = officer(mode="digest")
    notices.append(_notice("a", [user]))
    app.config["HYOKA_NOTIFY_DIGEST_HOUR"] = 24  # not today
    tick()
    user.notify_off = ["test_kind"]
    db.session.commit()
    app.config["HYOKA_NOTIFY_DIGEST_HOUR"] = 0
    tick()
    assert smtp_server.messages == []
    row = db.session.execute(sa.select(Notification)).scalar_one()
    assert row.sent_at is not None and row.outcome == "off"


def test_a_digest_goes_once_a_day_from_its_hour_with_everything_pending(app, smtp_server, test_kind, notices, officer):
    user = officer(mode="digest")
    notices.extend([_notice("a", [user]), _notice("b", [user])])
    app.config["HYOKA_NOTIFY_DIGEST_HOUR"] = 24  # the hour has not come
    tick()
    assert smtp_server.messages == []
    app.config["HYOKA_NOTIFY_DIGEST_HOUR"] = 0
    tick()
    [digest] = smtp_server.messages
    assert digest["Subject"].strip() == "【Hyoka】本日のお知らせ(2件)"
    text = mail_text(digest)
    assert "■ 見直しの期限が近づいています(a)" in text and "■ 見直しの期限が近づいています(b)" in text
    notices.append(_notice("c", [user]))
    tick()  # the day's digest has gone: the new one waits for tomorrow's
    assert len(smtp_server.messages) == 1
    app.config["HYOKA_CLOCK_OFFSET_DAYS"] = 1
    tick()
    assert [m["Subject"].strip() for m in smtp_server.messages][1:] == ["【Hyoka】見直しの期限が近づいています(c)"]


def test_many_at_once_go_in_one_mail(app, smtp_server, test_kind, notices, officer):
    user = officer()
    notices.extend(_notice(key, [user]) for key in "abcde")
    tick()
    [message] = smtp_server.messages
    assert message["Subject"].strip() == "【Hyoka】お知らせ(5件)"
    assert mail_text(message).count("■ ") == 5


def test_a_refused_recipient_is_tried_again_and_given_up_after_five_tries(
    app, smtp_server, test_kind, notices, officer
):
    refused = officer(email="nobody@city.example.lg.jp")
    fine = officer(email="fine@city.example.lg.jp")
    smtp_server.refuse.add(refused.email)
    notices.append(_notice("a", [refused, fine]))
    outcome = _job(tick())
    assert outcome.failed and "宛先を受け付けませんでした" in outcome.message
    assert [m.envelope_to for m in smtp_server.messages] == [[fine.email]]
    row = db.session.execute(sa.select(Notification).filter_by(user_id=refused.id)).scalar_one()
    assert (row.sent_at, row.attempts) == (None, 1)
    for _ in range(4):
        tick()
    db.session.refresh(row)
    assert row.sent_at is not None and row.outcome == "failed" and row.attempts == 5
    tick()
    db.session.refresh(row)
    assert row.attempts == 5


def test_a_server_that_is_down_keeps_everything_pending(app, smtp_server, test_kind, notices, officer):
    from tests.conftest import free_port

    user = officer()
    notices.append(_notice("a", [user]))
    app.extensions["mailman"].port = free_port()  # nothing listens there
    outcome = _job(tick())
    assert outcome.failed and "に接続できません" in outcome.message
    row = db.session.execute(sa.select(Notification)).scalar_one()
    assert (row.sent_at, row.attempts) == (None, 0)
    app.extensions["mailman"].port = smtp_server.port
    tick()
    assert len(smtp_server.messages) == 1


class TestMailOff:
    @pytest.fixture
    def app_config(self):
        return {"HYOKA_SMTP_HOST": ""}

    def test_without_a_host_nothing_is_kept_and_the_tick_says_so(self, app, test_kind, notices, officer, count_rows):
        notices.append(_notice("a", [officer()]))
        outcome = _job(tick())
        assert not outcome.failed
        assert "HYOKA_SMTP_HOST" in outcome.message and "送りません" in outcome.message
        assert count_rows(Notification) == 0


class TestMisconfigured:
    @pytest.fixture
    def app_config(self, smtp_server):
        return {**smtp_server.config, "HYOKA_SMTP_TLS": "yes", "HYOKA_SMTP_SENDER": ""}

    def test_the_tick_fails_and_names_each_setting(self, app, test_kind, notices, officer):
        notices.append(_notice("a", [officer()]))
        outcome = _job(tick())
        assert outcome.failed
        assert "HYOKA_SMTP_TLS の値「yes」は使えません" in outcome.message
        assert "HYOKA_SMTP_SENDER" in outcome.message
