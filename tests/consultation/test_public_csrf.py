"""The public web form is protected by CSRF like every other form."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.timeutil import today_jst
from consultation.models import Submission
from tests.conftest import csrf_token_from


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_public_form_needs_a_token(app, client, make_consultation, count_rows):
    today = today_jst()
    c = make_consultation(status="open", start_date=today - timedelta(days=1), end_date=today + timedelta(days=29))
    url = f"/public/consultations/{c.id}"
    data = {"body": "意見です。", "name": "市民", "consent": "y"}
    assert client.post(url, data=data).status_code == 400
    assert client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400
    assert count_rows(Submission) == 0
    token = csrf_token_from(client.get(url).text)
    assert client.post(url, data={**data, "csrf_token": token}).status_code == 303
    assert count_rows(Submission) == 1


@pytest.fixture
def fresh_g(app):
    """Forget the signed token Flask-WTF keeps in ``g``: the test's app context outlives a
    request, a real request has a ``g`` of its own."""
    from flask import g

    @app.before_request
    def _forget_token():
        g.pop("csrf_token", None)


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True, "HYOKA_PORTAL_CACHE_SECONDS": 60}])
def test_cached_form_gives_every_visitor_a_token_of_their_own(app, fresh_g, make_consultation, count_rows):
    """The form page is kept a few seconds per process; the token in it is still the visitor's."""
    today = today_jst()
    c = make_consultation(status="open", start_date=today - timedelta(days=1), end_date=today + timedelta(days=29))
    url = f"/public/consultations/{c.id}"
    data = {"body": "意見です。", "name": "市民", "consent": "y"}
    first, second = app.test_client(), app.test_client()
    first_page, second_page = first.get(url).text, second.get(url).text
    first_token, second_token = csrf_token_from(first_page), csrf_token_from(second_page)
    assert first_page.replace(first_token, "") == second_page.replace(second_token, "")
    # each token belongs to its visitor's session: swapped, both are refused
    assert first.post(url, data={**data, "csrf_token": second_token}).status_code == 400
    assert second.post(url, data={**data, "csrf_token": first_token}).status_code == 400
    assert first.post(url, data={**data, "csrf_token": first_token}).status_code == 303
    assert second.post(url, data={**data, "csrf_token": second_token}).status_code == 303
    assert count_rows(Submission) == 2


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True, "HYOKA_PORTAL_CACHE_SECONDS": 60}])
def test_a_consultation_closed_meanwhile_refuses_posts_from_a_cached_form(app, fresh_g, make_consultation, count_rows):
    from common.db import db

    today = today_jst()
    c = make_consultation(status="open", start_date=today - timedelta(days=1), end_date=today + timedelta(days=29))
    url = f"/public/consultations/{c.id}"
    client = app.test_client()
    client.get(url)
    c.transition("closed", actor="test", reason="システム障害により受付を継続できないため")
    db.session.commit()
    token = csrf_token_from(client.get(url).text)  # still the cached page
    response = client.post(url, data={"body": "意見です。", "name": "市民", "consent": "y", "csrf_token": token})
    assert response.status_code == 409 and "受付は終了しました" in response.text
    assert count_rows(Submission) == 0
