"""Session protection: a signed-in session ends in another browser; anonymous ones are left alone.

An anonymous visitor's session (a CSRF token, a receipt number) holds no identifier of the
browser; checking it would empty it of the login keys and delete a remember cookie on every
response that reads ``current_user`` (a Set-Cookie for nothing).
"""

from __future__ import annotations

from tests.conftest import TEST_PASSWORD


def _cookies_set(response) -> list[str]:
    return [value.split("=", 1)[0] for value in response.headers.getlist("Set-Cookie")]


def _sign_in_from_browser_a(client, make_user):
    user = make_user("officer")
    client.post(
        "/login", data={"username": user.username, "password": TEST_PASSWORD}, headers={"User-Agent": "browser-a"}
    )


def test_anonymous_session_is_left_as_it_is(app, client):
    with client.session_transaction() as sess:
        sess["consultation_receipt_1"] = "PC-TEST-0000-0000"
    response = client.get("/login")  # renders the layout, which reads current_user
    assert response.status_code == 200
    assert _cookies_set(response) == []  # neither the session nor a remember cookie is rewritten
    with client.session_transaction() as sess:
        assert sess["consultation_receipt_1"] == "PC-TEST-0000-0000"
        assert "_remember" not in sess


def test_signed_in_session_from_another_browser_is_ended(app, client, make_user, caplog):
    """A signed-in session (permanent, as every sign-in makes it) presented by another
    browser loses the user, and the application log says so."""
    _sign_in_from_browser_a(client, make_user)
    with client.session_transaction() as sess:
        assert sess.permanent
    assert client.get("/", headers={"User-Agent": "browser-a"}).status_code == 200
    assert client.get("/", headers={"User-Agent": "browser-b"}).status_code == 302
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    assert client.get("/", headers={"User-Agent": "browser-a"}).status_code == 302  # stays signed out
    assert any("presented from another address or browser" in r.getMessage() for r in caplog.records)


def test_signed_in_session_from_another_address_is_ended(app, client, make_user):
    _sign_in_from_browser_a(client, make_user)
    headers = {"User-Agent": "browser-a"}
    assert client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.99"}).status_code == 302


def test_session_keys_follow_a_key_rotation(app, client, make_user):
    """The cached signing serializer follows SECRET_KEY and SECRET_KEY_FALLBACKS: a cookie
    signed with the old key holds while that key is a fallback, and not after."""
    _sign_in_from_browser_a(client, make_user)
    ua = {"User-Agent": "browser-a"}
    assert client.get("/", headers=ua).status_code == 200
    old = app.config["SECRET_KEY"]
    app.config.update(SECRET_KEY="rotated-secret", SECRET_KEY_FALLBACKS=[old])
    assert client.get("/", headers=ua).status_code == 200  # re-signed with the new key
    app.config.update(SECRET_KEY="another-secret", SECRET_KEY_FALLBACKS=[])
    assert client.get("/", headers=ua).status_code == 302
