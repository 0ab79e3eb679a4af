"""An assessment version as a Word document (.docx) in the official table layout.

The rows are :func:`pia.assessments.render.document_view` — the same ones the HTML page and
the PDF show — laid out as the forms print them: a bordered table per section with a ※
column, a label column and a value column; choices as 「[ 選んだもの ] 〈選択肢〉 1) … 2) …」,
check boxes as 「[〇] …」; table items as nested tables. The city edits wording in Word and
prints the final PDF from Hyoka.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from common.markdown import render_markdown
from pia.assessments.render import SIGNIFICANT_MARK, SIGNIFICANT_NOTE, Row, SectionView, document_view
from pia.publication.pdf import date_text
from pia.schema import FORMS, FormSchema, Item, get_value, load_schema

#: the official form number of each form (特定個人情報保護評価指針の様式)
FORM_NUMBERS = {"kiso": "様式2", "juten": "様式3", "zenkoumoku": "様式4"}
#: mimetype of .docx
DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FONT = "IPAexMincho"


def new_document() -> Document:
    """An empty Word document in the house style: 明朝 10.5 pt (East Asian text too), 2 cm margins
    (the consultation's result report uses it as well)."""
    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(10.5)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    for page in document.sections:
        page.left_margin = page.right_margin = Cm(2)
        page.top_margin = page.bottom_margin = Cm(2)
    return document


def choice_text(item: Item, value: Any) -> str:
    """A choice as the forms print it: 「[ 選んだもの ] 〈選択肢〉 1) … 2) …」."""
    chosen = f"[ {value} ]" if value else "[　　　]"
    options = " ".join(f"{n}) {c}" for n, c in enumerate(item.choices, start=1))
    return f"{chosen}\n〈選択肢〉 {options}" if options else chosen


def checks_text(item: Item, value: Any) -> str:
    """Check boxes as the forms print them: 「[〇] 選んだもの」「[　] 選ばないもの」, one per line."""
    value = value if isinstance(value, Mapping) else {}
    selected = value.get("selected") or []
    other = str(value.get("other") or "").strip()
    lines = []
    for choice in item.choices:
        box = "[〇]" if choice in selected else "[　]"
        extra = f" ({other})" if item.other and choice == item.other_choice and other else ""
        lines.append(f"{box} {choice}{extra}")
    return "\n".join(lines)


def _row_item(schema: FormSchema, row: Row) -> Item | None:
    try:
        return schema.item(row.path)
    except KeyError:
        return None


class _TextOf(HTMLParser):
    """Plain text of sanitised Markdown HTML: one line per block."""

    BLOCKS = frozenset({"p", "li", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        #: one entry per open list: the number of the next item, None in a bulleted list
        self.lists: list[int | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "ol":
            start = dict(attrs).get("start") or "1"
            self.lists.append(int(start) if start.isdigit() else 1)
        elif tag == "ul":
            self.lists.append(None)
        elif tag == "li":
            number = self.lists[-1] if self.lists else None
            if number is None:
                self.parts.append("・")
            else:
                self.parts.append(f"{number}. ")
                self.lists[-1] = number + 1

    def handle_endtag(self, tag):
        if tag in ("ol", "ul") and self.lists:
            self.lists.pop()

    def handle_data(self, data):
        self.parts.append(data)

    def text(self) -> str:
        lines = [line.strip() for line in "".join(self.parts).split("\n")]
        return "\n".join(line for line in lines if line)


def markdown_text(text: str) -> str:
    """Markdown as the PDF shows it, without the markup (paragraphs and list items as lines)."""
    parser = _TextOf()
    parser.feed(str(render_markdown(text)))
    parser.close()
    return parser.text()


def cell_value_text(item: Item | None, text: str) -> str:
    """A value as the PDF prints it: dates in 和暦, numbers with separators."""
    if item is None or not text:
        return text
    if item.type == "date":
        return date_text(text)
    if item.type == "number" and text.lstrip("-").isdigit():
        return f"{int(text):,}"
    return text


def row_value_text(schema: FormSchema, document: Mapping[str, Any], row: Row) -> str:
    """The value cell of an ``item`` row as the PDF prints it: choices spelled out, Markdown
    as text, dates in 和暦."""
    if row.markdown and row.text:
        return markdown_text(row.text)
    if row.item_type in ("date", "number"):
        return cell_value_text(_row_item(schema, row), row.text)
    if row.item_type in ("choice", "multichoice"):
        item = _row_item(schema, row)
        if item is not None and item.choices:
            try:
                value = get_value(document, row.path)
            except (KeyError, IndexError, TypeError):
                value = None
            return choice_text(item, value) if row.item_type == "choice" else checks_text(item, value)
    return row.text


def _set_cell_text(cell, text: str, *, bold: bool = False, size: float = 9, depth: int = 0) -> None:
    lines = (text or "").replace("\r\n", "\n").split("\n")
    paragraph = cell.paragraphs[0]
    for index, line in enumerate(lines):
        if index:
            paragraph = cell.add_paragraph()
        if depth:
            paragraph.paragraph_format.left_indent = Cm(0.35 * min(depth, 4))
        run = paragraph.add_run(line)
        run.bold = bold
        run.font.size = Pt(size)


def _shade(cell, fill: str = "E7E6E6") -> None:
    properties = cell._tc.get_or_add_tcPr()
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    properties.append(shading)


def _grid(container, columns: list[str], cells: list[list[str]]) -> None:
    table = container.add_table(rows=1, cols=max(len(columns), 1))
    table.style = "Table Grid"
    for cell, label in zip(table.rows[0].cells, columns):
        _set_cell_text(cell, label, bold=True, size=8)
        _shade(cell)
    if not cells:
        row = table.add_row().cells
        merged = row[0].merge(row[-1]) if len(row) > 1 else row[0]
        _set_cell_text(merged, "該当なし", size=8)
    for values in cells:
        row = table.add_row().cells
        for cell, text in zip(row, values):
            _set_cell_text(cell, text, size=8)


def table_cells(schema: FormSchema, row: Row) -> list[list[str]]:
    """The cells of a ``table`` row with dates and numbers as printed."""
    item = _row_item(schema, row)
    columns = [c for c in item.columns if c.printed] if item is not None else []
    if len(columns) != len(row.columns):
        return row.cells
    return [[cell_value_text(c, text) for c, text in zip(columns, cells)] for cells in row.cells]


def _section_table(document, schema: FormSchema, doc: Mapping[str, Any], section: SectionView) -> None:
    table = document.add_table(rows=0, cols=3)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = (Cm(0.8), Cm(5.2), Cm(11))
    for row in section.rows:
        cells = table.add_row().cells
        for cell, width in zip(cells, widths):
            cell.width = width
        _set_cell_text(cells[0], row.mark)
        if row.kind == "heading":
            merged = cells[1].merge(cells[2])
            _set_cell_text(merged, row.label, bold=True, depth=row.depth)
            _shade(merged)
        elif row.kind == "empty":
            merged = cells[1].merge(cells[2])
            _set_cell_text(merged, "該当なし", depth=row.depth)
        elif row.kind == "table":
            _set_cell_text(cells[1], row.label, bold=True, depth=row.depth)
            _grid(cells[2], row.columns, table_cells(schema, row))
        else:
            _set_cell_text(cells[1], row.label, bold=True, depth=row.depth)
            _set_cell_text(cells[2], row_value_text(schema, doc, row))


def version_docx(version, *, body_name: str = "") -> bytes:
    """``version`` (any state) as .docx: cover table, then each section as the form's table.
    Versions not published carry 「(案)」 in the title."""
    from pia.assessments import services

    assessment = version.assessment
    schema = load_schema(assessment.form, version.edition)
    doc = services.document_with_facts(version)
    sections = document_view(version, document=doc)
    cover = doc.get("cover") if isinstance(doc.get("cover"), Mapping) else {}
    title = cover.get("name") or assessment.title

    document = new_document()

    form_number = FORM_NUMBERS.get(assessment.form, "")
    if form_number:
        document.add_paragraph(f"［{form_number}］")
    heading = document.add_heading(schema.title or FORMS.get(assessment.form, assessment.form), level=0)
    heading.alignment = 1
    subtitle = document.add_paragraph(title if version.status == "published" else f"{title}(案・{version.label})")
    subtitle.alignment = 1
    if body_name and not cover.get("body_name"):
        document.add_paragraph(body_name).alignment = 1
    document.add_paragraph(SIGNIFICANT_NOTE)

    for section in sections:
        document.add_heading(section.display_title + (f" {SIGNIFICANT_MARK}" if _whole(section) else ""), level=1)
        if not section.rows:
            document.add_paragraph("該当なし")
            continue
        _section_table(document, schema, doc, section)

    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _whole(section: SectionView) -> bool:
    return bool(section.rows) and all(row.significant for row in section.rows)


def filename(version) -> str:
    """「<評価書名>_第2版.docx」 (案 for versions not published), as the PDF is named."""
    from pia.publication import pdf

    return pdf.filename(version).removesuffix(".pdf") + ".docx"
