"""Evidence feeds: field definitions and a streaming parser (pure: no Flask, no database).

The five feed kinds and their fields are fixed by ``spec/evidence-feeds.md``. A feed
arrives as CSV (UTF-8, optional BOM, header row, RFC 4180 quoting) or JSON Lines (one
object per line, same field names). :class:`FeedParser` reads the binary stream chunk by
chunk, hashes the raw bytes as it goes, and yields normalised rows in batches so that a
caller can insert them without ever holding the whole file::

    parser = FeedParser("access", known_systems={"JUKI"}, filename="access.csv")
    for chunk in parser.iter_chunks(stream, size=5000):
        insert(chunk)
    parser.errors      # [RowError(line, field, reason), ...]
    parser.sha256      # SHA-256 of the raw bytes
    parser.rows_total  # data records seen (valid + invalid)

A normalised row is a dict with the spec's field names and typed values (timestamps
are aware datetimes in UTC, dates are ``date``, ``table_item`` is ``int``, empty
optional fields are ``None``, defaults applied), plus ``extra`` (unknown columns),
``line`` (first physical line of the record) and ``row_hash`` (:func:`row_digest`).
Access rows also carry ``event_id_derived``. :meth:`FeedParser.iter_batches` gives the
same rows, except that a chunk of plain access rows (the usual case of the large feed)
comes column by column as :class:`AccessColumns`, validated and hashed without a Python
step per row.

No value of a returned row holds a 個人番号 (as :mod:`common.mynumber` finds them: in
any field, extra column or nested JSON value or key, with any separators, numbers checked
as the text that was sent), a C0 control character other than TAB, LF and CR, or a lone
surrogate: such a record is rejected, naming its line and field. A 個人番号 never appears
in an error, an exception message or a log line.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import json
import logging
import os
import re
from collections import deque
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain, compress, islice, repeat
from operator import add, attrgetter, itemgetter, le
from typing import Any, BinaryIO, NamedTuple, cast
from zoneinfo import ZoneInfo

from common.mynumber import contains_my_number, is_my_number, other_digit_characters

log = logging.getLogger(__name__)

UTC = UTC
TOKYO = ZoneInfo("Asia/Tokyo")

KINDS: tuple[str, ...] = ("access", "grants", "assignments", "relations", "provisions", "transactions", "protections")

FORMATS: tuple[str, ...] = ("csv", "jsonl")
EXTENSIONS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

#: A physical line longer than this stops the parse (memory stays bounded).
MAX_LINE_CHARS = 1 << 20
#: Errors kept in memory; beyond this they are only counted (``errors_total``).
MAX_ERRORS = 100_000

ACCESS_ACTIONS = ("view", "search", "create", "update", "delete", "print", "export", "login", "logout", "other")
ACCESS_RESULTS = ("success", "denied")
DIRECTIONS = ("provide", "inquire")
PROVISION_RESULTS = ("success", "error")
RELATIONS = ("self", "household", "relative")
MEASURES = ("dv_support", "other")

#: how a batch came, by the prefix of its source (evidence.api, evidence.cli, evidence.demo)
SOURCE_PREFIXES = {"api": "API", "cli": "取込コマンド", "demo": "デモデータ"}


def feed_source(source: Any) -> str:
    """Where a batch came from, as people read it: 「API(JUKI連携)」, 「取込コマンド(access.csv)」,
    「デモデータ(操作履歴)」 (the demo's file names are the feeds' names)."""
    from common import labels

    text = "" if source is None else str(source)
    prefix, _, rest = text.partition(":")
    if prefix not in SOURCE_PREFIXES or not rest:
        return text
    if prefix == "demo":
        kind = rest.rsplit(".", 1)[0]
        rest = labels.label(kind, labels.FEED_KIND)
    return f"{SOURCE_PREFIXES[prefix]}({rest})"


MY_NUMBER_REASON = "個人番号と判定される値が含まれています(値は記録しません)"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a feed.

    ``type`` is one of ``str``, ``system`` (a registered system code), ``timestamp``,
    ``date``, ``int`` and ``enum`` (one of ``choices``).
    """

    name: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = ()
    default: str | None = None
    label: str = ""
    #: added to its feed after rows were stored: part of the canonical form only when it
    #: has a value, so the rows stored before keep their digest (and the chain verifies)
    added: bool = False


def _f(name, type_="str", required=False, *, choices=(), default=None, label="", added=False):
    return FieldSpec(name, type_, required, tuple(choices), default, label, added)


FIELDS: dict[str, list[FieldSpec]] = {
    "access": [
        _f("event_id", label="イベントID"),
        _f("occurred_at", "timestamp", True, label="操作日時"),
        _f("system", "system", True, label="システム"),
        _f("user_id", required=True, label="利用者ID"),
        _f("action", "enum", True, choices=ACCESS_ACTIONS, label="操作"),
        _f("subject_id", label="対象者キー"),
        _f("terminal", label="端末"),
        _f("result", "enum", choices=ACCESS_RESULTS, default="success", label="結果"),
        _f("purpose", label="事務目的"),
    ],
    "grants": [
        _f("user_id", required=True, label="利用者ID"),
        _f("system", "system", True, label="システム"),
        _f("role", required=True, label="権限"),
        _f("granted_at", "date", True, label="付与日"),
        _f("revoked_at", "date", label="取消日"),
        _f("granted_by", label="承認者"),
    ],
    "assignments": [
        _f("user_id", required=True, label="利用者ID"),
        _f("department", required=True, label="所属"),
        _f("start_date", "date", True, label="開始日"),
        _f("end_date", "date", label="終了日"),
        _f("display_name", label="氏名", added=True),
    ],
    "relations": [
        _f("user_id", required=True, label="利用者ID"),
        _f("subject_id", required=True, label="対象者キー"),
        _f("relation", "enum", True, choices=RELATIONS, label="関係"),
    ],
    "provisions": [
        _f("record_id", required=True, label="記録番号"),
        _f("occurred_at", "timestamp", True, label="日時"),
        _f("direction", "enum", True, choices=DIRECTIONS, label="区分"),
        _f("counterpart", required=True, label="相手機関"),
        _f("table_item", "int", True, label="別表項番"),
        _f("info_item", required=True, label="特定個人情報の項目"),
        _f("affair", label="事務"),
        _f("subject_id", label="対象者キー"),
        _f("result", "enum", choices=PROVISION_RESULTS, default="success", label="結果"),
    ],
    "transactions": [
        _f("transaction_id", required=True, label="受付番号"),
        _f("occurred_at", "timestamp", True, label="受付・処理日時"),
        _f("system", "system", True, label="システム"),
        _f("department", required=True, label="担当所属"),
        _f("kind", required=True, label="手続の種類"),
        _f("subject_id", required=True, label="対象者キー"),
        _f("user_id", label="担当者ID"),
    ],
    "protections": [
        _f("subject_id", required=True, label="対象者キー"),
        _f("measure", "enum", True, choices=MEASURES, label="措置の種類"),
        _f("start_date", "date", True, label="開始日"),
        _f("end_date", "date", label="終了日"),
    ],
}

#: Pairs (start, end) of date fields where end must not be before start.
DATE_RANGES: dict[str, tuple[str, str]] = {
    "grants": ("granted_at", "revoked_at"),
    "assignments": ("start_date", "end_date"),
    "protections": ("start_date", "end_date"),
}


class RowError(NamedTuple):
    """A rejected record: 1-based physical line, field name (None for the whole row), reason."""

    line: int
    field: str | None
    reason: str


@dataclass(slots=True)
class AccessColumns:
    """Valid access rows of one chunk, column by column, as the fast path makes them.

    Each field holds one item per row. ``occurred_at`` holds canonical UTC strings
    (``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00``); ``subject_id``, ``terminal`` and
    ``purpose`` hold "" when empty; ``result`` has its default; no row has ``extra`` and no
    value contains a backslash or U+001F. ``event_id_derived`` is None when every row came
    with its own id. :meth:`rows` gives the rows as :class:`FeedParser` otherwise does.
    """

    event_id: Sequence[str]
    occurred_at: Sequence[str]
    system: Sequence[str]
    user_id: Sequence[str]
    action: Sequence[str]
    subject_id: Sequence[str]
    terminal: Sequence[str]
    result: Sequence[str]
    purpose: Sequence[str]
    event_id_derived: Sequence[bool] | None
    line: Sequence[int]
    row_hash: Sequence[str]

    def __len__(self) -> int:
        return len(self.line)

    def rows(self) -> list[dict]:
        derived = self.event_id_derived or repeat(False)
        return [
            {
                "event_id": e,
                "occurred_at": w,
                "system": sy,
                "user_id": u,
                "action": a,
                "subject_id": su or None,
                "terminal": te or None,
                "result": r,
                "purpose": pu or None,
                "extra": {},
                "event_id_derived": d,
                "line": ln,
                "row_hash": h,
            }
            for e, w, sy, u, a, su, te, r, pu, d, ln, h in zip(
                self.event_id,
                map(datetime.fromisoformat, self.occurred_at),
                self.system,
                self.user_id,
                self.action,
                self.subject_id,
                self.terminal,
                self.result,
                self.purpose,
                derived,
                self.line,
                self.row_hash,
            )
        ]


class FeedFormatError(ValueError):
    """Raised for a programming error: unknown kind or format."""


# ---------------------------------------------------------------------------
# Canonical serialisation (the tamper-evidence chain recomputes it from stored rows)
# ---------------------------------------------------------------------------

_SEP = "\x1f"


def _canon_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:  # as read back from a database column: already UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _canon_extra(extra: dict | None) -> str:
    if not extra:
        return ""
    return json.dumps(extra, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _join_canonical(parts: list[str]) -> bytes:
    joined = _SEP.join(parts)
    if "\\" in joined or joined.count(_SEP) != len(parts) - 1:
        joined = _SEP.join(p.replace("\\", "\\\\").replace(_SEP, "\\u001f") for p in parts)
    return joined.encode("utf-8")


def canonical_row(kind: str, row: dict) -> bytes:
    """The canonical bytes of a normalised (or stored) row.

    The kind, then each field of ``FIELDS[kind]`` in order, then ``extra`` as compact
    JSON with sorted keys (empty when there is none), joined by U+001F; a backslash or
    U+001F inside a part is escaped (``\\\\``, ``\\u001f``). Datetimes are written in UTC
    as ``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`` (a naive datetime is taken as UTC, as a
    database returns it), dates as ``YYYY-MM-DD``, ``None`` as the empty string.
    ``line``, ``row_hash`` and ``event_id_derived`` are not part of it.
    """
    specs = FIELDS[kind]
    parts = [kind]
    parts.extend(_canon_value(row.get(spec.name)) for spec in specs if not spec.added or row.get(spec.name) is not None)
    parts.append(_canon_extra(row.get("extra")))
    return _join_canonical(parts)


def row_digest(kind: str, row: dict) -> str:
    """SHA-256 hex of :func:`canonical_row`."""
    return hashlib.sha256(canonical_row(kind, row)).hexdigest()


def derived_event_id(digest_without_id: str) -> str:
    """Event id for an access row sent without one (from the digest of the row without it)."""
    return "h:" + digest_without_id[:32]


# ---------------------------------------------------------------------------
# Raw byte stream: hashing, sniffing, bounded lines
# ---------------------------------------------------------------------------

_BOM = codecs.BOM_UTF8
_BLANK = b" \t\r\n"
_SNIFF_LIMIT = 1 << 20


class _HashingReader(io.RawIOBase):
    """Reads a binary stream, hashing every byte; can look ahead to sniff the format."""

    def __init__(self, stream: BinaryIO, chunk_size: int):
        super().__init__()
        self._stream = stream
        self._chunk_size = chunk_size
        self._pending = b""
        self.hash = hashlib.sha256()
        self.bytes_read = 0
        self.eof = False

    def readable(self) -> bool:
        return True

    def _read_raw(self, n: int) -> bytes:
        if self.eof:
            return b""
        data = self._stream.read(n)
        if data is None:
            data = b""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("a binary stream is required")
        if not data:
            self.eof = True
            return b""
        data = bytes(data)
        self.hash.update(data)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:
        size = len(buffer)
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
        else:
            data = self._read_raw(min(size, self._chunk_size))
        buffer[: len(data)] = data
        return len(data)

    def first_significant_byte(self) -> bytes:
        """The first byte that is not a BOM or blank, without consuming it (b"" if none)."""
        buf = self._pending
        while True:
            body = buf[3:] if buf.startswith(_BOM) else buf
            stripped = body.lstrip(_BLANK)
            if stripped or len(buf) >= _SNIFF_LIMIT:
                break
            data = self._read_raw(self._chunk_size)
            if not data:
                break
            buf += data
        self._pending = buf
        return stripped[:1]

    def drain(self) -> None:
        self._pending = b""
        while self._read_raw(self._chunk_size):
            pass


class _LineTooLong(Exception):
    pass


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def _shown(value: str) -> str:
    """A value as it may appear in an error message (short; never a 個人番号)."""
    if contains_my_number(value):
        return "(表示しません)"
    return value if len(value) <= 40 else value[:40] + "…"


def _json_scalar(value: Any) -> str | None:
    """A JSON value of a known field as the string a CSV cell would hold (None if not scalar)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None


#: characters no value may hold: C0 controls but TAB, LF and CR (RFC 4180 fields may carry line
#: breaks), NUL included (PostgreSQL cannot store it), and lone surrogates (not UTF-8)
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_BAD_CHAR_BUT_NUL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
CONTROL_REASON = "使用できない制御文字(NUL など)が含まれています"
SURROGATE_REASON = "UTF-8で表せない文字が含まれています"
#: for :func:`_text_columns_clean`: bytes to delete to keep only the ASCII digits and NUL,
#: only the forbidden C0 controls; a table turning every ASCII digit into "1"
_ALL_BUT_DIGITS_AND_NUL = bytes(b for b in range(256) if b not in b"0123456789\x00")
_ALL_BUT_BAD_CONTROLS = bytes(b for b in range(256) if not (1 <= b <= 8 or b in (11, 12) or 14 <= b <= 31))
_DIGITS_TO_ONES = bytes.maketrans(b"0123456789", b"1111111111")
_TWELVE_DIGITS = b"1" * 12


@functools.cache
def _other_digit() -> re.Pattern:
    """Digits beyond ASCII (full-width, every other script, circled, kanji numerals: what the
    個人番号 detector reads as digits), built when first needed."""
    return re.compile("[" + re.escape(other_digit_characters()) + "]")


def _text_problem(value: str) -> str | None:
    """Why a text value may not be stored (a 個人番号, a control character), else None."""
    if contains_my_number(value):
        return MY_NUMBER_REASON
    if not value.isprintable():  # cheap pre-test: TAB and line breaks are allowed
        bad = _BAD_CHAR.search(value)
        if bad is not None:
            return SURROGATE_REASON if bad.group() >= "\ud800" else CONTROL_REASON
    return None


class _MyNumberValue:
    """What the JSON decoder gives for a number that is (or whose text holds) a 個人番号."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<個人番号>"


MY_NUMBER_VALUE = _MyNumberValue()


def _json_int(text: str):
    """``parse_int`` hook: the number is checked as the text that was sent."""
    if len(text) >= 12 and contains_my_number(text):
        return MY_NUMBER_VALUE
    return int(text)


def _json_float(text: str):
    """``parse_float`` hook: the text that was sent (``123456789018.0``) and the number it
    means (``1.23456789018e11``) are both checked."""
    if len(text) >= 12 and contains_my_number(text):
        return MY_NUMBER_VALUE
    value = float(text)
    if (len(text) >= 12 or "e" in text or "E" in text) and is_my_number(value):
        return MY_NUMBER_VALUE
    return value


def _value_problems(value: Any) -> Iterator[str]:
    """The reasons why a (JSON) value or anything nested in it, keys included, may not be
    stored (see :func:`_text_problem`)."""
    if isinstance(value, str):
        reason = _text_problem(value)
        if reason is not None:
            yield reason
    elif value is MY_NUMBER_VALUE:
        yield MY_NUMBER_REASON
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _value_problems(key)
            yield from _value_problems(item)
    elif isinstance(value, list):
        for item in value:
            yield from _value_problems(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and is_my_number(value):
        yield MY_NUMBER_REASON


def _text_columns_clean(columns: Sequence[Sequence[str]]) -> bool:
    """True when no value of ``columns`` would make :func:`_text_problem` object.

    Column-wise and in C: the values are joined by NUL and encoded (a lone surrogate fails),
    the forbidden controls are looked for with ``bytes.translate``, and only when some value
    has 12 digits or more are the values looked at one by one
    (:func:`common.mynumber.contains_my_number`, which skips those with fewer digits)."""
    columns = [c for c in columns if len(c)]
    joined = "\x00".join(map("\x00".join, columns))
    if joined.count("\x00") != sum(map(len, columns)) - 1:  # a NUL inside a value
        return False
    try:
        raw = joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    if raw.translate(None, _ALL_BUT_BAD_CONTROLS):  # UTF-8 has no C0 byte inside a character
        return False
    if (joined.isascii() or _other_digit().search(joined) is None) and _TWELVE_DIGITS not in raw.translate(
        _DIGITS_TO_ONES, _ALL_BUT_DIGITS_AND_NUL
    ):
        return True
    values = chain.from_iterable(columns)
    suspects = compress(values, map(le, repeat(12), map(len, chain.from_iterable(columns))))
    return not any(map(contains_my_number, suspects))


def _reject_constant(name: str):
    raise ValueError("non-finite number")


class _Timestamps:
    """Parses timestamps to (aware UTC datetime, canonical string), with a cache.

    For the usual shapes ``YYYY-MM-DDTHH:MM:SS`` followed by ``±HH:00``, ``Z`` or nothing
    (Tokyo), the cache is keyed on date + hour + offset, so a whole hour of events costs one
    time-zone conversion; then only the minutes and seconds are checked (``:00:00``-``:59:59``).
    Anything else takes the general path.
    """

    def __init__(self):
        self._hours: dict[tuple[str, str], str] = {}

    def _prefix(self, key: tuple[str, str]) -> str:
        """UTC date + hour (13 chars) for (local date + hour, offset); ValueError when the
        key is not one of the usual shapes or the zone does not shift by whole hours."""
        prefix = self._hours.get(key)
        if prefix is None:
            hour, offset = key
            if _USUAL_HOUR.match(hour) is None or (offset not in ("", "Z") and _USUAL_OFFSET.match(offset) is None):
                raise ValueError("not the usual shape")
            canon = self._slow(hour + ":00:00" + offset)[1]
            if canon[13:19] != ":00:00":  # a zone offset with minutes (Tokyo before 1888)
                raise ValueError("not a whole-hour offset")
            if len(self._hours) > 50_000:
                self._hours.clear()
            prefix = self._hours[key] = canon[:13]
        return prefix

    def parse(self, s: str) -> tuple[datetime, str]:
        parts = _fraction_and_offset(s[19:])
        if parts is not None and len(s) >= 19 and s[13] == ":" and s[16] == ":":
            try:  # fromisoformat checks the minutes and seconds
                canon = self._prefix((s[:13], parts[1])) + s[13:19] + parts[0] + "+00:00"
                return datetime.fromisoformat(canon), canon
            except ValueError:
                pass
        return self._slow(s)

    def canonical_many(self, values: tuple[str, ...]) -> list[str] | None:
        """Canonical UTC strings (``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00``, as
        :meth:`datetime.isoformat` writes them) of ``values`` when all of them are in the
        usual shapes, else None (then parse them one by one). Column-wise: Python code runs
        per distinct hour and per distinct fraction + offset, not per value."""
        minutes_seconds = list(map(_MINUTES_SECONDS, values))
        if not _VALID_MINUTES_SECONDS.issuperset(minutes_seconds):
            return None
        rests = list(map(_REST, values))
        maybe_parts = {rest: _fraction_and_offset(rest) for rest in set(rests)}
        if None in maybe_parts.values():
            return None
        parts = cast(dict[str, tuple[str, str]], maybe_parts)
        fractions = None
        if any(fraction for fraction, _ in parts.values()):
            split = list(map(parts.__getitem__, rests))
            fractions, rests = map(_FIRST, split), list(map(_SECOND, split))
        keys = list(zip(map(_HOUR, values), rests))
        hours = self._hours
        prefixes = list(map(hours.get, keys))
        try:
            if None in prefixes:
                for key in {k for k, p in zip(keys, prefixes) if p is None}:
                    self._prefix(key)
                prefixes = list(map(hours.get, keys))
                if None in prefixes:  # the cache was cleared meanwhile
                    prefixes = list(map(self._prefix, keys))
        except ValueError:
            return None
        times = map(add, prefixes, minutes_seconds)
        if fractions is not None:
            times = map(add, times, fractions)
        return list(map(add, times, repeat("+00:00")))

    @staticmethod
    def _slow(s: str) -> tuple[datetime, str]:
        if len(s) <= 10:
            raise ValueError("date without time")
        try:
            dt = datetime.fromisoformat(s)
            dt = dt.replace(tzinfo=TOKYO) if dt.tzinfo is None else dt
            dt = dt.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("out of range") from exc
        return dt, dt.isoformat()


def _fraction_and_offset(rest: str) -> tuple[str, str] | None:
    """What follows the seconds of a timestamp, split into the canonical fraction
    (``.ffffff``, or "" when zero or absent) and the offset; None for anything but
    ``.`` and 1 to 6 ASCII digits (the general path reads the rest)."""
    if not rest.startswith("."):
        return "", rest
    match = _FRACTION.match(rest)
    if match is None:
        return None
    digits = match.group(1)
    return ("." + digits.ljust(6, "0") if digits.strip("0") else ""), rest[match.end() :]


_FRACTION = re.compile(r"\.([0-9]{1,6})(?![0-9])")
#: the usual shapes (the cache's keys): ``YYYY-MM-DDTHH`` (or a space for the T), and
#: ``±HH:00``, ``Z`` or nothing; anything else takes the general path
_USUAL_HOUR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}\Z")
_USUAL_OFFSET = re.compile(r"[+-][0-9]{2}:00\Z")
_VALID_MINUTES_SECONDS = frozenset(f":{m:02d}:{s:02d}" for m in range(60) for s in range(60))
_HOUR = itemgetter(slice(0, 13))
_MINUTES_SECONDS = itemgetter(slice(13, 19))
_REST = itemgetter(slice(19, None))
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


def _line_breaks(record: list[str]) -> int:
    """Line breaks inside the (quoted) fields of a CSV record."""
    return sum(f.count("\n") + f.count("\r") - f.count("\r\n") for f in record)


def _record_lines(records: list[list[str]], start: int) -> tuple[list[int], int]:
    """First physical line of each record, and the line after the last one."""
    lines = []
    line = start
    for record in records:
        lines.append(line)
        line += 1 + _line_breaks(record)
    return lines, line


def _parse_date(s: str) -> date:
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        raise ValueError("not YYYY-MM-DD")
    return date.fromisoformat(s)


# ---------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------


@dataclass
class ParseResult:
    """Everything :func:`parse_feed` found (rows held in memory: for small feeds and tests)."""

    kind: str
    fmt: str
    rows: list[dict]
    errors: list[RowError]
    sha256: str
    bytes_read: int
    rows_total: int
    rows_valid: int
    rows_invalid: int
    errors_total: int = 0
    extra_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.errors_total == 0


def detect_format(filename: str | None = None, first_byte: bytes | None = None) -> str | None:
    """``csv`` or ``jsonl`` from a file name's extension, else from the first significant byte."""
    if filename:
        ext = os.path.splitext(filename)[1].lower()
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
    if first_byte is not None:
        return "jsonl" if first_byte == b"{" else "csv"
    return None


class FeedParser:
    """Streaming parser for one feed file of one kind.

    Iterate :meth:`iter_rows` or :meth:`iter_chunks` once; afterwards ``errors``,
    ``sha256`` (None until the stream was read to the end), ``bytes_read``,
    ``rows_total``, ``rows_valid``, ``rows_invalid`` and ``errors_total`` describe the
    file. The file is acceptable as a whole batch when ``ok`` is true.
    """

    def __init__(
        self,
        kind: str,
        *,
        known_systems: Collection[str] | None = None,
        fmt: str | None = None,
        filename: str | None = None,
        chunk_bytes: int = 1 << 20,
        max_errors: int | None = MAX_ERRORS,
    ):
        if kind not in FIELDS:
            raise FeedFormatError(f"unknown feed kind: {kind!r}")
        if fmt is not None and fmt not in FORMATS:
            raise FeedFormatError(f"unknown feed format: {fmt!r}")
        self.kind = kind
        self.specs = FIELDS[kind]
        self.names = [spec.name for spec in self.specs]
        self._labels = {spec.name: spec.label for spec in self.specs}
        self.known_systems = None if known_systems is None else frozenset(known_systems)
        self.fmt = fmt
        self.filename = filename
        self.chunk_bytes = chunk_bytes
        self.max_errors = max_errors
        self.errors: list[RowError] = []
        self.errors_total = 0
        self.sha256: str | None = None
        self.bytes_read = 0
        self.rows_total = 0
        self.rows_valid = 0
        self.rows_invalid = 0
        self.extra_columns: list[str] = []
        self._timestamps = _Timestamps()
        self._dates: dict[str, date] = {}
        self._used = False

    def __repr__(self) -> str:
        return f"<FeedParser {self.kind} fmt={self.fmt} rows={self.rows_total} errors={self.errors_total}>"

    @property
    def ok(self) -> bool:
        return self.errors_total == 0

    # -- public iteration ---------------------------------------------------

    def iter_rows(self, stream: BinaryIO) -> Iterator[dict]:
        """Valid normalised rows, one by one; errors are collected on the parser."""
        for chunk in self.iter_chunks(stream):
            yield from chunk

    def iter_chunks(self, stream: BinaryIO, size: int = 5000) -> Iterator[list[dict]]:
        """Valid normalised rows in lists of at most ``size``; errors collect on the parser.

        The stream is read in ``chunk_bytes`` pieces; ``sha256`` is set once the whole
        stream has been read (iterate to the end, even when errors were found).
        """
        for batch in self.iter_batches(stream, size):
            yield batch if isinstance(batch, list) else batch.rows()

    def iter_batches(self, stream: BinaryIO, size: int = 5000) -> Iterator[list[dict] | AccessColumns]:
        """:meth:`iter_chunks`, except that a chunk of plain access rows (the usual case of
        the large feed) comes as :class:`AccessColumns`, which a store can write without
        building a dict per row."""
        if self._used:
            raise RuntimeError("a FeedParser reads one stream only")
        if size < 1:
            raise ValueError("size must be positive")
        self._used = True
        raw = _HashingReader(stream, self.chunk_bytes)
        if self.fmt is None:
            self.fmt = detect_format(self.filename) or detect_format(None, raw.first_significant_byte())
        text = io.TextIOWrapper(
            io.BufferedReader(raw, self.chunk_bytes), encoding="utf-8-sig", errors="replace", newline=""
        )
        self._bad_lines: deque[int] = deque()
        self._lineno = 0
        lines = self._lines(text)
        if self.fmt == "csv":
            yield from self._csv_chunks(lines, size)
        else:
            yield from self._jsonl_chunks(lines, size)
        raw.drain()
        text.detach()
        self.errors.sort(key=_line_of)
        self.bytes_read = raw.bytes_read
        self.sha256 = raw.hash.hexdigest()
        log.info(
            "feed parsed: kind=%s fmt=%s bytes=%d rows=%d valid=%d errors=%d",
            self.kind,
            self.fmt,
            self.bytes_read,
            self.rows_total,
            self.rows_valid,
            self.errors_total,
        )

    # -- lines ----------------------------------------------------------------

    def _lines(self, text: io.TextIOWrapper) -> Iterator[str]:
        """Physical lines (CR, LF or CRLF kept), flagging undecodable ones; bounded length."""
        readline = text.readline
        bad = self._bad_lines
        limit = MAX_LINE_CHARS
        n = 0
        while True:
            line = readline(limit)
            if not line:
                self._lineno = n
                return
            n += 1
            if "\ufffd" in line:
                bad.append(n)
            if len(line) >= limit and line[-1] not in "\r\n":
                self._lineno = n
                raise _LineTooLong
            yield line

    def _too_long(self) -> None:
        self._error(self._lineno, None, f"1行が長すぎます(上限 {MAX_LINE_CHARS:,} 文字)。以降は読み取りません")
        self._count(0, 1)

    def _error(self, line: int, field_name: str | None, reason: str) -> None:
        self.errors_total += 1
        if self.max_errors is None or len(self.errors) < self.max_errors:
            self.errors.append(RowError(line, field_name, reason))

    def _utf8_problem(self, first: int, last: int) -> bool:
        """Report (once) a record on lines first..last that had undecodable bytes."""
        bad = self._bad_lines  # ascending; records arrive in order
        while bad and bad[0] < first:
            bad.popleft()
        if not bad or bad[0] > last:
            return False
        while bad and bad[0] <= last:
            bad.popleft()
        self._error(
            first,
            None,
            "UTF-8として読み取れないバイトが含まれています(Shift_JIS などで保存されたファイルは UTF-8 で保存し直してください)",
        )
        return True

    # -- CSV --------------------------------------------------------------------

    def _csv_chunks(self, lines: Iterator[str], size: int) -> Iterator[list[dict] | AccessColumns]:
        reader = csv.reader(lines, strict=True)
        next_record = reader.__next__
        header = None
        start = 1
        while header is None:
            try:
                record = next_record()
            except StopIteration:
                self._error(1, None, "ヘッダ行がありません")
                return
            except _LineTooLong:
                self._too_long()
                return
            except csv.Error:
                self._error(start, None, "ヘッダ行をCSVとして読み取れません")
                return
            if self._bad_lines and self._utf8_problem(start, reader.line_num):
                return
            if record:
                header = [name.strip() for name in record]
                header_line = start
            start = reader.line_num + 1
        usable = self._check_header(header, header_line)
        ncols = len(header)
        positions = [header.index(name) if name in header else -1 for name in self.names]
        known = set(self.names)
        extra_cols = [(i, name) for i, name in enumerate(header) if name not in known]
        self.extra_columns = [name for _, name in extra_cols]
        # Records are pulled a batch at a time by C code (islice); the per-record Python
        # checks below run only for batches that contain something unusual.
        while True:
            records: list[list[str]] = []
            failure = None
            try:
                records.extend(islice(reader, size))
            except _LineTooLong:
                failure = "long"
            except csv.Error:
                failure = "csv"
            if not records and failure is None:
                break
            consumed = reader.line_num - start + 1
            lines_of: Sequence[int]
            if failure is None and consumed == len(records):
                lines_of = range(start, start + len(records))
            else:
                lines_of, after = _record_lines(records, start)
                if failure == "csv":
                    self._count(0, 1)
                    self._error(after, None, "CSVとして読み取れません(引用符の対応や区切りを確認してください)")
                elif failure == "long":
                    self._too_long()
            start = reader.line_num + 1
            if [] in records:  # blank lines
                kept = [(r, ln) for r, ln in zip(records, lines_of) if r]
                records, lines_of = [r for r, _ in kept], [ln for _, ln in kept]
            if self._bad_lines or not usable or set(map(len, records)) != {ncols}:
                kept = [
                    (r, ln)
                    for r, ln in zip(records, lines_of)
                    if self._csv_record_ok(r, header, ln, ln + _line_breaks(r), usable)
                ]
                self._count(0, len(records) - len(kept))
                records, lines_of = [r for r, _ in kept], [ln for _, ln in kept]
            if records:
                extras = [{name: r[i] for i, name in extra_cols} for r in records] if extra_cols else None
                columns = list(zip(*records))
                empty = ("",) * len(records)
                chunk = self._normalise_batch([columns[p] if p >= 0 else empty for p in positions], extras, lines_of)
                if chunk:
                    yield chunk
            if failure == "long":
                break

    def _count(self, valid: int, invalid: int) -> None:
        self.rows_valid += valid
        self.rows_invalid += invalid
        self.rows_total += valid + invalid

    def _csv_record_ok(self, record: list[str], header: list[str], first: int, last: int, usable: bool) -> bool:
        """The checks of a record that only unusual records need (reports the problems)."""
        if self._bad_lines and self._utf8_problem(first, last):
            return False
        if len(record) != len(header):
            self._error(first, None, f"列の数がヘッダと一致しません(ヘッダ {len(header)} 列、この行 {len(record)} 列)")
            return False
        return usable

    def _check_header(self, header: list[str], line: int) -> bool:
        usable = True
        seen = set()
        for name in header:
            if not name:
                self._error(line, None, "列名が空の列があります")
                usable = False
            elif (reason := _text_problem(name)) is not None:
                self._error(line, None, reason)
                usable = False
            elif name in seen:
                self._error(line, name, f"列名「{_shown(name)}」が重複しています")
                usable = False
            seen.add(name)
        for spec in self.specs:
            if spec.required and spec.name not in seen:
                self._error(line, spec.name, f"必須の列「{spec.name}」がヘッダにありません")
                usable = False
        return usable

    # -- JSON Lines ---------------------------------------------------------------

    def _jsonl_chunks(self, lines: Iterator[str], size: int) -> Iterator[list[dict] | AccessColumns]:
        names = self.names
        known = set(names)
        extra_seen: dict[str, None] = {}
        loads = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_json_int, parse_float=_json_float).decode
        values: list[tuple] = []
        extras: list[dict] = []
        lines_of: list[int] = []
        line = 0
        try:
            for text in lines:
                line += 1
                if not text.strip():
                    continue
                record = self._json_record(text, line, names, known, extra_seen, loads)
                if record is None:
                    self._count(0, 1)
                    continue
                values.append(record[0])
                extras.append(record[1])
                lines_of.append(line)
                if len(values) >= size:
                    chunk = self._normalise_batch(list(zip(*values)), extras, lines_of)
                    if chunk:
                        yield chunk
                    values, extras, lines_of = [], [], []
        except _LineTooLong:
            self._too_long()
        if values:
            chunk = self._normalise_batch(list(zip(*values)), extras, lines_of)
            if chunk:
                yield chunk

    def _json_record(self, text, line, names, known, extra_seen, loads) -> tuple[tuple, dict] | None:
        """(values in FIELDS order as strings, extra) of one JSON line, or None (reported)."""
        if self._bad_lines and self._utf8_problem(line, line):
            return None
        try:
            obj = loads(text)
        except (ValueError, RecursionError):
            self._error(line, None, "JSONとして読み取れません")
            return None
        if not isinstance(obj, dict):
            self._error(line, None, "各行は1つのJSONオブジェクト({...})にしてください")
            return None
        bad = False
        for key, value in obj.items():
            reason = _text_problem(key)
            if reason is not None:  # the key itself is not named
                self._error(line, None, reason)
                bad = True
                continue
            for reason in dict.fromkeys(_value_problems(value)):
                self._error(line, key, reason)
                bad = True
        if bad:
            return None
        values = []
        for name in names:
            value = _json_scalar(obj.get(name))
            if value is None:
                self._error(line, name, "値は文字列か数値で指定してください")
                bad = True
            values.append(value)
        if bad:
            return None
        extra = {k: v for k, v in obj.items() if k not in known}
        for key in extra:
            if key not in extra_seen:
                extra_seen[key] = None
                self.extra_columns.append(key)
        return tuple(values), extra

    # -- normalising ----------------------------------------------------------------

    def _normalise_batch(
        self, columns: list[tuple], extras: list[dict] | None, lines: range | list[int]
    ) -> list[dict] | AccessColumns:
        """Valid rows of a batch given column-wise in FIELDS order (problems reported)."""
        rows: list[dict] | AccessColumns | None = None
        n = len(lines)
        if self.kind == "access" and (extras is None or not any(extras)):
            rows = self._access_batch(columns, lines)
        if rows is None:
            normalise = self._normalise_access if self.kind == "access" else self._normalise_generic
            if extras is None:
                extras = [{} for _ in range(n)]
            rows = [row for row in map(normalise, zip(*columns), extras, lines) if row is not None]
        self._count(len(rows), n - len(rows))
        return rows

    def _access_batch(self, columns: list[tuple], lines: range | list[int]) -> AccessColumns | None:
        """Column-wise fast path for a batch of plain access rows; None if any is unusual.

        Every check runs over whole columns in C (set operations, ``map``); the rows are
        the same as :meth:`_normalise_access` makes one by one."""
        event_ids: Any  # a column of the batch; completed below where an event has no id
        results: Any
        (event_ids, stamps, systems, users, actions, subjects, terminals, results, purposes) = columns
        known = self.known_systems
        if (
            "" in users
            or not _ACCESS_ACTIONS.issuperset(actions)
            or not _ACCESS_RESULTS_OR_EMPTY.issuperset(results)
            or ("" in systems if known is None else not known.issuperset(systems))
        ):
            return None
        canons = self._timestamps.canonical_many(stamps)
        if canons is None:
            return None
        # A timestamp in the usual shape (canonical_many) holds no 個人番号 and no control
        # character (its longest runs of digits are the year and the fraction, and neither is
        # followed by a separator and four digits), the actions and results are known words,
        # the systems few: the other columns are looked at as a whole.
        if not _text_columns_clean((event_ids, users, subjects, terminals, purposes)) or any(
            map(_text_problem, set(systems))
        ):
            return None
        if "" in results:
            results = [r or "success" for r in results]
        joined = list(
            map(
                _SEP.join,
                zip(
                    repeat("access"),
                    event_ids,
                    canons,
                    systems,
                    users,
                    actions,
                    subjects,
                    terminals,
                    results,
                    purposes,
                    repeat(""),
                ),
            )
        )
        blob = "".join(joined)
        if "\\" in blob or blob.count(_SEP) != 10 * len(joined):
            return None
        try:
            digests = list(map(_hexdigest, map(_sha256, map(str.encode, joined))))
        except UnicodeEncodeError:
            return None
        derived = None
        if "" in event_ids:
            derived = [not e for e in event_ids]
            event_ids = list(event_ids)
            for i, is_derived in enumerate(derived):
                if is_derived:
                    event_ids[i] = event_id = derived_event_id(digests[i])
                    digests[i] = _hexdigest(_sha256(("access" + _SEP + event_id + joined[i][7:]).encode()))
        return AccessColumns(
            event_ids, canons, systems, users, actions, subjects, terminals, results, purposes, derived, lines, digests
        )

    def _finish(self, row: dict, parts: list[str], line: int) -> dict | None:
        try:
            row["row_hash"] = hashlib.sha256(_join_canonical(parts)).hexdigest()
        except UnicodeEncodeError:  # lone surrogates from a JSON \\ud800 escape
            self._error(line, None, "UTF-8で表せない文字が含まれています")
            return None
        return row

    def _values_ok(self, values: tuple, extra: dict, line: int) -> bool:
        """Report every value of a record that may not be stored: a 個人番号 in any field,
        extra column or nested value (keys too), a control character, a lone surrogate."""
        ok = True
        for name, raw in zip(self.names, values):
            if raw:
                reason = _text_problem(raw)
                if reason is not None:
                    self._error(line, name, reason)
                    ok = False
        if extra:
            for key, value in extra.items():
                reason = _text_problem(key)
                if reason is not None:
                    self._error(line, None, reason)
                    ok = False
                    continue
                for reason in dict.fromkeys(_value_problems(value)):
                    self._error(line, key, reason)
                    ok = False
        return ok

    def _normalise_access(self, values: tuple, extra: dict, line: int) -> dict | None:
        """Fast path for the large feed; anything unusual goes to the generic path."""
        if not self._values_ok(values, extra, line):
            return None
        (event_id, occurred_at, system, user_id, action, subject_id, terminal, result, purpose) = values
        known = self.known_systems
        if (
            not user_id
            or action not in _ACCESS_ACTIONS
            or result not in _ACCESS_RESULTS_OR_EMPTY
            or not system
            or (known is not None and system not in known)
        ):
            return self._normalise_generic(values, extra, line, checked=True)
        try:
            when, when_canon = self._timestamps.parse(occurred_at)
        except ValueError:
            return self._normalise_generic(values, extra, line, checked=True)
        result = result or "success"
        extra_canon = _canon_extra(extra) if extra else ""
        parts = [
            "access",
            event_id,
            when_canon,
            system,
            user_id,
            action,
            subject_id,
            terminal,
            result,
            purpose,
            extra_canon,
        ]
        derived = not event_id
        if derived:
            try:
                event_id = derived_event_id(hashlib.sha256(_join_canonical(parts)).hexdigest())
            except UnicodeEncodeError:
                self._error(line, None, "UTF-8で表せない文字が含まれています")
                return None
            parts[1] = event_id
        row = {
            "event_id": event_id,
            "occurred_at": when,
            "system": system,
            "user_id": user_id,
            "action": action,
            "subject_id": subject_id or None,
            "terminal": terminal or None,
            "result": result,
            "purpose": purpose or None,
            "extra": extra,
            "event_id_derived": derived,
            "line": line,
        }
        return self._finish(row, parts, line)

    def _normalise_generic(self, values: tuple, extra: dict, line: int, checked: bool = False) -> dict | None:
        """Field by field, driven by FIELDS; reports every problem of the row (``checked``:
        :meth:`_values_ok` already passed)."""
        if not checked and not self._values_ok(values, extra, line):
            return None
        row: dict[str, Any] = {}
        parts = [self.kind]
        problems = 0
        for spec, raw in zip(self.specs, values):
            name = spec.name
            if raw == "":
                if spec.required:
                    self._error(line, name, f"必須項目「{name}」が空です")
                    problems += 1
                row[name] = spec.default
                if not spec.added:
                    parts.append(spec.default or "")
                continue
            kind = spec.type
            try:
                if kind == "str":
                    value, canon = raw, raw
                elif kind == "timestamp":
                    value, canon = self._timestamps.parse(raw)
                elif kind == "date":
                    value = self._dates.get(raw)
                    if value is None:
                        value = self._dates[raw] = _parse_date(raw)
                    canon = raw
                elif kind == "int":
                    if not raw.isascii() or not raw.isdigit():
                        raise ValueError("not an integer")
                    value = int(raw)
                    canon = str(value)
                elif kind == "enum":
                    if raw not in spec.choices:
                        raise ValueError("not a choice")
                    value, canon = raw, raw
                elif kind == "system":
                    if self.known_systems is not None and raw not in self.known_systems:
                        raise ValueError("unknown system")
                    value, canon = raw, raw
                else:  # pragma: no cover - FIELDS is fixed
                    raise AssertionError(kind)
            except ValueError:
                self._error(line, name, _reason(spec, raw))
                problems += 1
                row[name] = None
                parts.append("")
                continue
            row[name] = value
            parts.append(canon)
        span = DATE_RANGES.get(self.kind)
        if span is not None and not problems:
            start, end = row[span[0]], row[span[1]]
            if end is not None and end < start:
                first, last = (self._labels[n] for n in span)
                self._error(line, span[1], f"{last}({span[1]})が{first}({span[0]})より前の日付です")
                problems += 1
        if problems:
            return None
        parts.append(_canon_extra(extra))
        row["extra"] = extra
        if self.kind == "access":
            row["event_id_derived"] = not row["event_id"]
            if not row["event_id"]:
                try:
                    row["event_id"] = derived_event_id(hashlib.sha256(_join_canonical(parts)).hexdigest())
                except UnicodeEncodeError:
                    self._error(line, None, "UTF-8で表せない文字が含まれています")
                    return None
                parts[1] = row["event_id"]
        row["line"] = line
        return self._finish(row, parts, line)


_line_of = attrgetter("line")
_sha256 = hashlib.sha256
_hexdigest = type(hashlib.sha256()).hexdigest
_ACCESS_ACTIONS = frozenset(ACCESS_ACTIONS)
_ACCESS_RESULTS_OR_EMPTY = frozenset(ACCESS_RESULTS) | {""}


def _reason(spec: FieldSpec, raw: str) -> str:
    shown = _shown(raw)
    if spec.type == "timestamp":
        return f"日時「{shown}」を読み取れません(例: 2025-04-01T09:15:02+09:00)"
    if spec.type == "date":
        return f"日付「{shown}」を読み取れません(YYYY-MM-DD 形式、例: 2025-04-01)"
    if spec.type == "int":
        return f"「{shown}」は整数(項番)として読み取れません"
    if spec.type == "enum":
        return f"「{shown}」は使用できない値です(使用できる値: {', '.join(spec.choices)})"
    if spec.type == "system":
        return f"システム「{shown}」はシステム台帳に登録されていません"
    return f"「{shown}」は使用できない値です"  # pragma: no cover


def parse_feed(
    kind: str,
    stream: BinaryIO,
    *,
    fmt: str | None = None,
    filename: str | None = None,
    known_systems: Collection[str] | None = None,
) -> ParseResult:
    """Parse a whole feed into memory. For large files use :class:`FeedParser` directly."""
    parser = FeedParser(kind, fmt=fmt, filename=filename, known_systems=known_systems)
    rows = list(parser.iter_rows(stream))
    return ParseResult(
        kind=kind,
        fmt=parser.fmt or "csv",
        rows=rows,
        errors=list(parser.errors),
        sha256=parser.sha256 or "",
        bytes_read=parser.bytes_read,
        rows_total=parser.rows_total,
        rows_valid=parser.rows_valid,
        rows_invalid=parser.rows_invalid,
        errors_total=parser.errors_total,
        extra_columns=list(parser.extra_columns),
    )


def parse_bytes(kind: str, data: bytes, **kw) -> ParseResult:
    """:func:`parse_feed` on bytes in memory (tests, small uploads)."""
    return parse_feed(kind, io.BytesIO(data), **kw)
