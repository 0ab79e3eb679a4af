"""The one way the product writes CSV: cells a spreadsheet would run as a formula are defused.

A cell that starts with ``=``, ``+``, ``-``, ``@`` (or their full-width forms ``＝＋－＠``),
a TAB or a CR — also after leading spaces — is written with a single quote in front, as
OWASP recommends against CSV (formula) injection: Excel and LibreOffice then show the text
instead of evaluating it. Numbers are written as they are. Every CSV export goes through
:func:`writer` (tests/common/test_csvsafe.py checks that no other module calls
``csv.writer``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

#: first characters (after leading spaces) that make a spreadsheet read a cell as a formula
FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
#: first characters that are dangerous even before any space
CONTROL_STARTS = frozenset("\t\r")


def is_dangerous(text: str) -> bool:
    """True when a spreadsheet could take ``text`` for a formula."""
    if not text:
        return False
    if text[0] in CONTROL_STARTS:
        return True
    stripped = text.lstrip(" \u3000\t\r\n")
    return bool(stripped) and stripped[0] in FORMULA_STARTS


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates (text gets a leading ``'``)."""
    if isinstance(value, str) and is_dangerous(value):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose rows go through :func:`safe_cell`."""

    def __init__(self, fileobj, **kwargs):
        self._writer = csv.writer(fileobj, **kwargs)

    @property
    def dialect(self):
        return self._writer.dialect

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(fileobj, **kwargs) -> SafeWriter:
    """A CSV writer (same arguments as :func:`csv.writer`) that defuses formula cells."""
    return SafeWriter(fileobj, **kwargs)
