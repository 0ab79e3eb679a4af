"""The one 個人番号 detector: every shape people write, generated; and what it must leave alone."""

from __future__ import annotations

import json
import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from common.mynumber import (
    DASHES,
    LOOK_ALIKES,
    contains_my_number,
    find_in_structure,
    find_my_numbers,
    is_my_number,
    my_number_check_digit,
)

VALID = "123456789018"
INVALID = "123456789010"  # wrong check digit
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def test_dash_list_holds_every_unicode_dash():
    dashes = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Pd"}
    assert dashes <= set(DASHES)


def _valid_numbers():
    return st.text("0123456789", min_size=11, max_size=11).map(lambda d: d + str(my_number_check_digit(d)))


_separator_chars = st.sampled_from(list(" \t\n\r\u3000\u00a0\u2003" + DASHES + LOOK_ALIKES))
_separators = st.one_of(st.just(""), st.text(_separator_chars, min_size=1, max_size=4))
_context = st.text(st.characters(blacklist_categories=("Nd",)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_valid_numbers(), _separators, _separators, st.booleans(), _context, _context)
def test_every_shape_is_found(digits, sep1, sep2, wide, before, after):
    written = digits[:4] + sep1 + digits[4:8] + sep2 + digits[8:]
    if wide:
        written = written.translate(FULLWIDTH)
    text = before + written + after
    spans = find_my_numbers(text)
    assert spans and text[spans[0][0] : spans[0][1]] == written
    assert contains_my_number(text)


@settings(max_examples=200, deadline=None)
@given(_valid_numbers(), st.sampled_from("0123456789１"), st.booleans())
def test_adjacent_digits_make_another_number(digits, extra, before):
    text = extra + digits if before else digits + extra
    assert not contains_my_number(text)


@settings(max_examples=200, deadline=None)
@given(_valid_numbers(), _separators, _separators)
def test_a_wrong_check_digit_is_not_a_number(digits, sep1, sep2):
    wrong = digits[:11] + str((int(digits[11]) + 1) % 10)
    assert not contains_my_number(wrong[:4] + sep1 + wrong[4:8] + sep2 + wrong[8:])


def test_json_numbers_and_nested_values():
    for value in (123456789018, 123456789018.0, float("123456789018e0"), json.loads("1.23456789018e11")):
        assert is_my_number(value) and contains_my_number(value)
    assert not is_my_number(123456789010) and not is_my_number(True)
    doc = {"a": {"b": ["x", f"個人番号:{VALID[:4]}-{VALID[4:8]}-{VALID[8:]}"]}, VALID: 1, "n": 123456789018.0}
    assert sorted(find_in_structure(doc)) == sorted(["a.b[1]", VALID, "n"])


def test_overlapping_windows_do_not_hide_a_number():
    # the first window (1111 1234 5678) is invalid; the valid one starts a group later
    assert find_my_numbers("2222 1234 5678 9018") == [(5, 19)]


def test_what_is_left_alone():
    for text in (
        "",
        "2025-12-03 10:11:12",
        INVALID,
        "1234-5678-901",
        "電話 011-211-2111",
        "u0095",
        "12345678901823",
        "令和8年12月3日",
    ):
        assert find_my_numbers(text) == [], text


def test_the_planes_the_detector_skips_hold_no_mark_punctuation_or_symbol():
    from common import mynumber

    scanned = set().union(*map(set, mynumber._SCANNED))
    for code in range(0x20000, sys.maxunicode + 1):
        if code not in scanned:
            assert unicodedata.category(chr(code))[0] not in "PSM" and unicodedata.category(chr(code)) != "Cf", hex(
                code
            )


def test_no_digit_after_the_last_one_the_detector_reads():
    from common import mynumber

    last = max(c for c in range(0x80, sys.maxunicode + 1) if unicodedata.digit(chr(c), None) is not None)
    assert last <= mynumber._LAST_DIGIT


# Shapes seen in the wild or tried by testers; each holds VALID (123456789018).
OTHER_SHAPES = (
    "1234/5678/9018",
    "1234／5678／9018",
    "1234_5678_9018",
    "123,456,789,018",
    "1234,5678,9018",
    "1234、5678、9018",
    "1 2 3 4 5 6 7 8 9 0 1 8",
    "(1234)5678-9018",
    "（1234）5678－9018",
    "1234 567 89018",
    "12-3456-7890-18",
    "1234~5678~9018",
    "1234*5678*9018",
    "1234 - 5678 - 9018",
    "1234\\-5678\\-9018",
    "**1234**5678 9018",
    "一二三四五六七八九〇一八",
    "一二三四 五六七八 九〇一八",
    "①②③④⑤⑥⑦⑧⑨⓪①⑧",
    "⑴⑵⑶⑷⑸⑹⑺⑻⑼⓪⑴⑻",
    # any punctuation mark or symbol between groups of four
    "1234:5678:9018",
    "1234|5678|9018",
    "1234｜5678｜9018",
    "1234+5678+9018",
    "1234'5678'9018",
    "1234。5678。9018",
    "1234#5678#9018",
    "1234→5678→9018",
    "1234★5678★9018",
    "1234」「5678」「9018",
    # characters nobody sees, anywhere between the digits
    "1234\u200e5678\u200f9018",
    "\u2066".join("123456789018"),
    "\ufe0f".join("123456789018"),
    "1\u03012345678901 8",
    "1234\U000e00205678\U000e00209018",
)


def test_digits_grouped_any_way_are_found():
    for shape in OTHER_SHAPES:
        text = f"申請者の番号は{shape}です。"
        spans = find_my_numbers(text)
        assert spans, shape
        found = text[spans[0][0] : spans[0][1]]
        assert found.strip("()（）*") in shape and contains_my_number(text), shape


def test_character_references_are_read_as_the_published_text_reads():
    for text in ("1234&#45;5678&#45;9018", "1234&minus;5678&#x2212;9018", "&#49;&#50;&#51;4 5678 9018"):
        assert contains_my_number(text), text
    assert not contains_my_number("1234&#45;5678&#45;9010")


def test_marks_of_another_kind_beside_a_number_do_not_hide_it():
    for text in (
        "ab123456789018",
        "①123456789018",
        "一123456789018",
        "第十一 1234 5678 9018",
        "123456789018¹",
        "⑵1234-5678-9018",
    ):
        assert contains_my_number(text), text


def test_grouped_any_way_but_not_twelve_digits_is_left_alone():
    for text in (
        "2026/12/03 12:34",
        "〒060-8611 札幌市中央区北1条西2丁目",
        "1,234,567円",
        "第1条、第2条、第3条",
        "第一二三四条",
        "1 2 3 4 5 6 7 8 9 0 1 8 9",  # thirteen digits
        "1234/5678/9010",  # wrong check digit
        "TEL 011-211-2111 FAX 011-218-5166",
        # the keys of findings: a staff id and a day (the first version of the any-grouping
        # rule, with / as a separator, found 2 of these in the demo)
        *(
            f"u{n:04d}/2025-{month:02d}-{day:02d}"
            for n in range(0, 300, 7)
            for month in (1, 4, 12)
            for day in (1, 15, 31)
        ),
        "JUKI/e0001234/2025-04-01",
        # digests: a SHA-256 of the demo's feed whose hex holds 026490939023
        "7f51179a79a7e6b7fd09ae19ecb7f29b82f5a27c8b056fd395c026490939023b",
    ):
        assert not contains_my_number(text), text
