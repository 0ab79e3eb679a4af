"""Find personal data in text that is about to be published, and mask it.

Opinions sent in a consultation are published as summaries, but submitters paste their
address, telephone number, e-mail address and now and then a 個人番号 into them. Every
publishing path runs the text through :func:`mask` first. The rules prefer masking a
little too much over publishing personal data:

* ``my_number``: every 12-digit sequence with a valid check digit, written with or
  without separators between groups of four, half- or full-width, *whatever surrounds it*
  — also when it is part of a longer run of digits, where a 12-digit window with a
  valid check digit is masked even if it might be something else.
* ``phone``: Japanese numbers (0 + 9 or 10 digits, with hyphens, spaces or the area code
  in parentheses; +81 forms). Years, dates, amounts and article numbers never start
  with 0 followed by a plausible number of digits, so they are left alone.
* ``email``: addresses, including the full-width ＠ and the 「(at)」 spelling.
* ``address``: a municipality (with or without its prefecture) followed by a 町名 and a
  block number (丁目・番地・番・号・条, or 1-2-3). A place name on its own is not an
  address.

This module works on plain text; callers escape for HTML after masking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.mynumber import DIGEST, SEPARATOR, find_my_numbers, is_my_number

MY_NUMBER = "my_number"
PHONE = "phone"
EMAIL = "email"
ADDRESS = "address"

#: What replaces each kind of hit in published text.
LABELS: dict[str, str] = {
    MY_NUMBER: "［個人番号］",
    PHONE: "［電話番号］",
    EMAIL: "［メールアドレス］",
    ADDRESS: "［住所］",
}

#: When hits of different kinds overlap, the merged hit takes the first kind here.
_PRIORITY = (MY_NUMBER, EMAIL, PHONE, ADDRESS)


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class MaskResult:
    text: str
    hits: list[Hit]

    @property
    def masked(self) -> bool:
        return bool(self.hits)


_D = "[0-9０-９]"
_NOT_DIGIT_AFTER = "(?![0-9０-９])"
_DASH = "\\-‐‑‒–—―−－ー"  # for use inside [...]

# --- 個人番号 -------------------------------------------------------------------------

#: the detector's separators: any run of spaces, tabs, line breaks, dashes, ・ or .
_MN_SEP = f"(?:{SEPARATOR})"
#: Zero-width, so that overlapping candidates are all seen: 4-4-4 with separators, or
#: 12 contiguous digits inside a longer run.
_MY_NUMBER_WINDOW = re.compile(f"(?=(\\d{{4}}{_MN_SEP}?\\d{{4}}{_MN_SEP}?\\d{{4}}))")
_MN_SEPARATORS = re.compile(SEPARATOR)
_DIGITS_ONLY = str.maketrans("０１２３４５６７８９", "0123456789")


def _my_number_spans(text: str) -> list[tuple[int, int]]:
    spans = set(find_my_numbers(text))
    digests = [match.span() for match in DIGEST.finditer(text)]
    for match in _MY_NUMBER_WINDOW.finditer(text):
        candidate = match.group(1)
        start, end = match.span(1)
        if is_my_number(_MN_SEPARATORS.sub("", candidate)) and not any(s <= start and end <= e for s, e in digests):
            spans.add((start, end))
    return sorted(spans)


# --- 電話番号 -------------------------------------------------------------------------

_PH_SEP = f"(?:[ 　]?[{_DASH}][ 　]?|[ 　])"
_OPEN = "[(（]"
_CLOSE = "[)）]"
_PHONE = re.compile(
    rf"""
    (?<![0-9０-９+＋{_DASH}.．])
    (?:
        # +81 11-211-2111, +81 (0)90-1234-5678, +81112112111
        [+＋][8８][1１]{_PH_SEP}?(?:{_OPEN}[0０]{_CLOSE}[ 　]?)?
        (?:
            [1-9１-９]{_D}{{0,3}}(?:{_PH_SEP}|[ 　]?{_OPEN}){_D}{{1,4}}(?:{_PH_SEP}|{_CLOSE}[ 　]?){_D}{{3,4}}
          | [1-9１-９]{_D}{{8,9}}
        )
      # (011)211-2111
      | {_OPEN}[0０]{_D}{{1,4}}{_CLOSE}[ 　]?{_D}{{1,4}}{_PH_SEP}?{_D}{{3,4}}
      # 011-211-2111, 011(211)2111, 011 211 2111
      | [0０]{_D}{{1,4}}(?:{_PH_SEP}{_D}{{1,4}}{_PH_SEP}|[ 　]?{_OPEN}{_D}{{1,4}}{_CLOSE}[ 　]?){_D}{{3,4}}
      # 03-12345678
      | [0０]{_D}{{1,4}}{_PH_SEP}{_D}{{5,8}}
      # 0112112111, 09012345678
      | [0０][1-9１-９]{_D}{{8,9}}
    )
    {_NOT_DIGIT_AFTER}
    """,
    re.VERBOSE,
)
#: Prefixes of the 11-digit numbers: mobile, IP telephone, M2M, 0800 free dial.
_ELEVEN_DIGIT_PREFIXES = ("020", "050", "060", "070", "080", "090")


def _national_digits(candidate: str) -> str:
    digits = "".join(ch for ch in candidate.translate(_DIGITS_ONLY) if ch.isdigit())
    if candidate.lstrip("(（").startswith(("+", "＋")):
        digits = digits[2:]  # the country code 81
        if digits.startswith("0"):  # +81 (0)11 …
            digits = digits[1:]
        digits = "0" + digits
    return digits


def _is_phone(candidate: str) -> bool:
    digits = _national_digits(candidate)
    if digits.startswith("0800"):
        return len(digits) == 11
    if not digits.startswith("0") or digits.startswith("00"):  # 00x: international prefixes
        return False
    if len(digits) == 10:
        return True
    return len(digits) == 11 and digits.startswith(_ELEVEN_DIGIT_PREFIXES)


# --- メールアドレス ---------------------------------------------------------------------

_LOCAL = "[A-Za-z0-9Ａ-Ｚａ-ｚ０-９._%+\\-＿－．＋]+"
_LABEL = "[A-Za-z0-9Ａ-Ｚａ-ｚ０-９](?:[A-Za-z0-9Ａ-Ｚａ-ｚ０-９\\-－]*[A-Za-z0-9Ａ-Ｚａ-ｚ０-９])?"
_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9Ａ-Ｚａ-ｚ０-９._%+\-＿－．＋]){_LOCAL}(?:[@＠]|[ 　]?[(（\[［][aａ][tｔ][)）\]］][ 　]?){_LABEL}(?:[.．]{_LABEL})*[.．][A-Za-zＡ-Ｚａ-ｚ]{{2,}}"
    r"(?![A-Za-z0-9Ａ-Ｚａ-ｚ０-９])"
)

# --- 住所 -----------------------------------------------------------------------------

PREFECTURES = (
    "北海道 青森県 岩手県 宮城県 秋田県 山形県 福島県 茨城県 栃木県 群馬県 埼玉県 千葉県 "
    "東京都 神奈川県 新潟県 富山県 石川県 福井県 山梨県 長野県 岐阜県 静岡県 愛知県 三重県 "
    "滋賀県 京都府 大阪府 兵庫県 奈良県 和歌山県 鳥取県 島根県 岡山県 広島県 山口県 徳島県 "
    "香川県 愛媛県 高知県 福岡県 佐賀県 長崎県 熊本県 大分県 宮崎県 鹿児島県 沖縄県"
).split()

_KANJI = "㐀-䶿一-鿿々〆"
_KATAKANA = "ァ-ヴヵヶー"
#: One or more municipalities in a row, ending with 市区町村郡: 札幌市, 札幌市中央区,
#: 石狩郡当別町, 南アルプス市, 鶴ヶ島市, さいたま市浦和区. Written as one lazy stretch up to the
#: last suffix (rather than repeated name+suffix groups) to keep backtracking small.
_MUNICIPALITY = (
    f"(?:(?<![ぁ-ん])[ぁ-ん]{{2,9}}[市町村](?:[{_KANJI}{_KATAKANA}ケ]{{1,9}}?[市区町村郡])?"
    f"|[{_KANJI}{_KATAKANA}ケ]{{1,9}}?[市区町村郡])"
)
#: A 町名 starts with kanji or katakana and may contain が/ケ/ノ (霞が関, 緑ケ丘). It never
#: contains 第, so that 「札幌市個人情報保護条例第3条」 is not an address.
_TOWN = f"(?:(?!第)[{_KANJI}{_KATAKANA}ケ](?:(?!第)[{_KANJI}{_KATAKANA}ケがノ]){{0,11}}?)?"
_NUM = "(?:[0-9０-９]+|[一二三四五六七八九十百〇]+)"
_UNIT = "(?:丁目|番地|番(?!目|組|手|窓口)|号(?!車|機|議|数)|条|線|地割)"
_JOIN = f"(?:[{_DASH}]|の)"
_BLOCKS = f"{_NUM}(?:(?:{_UNIT}{_JOIN}?|{_JOIN})[東西南北]?{_NUM})*{_UNIT}?"
_POSTAL = f"〒?[ 　]?[0-9０-９]{{3}}[{_DASH}][0-9０-９]{{4}}[ 　]*"
_POSTAL_CODE = re.compile(f"(?:{_POSTAL})?")
_ADDRESS = re.compile(
    f"(?:{_POSTAL})?(?:{'|'.join(PREFECTURES)})?{_MUNICIPALITY}{_TOWN}[東西南北]?(?P<blocks>{_BLOCKS})"
)
_HAS_UNIT = re.compile(f"{_UNIT}|{_NUM}[{_DASH}]{_NUM}")
_PREFECTURE = re.compile("|".join(PREFECTURES))
#: Particles before an all-hiragana municipality: 「私はさいたま市…」.
_LEADING_PARTICLES = re.compile("(?:から|まで|より|には|では|とは|[はがをにでとのへもや])(?=[ぁ-ん]{3})")
#: Words written just before an address that the municipality pattern would swallow.
_LEADING_WORDS = re.compile("(?:現住所|住所地|住所|所在地|居所|住居|自宅|連絡先|送付先|宛先|本籍地|本籍)")


def _address_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _ADDRESS.finditer(text):
        if not _HAS_UNIT.search(match.group("blocks")):
            continue
        start, end = match.span()
        prefecture = _PREFECTURE.search(text, start, end)
        if prefecture:
            # Keep a postal code written before the prefecture; drop anything else.
            if _POSTAL_CODE.fullmatch(text, start, prefecture.start()) is None:
                start = prefecture.start()
        else:
            leading = _LEADING_WORDS.match(text, start, end) or _LEADING_PARTICLES.match(text, start, end)
            if leading:
                start = leading.end()
        spans.append((start, end))
    return spans


# --- scanning and masking -------------------------------------------------------------


def scan(text: str) -> list[Hit]:
    """Every piece of personal data in ``text``, in order; overlapping hits are merged."""
    text = text or ""
    found: list[tuple[int, int, str]] = []
    found += [(s, e, MY_NUMBER) for s, e in _my_number_spans(text)]
    found += [(m.start(), m.end(), EMAIL) for m in _EMAIL.finditer(text)]
    found += [(m.start(), m.end(), PHONE) for m in _PHONE.finditer(text) if _is_phone(m.group())]
    found += [(s, e, ADDRESS) for s, e in _address_spans(text)]
    return _merge(text, found)


def _merge(text: str, found: list[tuple[int, int, str]]) -> list[Hit]:
    merged: list[list] = []
    for start, end, kind in sorted(found):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if _PRIORITY.index(kind) < _PRIORITY.index(last[2]):
                last[2] = kind
        else:
            merged.append([start, end, kind])
    return [Hit(kind, start, end, text[start:end]) for start, end, kind in merged]


def mask(text: str) -> MaskResult:
    """``text`` with every hit replaced by its label from :data:`LABELS`."""
    text = text or ""
    hits = scan(text)
    parts = []
    position = 0
    for hit in hits:
        parts.append(text[position : hit.start])
        parts.append(LABELS[hit.kind])
        position = hit.end
    parts.append(text[position:])
    return MaskResult("".join(parts), hits)
