"""Checking uploaded files by their content, and naming them safely.

An upload is accepted only when its content (the magic bytes) is of an allowed type and
agrees with its extension; what the browser says in Content-Type is not trusted. Files
are best stored under their SHA-256 and the safe name kept only for display and
download; :func:`safe_filename` still guarantees a name that cannot leave a directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass

from common.mynumber import contains_my_number

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
TIFF = "image/tiff"
EML = "message/rfc822"
MBOX = "application/mbox"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)

#: The type each extension stands for. Types without magic bytes (e-mail) are accepted
#: on their extension alone, as long as the content is not a recognisable other type.
EXTENSIONS: dict[str, str] = {
    ".pdf": PDF,
    ".png": PNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".jpe": JPEG,
    ".gif": GIF,
    ".tif": TIFF,
    ".tiff": TIFF,
    ".eml": EML,
    ".mbox": MBOX,
}
SNIFFABLE = frozenset(mime for _, mime in _SIGNATURES)

#: Names of the types in messages to the user.
TYPE_NAMES = {
    PDF: "PDF",
    PNG: "PNG画像",
    JPEG: "JPEG画像",
    GIF: "GIF画像",
    TIFF: "TIFF画像",
    EML: "メール（.eml）",
    MBOX: "メールボックス（.mbox）",
}

#: Longest stored name, in UTF-8 bytes (file systems allow 255; leave room for suffixes).
MAX_NAME_BYTES = 180
_WINDOWS_RESERVED = re.compile(r"^(?:CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(?:\..*)?$", re.IGNORECASE)
_FORBIDDEN = re.compile(r'[<>:"|?*\\/]')


MY_NUMBER_IN_NAME = "ファイル名に個人番号と判定される番号が含まれています。ファイル名を変えてから選んでください。"


class UploadRejected(ValueError):
    """The upload is refused; ``message`` is shown to the user as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    safe_name: str
    content_type: str
    size: int
    sha256: str


def sniff(data: bytes) -> str | None:
    """The MIME type told by the magic bytes, or None when unknown."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    return None


def safe_filename(name: str, *, default: str = "file") -> str:
    """A file name safe to store and to offer for download, keeping Japanese characters.

    Only the last path component is kept; control and format characters (including
    bidirectional overrides), characters forbidden on Windows, ``..`` and leading or
    trailing dots and spaces are removed; Windows device names get a leading ``_``; the
    length is capped at :data:`MAX_NAME_BYTES` UTF-8 bytes, keeping the extension.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _FORBIDDEN.sub("_", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = name.strip(" .\u3000")
    if not name:
        return default
    if _WINDOWS_RESERVED.match(name):
        name = "_" + name
    stem, ext = os.path.splitext(name)
    if len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    budget = MAX_NAME_BYTES - len(ext.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .\u3000")
    return (stem or default) + ext


def _size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f}MB".replace(".0MB", "MB")
    if n >= 1024:
        return f"{n // 1024}KB"
    return f"{n}バイト"


def _type_list(types: set[str]) -> str:
    return "、".join(sorted(TYPE_NAMES.get(t, t) for t in types))


def check_upload(filename: str, data: bytes, *, allowed: set[str], max_bytes: int) -> CheckedUpload:
    """Check an upload by size and content; raise :class:`UploadRejected` when refused."""
    size = len(data)
    if size == 0:
        raise UploadRejected("ファイルが空です。内容のあるファイルを選んでください。")
    if size > max_bytes:
        raise UploadRejected(
            f"ファイルが大きすぎます（{_size_text(size)}）。{_size_text(max_bytes)}以下のファイルを選んでください。"
        )
    safe_name = safe_filename(filename)
    if contains_my_number(filename or "") or contains_my_number(safe_name):
        raise UploadRejected(MY_NUMBER_IN_NAME)
    claimed = EXTENSIONS.get(os.path.splitext(safe_name)[1].lower())
    sniffed = sniff(data)
    content_type = sniffed or (claimed if claimed not in SNIFFABLE else None)
    if content_type is None:
        if claimed in SNIFFABLE:
            raise UploadRejected(
                f"ファイルの内容が{TYPE_NAMES[claimed]}ではありません。ファイルが壊れていないか確認してください。"
            )
        raise UploadRejected(f"ファイルの形式を確認できません。受け付ける形式は {_type_list(allowed)} です。")
    if content_type not in allowed:
        raise UploadRejected(
            f"{TYPE_NAMES.get(content_type, content_type)}は受け付けていません。受け付ける形式は {_type_list(allowed)} です。"
        )
    if claimed != content_type:
        raise UploadRejected("ファイルの拡張子と内容が一致しません。正しい拡張子のファイルを選んでください。")
    return CheckedUpload(safe_name, content_type, size, hashlib.sha256(data).hexdigest())


# --- 個人番号 in what a file says ---------------------------------------------------------

#: seconds pdftotext may take over one file
PDF_TEXT_TIMEOUT = 30
log = logging.getLogger("hyoka.uploads")


def file_text(data: bytes, content_type: str) -> str | None:
    """The text a file carries, to be scanned for 個人番号: a PDF's text layer (``pdftotext``
    from poppler-utils), text and HTML as text; ``""`` for images (no text layer); None
    when the text could not be read (no pdftotext, a broken or encrypted PDF, a timeout)."""
    if content_type == PDF:
        tool = shutil.which("pdftotext")
        if tool is None:
            log.warning("pdftotext (poppler-utils) is not installed: PDF text cannot be checked")
            return None
        try:
            done = subprocess.run(
                [tool, "-q", "-enc", "UTF-8", "-", "-"],
                input=data,
                capture_output=True,
                timeout=PDF_TEXT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        return done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else None
    if content_type.startswith("text/") or content_type in ("message/rfc822", "application/mbox"):
        for codec in ("utf-8", "cp932", "euc_jp"):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                continue
        return data.decode("utf-8", errors="replace")
    return ""


def holds_my_number(data: bytes, content_type: str) -> bool | None:
    """True when the file's text holds a 個人番号, None when its text could not be read."""
    text = file_text(data, content_type)
    if text is None:
        return None
    if content_type == "text/html":
        from html import unescape

        text = unescape(re.sub(r"<[^>]*>", "\t", text))
    return contains_my_number(text)
