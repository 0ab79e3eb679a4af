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
