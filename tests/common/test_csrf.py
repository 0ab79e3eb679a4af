"""Every form POST without a valid CSRF token is refused."""

from __future__ import annotations

import pytest

from tests.common.test_route_roles import _dummy_url, _rules
from tests.conftest import TEST_PASSWORD, csrf_token_from


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_login_without_token_is_refused(app, client, make_user):
    user = make_user("officer")
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "不正な送信" in response.text


def test_login_with_token_succeeds(app, client, make_user):
    user = make_user("officer")
    token = csrf_token_from(client.get("/login").text)
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_every_post_route_refuses_a_missing_or_forged_token(app, client, make_user):
    user = make_user(*["admin", "officer", "editor", "reviewer", "auditor"], departments=["住民情報課"])
    token = csrf_token_from(client.get("/login").text)
    client.post("/login", data={"username": user.username, "password": TEST_PASSWORD, "csrf_token": token})
    checked = 0
    for rule, view, method in _rules(app):
        if method not in ("POST", "PUT", "PATCH", "DELETE") or getattr(view, "hyoka_api", False):
            continue
        url = _dummy_url(app, rule)
        for data in ({}, {"csrf_token": "forged"}):
            response = client.open(url, method=method, data=data)
            assert response.status_code == 400, (rule.rule, response.status_code)
        checked += 1
    assert checked >= 3
