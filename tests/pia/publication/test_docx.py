"""pia.publication.docx: a version as Word in the official table layout, with the PDF's text."""

from __future__ import annotations

import copy
import io
import re
from datetime import date

import pytest
from docx import Document

from common.db import db
from pia.assessments.demo_data import load_demo_documents
from pia.assessments.models import Affair, Assessment, AssessmentVersion
from pia.assessments.render import document_view
from pia.publication import docx, pdf
from pia.schema import load_schema
from tests.officetext import needs_office, office_text, pdf_text, squash


@pytest.fixture
def make_version(app, department):
    counter = {"n": 0}

    def make(document, *, status="draft", department_name="住民情報課"):
        counter["n"] += 1
        affair = Affair(
            code=f"d{counter['n']}", name="住民基本台帳に関する事務", department=department(department_name)
        )
        assessment = Assessment(
            affair=affair, form="zenkoumoku", number=str(counter["n"]), title="住民基本台帳に関する事務 全項目評価書"
        )
        published = status == "published"
        version = AssessmentVersion(
            assessment=assessment,
            number=1,
            edition="2024",
            status=status,
            document=copy.deepcopy(document),
            submitted_on=date(2025, 1, 31) if published else None,
            published_on=date(2025, 1, 31) if published else None,
        )
        db.session.add_all([affair, assessment, version])
        db.session.commit()
        return version

    return make


def test_choices_and_checks_are_spelled_out_as_the_form_prints_them():
    schema = load_schema("zenkoumoku", "2024")
    item = schema.item("basic/systems/connections")
    text = docx.checks_text(item, {"selected": [item.choices[0], item.other_choice], "other": "中間サーバ"})
    lines = text.splitlines()
    assert lines[0] == f"[〇] {item.choices[0]}"
    assert f"[〇] {item.other_choice} (中間サーバ)" in lines
    assert f"[　] {item.choices[1]}" in lines
    choice = schema.item("basic/network/implemented")
    text = docx.choice_text(choice, choice.choices[0])
    assert text.startswith(f"[ {choice.choices[0]} ]") and "〈選択肢〉 1) " in text
    assert docx.choice_text(choice, None).startswith("[　　　]")


def test_markdown_becomes_plain_paragraphs():
    assert docx.markdown_text("**太字**の本文\n\n- 一つ目\n- 二つ目") == "太字の本文\n・一つ目\n・二つ目"
    assert docx.markdown_text("1. 本人確認\n2. 転入") == "1. 本人確認\n2. 転入"


def test_docx_has_section_tables_with_marks_and_values(app, make_version):
    v1, _ = load_demo_documents()
    version = make_version(v1)
    data = docx.version_docx(version)
    document = Document(io.BytesIO(data))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "(案・" in text  # not published
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    assert "①事務の名称" in cells and "※" in cells
    name_row = next(row for table in document.tables for row in table.rows if row.cells[1].text == "①事務の名称")
    assert name_row.cells[2].text == v1["basic"]["affair"]["name"]


@needs_office
def test_demo_docx_opens_in_libreoffice_with_the_pdf_text(app, make_version, tmp_path):
    """Every item of the demo 全項目評価書: label and value in the Word text (read by
    LibreOffice) and in the PDF text of the same version."""
    v1, _ = load_demo_documents()
    version = make_version(v1, status="published")
    word = squash(office_text(docx.version_docx(version), tmp_path))
    printed = squash(pdf_text(pdf.render_version(version, archival=False).pdf, tmp_path))
    # the running footer (「4/43 <評価書名>」) cuts texts that run onto the next page
    printed = re.sub(r"\d+/\d+" + re.escape(squash("住民基本台帳に関する事務 全項目評価書")), "", printed)
    schema = load_schema("zenkoumoku", "2024")
    shown = document_view(version)
    compared = 0
    for section in shown:
        if section.key == "cover":
            continue
        assert squash(section.title) in word and squash(section.title) in printed, section.title
        for row in section.rows:
            if row.kind == "item":
                value = docx.row_value_text(schema, v1, row)
                pieces = [row.label, *value.splitlines()]
            elif row.kind == "table":
                pieces = [row.label, *row.columns, *(c for cells in docx.table_cells(schema, row) for c in cells)]
            else:
                pieces = [row.label] if row.kind == "heading" else []
            for piece in pieces:
                if not piece.strip():
                    continue
                assert squash(piece) in word, (row.path, piece)
                # list items: the PDF draws its own bullet or number (apart from the text)
                assert squash(re.sub(r"^(・|\d+\. )", "", piece)) in printed, (row.path, piece)
                compared += 1
        # ※ marks come out too
        if section.significant:
            assert "※" in word
    assert compared > 100


@pytest.mark.parametrize(
    "role, departments, status",
    [("editor", ["市民税課"], 403), ("reviewer", [], 403), ("editor", ["住民情報課"], 200), ("officer", [], 200)],
)
def test_route_scopes_like_the_pdf(app, make_version, as_role, role, departments, status):
    v1, _ = load_demo_documents()
    version = make_version(v1)
    response = as_role(role, departments=departments).get(f"/versions/{version.id}/docx")
    assert response.status_code == status
    if status == 200:
        assert response.mimetype == docx.DOCX_MIMETYPE and response.data.startswith(b"PK")
        assert "attachment" in response.headers["Content-Disposition"]
        assert "no-store" in response.headers["Cache-Control"]


def test_route_404(app, as_role):
    assert as_role("officer").get("/versions/999999/docx").status_code == 404


def test_version_page_links_to_word(app, make_version, as_role):
    v1, _ = load_demo_documents()
    version = make_version(v1)
    page = as_role("officer").get(f"/versions/{version.id}").get_data(as_text=True)
    assert f"/versions/{version.id}/docx" in page
