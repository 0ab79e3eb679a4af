"""Every CSV the product writes goes through common.csvsafe: no cell runs as a formula."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from common import csvsafe

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "cell",
    [
        "=1+1",
        "+1",
        "-1",
        "@SUM(A1)",
        "\t1",
        "\r1",
        "\t",
        " =1",
        "\u3000\u3000+1",
        "\uff1d1",
        "\uff0b1",
        "\uff0d1",
        "\uff20A1",
        '=HYPERLINK("http://example.invalid","x")',
    ],
)
def test_formula_cells_get_a_leading_quote(cell):
    out = io.StringIO()
    csvsafe.writer(out).writerow([cell, 5, -3, None])
    (row,) = csv.reader(io.StringIO(out.getvalue()))
    assert row == ["'" + cell, "5", "-3", ""]


@pytest.mark.parametrize("cell", ["", "abc", "1-2", "2025-04-01", "u=1", "中央区", "a@b", " ", "'=1"])
def test_other_cells_are_written_as_they_are(cell):
    assert csvsafe.safe_cell(cell) == cell


def test_no_module_writes_csv_but_through_csvsafe():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "tests", "node_modules") or rel == Path("common/csvsafe.py"):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"csv\.(writer|DictWriter)\(", text):
            offenders.append(str(rel))
    assert offenders == []
