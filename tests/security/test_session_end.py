"""Sessions end when they should: a copied session cookie dies with logout, and every other
session of a user ends when the password changes, is reset by an administrator, the roles
change or the account is disabled. The session that changed its own password stays.
"""

from __future__ import annotations

from common.auth import EPOCH_KEY
from common.db import db
from common.models import AuditEvent, User
from tests.conftest import TEST_PASSWORD

NEW_PASSWORD = "Another-pass-42"


def _signed_in(app, login, user):
    """A browser of its own, signed in as ``user``."""
    c = app.test_client()
    login(user, c=c)
    assert c.get("/").status_code == 200
    return c


def _copy(app, client):
    """Another browser holding a copy of ``client``'s session cookie (same address and agent)."""
    thief = app.test_client()
    cookie = client.get_cookie("hyoka_session")
    thief.set_cookie("hyoka_session", cookie.value, domain=cookie.domain)
    return thief


def _signed_out(c) -> bool:
    response = c.get("/")
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def _events(action):
    return db.session.execute(db.select(AuditEvent).filter_by(action=action).order_by(AuditEvent.id)).scalars().all()


def test_copied_cookie_dies_with_logout(app, make_user, login):
    user = make_user("officer")
    browser = _signed_in(app, login, user)
    thief = _copy(app, browser)
    assert thief.get("/").status_code == 200  # the copy works while the session lives
    assert browser.post("/logout").status_code == 302
    assert _signed_out(thief)
    # and it stays dead: the refused cookie is not revived by the next request
    assert _signed_out(thief)


def test_logout_ends_every_session_of_the_user(app, make_user, login):
    user, other = make_user("officer"), make_user("officer")
    first, second = _signed_in(app, login, user), _signed_in(app, login, user)
    bystander = _signed_in(app, login, other)
    first.post("/logout")
    assert _signed_out(second)
    assert bystander.get("/").status_code == 200  # another user's session is untouched
    assert [e.summary for e in _events("logout")] == ["ログアウト（全てのセッションを終了）"]


def test_password_change_ends_the_other_sessions_and_keeps_this_one(app, make_user, login):
    user = make_user("officer")
    here, elsewhere = _signed_in(app, login, user), _signed_in(app, login, user)
    stolen_before = _copy(app, here)
    response = here.post(
        "/account/password", data={"current": TEST_PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert here.get("/").status_code == 200  # re-issued: stays signed in
    assert _signed_out(elsewhere)  # the other browser is signed out
    assert _signed_out(stolen_before)  # and so is a copy taken before the change
    assert [e.summary for e in _events("sessions_ended")] == ["全てのセッションを終了（パスワードの変更）"]
    assert here.post("/logout").status_code == 302
    login(user, password=NEW_PASSWORD, c=elsewhere)


def _admin_edit(admin, user, **changes):
    data = {
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(user.roles),
        "active": "y" if user.active else "",
        "password": "",
        "departments": [str(d.id) for d in user.departments],
    }
    data.update(changes)
    data = {k: v for k, v in data.items() if v != ""}
    response = admin.post(f"/admin/users/{user.id}", data=data)
    assert response.status_code == 302, response.text[:500]


def test_admin_password_reset_ends_the_users_sessions(app, make_user, login, as_role):
    user = make_user("editor", departments=["住民情報課"])
    browser = _signed_in(app, login, user)
    admin = as_role("admin")
    _admin_edit(admin, user, password=NEW_PASSWORD)
    assert _signed_out(browser)
    assert admin.get("/admin/users").status_code == 200  # the administrator's own session stays
    assert _events("sessions_ended")[-1].summary == "全てのセッションを終了（パスワードの再設定）"


def test_role_change_ends_the_users_sessions(app, make_user, login, as_role):
    user = make_user("officer")
    browser = _signed_in(app, login, user)
    _admin_edit(as_role("admin"), user, roles=["officer", "auditor"])
    assert _signed_out(browser)
    assert _events("sessions_ended")[-1].summary == "全てのセッションを終了（役割の変更）"


def test_editing_only_the_name_keeps_the_session(app, make_user, login, as_role):
    user = make_user("officer")
    browser = _signed_in(app, login, user)
    _admin_edit(as_role("admin"), user, display_name="新しい氏名")
    assert browser.get("/").status_code == 200
    assert _events("sessions_ended") == []


def test_disabled_then_enabled_again_does_not_revive_the_session(app, make_user, login, as_role):
    user = make_user("officer")
    browser = _signed_in(app, login, user)
    admin = as_role("admin")
    _admin_edit(admin, user, active="")
    assert _signed_out(browser)
    db.session.expire_all()
    _admin_edit(admin, db.session.get(User, user.id), active="y")
    assert _signed_out(browser)
    assert _events("sessions_ended")[-1].summary == "全てのセッションを終了（利用の停止）"


def test_administrator_resetting_their_own_password_stays_signed_in(app, as_role):
    admin = as_role("admin")
    other_browser = _copy(app, admin)
    _admin_edit(admin, admin.user, password=NEW_PASSWORD)
    assert admin.get("/admin/users").status_code == 200
    assert _signed_out(other_browser)


def test_a_session_without_its_epoch_is_refused(app, client, make_user, login, caplog):
    """A session signed in before sessions carried an epoch (before the upgrade) ends once."""
    user = make_user("officer")
    login(user)
    with client.session_transaction() as sess:
        del sess[EPOCH_KEY]
    assert _signed_out(client)
    assert any("before its sessions were ended" in r.getMessage() for r in caplog.records)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_session_protection_still_ends_a_session_in_another_browser(app, client, make_user, login):
    user = make_user("officer")
    client.post(
        "/login", data={"username": user.username, "password": TEST_PASSWORD}, headers={"User-Agent": "browser-a"}
    )
    assert client.get("/", headers={"User-Agent": "browser-a"}).status_code == 200
    assert client.get("/", headers={"User-Agent": "browser-b"}).status_code == 302
    with client.session_transaction() as sess:
        assert "_user_id" not in sess and EPOCH_KEY not in sess


def test_api_session_access_ends_too(app, make_user, login):
    """The JSON API, used with a session cookie, follows the same rule."""
    user = make_user("auditor")
    browser = _signed_in(app, login, user)
    thief = _copy(app, browser)
    path = app.url_for("api.api_assessments", _external=False)
    assert thief.get(path).status_code == 200
    browser.post("/logout")
    assert thief.get(path).status_code == 401
