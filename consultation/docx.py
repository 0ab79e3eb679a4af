"""The result report (寄せられたご意見と本市の考え方) as Word (.docx) in the layout of reference 004.

Built from :func:`consultation.report.build_report`, the data the HTML preview and the PDF
are rendered from (every text already masked; no submitter's name or contact), so that the
city can adjust wording in Word before the final PDF.
"""

from __future__ import annotations

import io

from docx import Document
from docx.shared import Cm, Pt

from consultation.report import Report

#: mimetype of .docx
DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FONT = "IPAexMincho"


def _document() -> Document:
    from pia.publication.docx import new_document

    return new_document()


def _heading(document, text: str, level: int) -> None:
    paragraph = document.add_paragraph()
    run = paragraph.add_run(text)
    run.bold = True
    run.font.size = Pt({0: 14, 1: 12, 2: 10.5}.get(level, 10.5))
    if level == 0:
        paragraph.alignment = 1


def _cell(cell, paragraphs: list[str], *, bold: bool = False) -> None:
    first = cell.paragraphs[0]
    for index, text in enumerate(paragraphs or [""]):
        paragraph = first if index == 0 else cell.add_paragraph()
        run = paragraph.add_run(text)
        run.bold = bold
        run.font.size = Pt(9.5)


def report_docx(report: Report) -> bytes:
    """``report`` as .docx: sections 1-5, then the annex table per category (No. | ご意見 | 考え方)."""
    document = _document()
    _heading(document, report.title, 0)

    _heading(document, "1 意見の募集期間", 1)
    document.add_paragraph(report.period)
    if report.closed_early_note:
        document.add_paragraph(report.closed_early_note)

    _heading(document, "2 公表場所", 1)
    number = 0
    if report.places:
        number += 1
        _heading(document, f"({number}) 市役所等での配布", 2)
        for mark, place in report.places:
            document.add_paragraph(f"{mark} {place}")
    if report.web_url:
        number += 1
        _heading(document, f"({number}) {report.web_heading}", 2)
        document.add_paragraph(report.web_url)

    _heading(document, "3 意見の受付方法", 1)
    document.add_paragraph(report.channels)

    _heading(document, "4 意見数等", 1)
    _heading(document, "(1) 提出者数", 2)
    document.add_paragraph(report.submitters)
    _heading(document, "(2) 意見の受付方法別内訳", 2)
    breakdown = document.add_table(rows=2, cols=len(report.breakdown) + 2)
    breakdown.style = "Table Grid"
    header = ["提出方法", *(label for label, _ in report.breakdown), "合計"]
    counts = ["提出者数", *(str(count) for _, count in report.breakdown), str(report.breakdown_total)]
    for cell, text in zip(breakdown.rows[0].cells, header):
        _cell(cell, [text], bold=True)
    for cell, text in zip(breakdown.rows[1].cells, counts):
        _cell(cell, [text])
    _heading(document, "(3) 意見総数", 2)
    document.add_paragraph(f"{report.opinion_total}件")

    _heading(document, f"5 ご意見の概要とそれに対する{report.body_name}の考え方", 1)
    document.add_paragraph("別添のとおり")

    document.add_page_break()
    _heading(document, f"ご意見の概要とそれに対する{report.body_name}の考え方", 0)
    document.add_paragraph(f"({report.period_short}実施)").alignment = 1
    for category in report.categories:
        _heading(document, f"{category.number} {category.heading}", 1)
        if not category.rows:
            document.add_paragraph("なし")
            continue
        table = document.add_table(rows=1, cols=3)
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, ("No.", "寄せられたご意見", f"{report.body_name}の考え方")):
            _cell(cell, [text], bold=True)
        for row in category.rows:
            cells = table.add_row().cells
            _cell(cells[0], [str(row.number)])
            opinion = ([f"【{row.topic}】"] if row.topic else []) + list(row.opinion)
            if row.same_count:
                opinion.append(f"（ほか同趣旨のご意見 {row.same_count}件）")
            _cell(cells[1], opinion)
            _cell(cells[2], list(row.reply))
        for row in table.rows:
            row.cells[0].width = Cm(1.2)
            row.cells[1].width = Cm(7.9)
            row.cells[2].width = Cm(7.9)

    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def filename(consultation) -> str:
    """「<案件名>_意見と考え方.docx」."""
    return f"{consultation.title}_意見と考え方.docx".replace("/", "／").replace(" ", "_")
