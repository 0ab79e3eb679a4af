"""docs/forms.md lists every ※ of each form with its source; the schemas are the truth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pia.schema import FORMS, load_schema, significance_marks

DOC = Path(__file__).resolve().parents[2] / "docs" / "forms.md"
ROW = re.compile(r"^\| `([^`]+)` \| (.+?) \| (※|対象外) \| (.*) \|$")


def documented() -> dict[str, list[tuple[str, str, bool, str]]]:
    """form -> rows (path, label, ※, source) of its table in docs/forms.md."""
    out: dict[str, list] = {}
    form = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## .*\((\w+)-[\w.]+\)$", line)
        if heading:
            form = heading.group(1)
            out[form] = []
            continue
        match = ROW.match(line)
        if match and form:
            path, label, mark, source = match.groups()
            out[form].append((path, label, mark == "※", source.strip()))
    return out


@pytest.mark.parametrize("form", sorted(FORMS))
def test_the_doc_lists_exactly_the_marks_of_the_schema(form):
    rows = documented()
    assert form in rows, f"docs/forms.md has no section for {form}"
    derived = [(m.path, m.label, m.significant) for m in significance_marks(load_schema(form))]
    assert [(p, label, s) for p, label, s, _ in rows[form]] == derived
    assert all(source for *_, source in rows[form])


def test_marks_that_issue_13_fixed():
    zen, juten, kiso = (significance_marks(load_schema(f)) for f in ("zenkoumoku", "juten", "kiso"))
    for marks in (zen, juten):
        paths = {m.path for m in marks if m.significant}
        assert {"basic/affair/description", "basic/network"} <= paths
        assert not any(p.startswith(("basic/affair/target_count", "basic/systems")) for p in paths)
    assert kiso == []
    assert not any(i.significant for s in load_schema("kiso").sections for i in s.iter_items())
