"""A version's document as readers see it: sections of rows with labels, values and ※ marks.

:func:`document_view` is shared by the HTML pages (``templates/pia/assessments/_document.html``), the
consultation package (the draft shown to residents) and the PDF: the logic of what is
shown where lives here, the templates only lay it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pia.schema import FormSchema, Item, cell_text, display_label, is_empty, load_schema, section_completion, value_text

SIGNIFICANT_MARK = "※"
SIGNIFICANT_NOTE = "※は重要な変更の対象である項目"


@dataclass
class Row:
    """One line of a section.

    ``kind``: ``heading`` (a fieldset or the title of a group entry), ``item`` (a leaf with
    its value), ``table`` (``columns`` and ``cells``), ``empty`` (a group with no entry).
    """

    kind: str
    depth: int
    label: str
    path: str
    significant: bool = False
    text: str = ""
    markdown: bool = False
    item_type: str = ""
    columns: list[str] = field(default_factory=list)
    cells: list[list[str]] = field(default_factory=list)

    @property
    def mark(self) -> str:
        return SIGNIFICANT_MARK if self.significant else ""


@dataclass
class SectionView:
    key: str
    number: str
    title: str
    help: str
    rows: list[Row]
    filled: int
    required: int

    @property
    def display_title(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title

    @property
    def complete(self) -> bool:
        return self.filled >= self.required

    @property
    def significant(self) -> bool:
        return any(row.significant for row in self.rows)


def document_rows(
    schema: FormSchema, document: Mapping[str, Any], *, sections: list[str] | None = None
) -> list[SectionView]:
    """Pure: the sections of ``document`` in ``schema`` as rows."""
    document = document if isinstance(document, Mapping) else {}
    completion = section_completion(schema, document)
    out = []
    for section in schema.sections:
        if sections is not None and section.key not in sections:
            continue
        section_doc = document.get(section.key)
        section_doc = section_doc if isinstance(section_doc, Mapping) else {}
        rows: list[Row] = []
        for item in section.items:
            _rows(item, section_doc.get(item.key), f"{section.key}/{item.key}", 0, rows)
        filled, required = completion.get(section.key, (0, 0))
        out.append(SectionView(section.key, section.number, section.title, section.help, rows, filled, required))
    return out


def _rows(item: Item, value: Any, path: str, depth: int, rows: list[Row]) -> None:
    if not item.printed:
        return
    label = display_label(item.number, item.label)
    if item.cell:  # one cell, as the form prints it (「②法令上の根拠」)
        rows.append(Row("item", depth, label, path, item.significant, cell_text(item, value), False, "longtext"))
        return
    if item.is_leaf:
        rows.append(
            Row("item", depth, label, path, item.significant, value_text(item, value), item.markdown, item.type)
        )
        return
    if item.type == "fieldset":
        rows.append(Row("heading", depth, label, path, item.significant))
        value = value if isinstance(value, Mapping) else {}
        for child in item.children:
            _rows(child, value.get(child.key), f"{path}/{child.key}", depth + 1, rows)
        return
    entries = value if isinstance(value, list) else []
    if item.type == "table":
        shown = [col for col in item.columns if col.printed]
        cells = [
            [value_text(col, (row or {}).get(col.key) if isinstance(row, Mapping) else None) for col in shown]
            for row in entries
        ]
        rows.append(
            Row(
                "table",
                depth,
                label,
                path,
                item.significant,
                item_type="table",
                columns=[
                    display_label(c.number, c.label)
                    + (SIGNIFICANT_MARK if c.significant and not item.significant else "")
                    for c in shown
                ],
                cells=cells,
            )
        )
        return
    # group
    if item.label and (item.item_label or item.number):
        rows.append(Row("heading", depth, label, path, item.significant))
        inner = depth + 1
    else:
        inner = depth
    if not entries:
        rows.append(Row("empty", inner, "(記載なし)", path, item.significant))
    for index, entry in enumerate(entries):
        entry = entry if isinstance(entry, Mapping) else {}
        entry_path = f"{path}[{index}]"
        rows.append(Row("heading", inner, item.entry_title(index), entry_path, item.significant))
        for child in item.children:
            _rows(child, entry.get(child.key), f"{entry_path}/{child.key}", inner + 1, rows)


def document_view(
    version, *, document: Mapping[str, Any] | None = None, sections: list[str] | None = None
) -> list[SectionView]:
    """The sections of ``version`` as shown: section VI filled from the consultation and the
    review, the 変更箇所 generated for drafts, 公表日 from the version."""
    from pia.assessments import services

    schema = load_schema(version.assessment.form, version.edition)
    doc = services.document_with_facts(version) if document is None else document
    return document_rows(schema, doc, sections=sections)


def is_blank(item: Item, value: Any) -> bool:
    return is_empty(item, value)
