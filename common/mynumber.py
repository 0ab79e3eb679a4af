"""The one detector of 個人番号 (and the check digits of 個人番号 and 法人番号).

A 個人番号 must never be stored, logged or published where it is not allowed. Every path
that takes text in — feeds, forms, mail, uploads, file names, logs, the audit trail — asks
this module, so that all of them agree on what a 個人番号 looks like:

* 12 digits of any Unicode width (``1`` or ``１``), written together, or as three groups of
  four split by any run of spaces, tabs, line breaks, hyphens and dashes of every kind,
  ``・`` or ``.`` (``1234 5678 9018``, ``1234－5678－9018``, ``1234\\t5678\\n9018``);
* not adjacent to further digits (``1234567890181`` is a 13-digit number, not a 個人番号);
* with a valid 個人番号 check digit;
* digits as people also write them: circled (①②③), superscript, and the kanji numerals
  〇一二三四五六七八九 of vertical writing count as digits;
* groups of four also split by any punctuation mark or symbol (``/ _ , 、 。 ( ) * ~ \\ : | +``
  and the rest of Unicode's categories P and S: ``(1234)5678/9018``, ``1234\\-5678\\-9018``,
  ``1234｜5678｜9018``);
* characters nobody sees (bidi marks, joiners, combining marks, variation selectors) count as
  separators wherever spaces do: ``1234\\u200e5678\\u200e9018`` is read as ``1234 5678 9018``;
* or grouped any other way by the separators of the first rule, as long as the whole run
  holds exactly 12 digits (``12 3456 7890 18``, one digit at a time), or as thousands
  (``123,456,789,018``);
* in text that is rendered as HTML (the documents' formatted text), also after character
  references are decoded: ``1234&#45;5678&#45;9018`` is published as ``1234-5678-9018``;
* numbers as well as text: ``123456789018``, ``123456789018.0`` and ``1.23456789018e11``
  are the same number when a JSON value or a spreadsheet cell carries it.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

#: what a person is told when a value that never needs a 個人番号 holds one (forms, imports)
REFUSED = "個人番号と判定される番号が含まれています。この欄には個人番号を入力できません。"


#: every dash and hyphen of Unicode (category Pd; tests/common/test_mynumber.py checks the list
#: against the running Python's Unicode tables) and the look-alikes people type between groups
DASHES = (
    "\u002d\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2e17\u2e1a"
    "\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
)
LOOK_ALIKES = (
    "\u2212"  # − MINUS SIGN
    "\u30fc\uff70"  # ー ｰ prolonged sound marks
    "\u2043\u00ad"  # ⁃ hyphen bullet, soft hyphen
    "\u30fb\uff65\u00b7"  # ・ ･ · middle dots
    ".\uff0e"  # . ．
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width characters
)


#: the code points that may hold a punctuation mark, a symbol or a mark: planes 0 and 1, and
#: the tags and variation selectors of plane 14 (tests/common/test_mynumber.py checks the rest
#: holds none)
_SCANNED = (range(0x80, 0xD800), range(0xE000, 0x20000), range(0xE0000, 0xE0200))


def _category_ranges(*groups: tuple[str, ...]) -> list[str]:
    """For each group of Unicode general categories (by prefix), its characters as the ranges
    of a regular expression's character class (compact: a few hundred ranges each)."""
    found: list[list[list[int]]] = [[] for _ in groups]
    for block in _SCANNED:
        for code in block:
            category = unicodedata.category(chr(code))
            for prefixes, ranges in zip(groups, found, strict=True):
                if category.startswith(prefixes):
                    if ranges and ranges[-1][1] == code - 1:
                        ranges[-1][1] = code
                    else:
                        ranges.append([code, code])
    return [
        "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
        for ranges in found
    ]


def _separator_class() -> str:
    return "[\\s" + "".join(re.escape(ch) for ch in DASHES + LOOK_ALIKES) + "]+"


#: a run of separators between two groups of four digits (\s covers every Unicode space,
#: the ideographic space, tabs and line breaks)
SEPARATOR = _separator_class()
#: what else people put between digits when they group them their own way
#: (every ASCII punctuation mark and symbol: ``/ _ , ( ) * ~ \\ : | + ' # …``, and those beyond ASCII)
OTHER_SEPARATORS = "".join(ch for ch in map(chr, range(0x21, 0x7F)) if not ch.isalnum())
#: the kanji numerals of vertical writing (positional ones such as 十 and 百 are not digits)
KANJI_DIGITS = "〇一二三四五六七八九"
_GROUP = r"[0-9]{4}"


@functools.cache
def _patterns() -> tuple[re.Pattern, re.Pattern]:
    """The detector's two patterns (built on first use: the Unicode tables take a moment).

    * 4-4-4: zero-width, so that overlapping candidates are all seen (an invalid window must
      not hide a valid one that starts a group later); groups split by any run of spaces,
      dashes, punctuation marks, symbols or invisible characters;
    * digits grouped any other way: groups split by at most three spaces, dashes, dots or
      invisible characters. The other separators count only between groups of four or as
      thousands (``123,456,789,018``): with them any grouping would also read
      ``u0095/2025-04-01`` (an id and a date) as 12 digits.
    """
    # characters nobody sees: format characters (bidi marks, joiners, the soft hyphen) and
    # combining marks (accents, variation selectors): put between digits, they hide a number
    # from a search but not from a reader; and every punctuation mark and symbol beyond ASCII
    # (categories P and S: ``｜``, ``。``, ``：``, ``＋``, ``’`` …)
    invisible, punctuation = _category_ranges(("Cf", "Mn", "Me"), ("P", "S"))
    listed = "".join(re.escape(ch) for ch in DASHES + LOOK_ALIKES)
    grouping = "[\\s" + listed + "".join(re.escape(ch) for ch in OTHER_SEPARATORS) + invisible + punctuation + "]+"
    candidate = re.compile(rf"(?<![0-9])(?=({_GROUP}(?:{grouping})?{_GROUP}(?:{grouping})?{_GROUP})(?![0-9]))")
    tight = "[\\s" + listed + invisible + "]"
    run = re.compile(rf"(?<![0-9])[0-9]+(?:{tight}{{1,3}}[0-9]+)*")
    return candidate, run


_THOUSANDS = re.compile(r"(?<![0-9,，])[0-9]{1,3}(?:[,，][0-9]{3}){3,4}(?![0-9])")
#: a hexadecimal digest (SHA-256, a token): one in ten 64-digit digests holds 12 digits in a
#: row with a valid check digit, which nobody wrote as a 個人番号
DIGEST = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
_SEPARATOR_RE = re.compile(SEPARATOR)
_NOT_A_DIGIT = re.compile("[^0-9]+")


#: no character after this one is a digit (tests/common/test_mynumber.py checks it against the
#: running Python's Unicode tables)
_LAST_DIGIT = 0x1FBF9
#: what stands for "a digit of another kind" while one kind is read (never a digit itself)
_OTHER_KIND = "x"


@functools.cache
def _digit_kinds() -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """The characters read as digits, by kind, each to its ASCII digit: decimal digits of any
    script and width (Nd: ``１``, ``٣``); enclosed digits (circled ``①``, parenthesised ``⑴``,
    ``⒈``); the kanji numerals. Superscripts and subscripts are left out: they mark notes
    (``123456789018¹`` is a number with its note). One character for one, so that spans in the
    translated text are spans in the original."""
    decimal: dict[int, str] = {}
    enclosed: dict[int, str] = {}
    for code in range(0x80, _LAST_DIGIT + 1):
        ch = chr(code)
        value = unicodedata.digit(ch, None)
        if value is None:
            continue
        if ch.isdecimal():
            decimal[code] = str(value)
        elif not any(word in unicodedata.name(ch, "") for word in ("SUPERSCRIPT", "SUBSCRIPT")):
            enclosed[code] = str(value)
    kanji = {ord(ch): str(value) for value, ch in enumerate(KANJI_DIGITS)} | {ord("零"): "0"}
    return decimal, enclosed, kanji


@functools.cache
def _readings() -> tuple[dict[int, str], list[tuple[re.Pattern, dict[int, str]]]]:
    """How text is read for digits: first with the decimal digits of every script (the usual
    reading), then once per other kind, that kind alone (mixed with other digits, ``①2`` or
    ``一1``, they are list marks and numbers, not one number)."""
    decimal, enclosed, kanji = _digit_kinds()
    others = []
    for kind in (enclosed, kanji):
        table = dict(kind)
        for code in [*range(ord("0"), ord("9") + 1), *decimal]:
            table[code] = _OTHER_KIND
        present = re.compile("[" + re.escape("".join(map(chr, kind))) + "]")
        others.append((present, table))
    return decimal, others


def other_digit_characters() -> str:
    """Every character beyond ASCII that counts as a digit (for callers' fast pre-tests)."""
    decimal, enclosed, kanji = _digit_kinds()
    return "".join(map(chr, [*decimal, *enclosed, *kanji]))


def _as_ascii_digits(text: str) -> str:
    """``text`` with the decimal digits of every script as ASCII digits (same length)."""
    return text if text.isascii() else text.translate(_readings()[0])


def _ascii_digits(text: str) -> str:
    """The decimal digits of ``text`` as ASCII, everything else dropped."""
    return _NOT_A_DIGIT.sub("", _as_ascii_digits(text))


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


def is_my_number(value) -> bool:
    """True when ``value`` is exactly one 個人番号: 12 digits (any width, 4-4-4 separators allowed) or a number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, Decimal)):
        digits = _number_digits(value)
        return digits is not None and _valid(digits)
    if not isinstance(value, str):
        return False
    return find_my_numbers(value) == [(0, len(value))]


def _valid(digits: str) -> bool:
    return (
        len(digits) == 12
        and digits.isascii()
        and digits.isdigit()
        and (my_number_check_digit(digits[:11]) == int(digits[11]))
    )


def _number_digits(value) -> str | None:
    """The 12 digits of a number that is a whole number of 12 digits (int, float, Decimal), else None."""
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
        if not number.is_finite() or number != number.to_integral_value():
            return None
        text = str(int(number))
    except (InvalidOperation, ValueError, OverflowError):
        return None
    return text if len(text) == 12 else None


def corporate_number_check_digit(base12: str) -> int:
    """Check digit (the first digit) of a 法人番号 from its 12 base digits."""
    if len(base12) != 12 or not base12.isascii() or not base12.isdigit():
        raise ValueError("base12 must be 12 ASCII digits")
    total = sum(int(ch) * (1 if n % 2 else 2) for n, ch in enumerate(reversed(base12), start=1))
    return 9 - (total % 9)


def is_corporate_number(value: str) -> bool:
    value = _ascii_digits(value) if all(ch.isdecimal() for ch in value) else value
    if len(value) != 13 or not value.isascii() or not value.isdigit():
        return False
    return corporate_number_check_digit(value[1:]) == int(value[0])


def find_my_numbers(text) -> list[tuple[int, int]]:
    """Spans (start, end) of every 個人番号 in ``text``, separators included, overlaps merged.

    A number (int, float, Decimal) is looked at as a number: its one span is the whole value.
    """
    if text is None or isinstance(text, bool):
        return []
    if not isinstance(text, str):
        return [(0, len(str(text)))] if is_my_number(text) else []
    if len(text) < 12:
        return []
    if text.isascii():
        if text.isdigit():
            return [(0, 12)] if len(text) == 12 and _valid(text) else []
        found = _spans_in(text)
    else:
        decimal, others = _readings()
        found = _spans_in(text.translate(decimal))
        for present, table in others:
            if present.search(text):
                found += _spans_in(text.translate(table))
    spans: list[list[int]] = []
    for start, end in sorted(found):
        if spans and start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(s, e) for s, e in spans]


def _spans_in(text: str) -> list[tuple[int, int]]:
    """Spans of the 個人番号 in ``text``, whose digits are ASCII (unmerged, may overlap)."""
    if len(_NOT_A_DIGIT.sub("", text)) < 12:
        return []
    candidate, run = _patterns()
    found = [match.span(1) for match in candidate.finditer(text) if _valid(_NOT_A_DIGIT.sub("", match.group(1)))]
    for pattern in (run, _THOUSANDS):
        found += [match.span() for match in pattern.finditer(text) if _valid(_NOT_A_DIGIT.sub("", match.group()))]
    if found:
        digests = [match.span() for match in DIGEST.finditer(text)]
        found = [(s, e) for s, e in found if not any(ds <= s and e <= de for ds, de in digests)]
    return found


def contains_my_number(value) -> bool:
    """True when ``value`` (text or number) holds a 個人番号 anywhere, also once the character
    references of HTML (``&#45;``, ``&minus;``) are decoded, as formatted text is published."""
    if find_my_numbers(value):
        return True
    return isinstance(value, str) and "&" in value and bool(find_my_numbers(html.unescape(value)))


def find_in_structure(value, path: str = "") -> Iterator[str]:
    """Paths (``a.b[2]``) of every string or number in a JSON-like structure that holds a 個人番号.

    Keys are looked at too: a mapping whose key is a 個人番号 yields the path of that key.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if contains_my_number(key):
                yield child
            yield from find_in_structure(item, child)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from find_in_structure(item, f"{path}[{index}]")
    elif contains_my_number(value):
        yield path


def strip_separators(text: str) -> str:
    """``text`` with every run of 個人番号 separators removed (for tests and diagnostics)."""
    return _SEPARATOR_RE.sub("", text)
