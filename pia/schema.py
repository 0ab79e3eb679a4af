"""The official assessment forms as data, and pure helpers over assessment documents.

A form (全項目評価書, 重点項目評価書, 基礎項目評価書) is described in
``pia/schemas/<form>-<edition>.yaml``: sections, and in each section items.

Item types
    ``text``, ``longtext`` (``markdown: true`` allows Markdown), ``choice``,
    ``multichoice`` (``other: true`` adds a free text for the choice named by
    ``other_choice``, by default 「その他」), ``number``, ``date``, ``numberlist``
    (a list of positive integers, e.g. the item numbers of the table in 主務省令第2条),
    ``table`` (rows of leaf ``columns``), ``group`` (repeated entries of ``children``,
    e.g. システム1..n) and ``fieldset`` (a non-repeated heading with ``children``,
    e.g. 「1. 特定個人情報ファイルを取り扱う事務」).

``significant: true`` (※, 重要な変更の対象) set on a section or a container is
inherited by everything below it unless an item says ``significant: false``.
:func:`significance_marks` lists where each form prints ※; ``docs/forms.md`` gives the
source of each (a test keeps the two equal).

``cell: true`` on a fieldset prints it as one cell (:func:`cell_text`); ``printed: false``
marks data the official form has no place for (edited and compared, never printed).

A *document* is a JSON-compatible dict ``{section_key: {item_key: value}}``:

=============================  ==============================================
type                           value
=============================  ==============================================
text, longtext, choice         ``str`` ("" when empty)
date                           ``str`` in ISO format ``YYYY-MM-DD`` ("" when empty)
number                         ``int`` (``None`` when empty)
numberlist                     ``list[int]``
multichoice                    ``{"selected": [str, ...], "other": str}``
table                          ``list[dict[column_key, value]]``
group                          ``list[dict[child_key, value]]``
fieldset                       ``dict[child_key, value]``
=============================  ==============================================

Paths name one value in a document: section key, then item keys joined by ``/``,
with ``[i]`` (0-based) after a group or table: ``basic/systems[0]/name``.

HTML form field names (see :func:`coerce` and :func:`to_form_data`) are relative to a
section and join the same segments with ``-``, the row index being its own segment:
``affair-name``, ``systems-0-name``, ``systems-0-connections`` (one value per checked
box), ``systems-0-connections-other`` (the free text of 「その他」),
``network-basis-provision_items`` (numbers separated by 「、」, commas or spaces).
Keys are ASCII snake_case, so ``-`` never appears inside a segment.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from common.jpdate import DATE_HINT, format_date, format_wareki, parse_date
from common.mynumber import REFUSED as MSG_MY_NUMBER
from common.mynumber import contains_my_number

FORMS = {"zenkoumoku": "全項目評価書", "juten": "重点項目評価書", "kiso": "基礎項目評価書"}

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

LEAF_TYPES = frozenset({"text", "longtext", "choice", "multichoice", "number", "date", "numberlist"})
CONTAINER_TYPES = frozenset({"table", "group", "fieldset"})
ITEM_TYPES = LEAF_TYPES | CONTAINER_TYPES
INVENTORY_KINDS = frozenset({"system", "pi_file"})
#: in an entry of a group marked ``inventory:``, the id of the 台帳 record it names (the
#: link by identity; the form field is ``systems-0-inventory_id``). Not an item of the form:
#: validation, diff and print ignore it.
LINK_KEY = "inventory_id"

MSG_REQUIRED = "必須項目です"
MSG_NOT_A_CHOICE = "選択肢にない値です"
MSG_NOT_A_NUMBER = "数値で入力してください"
MSG_NEGATIVE = "0以上の数値で入力してください"
MSG_BAD_DATE = "日付として読み取れませんでした。" + DATE_HINT
MSG_NOT_TEXT = "文字列で入力してください"
MSG_BAD_SHAPE = "入力内容の形式が正しくありません"
MSG_OTHER_MISSING = "「{choice}」を選んだ場合は、内容を入力してください"
MSG_OTHER_UNCHECKED = "内容を入力した場合は、「{choice}」を選んでください"
MSG_DUPLICATE_NUMBER = "同じ番号が重複しています"
MSG_NOT_POSITIVE = "1以上の数値で入力してください"

_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SEGMENT_RE = re.compile(r"^([a-z][a-z0-9_]*)(?:\[(\d+)\])?$")


class SchemaError(ValueError):
    """A schema file does not describe a valid form."""


class SchemaNotFound(LookupError):
    """No schema for this form or edition."""


@dataclass(frozen=True)
class Item:
    key: str
    number: str
    label: str
    type: str = "text"
    required: bool = False
    significant: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    other: bool = False
    columns: tuple[Item, ...] = ()
    children: tuple[Item, ...] = ()
    markdown: bool = False
    inventory: str | None = None
    #: groups: the title of one entry, "{n}" being its 1-based number ("システム{n}")
    item_label: str = ""
    #: multichoice with other: the choice whose free text ``other`` holds
    other_choice: str = "その他"
    #: fieldsets: printed as ONE cell holding its printed text children as paragraphs
    #: (「②法令上の根拠」: (情報提供の根拠) and (情報照会の根拠)), see :func:`cell_text`
    cell: bool = False
    #: False for data the system needs (e.g. the 項 numbers checked against provision
    #: records) that the official form has no place for: edited, compared, never printed
    printed: bool = True

    @property
    def is_leaf(self) -> bool:
        return self.type in LEAF_TYPES

    @property
    def subitems(self) -> tuple[Item, ...]:
        """Children of a group or fieldset, columns of a table."""
        return self.columns if self.type == "table" else self.children

    def entry_title(self, index: int) -> str:
        """Title of the index-th (0-based) entry of a group or row of a table."""
        return self.entry_title_pattern.replace("{n}", str(index + 1))

    @property
    def entry_title_pattern(self) -> str:
        """The title of an entry with 「{n}」 for its 1-based number (for the page's script)."""
        return self.item_label if self.item_label else f"{self.label}{{n}}"

    def iter_items(self) -> Iterator[Item]:
        """This item and everything below it, depth first."""
        yield self
        for sub in self.subitems:
            yield from sub.iter_items()


@dataclass(frozen=True)
class Section:
    key: str
    number: str
    title: str
    items: tuple[Item, ...]
    help: str = ""

    @property
    def display_title(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title

    def iter_items(self) -> Iterator[Item]:
        for item in self.items:
            yield from item.iter_items()


@dataclass(frozen=True)
class FormSchema:
    form: str
    edition: str
    title: str
    sections: tuple[Section, ...]

    @property
    def form_name(self) -> str:
        return FORMS[self.form]

    def section(self, key: str) -> Section:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)

    def item(self, path: str) -> Item:
        """The item at ``path`` (``basic/systems[0]/name`` or ``basic/systems/name``)."""
        segments = parse_path(path)
        if len(segments) < 2:
            raise KeyError(path)
        section = self.section(segments[0][0])
        items = section.items
        found: Item | None = None
        for key, _index in segments[1:]:
            found = next((i for i in items if i.key == key), None)
            if found is None:
                raise KeyError(path)
            items = found.subitems
        assert found is not None
        return found

    def inventory_items(self, kind: str) -> list[tuple[str, Item]]:
        """(path, item) of the groups the inventory fills (``system`` or ``pi_file``)."""
        out = []
        for section in self.sections:
            for item, path in walk_schema(section.items, section.key):
                if item.inventory == kind:
                    out.append((path, item))
        return out


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str


@dataclass(frozen=True)
class FlatItem:
    path: str
    label: str
    text: str
    #: ※ on the printed form; never for data that is not printed
    significant: bool
    #: False for data the form does not print (``printed: false``)
    printed: bool = True


# --------------------------------------------------------------------------- loading


def _edition_sort_key(edition: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", edition))


def list_editions(form: str) -> list[str]:
    """Editions available for ``form``, oldest first."""
    if form not in FORMS:
        raise SchemaNotFound(f"unknown form: {form}")
    prefix = f"{form}-"
    editions = [p.stem[len(prefix) :] for p in SCHEMA_DIR.glob(f"{form}-*.yaml")]
    return sorted(editions, key=_edition_sort_key)


def load_schema(form: str, edition: str | None = None) -> FormSchema:
    """The schema of ``form`` in ``edition`` (the latest edition when None)."""
    if edition is None:
        editions = list_editions(form)
        if not editions:
            raise SchemaNotFound(f"no schema for form {form}")
        edition = editions[-1]
    return _load_schema(form, str(edition))


@functools.cache
def _load_schema(form: str, edition: str) -> FormSchema:
    if form not in FORMS:
        raise SchemaNotFound(f"unknown form: {form}")
    path = SCHEMA_DIR / f"{form}-{edition}.yaml"
    if not path.is_file():
        raise SchemaNotFound(f"no schema for form {form} edition {edition}")
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return parse_schema(raw, source=path.name)


_ITEM_FIELDS = {
    "key",
    "number",
    "label",
    "type",
    "required",
    "significant",
    "help",
    "choices",
    "other",
    "columns",
    "children",
    "markdown",
    "inventory",
    "item_label",
    "other_choice",
    "cell",
    "printed",
}
_SECTION_FIELDS = {"key", "number", "title", "items", "help", "significant"}


def parse_schema(raw: Mapping[str, Any], source: str = "<schema>") -> FormSchema:
    """Build a :class:`FormSchema` from its YAML data, checking it thoroughly."""
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{source}: not a mapping")
    for field in ("form", "edition", "title", "sections"):
        if field not in raw:
            raise SchemaError(f"{source}: missing {field}")
    form = raw["form"]
    if form not in FORMS:
        raise SchemaError(f"{source}: unknown form {form}")
    sections = []
    seen: set[str] = set()
    for raw_section in raw["sections"]:
        where = f"{source}:{raw_section.get('key')}"
        unknown = set(raw_section) - _SECTION_FIELDS
        if unknown:
            raise SchemaError(f"{where}: unknown fields {sorted(unknown)}")
        key = raw_section.get("key", "")
        if not _KEY_RE.match(str(key)) or key in seen:
            raise SchemaError(f"{where}: bad or duplicate section key")
        seen.add(key)
        inherited = bool(raw_section.get("significant", False))
        items = _parse_items(raw_section.get("items") or [], inherited, where)
        sections.append(
            Section(
                key=key,
                number=str(raw_section.get("number", "")),
                title=str(raw_section["title"]),
                items=items,
                help=str(raw_section.get("help", "")).strip(),
            )
        )
    return FormSchema(form=form, edition=str(raw["edition"]), title=str(raw["title"]), sections=tuple(sections))


def _parse_items(raws: Iterable[Mapping[str, Any]], inherited: bool, where: str) -> tuple[Item, ...]:
    items = []
    seen: set[str] = set()
    for raw in raws:
        item = _parse_item(raw, inherited, where)
        if item.key in seen:
            raise SchemaError(f"{where}/{item.key}: duplicate key")
        seen.add(item.key)
        items.append(item)
    return tuple(items)


def _parse_item(raw: Mapping[str, Any], inherited: bool, where: str) -> Item:
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{where}: item is not a mapping: {raw!r}")
    key = str(raw.get("key", ""))
    where = f"{where}/{key}"
    unknown = set(raw) - _ITEM_FIELDS
    if unknown:
        raise SchemaError(f"{where}: unknown fields {sorted(unknown)}")
    if not _KEY_RE.match(key):
        raise SchemaError(f"{where}: key must be ASCII snake_case")
    if "label" not in raw:
        raise SchemaError(f"{where}: missing label")
    type_ = raw.get("type", "text")
    if type_ not in ITEM_TYPES:
        raise SchemaError(f"{where}: unknown type {type_}")
    significant = bool(raw.get("significant", inherited))
    required = bool(raw.get("required", False))
    choices = tuple(str(c) for c in raw.get("choices") or ())
    if type_ in ("choice", "multichoice") and not choices:
        raise SchemaError(f"{where}: {type_} needs choices")
    if type_ not in ("choice", "multichoice") and choices:
        raise SchemaError(f"{where}: only choice/multichoice take choices")
    if len(set(choices)) != len(choices):
        raise SchemaError(f"{where}: duplicate choices")
    other = bool(raw.get("other", False))
    other_choice = str(raw.get("other_choice", "その他"))
    if other and (type_ != "multichoice" or other_choice not in choices):
        raise SchemaError(f"{where}: other needs a multichoice with the choice {other_choice}")
    columns: tuple[Item, ...] = ()
    children: tuple[Item, ...] = ()
    if type_ == "table":
        columns = _parse_items(raw.get("columns") or [], significant, where)
        if not columns or any(not c.is_leaf for c in columns):
            raise SchemaError(f"{where}: a table needs leaf columns")
    elif raw.get("columns"):
        raise SchemaError(f"{where}: only tables take columns")
    if type_ in ("group", "fieldset"):
        children = _parse_items(raw.get("children") or [], significant, where)
        if not children:
            raise SchemaError(f"{where}: a {type_} needs children")
    elif raw.get("children"):
        raise SchemaError(f"{where}: only groups and fieldsets take children")
    inventory = raw.get("inventory")
    if inventory is not None and (inventory not in INVENTORY_KINDS or type_ != "group"):
        raise SchemaError(f"{where}: inventory must be system or pi_file, on a group")
    markdown = bool(raw.get("markdown", False))
    if markdown and type_ != "longtext":
        raise SchemaError(f"{where}: only longtext can be markdown")
    cell = bool(raw.get("cell", False))
    if cell and (
        type_ != "fieldset"
        or any(c.printed and c.type not in ("text", "longtext") for c in children)
        or not any(c.printed for c in children)
    ):
        raise SchemaError(f"{where}: a cell is a fieldset whose printed children are texts")
    printed = bool(raw.get("printed", True))
    if not printed and required:
        raise SchemaError(f"{where}: an item that is not printed cannot be required")
    return Item(
        key=key,
        number=str(raw.get("number", "")),
        label=str(raw["label"]),
        type=type_,
        required=required,
        significant=significant,
        help=str(raw.get("help", "")).strip(),
        choices=choices,
        other=other,
        columns=columns,
        children=children,
        markdown=markdown,
        inventory=inventory,
        item_label=str(raw.get("item_label", "")),
        other_choice=other_choice,
        cell=cell,
        printed=printed,
    )


def walk_schema(items: Iterable[Item], prefix: str) -> Iterator[tuple[Item, str]]:
    for item in items:
        path = f"{prefix}/{item.key}"
        yield item, path
        yield from walk_schema(item.subitems, path)


# --------------------------------------------------------------------------- paths


def parse_path(path: str) -> list[tuple[str, int | None]]:
    """``basic/systems[0]/name`` -> ``[("basic", None), ("systems", 0), ("name", None)]``."""
    out = []
    for segment in path.strip("/").split("/"):
        match = _SEGMENT_RE.match(segment)
        if not match:
            raise KeyError(path)
        index = match.group(2)
        out.append((match.group(1), int(index) if index is not None else None))
    return out


def get_value(doc: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in ``doc``; KeyError/IndexError when absent."""
    node: Any = doc
    for key, index in parse_path(path):
        node = node[key]
        if index is not None:
            node = node[index]
    return node


def set_value(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at ``path`` in ``doc`` (in place); the parent must exist."""
    segments = parse_path(path)
    node: Any = doc
    for key, index in segments[:-1]:
        node = node.setdefault(key, {}) if index is None else node[key][index]
    key, index = segments[-1]
    if index is None:
        node[key] = value
    else:
        node[key][index] = value


def field_name(path: str) -> str:
    """The HTML field name of a path, relative to its section.

    ``basic/systems[0]/name`` -> ``systems-0-name``.
    """
    parts: list[str] = []
    for key, index in parse_path(path)[1:]:
        parts.append(key)
        if index is not None:
            parts.append(str(index))
    return "-".join(parts)


# --------------------------------------------------------------------------- documents


def empty_value(item: Item) -> Any:
    """The value of ``item`` in a new, empty document."""
    if item.type == "number":
        return None
    if item.type == "multichoice":
        return {"selected": [], "other": ""}
    if item.type in ("numberlist", "table", "group"):
        return []
    if item.type == "fieldset":
        return {child.key: empty_value(child) for child in item.children}
    return ""


def empty_entry(item: Item) -> dict[str, Any]:
    """An empty entry (row) of a group or table."""
    return {sub.key: empty_value(sub) for sub in item.subitems}


def empty_document(schema: FormSchema) -> dict[str, Any]:
    return {section.key: {item.key: empty_value(item) for item in section.items} for section in schema.sections}


def is_empty(item: Item, value: Any) -> bool:
    """True when ``value`` holds nothing for ``item``."""
    if value is None:
        return True
    if item.type == "multichoice":
        if not isinstance(value, Mapping):
            return False
        return not value.get("selected") and not str(value.get("other") or "").strip()
    if item.type in ("numberlist", "table", "group"):
        return isinstance(value, list) and not value
    if item.type == "fieldset":
        if not isinstance(value, Mapping):
            return False
        return all(is_empty(child, value.get(child.key)) for child in item.children)
    if isinstance(value, str):
        return not value.strip()
    return False


# --------------------------------------------------------------------------- validate


def validate(schema: FormSchema, doc: Mapping[str, Any], *, sections: Iterable[str] | None = None) -> list[FieldError]:
    """Check ``doc`` against ``schema``; an empty list means it is valid.

    ``sections`` limits the check to these section keys.
    """
    wanted = None if sections is None else set(sections)
    errors: list[FieldError] = []
    if not isinstance(doc, Mapping):
        return [FieldError("", MSG_BAD_SHAPE)]
    for section in schema.sections:
        if wanted is not None and section.key not in wanted:
            continue
        section_doc = doc.get(section.key)
        if section_doc is None:
            section_doc = {}
        if not isinstance(section_doc, Mapping):
            errors.append(FieldError(section.key, MSG_BAD_SHAPE))
            continue
        for item in section.items:
            _validate_item(item, section_doc.get(item.key), f"{section.key}/{item.key}", errors)
    return errors


def _validate_item(item: Item, value: Any, path: str, errors: list[FieldError]) -> None:
    def error(message: str, at: str = path) -> None:
        errors.append(FieldError(at, message))

    if is_empty(item, value) and item.type != "fieldset":
        if item.required:
            error(MSG_REQUIRED)
        return
    t = item.type
    if t in ("text", "longtext", "choice", "date"):
        if not isinstance(value, str):
            error(MSG_NOT_TEXT if t != "date" else MSG_BAD_DATE)
        elif contains_my_number(value):
            error(MSG_MY_NUMBER)
        elif t == "choice" and value not in item.choices:
            error(MSG_NOT_A_CHOICE)
        elif t == "date" and not _is_iso_date(value):
            error(_date_problem(value))
    elif t == "number":
        if isinstance(value, bool) or not isinstance(value, int):
            error(MSG_NOT_A_NUMBER)
        elif value < 0:
            error(MSG_NEGATIVE)
        elif contains_my_number(value):
            error(MSG_MY_NUMBER)
    elif t == "numberlist":
        if not isinstance(value, list):
            error(MSG_NOT_A_NUMBER)
            return
        for i, n in enumerate(value):
            if isinstance(n, bool) or not isinstance(n, int):
                error(MSG_NOT_A_NUMBER, f"{path}[{i}]")
            elif n < 1:
                error(MSG_NOT_POSITIVE, f"{path}[{i}]")
        hashable = [n for n in value if isinstance(n, int)]
        if len(set(hashable)) != len(hashable):
            error(MSG_DUPLICATE_NUMBER)
    elif t == "multichoice":
        _validate_multichoice(item, value, path, error)
    elif t in ("table", "group"):
        if not isinstance(value, list):
            error(MSG_BAD_SHAPE)
            return
        for i, row in enumerate(value):
            row_path = f"{path}[{i}]"
            if not isinstance(row, Mapping):
                error(MSG_BAD_SHAPE, row_path)
                continue
            for sub in item.subitems:
                _validate_item(sub, row.get(sub.key), f"{row_path}/{sub.key}", errors)
    elif t == "fieldset":
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            error(MSG_BAD_SHAPE)
            return
        for child in item.children:
            _validate_item(child, value.get(child.key), f"{path}/{child.key}", errors)


def _validate_multichoice(item: Item, value: Any, path: str, error) -> None:
    if not isinstance(value, Mapping):
        error(MSG_BAD_SHAPE)
        return
    selected = value.get("selected") or []
    other = value.get("other") or ""
    if not isinstance(selected, list) or not isinstance(other, str):
        error(MSG_BAD_SHAPE)
        return
    if any(not isinstance(s, str) or s not in item.choices for s in selected):
        error(MSG_NOT_A_CHOICE)
        return
    if item.required and not selected:
        error(MSG_REQUIRED)
    if item.other:
        if item.other_choice in selected and not other.strip():
            error(MSG_OTHER_MISSING.format(choice=item.other_choice), f"{path}/other")
        elif other.strip() and item.other_choice not in selected:
            error(MSG_OTHER_UNCHECKED.format(choice=item.other_choice), f"{path}/other")
    elif other.strip():
        error(MSG_BAD_SHAPE, f"{path}/other")
    if contains_my_number(other):
        error(MSG_MY_NUMBER, f"{path}/other")


def _is_iso_date(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- HTML forms


def coerce(schema: FormSchema, section_key: str, form_data: Mapping[str, str | list[str]]) -> dict[str, Any]:
    """Turn flat HTML form fields into the document part of one section.

    Field names are described in the module docstring (``systems-0-name``).
    Values may be strings or lists of strings (``request.form.to_dict(flat=False)``).
    Rows of groups and tables are taken in the order of their indices, which need not
    be contiguous; rows left entirely empty are dropped. Values that cannot be
    converted (``"abc"`` for a number) are kept as strings so that :func:`validate`
    reports them.
    """
    section = schema.section(section_key)
    data = _FormData(form_data)
    return {item.key: _coerce_item(item, item.key, data) for item in section.items}


class _FormData:
    def __init__(self, form_data: Mapping[str, str | list[str]]):
        self.data = form_data

    def values(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return [str(value)]

    def scalar(self, name: str) -> str:
        values = self.values(name)
        return values[0] if values else ""

    def indices(self, prefix: str) -> list[int]:
        start = f"{prefix}-"
        found = set()
        for name in self.data:
            if name.startswith(start):
                head = name[len(start) :].split("-", 1)[0]
                if head.isdigit():
                    found.add(int(head))
        return sorted(found)


def _clean_text(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _coerce_item(item: Item, name: str, data: _FormData) -> Any:
    t = item.type
    if t in ("text", "longtext", "choice"):
        return _clean_text(data.scalar(name))
    if t == "number":
        return _coerce_number(data.scalar(name))
    if t == "date":
        return _coerce_date(data.scalar(name))
    if t == "numberlist":
        raw = unicodedata.normalize("NFKC", data.scalar(name))
        parts = [p for p in re.split(r"[,、，\s]+", raw) if p]
        return [_coerce_number(p) for p in parts]
    if t == "multichoice":
        picked = [v.strip() for v in data.values(name) if v.strip()]
        ordered = [c for c in item.choices if c in picked]
        ordered += [v for v in dict.fromkeys(picked) if v not in item.choices]
        return {"selected": ordered, "other": _clean_text(data.scalar(f"{name}-other"))}
    if t == "fieldset":
        return {c.key: _coerce_item(c, f"{name}-{c.key}", data) for c in item.children}
    # table, group
    rows = []
    for index in data.indices(name):
        row = {sub.key: _coerce_item(sub, f"{name}-{index}-{sub.key}", data) for sub in item.subitems}
        link = _coerce_link(data.scalar(f"{name}-{index}-{LINK_KEY}")) if item.inventory else None
        if link is not None:
            row[LINK_KEY] = link
        if link is not None or not all(is_empty(sub, row[sub.key]) for sub in item.subitems):
            rows.append(row)
    return rows


def _coerce_link(raw: str) -> int | None:
    text = raw.strip()
    return int(text) if text.isdigit() and 0 < int(text) <= 2**31 - 1 else None


def _coerce_number(raw: str) -> int | str | None:
    text = unicodedata.normalize("NFKC", raw).strip().replace(",", "")
    if not text:
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return raw.strip()


def _coerce_date(raw: str) -> str:
    """An ISO date for what people type (令和8年1月23日, R8.1.23, 2026/1/23 …); text that is
    no date stays as typed, for :func:`validate` to refuse with the reason."""
    text = raw.strip()
    try:
        return parse_date(text).isoformat() if text else ""
    except ValueError:
        return text


def _date_problem(value: str) -> str:
    try:
        parse_date(value)
    except ValueError as exc:
        return str(exc)
    return MSG_BAD_DATE  # readable, but not stored as a date (an imported document)


def to_form_data(schema: FormSchema, section_key: str, section_doc: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`coerce`: field name -> value (a list for multichoice)."""
    out: dict[str, Any] = {}
    section = schema.section(section_key)
    for item in section.items:
        _form_item(item, item.key, (section_doc or {}).get(item.key), out)
    return out


def _form_item(item: Item, name: str, value: Any, out: dict[str, Any]) -> None:
    t = item.type
    if t == "multichoice":
        value = value if isinstance(value, Mapping) else {}
        out[name] = list(value.get("selected") or [])
        out[f"{name}-other"] = str(value.get("other") or "")
    elif t == "numberlist":
        out[name] = "、".join(str(n) for n in value or [])
    elif t == "number":
        out[name] = "" if value is None else str(value)
    elif t == "date" and isinstance(value, str) and _is_iso_date(value):
        out[name] = format_date(value)  # as the date field asks for it: 2026年1月23日
    elif t == "fieldset":
        value = value if isinstance(value, Mapping) else {}
        for child in item.children:
            _form_item(child, f"{name}-{child.key}", value.get(child.key), out)
    elif t in ("table", "group"):
        for index, row in enumerate(value or []):
            row = row if isinstance(row, Mapping) else {}
            for sub in item.subitems:
                _form_item(sub, f"{name}-{index}-{sub.key}", row.get(sub.key), out)
            if item.inventory:
                link = row.get(LINK_KEY)
                out[f"{name}-{index}-{LINK_KEY}"] = str(link) if isinstance(link, int) else ""
    else:
        out[name] = "" if value is None else str(value)


# --------------------------------------------------------------------------- completion


def section_completion(schema: FormSchema, doc: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """For each section, (required items filled, required items in total).

    Required items inside a group or table count once per existing entry.
    """
    result = {}
    for section in schema.sections:
        section_doc = doc.get(section.key) if isinstance(doc, Mapping) else None
        section_doc = section_doc if isinstance(section_doc, Mapping) else {}
        counts = [0, 0]
        for item in section.items:
            _count_required(item, section_doc.get(item.key), counts)
        result[section.key] = (counts[0], counts[1])
    return result


def _count_required(item: Item, value: Any, counts: list[int]) -> None:
    if item.type == "fieldset":
        value = value if isinstance(value, Mapping) else {}
        for child in item.children:
            _count_required(child, value.get(child.key), counts)
        return
    if item.required:
        counts[1] += 1
        if not is_empty(item, value):
            counts[0] += 1
    if item.type in ("group", "table") and isinstance(value, list):
        for row in value:
            row = row if isinstance(row, Mapping) else {}
            for sub in item.subitems:
                _count_required(sub, row.get(sub.key), counts)


# --------------------------------------------------------------------------- flatten


def display_label(number: str, label: str) -> str:
    """「①」+「事務の名称」→「①事務の名称」, 「2」+「…」→「2. …」, 「リスク1」→「リスク1: …」."""
    if not number:
        return label
    if not label:
        return number
    if number[-1] in "0123456789":
        return f"{number}. {label}" if number.isascii() else f"{number}: {label}"
    return f"{number}{label}"


def value_text(item: Item, value: Any) -> str:
    """The value of a leaf item as the plain text shown to readers."""
    if value is None:
        return ""
    t = item.type
    if t == "multichoice" and isinstance(value, Mapping):
        selected = value.get("selected") or []
        other = value.get("other") or ""
        parts = []
        for choice in selected if isinstance(selected, list) else [selected]:
            choice = _any_text(choice)
            if item.other and choice == item.other_choice and _any_text(other).strip():
                parts.append(f"{choice}({_any_text(other)})")
            else:
                parts.append(choice)
        return "、".join(parts)
    if t == "numberlist" and isinstance(value, list):
        return "、".join(_any_text(n) for n in value)
    if t == "date" and isinstance(value, str) and _is_iso_date(value):
        return format_wareki(value)  # the forms date in 和暦: 令和7年1月31日
    return _any_text(value)


def cell_text(item: Item, value: Any) -> str:
    """The text of a ``cell`` fieldset as printed in its one cell.

    Each printed child with text is a paragraph headed 「(label)」 — unless the text already
    carries that heading, as 001 writes 「…主務省令第2条の表 (情報提供の根拠) :第三欄…」.
    """
    value = value if isinstance(value, Mapping) else {}
    paragraphs = []
    for child in item.children:
        if not child.printed:
            continue
        text = value_text(child, value.get(child.key)).strip()
        if not text:
            continue
        heads = (f"({child.label})", f"（{child.label}）")
        if not any(head in text for head in heads):
            text = f"({child.label})\n{text}"
        paragraphs.append(text)
    return "\n".join(paragraphs)


@dataclass(frozen=True)
class Mark:
    """Where a form prints ※ (or, inside a ※ section, where it makes an exception)."""

    #: schema path without indices (``basic/affair/description``), a section key for a whole section
    path: str
    #: the printed label with its number, headings above it joined by 「 」
    label: str
    #: True: ※ starts here; False: an item left out of its ※ section (「7.リスク1⑨を除く。」)
    significant: bool


def significance_marks(schema: FormSchema) -> list[Mark]:
    """The ※ of ``schema`` as printed: a whole section when all its items are ※, else each
    item that is ※ while its parent is not; and the items that are not ※ inside a ※ parent."""
    out: list[Mark] = []
    for section in schema.sections:
        whole = bool(section.items) and all(item.significant for item in section.items)
        if whole:
            out.append(Mark(section.key, section.display_title, True))
        _marks(section.items, section.key, [section.display_title], whole, out)
    return out


def _marks(items: Iterable[Item], prefix: str, heads: list[str], parent: bool, out: list[Mark]) -> None:
    for item in items:
        path = f"{prefix}/{item.key}"
        label = " ".join(heads + [display_label(item.number, item.label)])
        if item.significant != parent:
            out.append(Mark(path, label, item.significant))
        _marks(item.subitems, path, heads + [display_label(item.number, item.label)], item.significant, out)


def _any_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, (int, float)):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def flatten(schema: FormSchema, doc: Mapping[str, Any]) -> list[FlatItem]:
    """Every leaf value of ``doc`` in form order, with a stable path and a human label."""
    out: list[FlatItem] = []
    doc = doc if isinstance(doc, Mapping) else {}
    for section in schema.sections:
        section_doc = doc.get(section.key)
        section_doc = section_doc if isinstance(section_doc, Mapping) else {}
        for item in section.items:
            _flatten_item(item, section_doc.get(item.key), section.key, [section.display_title], out)
    return out


def _flatten_item(
    item: Item, value: Any, parent_path: str, labels: list[str], out: list[FlatItem], printed: bool = True
) -> None:
    path = f"{parent_path}/{item.key}"
    printed = printed and item.printed
    if item.is_leaf:
        label = " ".join(labels + [display_label(item.number, item.label)])
        out.append(FlatItem(path, label, value_text(item, value), item.significant and printed, printed))
        return
    if item.type == "fieldset":
        value = value if isinstance(value, Mapping) else {}
        child_labels = labels + [display_label(item.number, item.label)]
        for child in item.children:
            _flatten_item(child, value.get(child.key), path, child_labels, out, printed)
        return
    rows = value if isinstance(value, list) else []
    for index, row in enumerate(rows):
        row = row if isinstance(row, Mapping) else {}
        if item.type == "group":
            head = [display_label(item.number, item.entry_title(index))]
        else:
            head = [display_label(item.number, item.label), f"{index + 1}行目"]
        for sub in item.subitems:
            _flatten_item(sub, row.get(sub.key), f"{path}[{index}]", labels + head, out, printed)


# --------------------------------------------------------------------------- names of systems and files


def name_line(text: str) -> str:
    """The name itself: the first line that is not blank (the lines below it are a note,
    as 001 writes under 「住基ネット」 「※本市の住基ネットの構成としては、…」)."""
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def normalise_name(text: str) -> str:
    """Names compared loosely: the first line only (:func:`name_line`), NFKC, no spaces, no
    長音 (サーバ = サーバー), and without the definition 「以下「…」という。」 at the end of a parenthesis."""
    text = unicodedata.normalize("NFKC", name_line(text))
    text = re.sub(r"\(以下「[^」]*」という。?\)", "", text)
    # 「(標準準拠システム。以下「…」という。)」: the remark stays, the definition goes
    text = re.sub(r"。?以下「[^」]*」という。?\)", ")", text)
    return re.sub(r"[\sー-]", "", text)


def ledger_group(schema: FormSchema, kind: str) -> tuple[str, Item] | None:
    """The group that lists the version's systems (``I 2``) or files (``I 3``)."""
    groups = list(schema.inventory_items(kind))
    return groups[0] if groups else None
