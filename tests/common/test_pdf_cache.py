"""Public PDFs: rendered once per content, one render per key at a time, a bounded number
of renders, and a 503 with Retry-After instead of a queue."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from common import pdf_cache
from common.db import db
from common.timeutil import today_jst


@pytest.fixture
def open_consultation(make_consultation):
    today = today_jst()
    return make_consultation(status="open", start_date=today - timedelta(days=5), end_date=today + timedelta(days=25))


@pytest.fixture
def counted_renders(monkeypatch):
    """Count the real renders of the assessment PDF (the renderer still runs)."""
    from pia.publication import pdf

    calls = []
    real = pdf.render_version

    def counting(version, **kwargs):
        calls.append(version.id)
        return real(version, **kwargs)

    monkeypatch.setattr(pdf, "render_version", counting)
    return calls


def test_the_draft_pdf_is_rendered_once_per_text(app, client, open_consultation, counted_renders):
    url = f"/public/consultations/{open_consultation.id}/draft.pdf"
    first = client.get(url)
    second = client.get(url)
    assert first.status_code == second.status_code == 200 and first.data.startswith(b"%PDF-")
    assert first.data == second.data and len(counted_renders) == 1
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"].strip('"')}).status_code == 304
    # the public draft is the text put out when the consultation opened: a later edit of the
    # version changes neither the PDF nor its cache entry
    from pia.assessments import services

    services.update_section(open_consultation.version, "basic", {"other_bodies": "変更した記載"}, actor=None)
    db.session.commit()
    third = client.get(url)
    assert third.status_code == 200 and len(counted_renders) == 1 and third.data == first.data


def _in_threads(count, target):
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 — the test looks at what each got
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_simultaneous_requests_for_one_key_wait_for_one_render(app):
    app.config["HYOKA_PDF_WAIT_SECONDS"] = 10
    renders = []

    def render():
        renders.append(1)
        time.sleep(0.5)
        return b"%PDF-one"

    def ask(_i):
        with app.app_context():
            return pdf_cache.cached_pdf(("test", 1), "digest-a", render)

    assert _in_threads(6, ask) == [b"%PDF-one"] * 6
    assert len(renders) == 1


def test_more_renders_than_allowed_are_refused_with_503_and_retry_after(app, client, open_consultation):
    app.config.update(HYOKA_PDF_RENDERS=1, HYOKA_PDF_WAIT_SECONDS=0.3)
    started, release = threading.Event(), threading.Event()

    def slow_render():
        started.set()
        release.wait(20)
        return b"%PDF-slow"

    def hold_the_slot():
        with app.app_context():
            return pdf_cache.cached_pdf(("test", "other"), "digest-b", slow_render)

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    try:
        assert started.wait(10)
        began = time.monotonic()
        response = client.get(f"/public/consultations/{open_consultation.id}/draft.pdf")
        assert time.monotonic() - began < 5
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        assert "しばらくしてから" in response.text
        assert client.get("/healthz").status_code == 200
    finally:
        release.set()
        holder.join(30)
    assert client.get(f"/public/consultations/{open_consultation.id}/draft.pdf").status_code == 200


def test_the_key_names_kind_id_content_and_layout(app):
    keys = {
        pdf_cache.cache_key(("draft", 1), "a"),
        pdf_cache.cache_key(("draft", 2), "a"),
        pdf_cache.cache_key(("report", 1), "a"),
        pdf_cache.cache_key(("draft", 1), "b"),
    }
    assert len(keys) == 4
    assert pdf_cache.cache_key(("draft", 1), "a") == pdf_cache.cache_key(["draft", 1], "a")


def test_every_layout_source_of_the_fingerprint_exists():
    """A moved template or module must not drop out of the cache key silently."""
    from common.pdf_cache import _ROOT, FINGERPRINT_GLOBS

    empty = [pattern for pattern in FINGERPRINT_GLOBS if not any(p.is_file() for p in _ROOT.glob(pattern))]
    assert not empty, f"patterns that match no file: {empty}"
