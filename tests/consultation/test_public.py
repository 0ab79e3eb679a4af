"""The public page and web form: accessibility, receipt, closed period, honeypot, rate limit, size."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from common.db import db
from common.timeutil import today_jst
from consultation.models import Submission
from tests.consultation.htmltree import parse, squash


@pytest.fixture
def app_config():
    return {"CONSULTATION_RATE_LIMIT": 3, "CONSULTATION_RATE_WINDOW": 600,
            "CONSULTATION_MAX_POST_BYTES": 20_000, "CONSULTATION_MAX_OPINION_CHARS": 2000}


@pytest.fixture
def open_consultation(make_consultation):
    today = today_jst()
    return make_consultation(status="open", start_date=today - timedelta(days=5), end_date=today + timedelta(days=25))


def _valid(**extra):
    data = {"body": "評価書案のリスク対策について意見を述べます。", "name": "札幌 太郎", "address": "",
            "submitter_kind": "individual", "consent": "y", "website": ""}
    data.update(extra)
    return data


def test_page_is_accessible_and_shows_how_to_submit(app, client, open_consultation):
    response = client.get(f"/public/consultations/{open_consultation.id}")
    assert response.status_code == 200
    tree = parse(response.text)
    assert tree.find("html").attrs["lang"] == "ja"
    text = squash(tree.text())
    for channel in ("郵送", "持参", "FAX", "電子メール", "Webフォーム"):
        assert channel in text
    assert "令和" in text and "～" in text
    form = tree.find("form", method="post")
    labels = {n.attrs.get("for") for n in form.find_all("label")}
    assert {"body", "name", "address"} <= labels
    assert "contact" not in labels  # hidden for this consultation
    assert form.find("input", name="contact") is None
    assert [squash(l.text()) for l in form.find_all("legend")][:1] == ["提出される方について"]
    honeypot = form.find("input", name="website")
    assert honeypot is not None and honeypot.attrs["tabindex"] == "-1"
    assert "pc-hp" in honeypot.parent.attrs["class"] and honeypot.parent.attrs["aria-hidden"] == "true"
    assert "<script" not in response.text and "style=" not in response.text


def test_valid_opinion_gets_an_unguessable_receipt(app, client, open_consultation, count_rows):
    response = client.post(f"/public/consultations/{open_consultation.id}", data=_valid())
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/public/consultations/{open_consultation.id}/receipt")
    sub = db.session.execute(db.select(Submission)).scalar_one()
    assert sub.channel == "web" and sub.name == "札幌 太郎" and sub.contact == ""
    assert re.fullmatch(r"PC-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", sub.receipt_number)
    assert len(sub.opinions) == 1 and sub.opinions[0].summary.startswith("評価書案")
    receipt = client.get(response.headers["Location"])
    assert sub.receipt_number in receipt.text
    assert parse(receipt.text).find(id="receipt-number").text() == sub.receipt_number
    # another visitor never sees it
    other = app.test_client().get(f"/public/consultations/{open_consultation.id}/receipt")
    assert other.status_code == 302 and sub.receipt_number not in other.text


def test_receipt_numbers_differ(app, client, open_consultation):
    from consultation.models import new_receipt_number

    numbers = {new_receipt_number() for _ in range(200)}
    assert len(numbers) == 200


def test_missing_required_field_shows_linked_error_summary_and_keeps_input(app, client, open_consultation, count_rows):
    response = client.post(f"/public/consultations/{open_consultation.id}",
                           data=_valid(name="", body="残しておく本文", consent=""))
    assert response.status_code == 200
    tree = parse(response.text)
    summary = tree.find(id="error-summary")
    assert summary is not None and summary.attrs["role"] == "alert"
    targets = {a.attrs["href"] for a in summary.find_all("a")}
    assert {"#name", "#consent"} <= targets
    assert tree.find("textarea", name="body").text().lstrip("\r\n") == "残しておく本文"
    assert tree.find("input", name="name").attrs.get("aria-invalid") == "true"
    assert count_rows(Submission) == 0


def test_body_length_limit(app, client, open_consultation, count_rows):
    response = client.post(f"/public/consultations/{open_consultation.id}", data=_valid(body="あ" * 2001))
    assert response.status_code == 200 and "2000文字以内" in response.text
    assert count_rows(Submission) == 0


def test_form_is_closed_outside_the_period(app, client, make_consultation, count_rows):
    today = today_jst()
    c = make_consultation(status="open", start_date=today - timedelta(days=40), end_date=today - timedelta(days=1))
    page = client.get(f"/public/consultations/{c.id}")
    assert "受付は終了しました" in page.text
    assert parse(page.text).find("textarea", name="body") is None
    response = client.post(f"/public/consultations/{c.id}", data=_valid())
    assert response.status_code == 409 and "受付は終了しました" in response.text
    assert count_rows(Submission) == 0


def test_form_is_closed_before_opening(app, client, make_consultation):
    today = today_jst()
    c = make_consultation(start_date=today + timedelta(days=3), end_date=today + timedelta(days=40))
    page = client.get(f"/public/consultations/{c.id}")
    assert "受付開始までお待ちください" in page.text
    assert parse(page.text).find("textarea", name="body") is None


def test_honeypot_rejects_without_saving(app, client, open_consultation, count_rows):
    response = client.post(f"/public/consultations/{open_consultation.id}", data=_valid(website="http://spam.example"))
    assert response.status_code == 400
    assert "受け付けられませんでした" in response.text
    assert count_rows(Submission) == 0


def test_rate_limit_per_address(app, open_consultation, count_rows):
    url = f"/public/consultations/{open_consultation.id}"
    c1 = app.test_client()
    for _ in range(3):
        assert c1.post(url, data=_valid(), environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 303
    limited = c1.post(url, data=_valid(), environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert limited.status_code == 429
    assert "短時間に何度も送信" in limited.text
    assert count_rows(Submission) == 3
    # another address is not affected
    assert app.test_client().post(url, data=_valid(), environ_base={"REMOTE_ADDR": "192.0.2.2"}).status_code == 303


def test_big_posts_are_refused(app, client, open_consultation, count_rows):
    response = client.post(f"/public/consultations/{open_consultation.id}", data=_valid(body="x" * 30_000))
    assert response.status_code == 413
    assert count_rows(Submission) == 0


def test_report_is_public_only_when_reported(app, client, make_consultation):
    c = make_consultation(status="closed")
    assert client.get(f"/public/consultations/{c.id}/report").status_code == 404
    assert client.get(f"/public/consultations/{c.id}/report.pdf").status_code == 404


def test_draft_is_shown_as_html_and_pdf(app, client, open_consultation):
    html = client.get(f"/public/consultations/{open_consultation.id}/draft")
    assert html.status_code == 200
    assert "pia-document" in html.text and "（案）" in html.text
    pdf = client.get(f"/public/consultations/{open_consultation.id}/draft.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
