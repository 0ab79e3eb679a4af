"""Masking before publication, the result report's structure (004), PDF, CLI and the demo."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import pytest

from common.db import db
from common.models import Setting
from consultation import services
from consultation.models import Consultation
from tests.consultation.htmltree import parse, squash

VALID_MY_NUMBER = "123456789018"
INVALID_MY_NUMBER = "123456789012"


@pytest.fixture
def officer(as_role):
    return as_role("officer", departments=["住民情報課"])


def _with_opinion(c, text, reply="ご意見として承ります。"):
    sub = services.add_paper_submission(c, actor="test", channel="post", received_on=date(2025, 11, 20), body=text)
    services.update_opinion(sub.opinions[0], actor="test", reply=reply)
    db.session.commit()
    return sub.opinions[0]


def test_valid_my_number_is_masked_and_blocks_publication_until_reviewed(app, officer, make_consultation):
    c = make_consultation(status="closed")
    _with_opinion(c, f"私の個人番号は{VALID_MY_NUMBER}です。連絡は011-211-2111へ。")
    _with_opinion(c, f"管理番号{INVALID_MY_NUMBER}の扱いについて。")
    assert any("確認" in p for p in services.publish_problems(c))
    page = officer.get(f"/consultations/{c.id}/review")
    tree = parse(page.text)
    hits = [squash(n.text()) for n in tree.find_all("span", class_="pc-hit")]
    # the valid number was masked at intake (never stored); the review lists it
    assert hits.count("［個人番号］") == 1 and "受付時に伏せ字" in page.text
    assert "011-211-2111" in hits
    assert INVALID_MY_NUMBER not in hits and not any(VALID_MY_NUMBER in h for h in hits)
    assert VALID_MY_NUMBER not in page.text
    # publishing is refused before review
    officer.post(f"/consultations/{c.id}/publish", data={"confirm": "yes"})
    db.session.expire_all()
    assert db.session.get(Consultation, c.id).status == "closed"
    assert officer.post(f"/consultations/{c.id}/review").status_code == 302
    db.session.expire_all()
    c = db.session.get(Consultation, c.id)
    assert services.review_is_current(c)
    # a change after the review needs another review
    services.update_opinion(c.opinions[0], actor="test", reply="変更しました。")
    db.session.commit()
    assert not services.review_is_current(c)
    officer.post(f"/consultations/{c.id}/review")
    assert officer.post(f"/consultations/{c.id}/publish", data={"confirm": "yes"}).status_code == 302
    db.session.expire_all()
    c = db.session.get(Consultation, c.id)
    assert c.status == "reported"
    html = officer.get(f"/public/consultations/{c.id}/report").text
    assert VALID_MY_NUMBER not in html and "011-211-2111" not in html
    assert "［個人番号］" in html and "［電話番号］" in html
    assert INVALID_MY_NUMBER in html  # not a 個人番号: published as written


def test_my_number_masked_at_intake_but_invalid_check_digit_kept(app, make_consultation):
    c = make_consultation(status="open")
    sub = services.add_paper_submission(
        c,
        actor="test",
        channel="post",
        received_on=date(2025, 11, 20),
        body=f"番号 {VALID_MY_NUMBER} と {INVALID_MY_NUMBER}",
    )
    db.session.commit()
    db.session.expire_all()
    assert VALID_MY_NUMBER not in sub.body and INVALID_MY_NUMBER in sub.body
    assert "伏せ字" in sub.note


def test_names_never_published(app, client, make_consultation):
    c = make_consultation(status="closed")
    sub = services.add_paper_submission(
        c,
        actor="test",
        channel="post",
        received_on=date(2025, 11, 20),
        name="秘密 太郎",
        address="札幌市中央区北1条西2丁目",
        contact="himitsu@example.jp",
        body="制度について意見します。",
    )
    services.update_opinion(sub.opinions[0], actor="test", reply="承ります。")
    services.mark_reviewed(c, actor="test")
    services.publish_result(c, actor="test")
    db.session.commit()
    html = client.get(f"/public/consultations/{c.id}/report").text
    for secret in ("秘密 太郎", "himitsu@example.jp", "北1条西2丁目"):
        assert secret not in html


@pytest.fixture
def demo_consultation(app, version):
    from consultation.demo import load_demo

    db.session.add(Setting(key="body.name", value="札幌市"))
    db.session.commit()
    message = load_demo({})
    db.session.commit()
    assert "作成しました" in message
    assert load_demo({}) is None  # idempotent
    return db.session.execute(db.select(Consultation)).scalar_one()


def test_demo_is_reported_with_ten_opinions(app, demo_consultation):
    c = demo_consultation
    assert c.status == "reported"
    assert (c.start_date, c.end_date) == (date(2025, 11, 12), date(2025, 12, 11))
    assert len(c.submissions) == 1 and c.submissions[0].channel == "post"
    assert c.submissions[0].submitter_kind == "organisation"
    assert [o.number for o in c.opinions] == list(range(1, 11))
    assert {o.category for o in c.opinions} == {"assessment"}


def test_demo_skips_without_the_assessment(app):
    from consultation.demo import load_demo

    assert "省略" in load_demo({})


def _sections(tree):
    return [squash(h.text()) for h in tree.find_all("h2")]


def test_report_html_has_the_structure_of_004(app, client, demo_consultation):
    response = client.get(f"/public/consultations/{demo_consultation.id}/report")
    assert response.status_code == 200
    tree = parse(response.text)
    article = tree.find("article", class_="pc-report")
    assert (
        squash(article.find("h1").text())
        == "住民基本台帳事務に関する特定個人情報保護評価書について 寄せられたご意見と本市の考え方"
    )
    assert _sections(article) == [
        "1 意見の募集期間",
        "2 公表場所",
        "3 意見の受付方法",
        "4 意見数等",
        "5 ご意見の概要とそれに対する札幌市の考え方",
        "ご意見の概要とそれに対する札幌市の考え方",
    ]
    text = squash(article.text())
    assert "令和7年11月12日（水）～令和7年12月11日（木）" in text
    subsections = [squash(h.text()) for h in article.find_all("h3")]
    assert subsections[:5] == [
        "(1) 市役所等での配布",
        "(2) 札幌市公式ホームページによる公開",
        "(1) 提出者数",
        "(2) 意見の受付方法別内訳",
        "(3) 意見総数",
    ]
    places = [squash(p.text()) for p in article.find_all("p", class_="pc-report__place")]
    assert places == [
        "ア デジタル戦略推進局スマートシティ推進部住民情報課（本庁舎2階）",
        "イ 市政刊行物コーナー（本庁舎2階）",
        "ウ 各区役所総務企画課（広聴係）",
    ]
    assert "http://www.city.sapporo.jp/shimin/koseki/mynumber/pia.html" in text
    assert "郵送、持参、FAX、電子メール" in text
    assert squash(article.find("p", class_="pc-report__submitters").text()) == "1 団体"
    table = article.find("table", class_="pc-report__breakdown")
    rows = [[squash(c.text()) for c in tr.find_all() if c.tag in ("th", "td")] for tr in table.find_all("tr")]
    assert rows == [["提出方法", "郵送", "持参", "FAX", "電子メール", "合計"], ["提出者数", "1", "0", "0", "0", "1"]]
    assert squash(article.find("p", class_="pc-report__total").text()) == "10件"
    assert "別添のとおり" in text
    assert squash(article.find("p", class_="pc-report__annex-period").text()) == "(令和7年11月12日～12月11日実施)"
    categories = article.find_all("section", class_="pc-report__category")
    assert [squash(s.find("h3").text()) for s in categories] == [
        "1 住民基本台帳事務に関する特定個人情報保護評価に対するご意見",
        "2 制度全体に関するご意見",
    ]
    opinions = categories[0].find("table")
    assert [squash(th.text()) for th in opinions.find("thead").find_all("th")] == [
        "No.",
        "寄せられたご意見",
        "札幌市の考え方",
    ]
    body_rows = opinions.find("tbody").find_all("tr")
    assert [squash(r.find("td").text()) for r in body_rows] == [str(n) for n in range(1, 11)]
    topics = {
        i + 1: squash(p.text()) for i, r in enumerate(body_rows) for p in r.find_all("p", class_="pc-report__topic")
    }
    assert topics == {1: "【システム総論】", 6: "【クラウド化について】"}
    first = squash(body_rows[0].text())
    assert "アクセス権のある職員による個人情報不正閲覧事件" in first and "操作権限を各区戸籍住民課職員に限定" in first
    assert len(body_rows[4].find_all("td")[2].find_all("p")) == 3  # reply 5: three paragraphs
    assert squash(categories[1].find("p", class_="pc-report__none").text()) == "なし"
    assert categories[1].find("table") is None
    assert "（デモ）市民団体" not in response.text  # the submitter is never published


def test_report_text_matches_004(app, demo_consultation):
    """Every opinion and reply of 004 appears in the report, word for word (whitespace aside)."""
    from consultation.demo import OPINIONS
    from consultation.report import build_report

    report = build_report(demo_consultation)
    assert report.masked_hits == 0  # nothing in 004 looks like personal data
    rows = report.categories[0].rows
    for row, (_topic, summary, reply) in zip(rows, OPINIONS):
        assert "".join(row.opinion) == summary.replace("\n\n", "")
        assert "".join(row.reply) == reply.replace("\n\n", "")


def test_report_pdf_and_cli(app, demo_consultation, tmp_path):
    from consultation.cli import cli

    runner = app.test_cli_runner()
    pdf_path = tmp_path / "report.pdf"
    result = runner.invoke(cli, ["report", str(demo_consultation.id), "--format", "pdf", "--out", str(pdf_path)])
    assert result.exit_code == 0, result.output
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, check=True).stdout.decode()
        assert "意見総数" in text and "10件" in text
        assert "令和7年11月12日（水）～令和7年12月11日（木）" in text
    html_path = tmp_path / "report.html"
    result = runner.invoke(cli, ["report", str(demo_consultation.id), "--format", "html", "--out", str(html_path)])
    assert result.exit_code == 0, result.output
    html = html_path.read_text(encoding="utf-8")
    assert "IPAexMincho" in html and "10件" in html
    missing = runner.invoke(cli, ["report", "99999", "--format", "html", "--out", str(html_path)])
    assert missing.exit_code != 0


def test_public_pdf_served_when_reported(app, client, demo_consultation):
    response = client.get(f"/public/consultations/{demo_consultation.id}/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"


def test_pdf_renders_no_remote_or_file_url(app, demo_consultation, monkeypatch):
    """A URL typed into the consultation never makes the PDF renderer fetch it."""
    import common.publish as publish
    from consultation.report import render_pdf

    fetched = []
    original = publish.SafeURLFetcher.fetch

    def spy(self, url, headers=None):
        fetched.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(publish.SafeURLFetcher, "fetch", spy)
    demo_consultation.places = demo_consultation.places + ['<img src="file:///etc/passwd">']
    demo_consultation.web_url = "http://example.com/evil.png"
    assert render_pdf(demo_consultation).startswith(b"%PDF-")
    assert not [u for u in fetched if u.startswith(("file:", "http:"))]


def test_staff_pages_render(app, officer, demo_consultation):
    c = demo_consultation
    for url in (
        "/consultations/",
        f"/consultations/{c.id}",
        f"/consultations/{c.id}/opinions",
        f"/consultations/{c.id}/groups",
        f"/consultations/{c.id}/review",
        f"/consultations/{c.id}/report",
        f"/consultations/submissions/{c.submissions[0].id}",
        f"/consultations/opinions/{c.opinions[0].id}/edit",
        f"/consultations/opinions/{c.opinions[0].id}/split",
        f"/consultations/{c.id}/mail",
        f"/consultations/{c.id}/submissions/new",
        "/consultations/new",
        f"/consultations/{c.id}/edit",
        f"/public/consultations/{c.id}",
    ):
        response = officer.get(url, follow_redirects=True)
        assert response.status_code == 200, url


def test_dashboard_panel(app, make_user, make_consultation):
    from flask import render_template

    from consultation.panel import panel

    c = make_consultation(status="open")
    services.add_paper_submission(c, actor="test", channel="post", received_on=date(2025, 11, 20), body="意見")
    db.session.commit()
    assert panel(make_user("reviewer")) is None
    template, context = panel(make_user("officer"))
    assert [(e["c"].id, e["opinions"], e["unanswered"]) for e in context["entries"]] == [(c.id, 1, 1)]
    with app.test_request_context():
        html = render_template(template, panel=context)
    assert "市の考え方未入力1件" in html and c.title in html


def test_assessment_page_shows_the_consultation_panel(app, officer, demo_consultation):
    version = demo_consultation.version
    page = officer.get(f"/assessments/{version.assessment_id}")
    assert page.status_code == 200
    assert "住民等からの意見聴取" in page.text
    assert f"/consultations/{demo_consultation.id}" in page.text
