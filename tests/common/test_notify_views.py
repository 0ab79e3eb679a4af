"""Each person's notification settings page: every staff role has one, it offers the kinds the
person's roles receive, and refuses a bad address without losing anything."""

from __future__ import annotations

import re

import pytest

from common.db import db

URL = "/account/notifications"


def _boxes(page: str) -> dict[str, bool]:
    """kind -> checked, for the checkboxes of the page."""
    return {
        match.group(2): "checked" in match.group(1) + match.group(3)
        for match in re.finditer(r'<input([^>]*)name="kinds" type="checkbox" value="([^"]+)"([^>]*)>', page)
    }


def test_the_page_is_linked_from_every_page_of_a_signed_in_person(app, as_role):
    assert f'href="{URL}"' in as_role("reviewer").get("/").text


@pytest.mark.parametrize(
    ("role", "offered", "not_offered"),
    [
        ("officer", ["annual_review", "consultation_opens", "review_findings"], ["evidence_high_finding"]),
        ("editor", ["annual_review", "reassessment"], ["consultation_opens", "evidence_high_finding"]),
        ("auditor", ["evidence_high_finding", "evidence_feed_overdue"], ["annual_review"]),
    ],
)
def test_the_kinds_offered_are_those_of_the_roles(app, as_role, role, offered, not_offered):
    page = as_role(role, departments=["住民情報課"]).get(URL).text
    assert set(offered) <= _boxes(page).keys()
    assert not set(not_offered) & _boxes(page).keys()
    assert all(_boxes(page).values())  # everything is on until turned off


def test_saving_the_address_the_mode_and_a_kind_turned_off(app, as_role):
    c = as_role("officer")
    data = {
        "email": " tanaka@city.example.lg.jp ",
        "mode": "digest",
        "kinds": [
            "annual_review",
            "reassessment",
            "consultation_closes",
            "consultation_replies",
            "review_findings",
            "evidence_feed_overdue",
        ],
    }
    response = c.post(URL, data=data)
    assert response.status_code == 302
    user = c.user
    db.session.refresh(user)
    assert user.email == "tanaka@city.example.lg.jp"
    assert user.notify_mode == "digest"
    assert user.notify_off == ["consultation_opens"]
    page = c.get(URL).text
    assert "通知の設定を保存しました。" in page
    assert 'value="tanaka@city.example.lg.jp"' in page
    boxes = _boxes(page)
    assert boxes["consultation_opens"] is False and boxes["annual_review"] is True


def test_a_kind_of_another_role_keeps_its_setting(app, as_role):
    c = as_role("editor", departments=["住民情報課"])
    c.user.notify_off = ["consultation_opens"]  # set while the person was an officer
    db.session.commit()
    kinds = ["annual_review", "evidence_feed_overdue"]
    assert c.post(URL, data={"email": "", "mode": "immediate", "kinds": kinds}).status_code == 302
    db.session.refresh(c.user)
    assert c.user.notify_off == ["consultation_opens", "reassessment"]
    assert c.user.email is None


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("tanaka@", "メールアドレスの形式が正しくありません"),
        ("田中 <tanaka@city.example.lg.jp>", "メールアドレスの形式が正しくありません"),
        ("123456789018@city.example.lg.jp", "個人番号"),
        ("a" * 250 + "@x.jp", "254文字以内"),
    ],
)
def test_a_bad_address_is_refused_with_the_reason_and_nothing_is_saved(app, as_role, email, message):
    c = as_role("officer")
    response = c.post(URL, data={"email": email, "mode": "digest", "kinds": []})
    assert response.status_code == 400
    assert message in response.text
    db.session.refresh(c.user)
    assert (c.user.email, c.user.notify_mode, c.user.notify_off) == (None, "immediate", None)


def test_a_mode_that_does_not_exist_is_refused(app, as_role):
    c = as_role("officer")
    assert c.post(URL, data={"email": "", "mode": "hourly"}).status_code == 400


def test_without_a_mail_server_the_page_says_no_mail_is_sent(app, as_role):
    assert "現在、このシステムからメールは送信されません" in as_role("officer").get(URL).text


class TestWithServer:
    @pytest.fixture
    def app_config(self, smtp_server):
        return smtp_server.config

    def test_with_a_mail_server_the_page_does_not_say_so(self, app, as_role):
        assert "メールは送信されません" not in as_role("officer").get(URL).text


def test_an_administrator_sets_a_users_address_from_the_command_line(app, make_user):
    runner = app.test_cli_runner()
    user = make_user("officer")
    result = runner.invoke(args=["users", "email", user.username, "sato@city.example.lg.jp"])
    assert result.exit_code == 0 and "sato@city.example.lg.jp" in result.output
    db.session.refresh(user)
    assert user.email == "sato@city.example.lg.jp"
    bad = runner.invoke(args=["users", "email", user.username, "sato"])
    assert bad.exit_code == 1 and "メールアドレスの形式ではありません" in bad.output
    assert runner.invoke(args=["users", "email", user.username]).exit_code == 0
    db.session.refresh(user)
    assert user.email is None
