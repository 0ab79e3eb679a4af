"""Where a ``next`` (return-to) parameter may send a browser: only to a path of this site.

Every redirect to a place named by the request goes through :func:`local_target`. A value is
accepted only when it is unmistakably a path on this site, as a browser would read it and as
any proxy that decodes it once or twice would; anything else falls back to a page of ours.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

from flask import request, url_for

#: longer values are refused (no page of ours has an address this long)
MAX_LENGTH = 2048
#: how many rounds of percent-decoding are looked through (%252F is %2F is /)
DECODE_ROUNDS = 3


def _decoded(text: str) -> str:
    for _ in range(DECODE_ROUNDS):
        plain = unquote(text, errors="replace")
        if plain == text:
            break
        text = plain
    return text


def _printable(text: str, *, spaces: bool) -> bool:
    """No control, format, line or paragraph separator characters; spaces only if ``spaces``."""
    for ch in text:
        if ch.isprintable() and ch != " ":
            continue
        if spaces and unicodedata.category(ch) == "Zs":
            continue
        return False
    return True


def is_local_path(value: str, *, script_root: str = "") -> bool:
    """True when ``value`` is a path of this site (under ``script_root``), with a query or
    fragment if any, and nothing a browser or a decoding proxy could read as another host.

    The path, as received and percent-decoded up to three times, must be printable ASCII
    without spaces, backslashes or an empty segment (``//``, ``/\\``, ``/%2F``, ``/%09/``), and
    start with a single slash; no scheme or host. The query and fragment may hold any
    printable text (Japanese, spaces: Flask-Login writes them so) but no control or format
    characters. Values longer than :data:`MAX_LENGTH` are refused.
    """
    if not value or len(value) > MAX_LENGTH or "\\" in value:
        return False
    if not value.startswith("/") or value.startswith("//"):
        return False
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return False
    for path in (parts.path, _decoded(parts.path)):
        if not (path.isascii() and _printable(path, spaces=False)) or "//" in path or "\\" in path:
            return False
    if not _decoded(parts.path).startswith(script_root + "/"):
        return False
    rest = parts.query + parts.fragment
    return _printable(rest, spaces=True) and _printable(_decoded(rest), spaces=True)


def local_target(value: str | None, default: str) -> str:
    """``value`` if it is a path of this site (:func:`is_local_path`), else ``url_for(default)``."""
    if value is not None and is_local_path(value, script_root=request.script_root):
        return value
    return url_for(default)


def next_target(default: str = "common.dashboard", param: str = "next") -> str:
    """Where to go after a form that takes a return-to parameter in its query string."""
    return local_target(request.args.get(param), default)
