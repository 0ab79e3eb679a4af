"""Check settings: the list for auditors, officers and administrators; the administrators'
edit form (typed parameters, Japanese errors that keep what was typed), reset to defaults,
and the audit trail."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from evidence.checks import CHECKS, save_settings, settings_for
from evidence.models import CheckConfig
from tests.conftest import csrf_token_from

URL = "/evidence/checks"


def errors(html: str) -> list[str]:
    return re.findall(r'<p class="error" role="alert">([^<]*)</p>', html)


def value_of(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    assert match, f"no input {name}"
    return match.group(1)


def trail(name: str) -> list[AuditEvent]:
    """The explicit audit events of a check's settings (the automatic ones have no summary)."""
    return (
        db.session.execute(
            sa.select(AuditEvent)
            .where(AuditEvent.object_type == "CheckConfig", AuditEvent.object_id == name, AuditEvent.summary != "")
            .order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )


def defaults_of(name: str) -> dict:
    check = CHECKS[name]
    return {"enabled": True, "severity": check.severity, "params": dict(check.defaults)}


def as_dict(settings) -> dict:
    return {"enabled": settings.enabled, "severity": settings.severity, "params": settings.params}


@pytest.fixture
def admin(as_role):
    return as_role("admin")


@pytest.fixture
def affairs(app, department):
    from pia.assessments.models import Affair

    dept = department("住民情報課")
    db.session.add_all(
        [
            Affair(code="juki", name="住民基本台帳に関する事務", department=dept),
            Affair(code="kojin-juminzei", name="個人住民税に関する事務", department=dept),
        ]
    )
    db.session.commit()


# ---------------------------------------------------------------------------
# The list
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "auditor", "officer"])
def test_list_shows_every_check_with_its_settings(as_role, role):
    save_settings("bulk_access", enabled=False, severity="high", params={"subjects": 300})
    db.session.commit()
    page = as_role(role).get(URL).text
    for check in CHECKS.values():
        assert check.title in page and check.description in page
    assert "III 3. 特定個人情報の使用 リスク4「特定個人情報ファイルが不正に複製されるリスク」" in page
    # the changed threshold with its default, the stopped check, the changed severity
    assert "300人" in page and "既定値: 200人" in page and "停止中" in page and "既定値: 中" in page
    assert "90日" in page  # dormant_grant, unchanged
    edit_links = re.findall(r'href="/evidence/checks/([a-z_]+)"', page)
    assert sorted(edit_links) == (sorted(CHECKS) if role == "admin" else [])


@pytest.mark.parametrize("role", ["editor", "reviewer"])
def test_list_is_refused_to_other_roles(as_role, role):
    assert as_role(role).get(URL).status_code == 403


def test_admin_dashboard_leads_to_the_settings(admin):
    save_settings("dormant_grant", enabled=False, severity=None, params={})
    db.session.commit()
    page = admin.get("/").text
    assert "証跡の点検の設定" in page and 'href="/evidence/checks"' in page
    assert "1</strong> 種類の点検を停止しています" in page


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------


def test_form_shows_the_current_settings(admin, juki):
    save_settings(
        "after_hours",
        enabled=True,
        severity="medium",
        params={"start": "08:30", "end": "17:15", "systems": {"JUKI": {"start": "07:00"}}},
    )
    db.session.commit()
    page = admin.get(f"{URL}/after_hours").text
    assert "業務時間" in page and "システムごとの業務時間" in page
    assert value_of(page, "start") == "08:30" and value_of(page, "end") == "17:15"
    assert re.search(r'<option selected value="JUKI">', page)
    assert value_of(page, "systems-0-start") == "07:00" and value_of(page, "systems-0-end") == ""
    assert re.search(r'<input checked[^>]*name="severity"[^>]*value="medium"', page)


def test_saving_changes_what_settings_for_returns(admin):
    r = admin.post(f"{URL}/bulk_access", data={"severity": "high", "subjects": "３，０００"})
    assert r.status_code == 302 and r.headers["Location"].endswith(URL)
    assert as_dict(settings_for("bulk_access")) == {"enabled": False, "severity": "high", "params": {"subjects": 3000}}
    assert "点検「大量参照」の設定を保存しました" in admin.get(URL).text

    r = admin.post(f"{URL}/stale_grant", data={"enabled": "y", "severity": "medium", "days": "30"})
    assert r.status_code == 302
    assert as_dict(settings_for("stale_grant")) == {"enabled": True, "severity": "medium", "params": {"days": 30}}
    # only what differs from the defaults is stored
    row = db.session.get(CheckConfig, "stale_grant")
    assert row.severity is None and row.params == {"days": 30}


def test_saving_hours_and_per_system_hours(admin, juki):
    r = admin.post(
        f"{URL}/after_hours",
        data={
            "enabled": "y",
            "severity": "low",
            "start": "８：３０",
            "end": "17:15",
            "systems-0-system": "JUKI",
            "systems-0-start": "7:00",
            "systems-0-end": "",
            "systems-1-system": "",
            "systems-1-start": "",
            "systems-1-end": "",
        },
    )
    assert r.status_code == 302, errors(r.text)
    assert settings_for("after_hours").params == {
        "start": "08:30",
        "end": "17:15",
        "systems": {"JUKI": {"start": "07:00"}},
    }

    # emptying the row removes the override
    r = admin.post(
        f"{URL}/after_hours",
        data={
            "enabled": "y",
            "severity": "low",
            "start": "08:30",
            "end": "17:15",
            "systems-0-system": "",
            "systems-0-start": "",
            "systems-0-end": "",
        },
    )
    assert r.status_code == 302, errors(r.text)
    assert settings_for("after_hours").params["systems"] == {}


@pytest.mark.parametrize("name", ["provision_outside_basis", "inquiry_declared_none"])
def test_saving_the_info_item_mapping(admin, affairs, name):
    r = admin.post(
        f"{URL}/{name}",
        data={
            "enabled": "y",
            "severity": "high",
            "info_item_affairs-0-info_item": "住民票関係情報",
            "info_item_affairs-0-affair": "juki",
            "info_item_affairs-1-info_item": " 地方税関係情報 ",
            "info_item_affairs-1-affair": "kojin-juminzei",
            "info_item_affairs-2-info_item": "",
            "info_item_affairs-2-affair": "",
        },
    )
    assert r.status_code == 302, errors(r.text)
    assert settings_for(name).params["info_item_affairs"] == {
        "住民票関係情報": "juki",
        "地方税関係情報": "kojin-juminzei",
    }
    page = admin.get(URL).text
    assert "地方税関係情報 → kojin-juminzei" in page


def test_saving_without_change_writes_nothing(admin):
    r = admin.post(f"{URL}/denied_spike", data={"enabled": "y", "severity": "medium", "denied": "10"})
    assert r.status_code == 302
    assert db.session.get(CheckConfig, "denied_spike") is None and trail("denied_spike") == []
    assert "変更はありませんでした" in admin.get(URL).text


def test_every_change_goes_to_the_audit_trail(admin):
    admin.post(f"{URL}/dormant_grant", data={"enabled": "y", "severity": "high", "days": "180"})
    events = trail("dormant_grant")
    assert len(events) == 1
    ev = events[0]
    assert ev.action == "update" and ev.actor_id == admin.user.id
    assert "「使われていない権限」" in ev.summary and "重要度" in ev.summary and "基準日数" in ev.summary
    assert ev.before == {"enabled": True, "severity": "low", "params": {"days": 90}}
    assert ev.after == {"enabled": True, "severity": "high", "params": {"days": 180}}


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, message",
    [
        ("", "入力してください。"),
        ("十四", "数字(整数)で入力してください。"),
        ("-3", "数字(整数)で入力してください。"),
        ("1.5", "数字(整数)で入力してください。"),
        ("0", "1から365までの整数(日)で入力してください。"),
        ("366", "1から365までの整数(日)で入力してください。"),
    ],
)
def test_bad_numbers_are_refused_and_kept(admin, typed, message):
    r = admin.post(f"{URL}/stale_grant", data={"severity": "low", "days": typed})
    assert r.status_code == 400
    assert message in errors(r.text)
    assert value_of(r.text, "days") == typed
    # what else was typed is kept too: the check stays switched off, severity 低
    assert not re.search(r'<input checked[^>]*name="enabled"', r.text)
    assert re.search(r'<input checked[^>]*name="severity"[^>]*value="low"', r.text)
    assert db.session.get(CheckConfig, "stale_grant") is None
    assert as_dict(settings_for("stale_grant")) == defaults_of("stale_grant")


@pytest.mark.parametrize(
    "name, field, limit",
    [("dormant_grant", "days", "1,095"), ("bulk_access", "subjects", "100,000"), ("denied_spike", "denied", "10,000")],
)
def test_numbers_have_upper_bounds(admin, name, field, limit):
    r = admin.post(f"{URL}/{name}", data={"enabled": "y", "severity": "low", field: "123456789018"})
    assert r.status_code == 400 and any("までの整数" in e and limit in e for e in errors(r.text))
    assert settings_for(name).params == CHECKS[name].defaults


def test_bad_severity_is_refused(admin):
    r = admin.post(f"{URL}/no_grant", data={"enabled": "y", "severity": "critical"})
    assert r.status_code == 400 and "重要度は「高」「中」「低」から選んでください。" in errors(r.text)
    r = admin.post(f"{URL}/no_grant", data={"enabled": "y"})
    assert r.status_code == 400 and "重要度を選んでください。" in errors(r.text)
    assert db.session.get(CheckConfig, "no_grant") is None


def test_bad_hours_are_refused_and_kept(admin, juki):
    base = {"enabled": "y", "severity": "low"}
    r = admin.post(f"{URL}/after_hours", data={**base, "start": "25:00", "end": "8時"})
    assert r.status_code == 400
    assert errors(r.text).count("「08:30」のように、時と分をコロンで区切って入力してください(00:00〜23:59)。") == 2
    assert value_of(r.text, "start") == "25:00" and value_of(r.text, "end") == "8時"

    r = admin.post(f"{URL}/after_hours", data={**base, "start": "18:00", "end": "09:00"})
    assert r.status_code == 400 and "終了は開始より後の時刻にしてください。" in errors(r.text)
    assert value_of(r.text, "start") == "18:00" and value_of(r.text, "end") == "09:00"

    r = admin.post(f"{URL}/after_hours", data={**base, "start": "", "end": "19:00"})
    assert r.status_code == 400 and "時刻を入力してください。" in errors(r.text)
    assert settings_for("after_hours").params == CHECKS["after_hours"].defaults


def test_bad_system_rows_are_refused_and_kept(admin, juki):
    base = {"enabled": "y", "severity": "low", "start": "08:00", "end": "19:00"}
    cases = [
        ({"systems-0-system": "NOSUCH", "systems-0-start": "09:00"}, "システム台帳にないシステムです。"),
        ({"systems-0-system": "", "systems-0-start": "09:00"}, "システムを選んでください。"),
        ({"systems-0-system": "JUKI"}, "開始・終了の少なくとも一方を入力してください。"),
        # an own start after the common end
        ({"systems-0-system": "JUKI", "systems-0-start": "20:00"}, "終了は開始より後の時刻にしてください。"),
        (
            {
                "systems-0-system": "JUKI",
                "systems-0-start": "07:00",
                "systems-1-system": "JUKI",
                "systems-1-end": "20:00",
            },
            "同じシステムが複数の行にあります。",
        ),
    ]
    for rows, message in cases:
        r = admin.post(f"{URL}/after_hours", data={**base, **rows})
        assert r.status_code == 400, rows
        assert message in errors(r.text), (rows, errors(r.text))
        for key, typed in rows.items():
            if key.endswith(("start", "end")):
                assert value_of(r.text, key) == typed
    assert db.session.get(CheckConfig, "after_hours") is None


def test_bad_mapping_rows_are_refused_and_kept(admin, affairs):
    base = {"enabled": "y", "severity": "high"}
    cases = [
        (
            {"info_item_affairs-0-info_item": "住民票関係情報", "info_item_affairs-0-affair": "nosuch"},
            "登録されていない事務です。",
        ),
        (
            {"info_item_affairs-0-info_item": "住民票関係情報", "info_item_affairs-0-affair": ""},
            "事務を選んでください。",
        ),
        (
            {"info_item_affairs-0-info_item": "", "info_item_affairs-0-affair": "juki"},
            "情報項目の名称を入力してください。",
        ),
        (
            {"info_item_affairs-0-info_item": "住" * 101, "info_item_affairs-0-affair": "juki"},
            "100文字以内で入力してください。",
        ),
        (
            {"info_item_affairs-0-info_item": "番号 1234-5678-9018", "info_item_affairs-0-affair": "juki"},
            "個人番号のような12桁の数字は入力できません。",
        ),
        (
            {
                "info_item_affairs-0-info_item": "住民票関係情報",
                "info_item_affairs-0-affair": "juki",
                "info_item_affairs-1-info_item": "住民票関係情報",
                "info_item_affairs-1-affair": "kojin-juminzei",
            },
            "同じ情報項目が複数の行にあります。",
        ),
    ]
    for rows, message in cases:
        r = admin.post(f"{URL}/provision_outside_basis", data={**base, **rows})
        assert r.status_code == 400, rows
        assert message in errors(r.text), (rows, errors(r.text))
        assert value_of(r.text, "info_item_affairs-0-info_item") == rows["info_item_affairs-0-info_item"]
    assert db.session.get(CheckConfig, "provision_outside_basis") is None
    assert trail("provision_outside_basis") == []


def test_typed_markup_is_shown_as_text(admin):
    r = admin.post(
        f"{URL}/inquiry_declared_none",
        data={
            "enabled": "y",
            "severity": "high",
            "info_item_affairs-0-info_item": '"><script>alert(1)</script>',
            "info_item_affairs-0-affair": "",
        },
    )
    assert r.status_code == 400
    assert "<script>alert(1)" not in r.text and "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_an_old_row_that_left_the_inventory_can_be_kept_or_removed(admin, juki):
    save_settings("after_hours", enabled=True, severity=None, params={"systems": {"OLDSYS": {"start": "09:00"}}})
    db.session.commit()
    page = admin.get(f"{URL}/after_hours").text
    assert "OLDSYS(システム台帳にありません)" in page
    base = {"enabled": "y", "severity": "low", "start": "08:00", "end": "19:00"}
    r = admin.post(f"{URL}/after_hours", data={**base, "systems-0-system": "OLDSYS", "systems-0-start": "09:30"})
    assert r.status_code == 302, errors(r.text)
    assert settings_for("after_hours").params["systems"] == {"OLDSYS": {"start": "09:30"}}
    r = admin.post(f"{URL}/after_hours", data={**base, "systems-0-system": ""})
    assert r.status_code == 302 and settings_for("after_hours").params["systems"] == {}


def test_malformed_stored_settings_still_open(admin, juki):
    """Settings written by hand (CLI, an old version) that the form does not understand."""
    save_settings("after_hours", enabled=True, severity=None, params={"systems": "JUKI"})
    save_settings(
        "inquiry_declared_none", enabled=True, severity=None, params={"info_item_affairs": ["住民票関係情報"]}
    )
    db.session.commit()
    assert admin.get(URL).status_code == 200
    assert admin.get(f"{URL}/after_hours").status_code == 200
    assert admin.get(f"{URL}/inquiry_declared_none").status_code == 200


def test_unknown_check_is_not_found(admin):
    assert admin.get(f"{URL}/nosuch").status_code == 404
    assert admin.post(f"{URL}/nosuch/reset").status_code == 404


# ---------------------------------------------------------------------------
# Reset
# ---------------------------------------------------------------------------


def test_reset_restores_the_defaults(admin, juki):
    r = admin.post(
        f"{URL}/after_hours",
        data={
            "severity": "high",
            "start": "09:00",
            "end": "17:00",
            "systems-0-system": "JUKI",
            "systems-0-start": "07:00",
            "systems-0-end": "22:00",
        },
    )
    assert r.status_code == 302
    changed = as_dict(settings_for("after_hours"))
    assert changed["enabled"] is False and changed["severity"] == "high"

    page = admin.get(f"{URL}/after_hours").text
    assert 'action="/evidence/checks/after_hours/reset"' in page and "既定値に戻す" in page
    # the first POST asks and changes nothing
    r = admin.post(f"{URL}/after_hours/reset")
    assert r.status_code == 200 and "既定値に戻します" in r.text
    assert as_dict(settings_for("after_hours")) == changed
    r = admin.post(f"{URL}/after_hours/reset", data={"confirm": "yes"})
    assert r.status_code == 302
    assert as_dict(settings_for("after_hours")) == defaults_of("after_hours")
    assert "既定値に戻しました" in admin.get(URL).text
    ev = trail("after_hours")[-1]
    assert "既定値に戻しました" in ev.summary
    assert ev.before == changed and ev.after == defaults_of("after_hours")

    # a second reset changes nothing and records nothing
    admin.post(f"{URL}/after_hours/reset", data={"confirm": "yes"})
    assert len(trail("after_hours")) == 2


# ---------------------------------------------------------------------------
# Who may change
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "officer", "editor", "reviewer"])
def test_other_roles_cannot_change(as_role, role):
    c = as_role(role, departments=["住民情報課"])
    assert c.get(f"{URL}/bulk_access").status_code == 403
    r = c.post(f"{URL}/bulk_access", data={"enabled": "y", "severity": "high", "subjects": "5"})
    assert r.status_code == 403
    save_settings("denied_spike", enabled=False, severity="high", params={"denied": 3})
    db.session.commit()
    assert c.post(f"{URL}/denied_spike/reset").status_code == 403
    assert settings_for("bulk_access").params == {"subjects": 200}
    assert as_dict(settings_for("denied_spike")) == {"enabled": False, "severity": "high", "params": {"denied": 3}}
    assert trail("bulk_access") == [] and trail("denied_spike") == []


def test_forms_need_the_csrf_token(app, admin):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = admin.get(f"{URL}/bulk_access").text
        token = csrf_token_from(page)
        settings_form = re.search(r'<form method="post" novalidate>.*?</form>', page, re.S).group(0)
        reset_form = re.search(r'<form method="post" action="[^"]*/reset".*?</form>', page, re.S).group(0)
        assert 'name="csrf_token"' in settings_form and 'name="csrf_token"' in reset_form
        data = {"enabled": "y", "severity": "medium", "subjects": "250"}
        assert admin.post(f"{URL}/bulk_access", data=data).status_code == 400
        assert admin.post(f"{URL}/bulk_access/reset", data={"confirm": "yes"}).status_code == 400
        assert settings_for("bulk_access").params == {"subjects": 200}
        assert admin.post(f"{URL}/bulk_access", data={**data, "csrf_token": token}).status_code == 302
        assert settings_for("bulk_access").params == {"subjects": 250}
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_list_counts_the_checks_and_names_systems_without_transactions(as_role, feed):
    from tests.evidence.conftest import access_csv

    page = as_role("auditor").get(URL).text
    assert f"{len(CHECKS)}種類の点検" in page
    assert "説明の突合は対象外のシステム" not in page  # no accesses yet: nothing to say
    feed("access", access_csv("a1,2025-04-01T10:00:00+09:00,JUKI,u1,view,S1,T1,,"))
    page = as_role("auditor").get(URL).text
    assert "説明の突合は対象外のシステム: 既存住基システム" in page
    feed(
        "transactions",
        "transaction_id,occurred_at,system,department,kind,subject_id,user_id\n"
        "T1,2025-04-01T09:00:00+09:00,JUKI,中央区戸籍住民課,転入届,S1,\n",
    )
    assert "説明の突合は対象外のシステム" not in as_role("auditor").get(URL).text


def test_check_command_says_which_systems_are_not_matched(app, feed):
    from tests.evidence.conftest import access_csv

    feed("access", access_csv("a1,2025-04-01T10:00:00+09:00,JUKI,u1,view,S1,T1,,"))
    result = app.test_cli_runner().invoke(args=["evidence", "check"])
    assert result.exit_code == 0, result.output
    assert "説明のない参照: 受付記録が届いていないため、JUKI は説明の突合は対象外です。" in result.output


def test_a_check_that_always_runs_offers_no_switch_and_no_severity(as_role):
    admin = as_role("admin")
    page = admin.get(f"{URL}/protected_subject").text
    assert "常に行い、重要度は常に「高」" in page and "変更できる設定はありません" in page
    assert 'name="enabled"' not in page and 'name="severity"' not in page and "保存する" not in page
    # a hand-made POST cannot switch it off or lower it either
    token = csrf_token_from(page)
    r = admin.post(f"{URL}/protected_subject", data={"csrf_token": token, "severity": "low"})
    assert r.status_code == 302
    settings = settings_for("protected_subject")
    assert settings.enabled is True and settings.severity == "high"
    row = db.session.get(CheckConfig, "protected_subject")
    assert row is None or (row.enabled and row.severity is None)
    # an ordinary check still has both
    page = admin.get(f"{URL}/after_hours").text
    assert 'name="enabled"' in page and 'name="severity"' in page
