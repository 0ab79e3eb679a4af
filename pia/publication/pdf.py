"""PDF of an assessment version in the layout of the official forms.

:func:`document_sections` turns a document and its schema into rows of the form's
bordered tables (※ column, label column, value column); ``templates/pia/publication/assessment.html``
lays them out and :mod:`common.publish` renders the PDF. Published versions are
rendered once and kept (:func:`published_pdf`); anything else renders on demand with
the 「案」 watermark (:func:`render_version`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import render_template

from common.db import db
from common.jpdate import format_wareki
from common.publish import Rendered, render
from pia.schema import FORMS, FormSchema, Item, cell_text, display_label, load_schema

#: archival variant for published versions (PDF/A-3b: fonts embedded, XMP metadata, sRGB)
ARCHIVAL_VARIANT = "pdf/a-3b"
#: the official form number of each form (特定個人情報保護評価指針の様式)
FORM_NUMBERS = {"kiso": "様式2", "juten": "様式3", "zenkoumoku": "様式4"}
#: section numbers as the printed forms write them (Ⅰ 基本情報)
ROMAN = {"I": "Ⅰ", "II": "Ⅱ", "III": "Ⅲ", "IV": "Ⅳ", "V": "Ⅴ", "VI": "Ⅵ", "VII": "Ⅶ"}


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One row of a section's table.

    kind ``heading`` (a fieldset, a group or one entry of a group), ``field`` (a leaf
    item with its value), ``table`` (a table item: ``columns`` and ``rows`` of values),
    ``empty`` (a group without entries).
    """

    kind: str
    label: str
    depth: int
    #: show ※ in the left column: the item is 重要な変更の対象 and its parent is not
    mark: bool = False
    item: Item | None = None
    value: Any = None
    columns: tuple[Item, ...] = ()
    rows: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass
class SectionView:
    key: str
    number: str
    title: str
    #: the whole section is 重要な変更の対象 (※ on its title)
    significant: bool
    help: str
    rows: list[Row]

    @property
    def display_title(self) -> str:
        number = ROMAN.get(self.number, self.number)
        return f"{number} {self.title}" if number else self.title

    @property
    def anchor(self) -> str:
        return f"section-{self.key}"


def document_sections(schema: FormSchema, doc: Mapping[str, Any], *, skip=("cover",)) -> list[SectionView]:
    """The sections of ``doc`` as rows of the official form's tables."""
    doc = doc if isinstance(doc, Mapping) else {}
    out = []
    for section in schema.sections:
        if section.key in skip:
            continue
        section_doc = doc.get(section.key)
        section_doc = section_doc if isinstance(section_doc, Mapping) else {}
        significant = bool(section.items) and all(item.significant for item in section.items)
        rows: list[Row] = []
        for item in section.items:
            _rows(item, section_doc.get(item.key), 0, significant, rows)
        out.append(SectionView(section.key, section.number, section.title, significant, section.help, rows))
    return out


def _rows(item: Item, value: Any, depth: int, parent_significant: bool, out: list[Row]) -> None:
    if not item.printed:
        return
    mark = item.significant and not parent_significant
    label = display_label(item.number, item.label)
    if item.cell:  # one cell holding its texts (「②法令上の根拠」 as 001 prints it)
        out.append(Row("field", label, depth, mark, item, cell_text(item, value)))
        return
    if item.is_leaf:
        out.append(Row("field", label, depth, mark, item, value))
        return
    if item.type == "table":
        rows = [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []
        out.append(
            Row("table", label, depth, mark, item, columns=tuple(c for c in item.columns if c.printed), rows=rows)
        )
        return
    if item.type == "fieldset":
        value = value if isinstance(value, Mapping) else {}
        # a fieldset holding one item of the same name is that item (「8. 他の評価実施機関」)
        out.append(Row("heading", label, depth, mark, item))
        for child in item.children:
            _rows(child, value.get(child.key), depth + 1, item.significant, out)
        return
    # group: a heading per entry (「システム1」「(1)」), or the group's own heading when empty
    entries = [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []
    if item.label and (item.number or not entries):
        out.append(Row("heading", label, depth, mark, item))
        child_depth = depth + 1
    else:
        child_depth = depth
    if not entries:
        out.append(Row("empty", "", child_depth, False, item))
        return
    for index, entry in enumerate(entries):
        out.append(Row("heading", item.entry_title(index), child_depth, mark and child_depth == depth, item))
        for child in item.subitems:
            _rows(child, entry.get(child.key), child_depth + 1, item.significant, out)


# --------------------------------------------------------------------------- context


def _iso_date(value) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def shown_document(version) -> dict[str, Any]:
    """The document as readers see it (:func:`pia.services.document_with_facts`: section VI
    from the records, 変更箇所 generated for drafts, 公表日 from the version)."""
    if getattr(version, "id", None) is None:  # not in the database (benchmarks)
        return dict(version.document or {})
    from pia.assessments.services import document_with_facts

    return document_with_facts(version)


def change_rows(version) -> list[Mapping[str, Any]]:
    """Rows of the version's 変更箇所 (別添), as shown in its PDF."""
    doc = shown_document(version)
    rows = (doc.get("changelog") or {}).get("changes") if isinstance(doc.get("changelog"), Mapping) else None
    return [row for row in rows or [] if isinstance(row, Mapping)]


def version_systems(version) -> list:
    """The inventory systems the version names (:func:`pia.inventory_services.referenced_objects`:
    the entries it was filled from, else those matched by name), in the version's order."""
    if getattr(version, "id", None) is None:
        return []
    from pia.inventory.services import referenced_objects

    return list(referenced_objects(version, "system"))


@dataclass
class _DrawnConnection:
    target: Any
    target_id: int | None
    target_label: str
    flows: str


@dataclass
class _DrawnSystem:
    """A system as a published version named it (its snapshot), for the diagram."""

    id: int
    code: str
    name: str
    kind: str = "city"
    status: str = "active"
    outgoing: list[_DrawnConnection] = field(default_factory=list)


def snapshot_systems(version) -> list[_DrawnSystem] | None:
    """The systems of a published version as its inventory snapshot (taken on publication)
    recorded them — code and name as the version said then — with the connections among
    them (and to outside parties) of the 台帳; None when the version has no snapshot."""
    from pia.inventory.models import InventorySnapshot, System

    if getattr(version, "id", None) is None or version.status != "published":
        return None
    snaps = (
        db.session.execute(
            db.select(InventorySnapshot).filter_by(version_id=version.id, kind="system").order_by(InventorySnapshot.id)
        )
        .scalars()
        .all()
    )
    if not snaps:
        return None
    drawn = {s.object_id: _DrawnSystem(id=s.object_id, code=s.code, name=s.name) for s in snaps}
    for object_id, system in drawn.items():
        current = db.session.get(System, object_id)
        if current is None:
            continue
        system.kind, system.status = current.kind, current.status
        for c in current.outgoing:
            if c.target_id is None or c.target_id in drawn:
                target = drawn.get(c.target_id) if c.target_id is not None else None
                system.outgoing.append(_DrawnConnection(target, c.target_id, c.target_label or "", c.flows or ""))
    return list(drawn.values())


def diagram_systems(version) -> list:
    """What the 別添1 diagram draws: a published version's own snapshot, else the inventory
    records the version links (a draft shows the current 台帳)."""
    snapshot = snapshot_systems(version)
    return snapshot if snapshot is not None else version_systems(version)


def _systems_diagram(version) -> str | None:
    """The systems diagram (:func:`pia.diagram.systems_svg`) as an SVG ``data:`` URL, or
    None when the version is not linked to the inventory or Graphviz cannot draw it."""
    systems = diagram_systems(version)
    if not systems:
        return None
    from pia.inventory.diagram import systems_svg

    svg = str(systems_svg(systems))
    if not svg.lstrip().startswith("<svg"):
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def version_context(
    version, *, body_name: str | None = None, document: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What ``templates/pia/publication/assessment.html`` needs to lay out ``version``; with ``document``,
    that document as a draft of the version (a kept copy: no live diagram from the inventory)."""
    assessment = version.assessment
    schema = load_schema(assessment.form, version.edition)
    doc = shown_document(version) if document is None else dict(document)
    cover = doc.get("cover") if isinstance(doc.get("cover"), Mapping) else {}
    sections = document_sections(schema, doc)
    published = version.status == "published" and document is None
    title = cover.get("name") or assessment.title
    return {
        "version": version,
        "assessment": assessment,
        "schema": schema,
        "form_name": FORMS.get(assessment.form, assessment.form),
        "form_number": FORM_NUMBERS.get(assessment.form, ""),
        "cover": cover,
        "title": title,
        "assessment_number": cover.get("assessment_number") or assessment.number or "",
        "body_name": cover.get("body_name") or body_name or "",
        "published_on": (version.published_on or _iso_date(cover.get("published_on"))) if published else None,
        "sections": sections,
        "draft": not published,
        "kept": document is not None,
        "diagram": _systems_diagram(version) if document is None else None,
        "diagram_section": _diagram_section(schema),
        "date_text": date_text,
    }


def _diagram_section(schema: FormSchema) -> str:
    """Where the systems diagram goes: (別添1) 事務の内容 when the form has it, else section I."""
    keys = [s.key for s in schema.sections]
    if "affair_detail" in keys:
        return "affair_detail"
    return next((k for k in keys if k != "cover"), "")


def date_text(value) -> str:
    """An ISO date string or a date as the forms write it (令和8年2月16日)."""
    return format_wareki(value)


def metadata_for(version, context: Mapping[str, Any], body: str) -> dict[str, Any]:
    form_name = context["form_name"]
    if context.get("kept"):  # a kept document: nothing of the live version's later life
        dates = {"created": version.created_at, "modified": version.created_at}
    else:
        dates = {
            "created": version.published_on or version.submitted_on or version.created_at,
            "modified": version.published_on or getattr(version, "updated_at", None) or version.created_at,
        }
    return {
        "title": f"{context['title']}({version.label})" if context["draft"] else context["title"],
        "author": body,
        "subject": f"{context['schema'].title} {version.assessment.affair.name}",
        "keywords": ["特定個人情報保護評価", form_name, version.assessment.affair.name],
        "lang": "ja",
        **dates,
    }


def render_version(
    version, *, archival: bool | None = None, body: str | None = None, document: Mapping[str, Any] | None = None
) -> Rendered:
    """Render ``version`` (any state) to PDF. Published versions get PDF/A unless
    ``archival`` is False; others are marked 「案」. ``body`` defaults to the
    ``body.name`` setting (the PDF's author when the cover names no 評価実施機関).
    ``document``: render this document of the version instead, marked 「案」 (the draft put
    out for comment, as kept by the consultation)."""
    if body is None:
        from common.templating import body_name

        body = body_name()
    context = version_context(version, body_name=body, document=document)
    html = render_template("pia/publication/assessment.html", **context)
    if archival is None:
        archival = not context["draft"]
    return render(
        html,
        metadata=metadata_for(version, context, body or context["body_name"]),
        pdf_variant=ARCHIVAL_VARIANT if archival else None,
    )


def pdf_digest(version, *, body: str | None = None) -> str:
    """SHA-256 of what :func:`render_version` lays out for ``version`` — the document as
    shown (section VI and 変更箇所 included), its state, the assessment's names, the body
    name and the inventory the systems diagram is drawn from — without laying it out (the
    key of :func:`common.pdf_cache.cached_pdf`)."""
    import json

    from common.pdf_cache import content_digest
    from pia.inventory.models import System

    if body is None:
        from common.templating import body_name

        body = body_name()
    assessment = version.assessment
    inventory = db.session.execute(db.select(System.id, System.revision).order_by(System.id)).all()
    facts = {
        "document": shown_document(version),
        "status": version.status,
        "number": version.number,
        "edition": version.edition,
        "form": assessment.form,
        "title": assessment.title,
        "assessment_number": assessment.number,
        "published_on": version.published_on,
        "body": body,
        "inventory": [list(row) for row in inventory],
    }
    return content_digest(json.dumps(facts, sort_keys=True, ensure_ascii=False, default=str))


def filename(version) -> str:
    """A download name: 「<評価書名>_第2版.pdf」 (案 for versions not published)."""
    doc = version.document if isinstance(version.document, Mapping) else {}
    name = (
        (doc.get("cover") or {}).get("name") if isinstance(doc.get("cover"), Mapping) else None
    ) or version.assessment.title
    suffix = "" if version.status == "published" else "_案"
    return f"{name}_{version.label}{suffix}.pdf".replace("/", "／").replace(" ", "_")


# --------------------------------------------------------------------------- stored PDFs


def published_pdf(version):
    """The stored PDF of a published version, rendering and storing it the first time.

    Returns a :class:`pia.publication.models.PublishedDocument`. Raises ValueError for a
    version that is not published (drafts are never stored).
    """
    from pia.publication.models import PublishedDocument

    if version.status != "published":
        raise ValueError("only published versions are stored")
    stored = db.session.execute(
        db.select(PublishedDocument).filter_by(version_id=version.id, kind="assessment")
    ).scalar_one_or_none()
    if stored is not None:
        return stored
    rendered = render_version(version)
    stored = PublishedDocument(
        version_id=version.id,
        kind="assessment",
        sha256=hashlib.sha256(rendered.pdf).hexdigest(),
        size=len(rendered.pdf),
        pages=rendered.pages,
        content=rendered.pdf,
        filename=filename(version),
    )
    db.session.add(stored)
    db.session.flush()
    return stored


def store_on_publish(version, actor) -> None:
    """On-publish hook (:func:`pia.procedure.register_on_publish`): render and keep the PDF
    in the publishing transaction, so that it shows the version as it was published."""
    published_pdf(version)
