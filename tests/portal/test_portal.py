"""The public portal: only published content, accessible pages, stored PDFs with ETags, Atom."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from common.db import db
from pia.assessments.models import Affair, Assessment, AssessmentVersion
from pia.publication.models import PublishedDocument

ATOM = "{http://www.w3.org/2005/Atom}"
#: a word only the draft contains (must never be findable or shown)
DRAFT_SECRET = "下書きだけの記載ガバメントクラウド移行計画"


def doc(name: str, extra: str = "") -> dict:
    return {
        "cover": {
            "assessment_number": "1",
            "name": name,
            "body_name": "札幌市長",
            "declaration": "個人のプライバシー等の権利利益の保護に取り組むことを宣言する。",
        },
        "basic": {
            "affair": {
                "name": "住民基本台帳に関する事務",
                "description": f"住民票の記載{extra}",
                "target_count": "30万人以上",
            }
        },
    }


@pytest.fixture
def portal_data(app, department):
    """住民基本台帳: 第1版・第2版 published, 第3版 draft; 個人住民税: draft only."""
    juki = Affair(code="juki", name="住民基本台帳に関する事務", department=department("住民情報課"))
    zei = Affair(code="zei", name="個人住民税の賦課に関する事務", department=department("市民税課"))
    a = Assessment(affair=juki, form="zenkoumoku", number="1", title="住民基本台帳に関する事務 全項目評価書")
    b = Assessment(affair=zei, form="juten", number="2", title="個人住民税の賦課に関する事務 重点項目評価書")
    db.session.add_all([juki, zei, a, b])
    versions = []
    for number, status, published_on, extra in (
        (1, "published", date(2024, 3, 29), " 第1版の本文"),
        (2, "published", date(2025, 1, 31), " 第2版の本文"),
        (3, "draft", None, DRAFT_SECRET),
    ):
        v = AssessmentVersion(
            assessment=a,
            number=number,
            edition="2024",
            status=status,
            document=doc(a.title, extra),
            published_on=published_on,
            submitted_on=published_on,
        )
        db.session.add(v)
        versions.append(v)
    draft_only = AssessmentVersion(
        assessment=b, number=1, edition="2024", status="draft", document=doc(b.title, DRAFT_SECRET)
    )
    db.session.add(draft_only)
    versions[1].document["changelog"] = {
        "changes": [
            {
                "date": "2025-01-31",
                "item": "Ⅰ 1. ②事務の内容",
                "before": "第1版の本文",
                "after": "第2版の本文",
                "timing": "事後",
                "timing_note": "重要な変更に当たらない変更であるため、事後に提出するもの。",
            }
        ]
    }
    db.session.commit()
    from pia.assessments import search

    for v in versions + [draft_only]:
        search.index_version(v)
    db.session.commit()
    return {"assessment": a, "versions": versions, "draft_only": b}


@pytest.fixture
def consultations(app, portal_data):
    """An open and a reported consultation on the draft, a scheduled one that must not show."""
    from common.timeutil import today_jst
    from consultation import services

    draft = portal_data["versions"][2]
    today = today_jst()
    common = dict(
        places=["住民情報課"],
        channels=["post", "web"],
        consent_text="氏名等は公表しません。",
        form_fields={"name": "optional", "address": "optional", "contact": "hidden"},
    )
    open_now = services.create_consultation(
        draft,
        actor="test",
        title="住民基本台帳事務の評価書(案)への意見募集",
        start_date=today,
        end_date=today + timedelta(days=40),
        **common,
    )
    open_now.transition("open", actor="test")
    past = services.create_consultation(
        draft, actor="test", title="前回の意見募集", start_date=date(2024, 1, 10), end_date=date(2024, 2, 9), **common
    )
    past.transition("open", actor="test", today=date(2024, 1, 10))
    past.transition("closed", actor="test")
    scheduled = services.create_consultation(
        draft,
        actor="test",
        title="まだ始まらない意見募集",
        start_date=today + timedelta(days=100),
        end_date=today + timedelta(days=140),
        **common,
    )
    db.session.commit()
    return {"open": open_now, "past": past, "scheduled": scheduled}


def text_of(response) -> str:
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- index


def test_index_lists_published_assessments_by_affair(client, portal_data):
    response = client.get("/public/")
    assert response.status_code == 200
    html = text_of(response)
    assert "住民基本台帳に関する事務" in html and "住民情報課" in html
    assert "令和7年1月31日" in html  # 公表日 of the version in force
    assert "第2版" in html and "過去の版 1件" in html
    a = portal_data["assessment"]
    assert f"/public/assessments/{a.id}/versions/2.pdf" in html
    # an assessment with nothing published is not listed
    assert "個人住民税の賦課に関する事務" not in html
    assert "公開" not in response.headers.get("Set-Cookie", "")
    assert "public" in response.headers["Cache-Control"] and "max-age=" in response.headers["Cache-Control"]


def test_index_shows_consultations_open_now_and_past(client, consultations):
    html = text_of(client.get("/public/"))
    open_now = consultations["open"]
    assert f'/public/consultations/{open_now.id}"' in html
    assert "住民基本台帳事務の評価書(案)への意見募集" in html
    assert "前回の意見募集" in html and "結果は取りまとめ中" in html
    assert "まだ始まらない意見募集" not in html


def test_portal_pages_are_accessible_and_script_free(client, portal_data):
    a = portal_data["assessment"]
    for url in (
        "/public/",
        f"/public/assessments/{a.id}",
        "/public/search?q=住民票",
        f"/public/assessments/{a.id}/versions/2/changes",
    ):
        html = text_of(client.get(url))
        assert '<html lang="ja">' in html
        assert '<a class="skip-link" href="#main">本文へ移動</a>' in html and 'id="main"' in html
        assert len(re.findall(r"<h1[ >]", html)) == 1
        assert "<script" not in html and " style=" not in html and "onclick" not in html
        for input_id in re.findall(r'<input[^>]*id="([^"]+)"', html):
            assert f'<label for="{input_id}"' in html, (url, input_id)
        # no staff navigation or account links
        assert "ログアウト" not in html and "/admin" not in html and "/login" not in html
        assert 'href="/versions/' not in html


def test_the_index_takes_few_queries(client, portal_data, department):
    for n in range(8):  # more assessments must not mean more queries
        affair = Affair(code=f"x{n}", name=f"事務{n}", department=department("保険年金課"))
        a = Assessment(affair=affair, form="zenkoumoku", title=f"事務{n} 全項目評価書")
        db.session.add_all(
            [
                affair,
                a,
                AssessmentVersion(
                    assessment=a,
                    number=1,
                    edition="2024",
                    status="published",
                    document=doc("x"),
                    published_on=date(2025, 4, 1),
                ),
            ]
        )
    db.session.commit()
    statements = []

    def count(*_args):
        statements.append(1)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get("/public/")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200 and "事務7" in text_of(response)
    assert len(statements) <= 6, len(statements)


# --------------------------------------------------------------------------- drafts never leak


def test_drafts_are_not_reachable(client, portal_data):
    a, b = portal_data["assessment"], portal_data["draft_only"]
    assert client.get(f"/public/assessments/{a.id}/versions/3.pdf").status_code == 404
    assert client.get(f"/public/assessments/{a.id}/versions/3/changes").status_code == 404
    assert client.get(f"/public/assessments/{b.id}").status_code == 404
    assert client.get(f"/public/assessments/{b.id}/versions/1.pdf").status_code == 404
    html = text_of(client.get(f"/public/assessments/{a.id}"))
    assert "第3版" not in html and DRAFT_SECRET not in html
    for url in (
        "/public/",
        f"/public/assessments/{a.id}",
        "/public/feed.atom",
        f"/public/assessments/{a.id}/versions/2/changes",
    ):
        assert DRAFT_SECRET not in text_of(client.get(url))


def test_search_finds_published_text_only(client, portal_data):
    html = text_of(client.get("/public/search", query_string={"q": "第2版の本文"}))
    assert "住民基本台帳に関する事務 全項目評価書" in html and "<mark>第2版の本文</mark>" in html
    html = text_of(client.get("/public/search", query_string={"q": DRAFT_SECRET}))
    assert "該当する公表資料はありませんでした" in html
    assert "個人住民税" not in html
    html = text_of(client.get("/public/search", query_string={"q": "<script>alert(1)</script>"}))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_changes_of_a_published_version(client, portal_data):
    a = portal_data["assessment"]
    html = text_of(client.get(f"/public/assessments/{a.id}/versions/2/changes"))
    assert "第1版の本文" in html and "第2版の本文" in html and "事後" in html
    assert "令和7年1月31日" in html


# --------------------------------------------------------------------------- PDFs


def test_published_pdf_is_rendered_once_and_served_with_an_etag(client, portal_data, count_rows):
    a = portal_data["assessment"]
    url = f"/public/assessments/{a.id}/versions/1.pdf"
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert first.data.startswith(b"%PDF")
    etag = first.headers["ETag"].strip('"')
    stored = db.session.execute(sa.select(PublishedDocument)).scalar_one()
    assert etag == stored.sha256
    second = client.get(url)
    assert second.data == first.data
    assert count_rows(PublishedDocument) == 1
    not_modified = client.get(url, headers={"If-None-Match": f'"{etag}"'})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert "max-age" in first.headers["Cache-Control"]


def test_publishing_stores_the_pdf(app, portal_data, count_rows, monkeypatch):
    from pia import procedure

    version = portal_data["versions"][2]
    version.submitted_on = date(2025, 6, 1)
    version.status = "submitted"
    db.session.commit()
    version.publish(date(2025, 6, 2), [], {})
    procedure.on_publish(version, None)
    db.session.commit()
    stored = db.session.execute(sa.select(PublishedDocument).filter_by(version_id=version.id)).scalar_one()
    assert stored.content.startswith(b"%PDF") and stored.pages >= 2


# --------------------------------------------------------------------------- Atom


def test_feed_is_valid_atom(client, consultations, portal_data):
    response = client.get("/public/feed.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.data)
    assert root.tag == f"{ATOM}feed"
    for child in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{child}") is not None, child
    assert root.find(f"{ATOM}link[@rel='self']").get("href").endswith("/public/feed.atom")
    entries = root.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(ids) == len(set(ids)) and all(i.startswith("tag:") for i in ids)
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert any("第2版" in t for t in titles) and any("第1版" in t for t in titles)
    assert not any("第3版" in t for t in titles)
    assert any("住民基本台帳事務の評価書(案)への意見募集" in t for t in titles)
    assert not any("まだ始まらない" in t for t in titles)
    updated = [e.findtext(f"{ATOM}updated") for e in entries]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", u) for u in updated)
    assert updated == sorted(updated, reverse=True)
    assert root.findtext(f"{ATOM}updated") == updated[0]
    for e in entries:
        assert e.find(f"{ATOM}link[@rel='alternate']").get("href").startswith("http")
    enclosures = [e.find(f"{ATOM}link[@rel='enclosure']") for e in entries]
    assert any(x is not None and x.get("href").endswith("/versions/2.pdf") for x in enclosures)


def test_feed_without_anything_published(client):
    root = ET.fromstring(client.get("/public/feed.atom").data)
    assert root.findall(f"{ATOM}entry") == [] and root.findtext(f"{ATOM}updated")


def test_every_portal_route_is_public(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("public."):
            assert getattr(app.view_functions[rule.endpoint], "hyoka_public", False), rule.rule


@pytest.mark.parametrize("app_config", [{"HYOKA_PORTAL_CACHE_SECONDS": 60}])
def test_index_is_served_from_a_short_cache(app, client):
    from common.models import Setting

    db.session.merge(Setting(key="body.name", value="旧市"))
    db.session.commit()
    first = client.get("/public/").get_data(as_text=True)
    db.session.merge(Setting(key="body.name", value="新市"))
    db.session.commit()
    assert client.get("/public/").get_data(as_text=True) == first  # within the TTL
    app.config["HYOKA_PORTAL_CACHE_SECONDS"] = 0
    assert "新市" in client.get("/public/").get_data(as_text=True)
