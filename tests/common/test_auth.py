from __future__ import annotations

from datetime import timedelta

from app import create_app
from common.auth import login_name_key
from common.db import db, utcnow
from common.models import AuditEvent, LoginAttempt, User
from tests.conftest import BASE_CONFIG, TEST_PASSWORD


def test_login_logout_round_trip(app, client, make_user):
    user = make_user("officer")
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "ダッシュボード" in page.text and user.display_name in page.text
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_and_recorded(app, client, make_user):
    user = make_user("officer")
    response = client.post("/login", data={"username": user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "ユーザーIDまたはパスワードが正しくありません" in response.text
    # what the user typed is kept (the user id), the password is not echoed back
    assert f'value="{user.username}"' in response.text
    assert 'value="wrong"' not in response.text
    events = db.session.execute(db.select(AuditEvent).filter_by(action="login_failed")).scalars().all()
    assert [e.object_id for e in events] == [str(user.id)]


def test_lockout_after_repeated_failures(app, client, make_user):
    user = make_user("officer")
    for _ in range(app.config["HYOKA_LOGIN_MAX_FAILURES"]):
        client.post("/login", data={"username": user.username, "password": "wrong"})
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "ロックされています" in response.text
    db.session.expire_all()
    locked = db.session.get(LoginAttempt, login_name_key(user.username))
    assert locked.locked_until is not None
    # after the lockout period the right password works again
    locked.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.post("/login", data={"username": user.username, "password": TEST_PASSWORD}).status_code == 302


def test_disabled_user_cannot_log_in(app, client, make_user):
    user = make_user("officer", active=False)
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_disabling_a_user_ends_their_session(app, client, make_user, login):
    user = make_user("officer")
    login(user)
    assert client.get("/").status_code == 200
    db.session.get(User, user.id).active = False
    db.session.commit()
    assert client.get("/").status_code == 302


def test_session_is_rotated_at_login(app, client, make_user):
    user = make_user("officer")
    with client.session_transaction() as sess:
        sess["planted"] = "by-attacker"
    client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("_user_id") == str(user.id)


def test_session_cookie_is_secure_and_httponly(app, client, make_user):
    user = make_user("officer")
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_open_redirect_is_refused(app, client, make_user):
    user = make_user("officer")
    response = client.post("/login?next=//evil.example/", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/"
    response = client.post("/logout")
    response = client.post("/login?next=/admin/audit", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/admin/audit"


def test_change_password(app, client, make_user, login):
    user = make_user("editor", departments=["住民情報課"])
    login(user)
    weak = client.post("/account/password", data={"current": TEST_PASSWORD, "new": "short", "confirm": "short"})
    assert "10文字以上" in weak.text
    wrong = client.post(
        "/account/password", data={"current": "nope", "new": "Another-pass-42", "confirm": "Another-pass-42"}
    )
    assert "現在のパスワードが正しくありません" in wrong.text
    ok = client.post(
        "/account/password", data={"current": TEST_PASSWORD, "new": "Another-pass-42", "confirm": "Another-pass-42"}
    )
    assert ok.status_code == 302
    client.post("/logout")
    assert client.post("/login", data={"username": user.username, "password": TEST_PASSWORD}).status_code == 200
    assert client.post("/login", data={"username": user.username, "password": "Another-pass-42"}).status_code == 302


def test_security_headers(app, client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert response.headers["Cache-Control"] == "no-store"
    # each header once, also where a view set its own (the portal's Cache-Control)
    portal = client.get("/public/")
    assert len(portal.headers.getlist("Cache-Control")) == 1 and "public" in portal.headers["Cache-Control"]
    assert len(portal.headers.getlist("X-Frame-Options")) == 1


def test_no_hsts_without_secure_cookies(app):
    """Strict-Transport-Security only where the cookies are secure (behind TLS)."""
    plain = create_app(
        {
            **BASE_CONFIG,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SESSION_COOKIE_SECURE": False,
        }
    )
    response = plain.test_client().get("/login")
    with plain.app_context():
        db.engine.dispose()
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_error_pages_are_japanese(app, as_role):
    c = as_role("editor", departments=["住民情報課"])
    assert "お探しのページが見つかりません" in c.get("/no-such-page").text
    forbidden = c.get("/admin/users")
    assert forbidden.status_code == 403 and "権限がありません" in forbidden.text
