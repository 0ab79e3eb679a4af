"""The one way the product writes Excel (.xlsx): no cell is ever a formula.

Every text cell is stored as a string (``data_type = "s"``), never as a formula, whatever it
starts with; a text that a spreadsheet would take for a formula (the rule of
:func:`common.csvsafe.is_dangerous`: ``= + - @``, their full-width forms, TAB, CR) also gets
the quote prefix — Excel's and LibreOffice's own "this is text" mark, shown as a leading
apostrophe while editing and never part of the value. Characters XML cannot hold (NUL and
other control characters) are dropped. Numbers and dates are written as they are.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from common.csvsafe import is_dangerous

#: mimetype of .xlsx
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER_FILL = PatternFill("solid", fgColor="E7E6E6")


class SpreadsheetError(ValueError):
    """An uploaded file is not a workbook Hyoka can read; ``message`` is shown as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def set_cell(cell, value: Any) -> None:
    """Put ``value`` in ``cell`` so that no spreadsheet evaluates it."""
    if not isinstance(value, str):
        cell.value = value  # None, numbers, dates
        return
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell.value = text
    cell.data_type = "s"  # openpyxl types a text starting with "=" as a formula: undo that
    if is_dangerous(text):
        cell.quotePrefix = True


def workbook(
    sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]],
    *,
    widths: dict[str, Sequence[int]] | None = None,
) -> bytes:
    """A workbook of ``(title, header, rows)`` sheets as .xlsx bytes; header bold and frozen,
    texts wrapped. ``widths``: column widths (characters) per sheet title."""
    book = Workbook()
    book.remove(book.active)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title=title[:31])
        for column, label in enumerate(header, start=1):
            cell = sheet.cell(row=1, column=column)
            set_cell(cell, label)
            cell.font = Font(bold=True)
            cell.fill = HEADER_FILL
        for row_number, values in enumerate(rows, start=2):
            for column, value in enumerate(values, start=1):
                cell = sheet.cell(row=row_number, column=column)
                set_cell(cell, value)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "A2"
        for column, width in enumerate((widths or {}).get(title, ()), start=1):
            sheet.column_dimensions[get_column_letter(column)].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read_rows(data: bytes, *, max_rows: int = 5000) -> list[list[Any]]:
    """The rows of the first sheet of an uploaded .xlsx (values as typed; a formula comes
    back as its text). Raises :class:`SpreadsheetError` for anything else."""
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise SpreadsheetError(
            "Excelファイル（.xlsx）として読み込めませんでした。書き出したファイルを選んでください。"
        ) from exc
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise SpreadsheetError("Excelファイルにシートがありません。")
        rows = []
        for values in sheet.iter_rows(values_only=True):
            if len(rows) > max_rows:
                raise SpreadsheetError(f"行が多すぎます（{max_rows}行まで）。")
            rows.append(list(values))
        return rows
    finally:
        book.close()
