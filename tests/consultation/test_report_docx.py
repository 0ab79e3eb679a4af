"""consultation.docx: the result report as Word in 004's layout, with the PDF's text."""

from __future__ import annotations

import io

import pytest
from docx import Document

from common.db import db
from common.models import Setting
from consultation import docx
from consultation.models import Consultation
from consultation.report import build_report, render_pdf
from tests.officetext import needs_office, office_text, pdf_text, squash


@pytest.fixture
def demo_consultation(app, version):
    from consultation.demo import load_demo

    db.session.add(Setting(key="body.name", value="札幌市"))
    db.session.commit()
    load_demo({})
    db.session.commit()
    return db.session.execute(db.select(Consultation)).scalar_one()


def test_docx_has_004_sections_and_the_opinion_table(app, demo_consultation):
    report = build_report(demo_consultation)
    document = Document(io.BytesIO(docx.report_docx(report)))
    text = "\n".join(p.text for p in document.paragraphs)
    for heading in ("1 意見の募集期間", "2 公表場所", "3 意見の受付方法", "4 意見数等", "(3) 意見総数"):
        assert heading in text
    assert "令和7年11月12日（水）～令和7年12月11日（木）" in text and "10件" in text
    breakdown, opinions = document.tables
    assert [c.text for c in breakdown.rows[0].cells][0] == "提出方法" and breakdown.rows[0].cells[-1].text == "合計"
    assert [c.text for c in opinions.rows[0].cells] == ["No.", "寄せられたご意見", "札幌市の考え方"]
    assert [r.cells[0].text for r in opinions.rows[1:]] == [str(n) for n in range(1, 11)]
    first = report.categories[0].rows[0]
    assert opinions.rows[1].cells[2].text == "\n".join(first.reply)


def test_submitters_are_never_in_the_docx(app, make_consultation):
    from datetime import date

    from consultation import services

    c = make_consultation(status="closed")
    sub = services.add_paper_submission(
        c, actor="test", channel="post", received_on=date(2025, 11, 20), body="意見の本文です。", name="山田花子"
    )
    services.update_opinion(sub.opinions[0], actor="test", reply="承ります。")
    db.session.commit()
    document = Document(io.BytesIO(docx.report_docx(build_report(c))))
    cells = " ".join(cell.text for table in document.tables for row in table.rows for cell in row.cells)
    assert "意見の本文です。" in cells
    assert "山田花子" not in cells + " ".join(p.text for p in document.paragraphs)


@needs_office
def test_report_docx_opens_in_libreoffice_with_the_pdf_text(app, demo_consultation, tmp_path):
    report = build_report(demo_consultation)
    word = squash(office_text(docx.report_docx(report), tmp_path))
    printed = squash(pdf_text(render_pdf(demo_consultation), tmp_path, raw=True))
    pieces = [
        report.title,
        report.period,
        *(place for _, place in report.places),
        report.web_url,
        report.channels,
        report.submitters,
        f"{report.opinion_total}件",
        *(label for label, _ in report.breakdown),
    ]
    for category in report.categories:
        pieces.append(f"{category.number}{category.heading}")
        for row in category.rows:
            pieces += [f"【{row.topic}】" if row.topic else "", *row.opinion, *row.reply]
    compared = 0
    for piece in pieces:
        if piece:
            assert squash(piece) in word, piece
            assert squash(piece) in printed, piece
            compared += 1
    assert compared > 25


def test_route_is_for_officers_and_linked_from_the_preview(app, as_role, demo_consultation):
    officer = as_role("officer", departments=["住民情報課"])
    response = officer.get(f"/consultations/{demo_consultation.id}/report.docx")
    assert response.status_code == 200
    assert response.mimetype == docx.DOCX_MIMETYPE and response.data.startswith(b"PK")
    assert "attachment" in response.headers["Content-Disposition"]
    page = officer.get(f"/consultations/{demo_consultation.id}/report").get_data(as_text=True)
    assert f"/consultations/{demo_consultation.id}/report.docx" in page
    assert (
        as_role("editor", departments=["住民情報課"])
        .get(f"/consultations/{demo_consultation.id}/report.docx")
        .status_code
        == 403
    )
    assert officer.get("/consultations/999999/report.docx").status_code == 404
