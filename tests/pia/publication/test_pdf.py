"""pia.publication.pdf: an assessment version as the official form, stored once when published."""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import subprocess
from datetime import date

import pytest
import sqlalchemy as sa
from flask import render_template

from common.db import db
from pia.assessments.demo_data import load_demo_documents
from pia.assessments.models import Affair, Assessment, AssessmentVersion
from pia.publication import pdf
from pia.publication.models import PublishedDocument
from pia.schema import load_schema

needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")

HOSTILE = '<script>alert("x")</script><img src="file:///etc/passwd">'


@pytest.fixture
def make_version(app, department):
    """``make_version(document, status="draft", form="zenkoumoku", number=1)`` → AssessmentVersion."""
    counter = {"n": 0}

    def make(
        document,
        *,
        status="draft",
        form="zenkoumoku",
        number=1,
        assessment=None,
        department_name="住民情報課",
        published_on=date(2025, 1, 31),
    ):
        counter["n"] += 1
        if assessment is None:
            affair = Affair(
                code=f"a{counter['n']}", name="住民基本台帳に関する事務", department=department(department_name)
            )
            assessment = Assessment(
                affair=affair, form=form, number=str(counter["n"]), title="住民基本台帳に関する事務 全項目評価書"
            )
            db.session.add_all([affair, assessment])
        published = status == "published"
        version = AssessmentVersion(
            assessment=assessment,
            number=number,
            edition="2024",
            status=status,
            document=copy.deepcopy(document),
            submitted_on=published_on if published else None,
            published_on=published_on if published else None,
        )
        db.session.add(version)
        db.session.commit()
        return version

    return make


@pytest.fixture
def small_doc():
    """A short 全項目評価書 document: cover, 事務, one system, the 変更箇所 table."""
    return {
        "cover": {
            "assessment_number": "7",
            "name": "住民基本台帳に関する事務 全項目評価書",
            "declaration": "札幌市は、個人のプライバシー等の権利利益の保護に取り組んでいることを宣言する。",
            "remarks": f"特記事項の本文 {HOSTILE}",
            "body_name": "札幌市長",
            "published_on": "",
        },
        "basic": {
            "affair": {
                "name": "住民基本台帳に関する事務",
                "description": "**事務の内容**です。\n\n<b>生のHTML</b>",
                "target_count": "30万人以上",
            },
            "systems": [
                {
                    "name": "既存住基システム",
                    "functions": "住民票の記載",
                    "connections": {
                        "selected": ["住民基本台帳ネットワークシステム", "その他"],
                        "other": "住基ネット中間サーバ",
                    },
                }
            ],
            "network": {
                "implemented": "実施する",
                "basis": {
                    "provision_text": "主務省令第2条の表の1、2、3、5の項",
                    "provision_items": [1, 2, 3, 5],
                    "inquiry": "行わない",
                    "inquiry_text": "なし",
                },
            },
        },
        "changelog": {
            "changes": [
                {
                    "date": "2025-06-01",
                    "item": "Ⅰ 2. システム1 ①システムの名称",
                    "before": "旧システム",
                    "after": "新システム",
                    "timing": "事後",
                    "timing_note": "重要な変更に当たらない変更であるため、事後に提出するもの。",
                }
            ]
        },
    }


def pdftext(data: bytes, tmp_path) -> str:
    path = tmp_path / "x.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


# --------------------------------------------------------------------------- rows


def test_rows_follow_the_form_with_marks_where_significance_starts():
    v1, _ = load_demo_documents()
    schema = load_schema("zenkoumoku", "2024")
    sections = {s.key: s for s in pdf.document_sections(schema, v1)}
    assert "cover" not in sections
    basic = sections["basic"]
    labels = [(r.kind, r.label, r.mark) for r in basic.rows]
    assert labels[0] == ("heading", "1. 特定個人情報ファイルを取り扱う事務", False)
    assert ("field", "①事務の名称", False) in labels
    assert ("field", "②事務の内容", True) in labels
    assert ("field", "③対象人数", False) in labels  # 001 line 12: no ※
    assert ("field", "②システムの機能", False) in labels  # nor on a system's functions
    assert ("heading", "システム1", False) in labels
    # 5. 個人番号の利用 ※: the mark is on the heading, not repeated on the item under it
    number_use = next(i for i, row in enumerate(basic.rows) if row.label == "5. 個人番号の利用")
    assert basic.rows[number_use].mark and not basic.rows[number_use + 1].mark
    # III is significant as a whole: ※ on the title, not on every row
    risks = sections["risks"]
    assert risks.significant and risks.display_title.startswith("Ⅲ ")
    assert not any(r.mark for r in risks.rows)
    assert sections["changelog"].rows[0].kind == "table"


def test_empty_groups_are_shown_as_such():
    schema = load_schema("zenkoumoku", "2024")
    basic = next(s for s in pdf.document_sections(schema, {}) if s.key == "basic")
    assert any(r.kind == "empty" for r in basic.rows)


# --------------------------------------------------------------------------- HTML


def test_html_has_the_official_layout_and_escapes_user_text(app, make_version, small_doc):
    version = make_version(small_doc)
    with app.test_request_context():
        html = render_template("pia/publication/assessment.html", **pdf.version_context(version, body_name="札幌市"))
    assert '<div class="watermark" aria-hidden="true">案</div>' in html
    for label in (
        "評価書番号",
        "評価書名",
        "個人のプライバシー等の権利利益の保護の宣言",
        "特記事項",
        "評価実施機関名",
        "公表日",
        "項目一覧",
    ):
        assert label in html
    assert "〈選択肢〉" in html and "[ 30万人以上 ]" in html and "1) 1,000人未満" in html
    assert "[〇] 住民基本台帳ネットワークシステム" in html
    assert "[　] 情報提供ネットワークシステム" in html
    assert "[〇] その他 (住基ネット中間サーバ)" in html
    assert "1、2、3、5" in html
    assert '<td class="mark">※</td><th class="label" scope="row">②事務の内容</th>' in html
    assert "<strong>事務の内容</strong>" in html  # Markdown
    assert "<script>" not in html and "<b>生のHTML</b>" not in html
    assert "&lt;script&gt;" in html
    assert '<img src="file:' not in html
    assert html.index("Ⅰ 基本情報") < html.index("(別添3) 変更箇所")


def test_published_html_has_no_watermark_and_shows_the_publication_date(app, make_version, small_doc):
    version = make_version(small_doc, status="published", published_on=date(2026, 2, 16))
    with app.test_request_context():
        html = render_template("pia/publication/assessment.html", **pdf.version_context(version, body_name="札幌市"))
    assert "watermark" not in html
    assert "令和8年2月16日" in html
    assert "旧システム" in html and "新システム" in html  # 変更箇所 as published
    assert re.search(r"<td class=\"t-date\">\s*令和7年6月1日\s*</td>", html)


# --------------------------------------------------------------------------- PDF


@needs_poppler
def test_draft_pdf_is_marked_and_readable(app, make_version, small_doc, tmp_path):
    version = make_version(small_doc)
    with app.test_request_context():
        rendered = pdf.render_version(version, body="札幌市")
    text = pdftext(rendered.pdf, tmp_path)
    assert "特定個人情報保護評価書(全項目評価書)" in text
    assert "住民基本台帳に関する事務 全項目評価書" in text
    assert re.search(rf"\b1\s*/\s*{rendered.pages}\b", text)
    assert re.search(r"^\s*案\s*$", text, re.M)  # the header mark of a draft
    path = tmp_path / "x.pdf"
    path.write_bytes(rendered.pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Author:          札幌市" in info
    assert "第1版" in info.split("Title:")[1].splitlines()[0]
    assert "Subject:         特定個人情報保護評価書(全項目評価書) 住民基本台帳に関する事務" in info
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "IPAexMincho" in fonts and "IPAexGothic" in fonts


@needs_poppler
def test_published_pdf_is_stored_once_as_pdfa(app, make_version, small_doc, count_rows, tmp_path):
    version = make_version(small_doc, status="published")
    with app.test_request_context():
        stored = pdf.published_pdf(version)
        db.session.commit()
        again = pdf.published_pdf(version)
    assert again.id == stored.id
    assert count_rows(PublishedDocument) == 1
    assert stored.sha256 == hashlib.sha256(stored.content).hexdigest()
    assert stored.size == len(stored.content) and stored.pages >= 3
    assert b"pdfaid" in stored.content or b"PDF/A" in stored.content or _xmp_says_pdfa(stored.content, tmp_path)
    text = pdftext(stored.content, tmp_path)
    assert not re.search(r"^\s*案\s*$", text, re.M)
    assert "令和7年1月31日" in text  # 公表日 on the cover


def _xmp_says_pdfa(data: bytes, tmp_path) -> bool:
    import zlib

    for chunk in data.split(b"stream")[1:]:
        body = chunk.lstrip(b"\r\n").split(b"endstream")[0]
        try:
            body = zlib.decompress(body)
        except zlib.error:
            pass
        if b"pdfaid:part" in body:
            return True
    return False


def test_drafts_are_never_stored(app, make_version, small_doc):
    version = make_version(small_doc)
    with pytest.raises(ValueError):
        pdf.published_pdf(version)


def test_stored_pdfs_never_change(app, make_version, small_doc):
    version = make_version(small_doc, status="published")
    db.session.add(
        PublishedDocument(version_id=version.id, sha256="0" * 64, size=1, pages=1, filename="x.pdf", content=b"x")
    )
    db.session.commit()
    with pytest.raises((ValueError, sa.exc.DatabaseError)):
        db.session.execute(sa.update(PublishedDocument).values(size=2))
        db.session.commit()
    db.session.rollback()
    stored = db.session.execute(sa.select(PublishedDocument)).scalar_one()
    stored.size = 3
    with pytest.raises(ValueError):
        db.session.flush()
    db.session.rollback()


# --------------------------------------------------------------------------- CLI, staff route


def test_cli_writes_the_pdf(app, make_version, small_doc, tmp_path, count_rows):
    published = make_version(small_doc, status="published")
    make_version(small_doc, assessment=published.assessment, number=2)
    runner = app.test_cli_runner()
    out = tmp_path / "v1.pdf"
    result = runner.invoke(args=["pia", "pdf", str(published.assessment_id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF") and "第1版" in result.output
    assert count_rows(PublishedDocument) == 1
    draft_out = tmp_path / "v2.pdf"
    result = runner.invoke(args=["pia", "pdf", str(published.assessment_id), "--version", "2", "--out", str(draft_out)])
    assert result.exit_code == 0, result.output
    assert "(案)" in result.output and draft_out.read_bytes().startswith(b"%PDF")
    assert count_rows(PublishedDocument) == 1
    result = runner.invoke(args=["pia", "pdf", str(published.assessment_id), "--version", "9", "--out", str(draft_out)])
    assert result.exit_code != 0 and "該当する版がありません" in result.output


@pytest.mark.parametrize(
    "role, departments, status",
    [
        ("editor", ["市民税課"], 403),
        ("reviewer", [], 403),  # reviewers read drafts only while under third-party review
        ("editor", ["住民情報課"], 200),
        ("officer", [], 200),
    ],
)
def test_staff_route_scopes_drafts_like_the_version_page(
    app, make_version, small_doc, as_role, role, departments, status
):
    draft = make_version(small_doc, department_name="住民情報課")
    response = as_role(role, departments=departments).get(f"/versions/{draft.id}/pdf")
    assert response.status_code == status
    if status == 200:
        assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
        assert "no-store" in response.headers["Cache-Control"]


def test_staff_route_404(app, as_role):
    assert as_role("officer").get("/versions/999999/pdf").status_code == 404


# --------------------------------------------------------------------------- I 6 ② and その他


def _basis_rows(rows, label="②法令上の根拠"):
    return [r for r in rows if r.label == label]


def test_legal_basis_of_the_network_is_one_cell_in_html_and_pdf_rows():
    """001 line 76: 「②法令上の根拠」 is ONE cell holding (情報提供の根拠) and (情報照会の根拠);
    the 項 numbers and 情報照会の実施 are data for the provision checks, not printed."""
    from pia.assessments.render import document_rows

    v1, _ = load_demo_documents()
    for form in ("zenkoumoku", "juten", "kiso"):
        schema = load_schema(form)
        section = "related" if form == "kiso" else "basic"
        doc = {
            section: {
                "network": {
                    "implemented": "実施する",
                    "basis": {
                        "provision_text": "番号法第19条第8号に基づく主務省令第2条の表の1、2の項",
                        "provision_items": [1, 2],
                        "inquiry": "行わない",
                        "inquiry_text": "なし",
                        "inquiry_items": [],
                    },
                }
            }
        }
        if form == "zenkoumoku":
            doc = v1
        html_rows = next(s for s in document_rows(schema, doc) if s.key == section).rows
        pdf_rows = next(s for s in pdf.document_sections(schema, doc) if s.key == section).rows
        network = [r for r in html_rows if r.path.startswith(f"{section}/network")]
        assert [r.label for r in network] == [network[0].label, "①実施の有無", "②法令上の根拠"]
        (cell,) = _basis_rows(html_rows)
        assert cell.kind == "item" and cell.significant is (form != "kiso")  # 基礎: no ※ at all
        (pdf_cell,) = _basis_rows(pdf_rows)
        assert pdf_cell.kind == "field" and pdf_cell.value == cell.text
        for row in html_rows + pdf_rows:
            assert "情報照会の実施" not in row.label and "主務省令第2条の表の項" not in row.label
        assert cell.text.index("(情報提供の根拠)") < cell.text.index("(情報照会の根拠)")
        if form == "zenkoumoku":  # 001's own words carry the headings: they are not repeated
            assert cell.text.count("(情報提供の根拠)") == 1 and cell.text.count("(情報照会の根拠)") == 1
            assert (
                "なし(住民基本台帳に関する事務において情報提供ネットワークシステムによる情報照会は行わない)"
                in cell.text
            )
        else:
            assert cell.text == (
                "(情報提供の根拠)\n番号法第19条第8号に基づく主務省令第2条の表の1、2の項\n(情報照会の根拠)\nなし"
            )


@needs_poppler
def test_legal_basis_prints_as_one_cell_in_the_pdf(app, make_version, tmp_path):
    v1, _ = load_demo_documents()
    version = make_version(v1)
    with app.test_request_context():
        text = pdftext(pdf.render_version(version, body="札幌市").pdf, tmp_path)
    start = text.index("②法令上の根拠")
    part = text[start : text.index("7. 評価実施機関における担当部署", start)]
    assert "②法令上の根拠" not in part[len("②法令上の根拠") :]  # one row, not five
    assert "(情報提供の根拠)" in part and "(情報照会の根拠)" in part
    assert part.count("(情報提供の根拠)") == 1 and part.count("(情報照会の根拠)") == 1
    assert "情報照会の実施" not in text and "主務省令第2条の表の項" not in text
    assert "行わない ]" not in part


@needs_poppler
def test_empty_other_is_not_printed(app, make_version, small_doc, tmp_path):
    small_doc["basic"]["systems"].append(
        {
            "name": "中間サーバ",
            "functions": "符号の管理",
            "connections": {"selected": ["情報提供ネットワークシステム"], "other": ""},
        }
    )
    version = make_version(small_doc)
    with app.test_request_context():
        html = render_template("pia/publication/assessment.html", **pdf.version_context(version, body_name="札幌市"))
        text = pdftext(pdf.render_version(version, body="札幌市").pdf, tmp_path)
    assert "[〇] その他 (住基ネット中間サーバ)" in html  # a text: printed in its parentheses
    assert "[　] その他</td>" in html  # no text: no empty parentheses
    assert not re.search(r"その他\s*\(\s*\)", html)
    assert not re.search(r"その他\s*\(\s*\)", text)
    assert re.search(r"その他\s*\(住基ネット中間サーバ\)", text)


@needs_poppler
def test_a_note_under_the_system_name_prints_on_its_own_lines(app, make_version, small_doc, tmp_path):
    small_doc["basic"]["systems"][0]["name"] = "住基ネット\n※本市の住基ネットの構成としては、札幌市CSを設置している。"
    version = make_version(small_doc)
    with app.test_request_context():
        html = render_template("pia/publication/assessment.html", **pdf.version_context(version, body_name="札幌市"))
        text = pdftext(pdf.render_version(version, body="札幌市").pdf, tmp_path)
    assert "住基ネット<br>※本市の住基ネットの構成としては" in html
    lines = [line.strip() for line in text.splitlines()]
    name_row = next(i for i, line in enumerate(lines) if line.endswith("住基ネット"))
    assert "※本市の住基ネットの構成としては" in lines[name_row + 1]
