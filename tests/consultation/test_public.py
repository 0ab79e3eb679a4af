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
    return {
        "CONSULTATION_RATE_LIMIT": 3,
        "CONSULTATION_RATE_WINDOW": 600,
        "CONSULTATION_MAX_POST_BYTES": 20_000,
        "CONSULTATION_MAX_OPINION_CHARS": 2000,
    }


@pytest.fixture
def open_consultation(make_consultation):
    today = today_jst()
    return make_consultation(status="open", start_date=today - timedelta(days=5), end_date=today + timedelta(days=25))


def _valid(**extra):
    data = {
        "body": "評価書案のリスク対策について意見を述べます。",
        "name": "札幌 太郎",
        "address": "",
        "submitter_kind": "individual",
        "consent": "y",
        "website": "",
    }
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
    assert [squash(legend.text()) for legend in form.find_all("legend")][:1] == ["提出される方について"]
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
    response = client.post(
        f"/public/consultations/{open_consultation.id}", data=_valid(name="", body="残しておく本文", consent="")
    )
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


def test_form_is_closed_before_the_period_starts(app, client, make_consultation):
    """Opened ahead of its first day: the page and the draft are public, the form waits."""
    today = today_jst()
    c = make_consultation(status="open", start_date=today + timedelta(days=3), end_date=today + timedelta(days=40))
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


def test_refused_posts_count_against_the_address_too(app, open_consultation, count_rows):
    """Honeypot hits and invalid forms are posts like any other: they use up the allowance."""
    url = f"/public/consultations/{open_consultation.id}"
    c = app.test_client()
    env = {"REMOTE_ADDR": "192.0.2.5"}
    assert c.post(url, data=_valid(website="http://spam.example"), environ_base=env).status_code == 400
    assert c.post(url, data=_valid(body=""), environ_base=env).status_code == 200
    assert c.post(url, data=_valid(), environ_base=env).status_code == 303
    refused = c.post(url, data=_valid(body="まだ残しておきたい本文"), environ_base=env)
    assert refused.status_code == 429 and "短時間に何度も送信" in refused.text
    assert count_rows(Submission) == 1


def test_rate_limit_is_shared_by_every_worker(app, open_consultation, count_rows):
    """A second application on the same database (another gunicorn worker) sees the same counts."""
    from app import create_app

    other_worker = create_app({**app.config})
    url = f"/public/consultations/{open_consultation.id}"
    env = {"REMOTE_ADDR": "192.0.2.6"}
    assert app.test_client().post(url, data=_valid(), environ_base=env).status_code == 303
    assert other_worker.test_client().post(url, data=_valid(), environ_base=env).status_code == 303
    assert app.test_client().post(url, data=_valid(), environ_base=env).status_code == 303
    assert other_worker.test_client().post(url, data=_valid(), environ_base=env).status_code == 429
    assert count_rows(Submission) == 3
    with other_worker.app_context():
        db.engine.dispose()


def _add_hits(address_hash: str, ages: list[timedelta]):
    from common.db import utcnow
    from consultation.models import RateLimitHit

    now = utcnow()
    db.session.add_all([RateLimitHit(client_hash=address_hash, at=now - age) for age in ages])
    db.session.commit()


def _hash_of(app, address: str) -> str:
    from consultation.public_views import _client_hash

    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        return _client_hash()


def test_posts_older_than_the_window_do_not_count(app, open_consultation):
    url = f"/public/consultations/{open_consultation.id}"
    _add_hits(_hash_of(app, "192.0.2.7"), [timedelta(seconds=601)] * 5)
    env = {"REMOTE_ADDR": "192.0.2.7"}
    statuses = [app.test_client().post(url, data=_valid(), environ_base=env).status_code for _ in range(4)]
    assert statuses == [303, 303, 303, 429]


@pytest.mark.parametrize("app_config", [{"CONSULTATION_RATE_LIMIT": 3, "CONSULTATION_RATE_CLEANUP_SECONDS": 0}])
def test_hits_older_than_a_day_are_deleted(app, open_consultation, count_rows):
    from consultation.models import RateLimitHit

    key = _hash_of(app, "192.0.2.8")
    _add_hits(key, [timedelta(days=1, minutes=1), timedelta(days=2), timedelta(hours=23)])
    url = f"/public/consultations/{open_consultation.id}"
    assert app.test_client().post(url, data=_valid(), environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 303
    assert count_rows(RateLimitHit, client_hash=key) == 1  # the one of 23 hours ago is kept
    assert count_rows(RateLimitHit) == 2


def test_web_opinion_with_a_my_number_is_stored_masked_everywhere(app, client, open_consultation):
    from common.models import AuditEvent
    from consultation.models import Opinion

    response = client.post(
        f"/public/consultations/{open_consultation.id}",
        data=_valid(body="私の個人番号は1234-5678-9018です。記載例を示してください。"),
    )
    assert response.status_code == 303
    sub = db.session.execute(db.select(Submission)).scalar_one()
    assert sub.body == "私の個人番号は［個人番号］です。記載例を示してください。"
    assert "伏せ字" in sub.note
    assert db.session.execute(db.select(Opinion.summary)).scalar_one() == sub.body
    trail = db.session.execute(db.select(AuditEvent.summary, AuditEvent.before, AuditEvent.after)).all()
    assert trail and "9018" not in repr(trail) and "123456789018" not in repr(trail)


def test_web_submission_leaves_its_audit_trail(app, client, open_consultation):
    from common.models import AuditEvent
    from consultation.models import Opinion

    client.post(f"/public/consultations/{open_consultation.id}", data=_valid())
    sub = db.session.execute(db.select(Submission)).scalar_one()
    opinion = db.session.execute(db.select(Opinion)).scalar_one()
    rows = (
        db.session.execute(
            db.select(AuditEvent)
            .where(AuditEvent.object_type.in_(["Submission", "Opinion", "consultation_submission"]))
            .order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )
    by_type = {r.object_type: r for r in rows}
    assert sorted((r.action, r.object_type, r.object_id) for r in rows) == [
        ("create", "Opinion", str(opinion.id)),
        ("create", "Submission", str(sub.id)),
        ("create", "consultation_submission", str(sub.id)),
    ]
    assert by_type["Submission"].after["body"] == sub.body
    assert by_type["Opinion"].after["summary"] == opinion.summary
    assert by_type["consultation_submission"].actor_name == "public"
    assert sub.receipt_number in by_type["consultation_submission"].summary
    assert all(r.ip == "127.0.0.1" for r in rows)


def test_submission_is_written_in_few_statements(app, open_consultation):
    """The intake path of the busiest form stays short: no reloading, no statement per row."""
    import sqlalchemy as sa

    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split(None, 1)[0].upper())

    url = f"/public/consultations/{open_consultation.id}"
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = app.test_client().post(url, data=_valid(), environ_base={"REMOTE_ADDR": "192.0.2.10"})
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 303
    # the rate-limit hit, the consultation, the next No., the submission, its opinion and
    # all the audit rows in one INSERT (the cleanup of old hits runs at most once a minute
    # per process)
    assert statements.count("SELECT") <= 2 and statements.count("INSERT") == 4, statements
    assert len(statements) <= 7, statements
