"""Reading opinions sent by e-mail: single .eml files and mbox exports of a mailbox.

Pure: bytes in, :class:`ParsedMail` out. Parsing uses the standard :mod:`email` package
with ``policy.default``, which decodes RFC 2047 headers, RFC 2231 file names, base64 and
quoted-printable. Japanese bodies get more help than the codecs give: ISO-2022-JP mail
from Windows often carries NEC/IBM characters (①, 髙) that Python's ``iso2022_jp`` codec
refuses, so they are decoded as Microsoft's CP50221 does; Shift_JIS is read as CP932.

The same message imported twice — as an .eml file and again inside an mbox — gets the
same :attr:`ParsedMail.fingerprint`, so the intake can refuse the second copy.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import mimetypes
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser

from common.uploads import safe_filename


class MailParseError(ValueError):
    """A message that cannot be read; ``message`` is shown to the user.

    ``index`` is the 0-based position of the message in an mbox, or None for an .eml.
    """

    def __init__(self, message: str, *, index: int | None = None):
        self.message = message
        self.index = index
        super().__init__(message if index is None else f"{index + 1}通目のメール：{message}")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str | None
    sender_name: str
    sender_address: str
    date: datetime | None  #: aware; a date written with -0000 is taken as UTC
    subject: str
    body: str  #: plain text with "\n" line ends; HTML-only mail converted to text
    attachments: list[Attachment]
    fingerprint: str  #: the Message-ID, or "sha256:" + hex over sender, date, subject and body


_PARSER = BytesParser(policy=policy.default)
#: Bounds on a message's MIME structure. Real mail nests a few levels (mixed > related >
#: alternative, a forwarded message inside); a message beyond these is refused with an
#: error instead of exhausting the parser (3,000 nested multiparts made it recurse too deep).
MAX_DEPTH = 20
MAX_PARTS = 500
#: multipart containers a message may declare, counted in the raw bytes before parsing (the
#: standard parser's time grows with the square of the nested boundaries)
MAX_MULTIPARTS = 100
_MULTIPART_TYPE = re.compile(rb"multipart/", re.IGNORECASE)
MSG_TOO_COMPLEX = f"メールの構造が複雑すぎるため読み取れません（入れ子は{MAX_DEPTH}段、パートは{MAX_PARTS}個まで）。"
#: Headers of which at least one must be present for the bytes to count as a message.
_MESSAGE_HEADERS = ("from", "to", "subject", "date", "message-id", "mime-version", "content-type", "received")


def parse_eml(data: bytes) -> ParsedMail:
    """Parse one message; raise :class:`MailParseError` when it cannot be used."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_eml takes bytes")
    data = bytes(data)
    if not data.strip():
        raise MailParseError("ファイルが空です。")
    if len(_MULTIPART_TYPE.findall(data, 0, len(data))) > MAX_MULTIPARTS:
        raise MailParseError(MSG_TOO_COMPLEX)
    try:
        msg = _PARSER.parsebytes(data)
        if not any(name.lower() in _MESSAGE_HEADERS for name in msg.keys()):
            raise MailParseError("メールの形式ではありません（ヘッダーがありません）。")
        _check_structure(msg)
        message_id = _message_id(msg)
        sender_name, sender_address = _sender(msg)
        date = _date(msg)
        subject = _header_text(msg, "Subject")
        body, attachments = _body_and_attachments(msg)
    except RecursionError:
        raise MailParseError(MSG_TOO_COMPLEX) from None
    if not body.strip() and not attachments:
        raise MailParseError("本文も添付ファイルもないメールです。")
    fingerprint = message_id or "sha256:" + _content_digest(sender_address, date, subject, body)
    return ParsedMail(message_id, sender_name, sender_address, date, subject, body, attachments, fingerprint)


def parse_mbox(source: str | os.PathLike | bytes) -> list[ParsedMail | MailParseError]:
    """Every message of an mbox, in order; a message that cannot be read is returned as
    a :class:`MailParseError` carrying its position, so it does not hide the others.

    Raises :class:`MailParseError` when the whole file is not an mbox.
    """
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else _read(source)
    results: list[ParsedMail | MailParseError] = []
    for index, chunk in enumerate(_split_mbox(data)):
        try:
            results.append(parse_eml(chunk))
        except MailParseError as error:
            results.append(MailParseError(error.message, index=index))
    return results


def _read(path: str | os.PathLike) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# --- mbox -----------------------------------------------------------------------------

#: The "From " line that starts a message: "From sender Wed Nov 12 10:00:00 2025".
_FROM_LINE = re.compile(rb"From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +[A-Z][a-z]{2} +\d{1,2} ")
_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)


def _split_mbox(data: bytes) -> Iterator[bytes]:
    """Messages of an mbox (mboxo or mboxrd), without their "From " lines.

    A line starting with "From " separates messages when it follows a blank line or
    looks like a real "From " line; ">From " escapes in bodies are undone (mboxrd).
    """
    data = data.lstrip(b"\r\n")
    if not data.startswith(b"From "):
        raise MailParseError("mbox形式のファイルではありません（先頭が「From 」で始まっていません）。")
    current: list[bytes] | None = None
    previous_blank = True
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From ") and (previous_blank or _FROM_LINE.match(line)):
            if current is not None:
                yield _finish_mbox_message(current)
            current = []
        else:
            current.append(line)
        previous_blank = line in (b"\n", b"\r\n", b"\r")
    if current is not None:
        yield _finish_mbox_message(current)


def _finish_mbox_message(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in (b"\n", b"\r\n", b"\r"):
        lines = lines[:-1]  # the blank line written before the next "From " line
    return _ESCAPED_FROM.sub(rb"\1", b"".join(lines))


# --- headers --------------------------------------------------------------------------


def _header_text(msg: EmailMessage, name: str) -> str:
    try:
        value = msg[name]
    except Exception:  # the header parser raises assorted errors on hostile input
        value = None
    text = "" if value is None else str(value)
    if value is None or "\ufffd" in text:
        # Raw 8-bit headers (no RFC 2047): the parsed value has lost the bytes, the raw
        # value still has them as surrogates.
        raw = _raw_header(msg, name)
        if raw is not None and _SURROGATE.search(raw):
            text = raw
    return re.sub(r"\s+", " ", clean_text(text)).strip()


def _raw_header(msg: EmailMessage, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return value if isinstance(value, str) else None
    return None


def _message_id(msg: EmailMessage) -> str | None:
    value = re.sub(r"\s+", "", _header_text(msg, "Message-ID"))
    return value or None


def _sender(msg: EmailMessage) -> tuple[str, str]:
    try:
        header = msg["From"]
        addresses = header.addresses if header is not None else ()
    except Exception:  # see _header_text
        addresses = ()
    if addresses and "\ufffd" not in (addresses[0].display_name or ""):
        first = addresses[0]
        return clean_text(first.display_name or "").strip(), clean_text(first.addr_spec or "").strip("<> ")
    name, address = parseaddr(_header_text(msg, "From"))
    return name.strip(), address.strip("<> ")


def _date(msg: EmailMessage) -> datetime | None:
    try:
        header = msg["Date"]
        moment = header.datetime if header is not None else None
    except Exception:  # see _header_text
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:  # "-0000": UTC, local zone unknown (RFC 5322 3.3)
        moment = moment.replace(tzinfo=UTC)
    return moment


# --- body and attachments -------------------------------------------------------------


def _check_structure(msg: EmailMessage) -> None:
    """Refuse a message nested deeper than :data:`MAX_DEPTH` or with more than
    :data:`MAX_PARTS` parts (walked without recursion; attached messages count too)."""
    stack = [(msg, 0)]
    parts = 0
    while stack:
        part, depth = stack.pop()
        parts += 1
        if depth > MAX_DEPTH or parts > MAX_PARTS:
            raise MailParseError(MSG_TOO_COMPLEX)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((sub, depth + 1) for sub in payload if isinstance(sub, EmailMessage))


def _leaves(part: EmailMessage, in_alternative: bool = False) -> Iterator[tuple[EmailMessage, bool]]:
    """Leaf parts in order; an attached message (message/rfc822) is a leaf."""
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        inner = in_alternative or part.get_content_subtype() == "alternative"
        for sub in part.iter_parts():
            yield from _leaves(sub, inner)
    else:
        yield part, in_alternative


def _body_and_attachments(msg: EmailMessage) -> tuple[str, list[Attachment]]:
    body_part = msg.get_body(preferencelist=("plain", "html"))
    texts: list[str] = []
    attachments: list[Attachment] = []
    for part, in_alternative in _leaves(msg):
        is_text = part.get_content_maintype() == "text"
        named = part.get_filename() is not None or part.get_content_disposition() == "attachment"
        if part is body_part:
            texts.insert(0, _part_text(part))
        elif is_text and not named:
            if not in_alternative:  # Apple Mail splits the text around inline images
                texts.append(_part_text(part))
        else:
            attachments.append(_attachment(part, len(attachments) + 1))
    body = "\n\n".join(text for text in texts if text.strip())
    return clean_text(_normalise_newlines(body)), attachments


def _part_text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True) or b""
    text = _decode_text(payload, part.get_content_charset())
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text


def _attachment(part: EmailMessage, number: int) -> Attachment:
    content_type = part.get_content_type()
    if content_type == "message/rfc822" or part.get_content_maintype() == "message":
        inner = part.get_payload()
        data = inner[0].as_bytes() if isinstance(inner, list) and inner else (part.get_payload(decode=True) or b"")
    else:
        data = part.get_payload(decode=True) or b""
    try:
        filename = part.get_filename()
    except Exception:  # see _header_text
        filename = None
    if not filename:
        extension = ".eml" if content_type == "message/rfc822" else mimetypes.guess_extension(content_type) or ".bin"
        filename = f"添付ファイル{number}{extension}"
    return Attachment(safe_filename(filename), content_type, data)


# --- character sets -------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Text safe to store: raw 8-bit bytes that the parser kept as surrogates (headers
    written without RFC 2047) decoded as UTF-8, CP932 or EUC-JP; control characters
    other than tab and line ends removed (PostgreSQL refuses NUL in text)."""
    if _SURROGATE.search(text):
        try:
            text = _decode_raw(text.encode("utf-8", errors="surrogateescape"))
        except UnicodeEncodeError:  # surrogates that do not stand for bytes
            text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub("", text)


def _decode_raw(raw: bytes) -> str:
    for codec in ("utf-8", "cp932", "euc_jp"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


_JAPANESE_FALLBACKS = {
    "iso2022_jp": ("iso2022_jp", "cp50221", "iso2022_jp_2004", "iso2022_jp_ext"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "cp932": ("cp932", "shift_jis_2004"),
    "euc_jp": ("euc_jp", "euc_jis_2004"),
}
_UNDECLARED_FALLBACKS = ("utf-8", "cp50221", "cp932", "euc_jp")


def _codec_name(charset: str | None) -> str | None:
    if not charset:
        return None
    if charset.lower() in ("windows-31j", "x-sjis", "ms_kanji", "csshiftjis", "sjis", "shift-jis"):
        return "cp932"
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def _decode_text(payload: bytes, charset: str | None) -> str:
    codec = _codec_name(charset)
    if codec in (None, "ascii"):
        candidates: tuple[str, ...] = ("ascii",) + _UNDECLARED_FALLBACKS
    else:
        candidates = _JAPANESE_FALLBACKS.get(codec, (codec,))
    for candidate in candidates:
        try:
            if candidate == "cp50221":
                return _decode_cp50221(payload)
            return payload.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    raise MailParseError(f"本文の文字コード（{charset or '指定なし'}）を解釈できません。")


_ISO2022_ESCAPE = re.compile(rb"(\x1b\$[@B]|\x1b\([BJI])")


def _decode_cp50221(data: bytes) -> str:
    """ISO-2022-JP with the NEC and IBM extensions, as Windows writes it (CP50221)."""
    out: list[str] = []
    mode = b"\x1b(B"
    for piece in _ISO2022_ESCAPE.split(data):
        if _ISO2022_ESCAPE.fullmatch(piece):
            mode = piece
            continue
        if not piece:
            continue
        if mode in (b"\x1b$B", b"\x1b$@"):
            if len(piece) % 2 or any(not 0x21 <= b <= 0x7E for b in piece):
                raise UnicodeDecodeError("cp50221", data, 0, len(data), "bad double-byte sequence")
            sjis = bytearray()
            for j1, j2 in zip(piece[::2], piece[1::2]):
                s1 = (j1 - 0x21) // 2 + 0x81
                if s1 > 0x9F:
                    s1 += 0x40
                if j1 % 2:
                    s2 = j2 + 0x1F + (1 if j2 >= 0x60 else 0)
                else:
                    s2 = j2 + 0x7E
                sjis += bytes((s1, s2))
            out.append(sjis.decode("cp932"))
        elif mode == b"\x1b(I":
            if any(not 0x21 <= b <= 0x5F for b in piece):
                raise UnicodeDecodeError("cp50221", data, 0, len(data), "bad half-width katakana")
            out.append(bytes(b + 0x80 for b in piece).decode("cp932"))
        else:
            out.append(piece.decode("ascii"))
    return "".join(out)


# --- HTML to text ---------------------------------------------------------------------

_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "hr",
    "section",
    "article",
}
_SKIPPED_TAGS = {"script", "style", "head", "title", "template"}


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag):
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text from an HTML body: block elements become line breaks."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [line.strip(" ") for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# --- fingerprint ----------------------------------------------------------------------


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _content_digest(sender_address: str, date: datetime | None, subject: str, body: str) -> str:
    lines = [line.rstrip() for line in _normalise_newlines(body).split("\n")]
    # A body line "From …" is stored as ">From …" in an mbox; compare them as equal.
    lines = [re.sub(r"^>+(?=From )", "", line) for line in lines]
    canonical = [
        sender_address.lower(),
        date.astimezone(UTC).isoformat() if date else "",
        subject,
        "\n".join(lines).strip("\n"),
    ]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode("utf-8")).hexdigest()
