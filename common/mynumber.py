"""Check digits of 個人番号 (12 digits) and 法人番号 (13 digits), and finding them in text.

A 個人番号 must never be stored or published where it is not allowed; every importer and
every publishing path calls :func:`find_my_numbers` or :func:`contains_my_number`.
"""
from __future__ import annotations

import re

#: 12 digits not preceded or followed by another digit (half- or full-width),
#: allowing the usual separators between groups of four: 1234-5678-9018, 1234 5678 9018.
_CANDIDATE = re.compile(
    r"(?<![0-9０-９])([0-9０-９]{4})[-‐－ 　]?([0-9０-９]{4})[-‐－ 　]?([0-9０-９]{4})(?![0-9０-９])"
)
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def my_number_check_digit(first11: str) -> int:
    """Check digit of a 個人番号 from its first 11 digits."""
    if len(first11) != 11 or not first11.isascii() or not first11.isdigit():
        raise ValueError("first11 must be 11 ASCII digits")
    total = 0
    for n, ch in enumerate(reversed(first11), start=1):
        q = n + 1 if n <= 6 else n - 5
        total += int(ch) * q
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_my_number(value: str) -> bool:
    """True when ``value`` is exactly 12 digits with a valid 個人番号 check digit."""
    value = value.translate(_FULLWIDTH)
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return False
    return my_number_check_digit(value[:11]) == int(value[11])


def corporate_number_check_digit(base12: str) -> int:
    """Check digit (the first digit) of a 法人番号 from its 12 base digits."""
    if len(base12) != 12 or not base12.isascii() or not base12.isdigit():
        raise ValueError("base12 must be 12 ASCII digits")
    total = sum(int(ch) * (1 if n % 2 else 2) for n, ch in enumerate(reversed(base12), start=1))
    return 9 - (total % 9)


def is_corporate_number(value: str) -> bool:
    value = value.translate(_FULLWIDTH)
    if len(value) != 13 or not value.isascii() or not value.isdigit():
        return False
    return corporate_number_check_digit(value[1:]) == int(value[0])


def find_my_numbers(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of every valid 個人番号 in ``text``, separators included."""
    spans = []
    for match in _CANDIDATE.finditer(text or ""):
        digits = "".join(match.groups())
        if is_my_number(digits):
            spans.append(match.span())
    return spans


def contains_my_number(text: str) -> bool:
    return bool(find_my_numbers(text))
