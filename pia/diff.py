"""Differences between two versions of an assessment document. Pure.

Documents are compared item by item through :func:`pia.schema.flatten`, so the two
versions may use different editions of the form: items are matched by their path.
Each change carries character-level operations (Japanese has no spaces between
words): ``before_ops`` is a list of ``(tag, text)`` with tag ``equal`` or ``delete``
whose texts joined give the old text; ``after_ops`` has ``equal`` or ``insert`` and
gives the new text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from difflib import SequenceMatcher

from pia.schema import FlatItem, FormSchema, flatten

#: Above this product of lengths, compare line by line first (SequenceMatcher is quadratic).
CHAR_DIFF_LIMIT = 250_000

KIND_SIGNIFICANT = "重要な変更"
KIND_CORRECTION = "評価書の修正"
KIND_NONE = "変更なし"

TIMING_BEFORE = "事前"
TIMING_AFTER = "事後"

#: 提出時期に係る説明, as municipalities write it in the 変更箇所 table.
TIMING_NOTES = {
    TIMING_BEFORE: "重要な変更に当たるため、変更前に特定個人情報保護評価を再実施し、提出するもの。",
    TIMING_AFTER: "重要な変更に当たらない変更であるため、事後に提出するもの。",
}

Ops = list[tuple[str, str]]


@dataclass(frozen=True)
class ItemChange:
    path: str
    label: str
    before: str
    after: str
    kind: str  # 'added' | 'removed' | 'changed'
    significant: bool
    before_ops: Ops = field(default_factory=list)
    after_ops: Ops = field(default_factory=list)
    #: False for data the form does not print: never ※, never a 変更箇所 row
    printed: bool = True


@dataclass(frozen=True)
class DocumentDiff:
    changes: list[ItemChange]

    @property
    def significant(self) -> bool:
        """重要な変更: at least one changed item is ※."""
        return any(change.significant for change in self.changes)

    @property
    def kind(self) -> str:
        if not self.changes:
            return KIND_NONE
        return KIND_SIGNIFICANT if self.significant else KIND_CORRECTION

    @property
    def significant_changes(self) -> list[ItemChange]:
        return [change for change in self.changes if change.significant]

    def __bool__(self) -> bool:
        return bool(self.changes)


def diff_documents(old_schema: FormSchema, old_doc, new_schema: FormSchema, new_doc) -> DocumentDiff:
    """Every item whose displayed text differs between ``old_doc`` and ``new_doc``."""
    old_items = {item.path: item for item in flatten(old_schema, old_doc)}
    new_flat = flatten(new_schema, new_doc)
    new_paths = {item.path for item in new_flat}
    changes: list[ItemChange] = []
    for new in new_flat:
        old = old_items.get(new.path)
        change = _compare(old, new)
        if change:
            changes.append(change)
    for path, old in old_items.items():
        if path not in new_paths:
            change = _compare(old, None)
            if change:
                changes.append(change)
    return DocumentDiff(changes)


def _compare(old: FlatItem | None, new: FlatItem | None) -> ItemChange | None:
    before = old.text if old else ""
    after = new.text if new else ""
    if before == after:
        return None
    ref = new or old
    assert ref is not None
    significant = (old is not None and old.significant) or (new is not None and new.significant)
    if not before.strip():
        kind = "added"
    elif not after.strip():
        kind = "removed"
    else:
        kind = "changed"
    before_ops, after_ops = text_ops(before, after)
    return ItemChange(
        path=ref.path,
        label=ref.label,
        before=before,
        after=after,
        kind=kind,
        significant=significant,
        before_ops=before_ops,
        after_ops=after_ops,
        printed=ref.printed,
    )


# --------------------------------------------------------------------------- text ops


def text_ops(before: str, after: str, limit: int = CHAR_DIFF_LIMIT) -> tuple[Ops, Ops]:
    """Character-level operations turning ``before`` into ``after``.

    For long texts the comparison is made line by line first and character by
    character only inside changed lines that are small enough.
    """
    before_ops: Ops = []
    after_ops: Ops = []
    _diff_into(before, after, before_ops, after_ops, limit, by_lines=True)
    return _merge(before_ops), _merge(after_ops)


def _diff_into(a: str, b: str, a_ops: Ops, b_ops: Ops, limit: int, by_lines: bool) -> None:
    if a == b:
        if a:
            a_ops.append(("equal", a))
            b_ops.append(("equal", b))
        return
    if len(a) * len(b) <= limit:
        _char_diff(a, b, a_ops, b_ops)
        return
    if not by_lines:
        _replace(a, b, a_ops, b_ops)
        return
    a_lines = a.splitlines(keepends=True)
    b_lines = b.splitlines(keepends=True)
    matcher = SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a_part = "".join(a_lines[i1:i2])
        b_part = "".join(b_lines[j1:j2])
        if tag == "equal":
            a_ops.append(("equal", a_part))
            b_ops.append(("equal", b_part))
        elif tag == "replace":
            _diff_into(a_part, b_part, a_ops, b_ops, limit, by_lines=False)
        else:
            _replace(a_part, b_part, a_ops, b_ops)


def _char_diff(a: str, b: str, a_ops: Ops, b_ops: Ops) -> None:
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            a_ops.append(("equal", a[i1:i2]))
            b_ops.append(("equal", b[j1:j2]))
        else:
            _replace(a[i1:i2], b[j1:j2], a_ops, b_ops)


def _replace(a: str, b: str, a_ops: Ops, b_ops: Ops) -> None:
    if a:
        a_ops.append(("delete", a))
    if b:
        b_ops.append(("insert", b))


def _merge(ops: Ops) -> Ops:
    merged: Ops = []
    for tag, text in ops:
        if not text:
            continue
        if merged and merged[-1][0] == tag:
            merged[-1] = (tag, merged[-1][1] + text)
        else:
            merged.append((tag, text))
    return merged


# --------------------------------------------------------------------------- change log


def logged_changes(diff: DocumentDiff) -> list[ItemChange]:
    """The changes the 変更箇所 table records: printed items, not the table itself."""
    return [c for c in diff.changes if c.printed and not c.path.startswith("changelog/")]


def change_log_rows(diff: DocumentDiff, change_date: date | str) -> list[dict[str, str]]:
    """Rows of the 変更箇所 table (別添3) for ``diff``.

    Keys are the column keys of the schema's ``changelog/changes`` table
    (``date``, ``item``, ``before``, ``after``, ``timing``, ``timing_note``);
    ※ items are submitted 事前, the others 事後.
    """
    day = change_date.isoformat() if isinstance(change_date, date) else str(change_date)
    rows = []
    for change in logged_changes(diff):  # not itself, nor data the form does not print
        timing = TIMING_BEFORE if change.significant else TIMING_AFTER
        rows.append(
            {
                "date": day,
                "item": change.label,
                "before": change.before,
                "after": change.after,
                "timing": timing,
                "timing_note": TIMING_NOTES[timing],
            }
        )
    return rows
