"""Untrusted parts of a URL: ids in the path, numbers and text in the query string.

- :class:`IdConverter` replaces the ``int`` converter of the URL map: ``<int:…>`` matches only
  1 … 2**31-1 (what an integer column holds), so any other number is a plain 404 before a
  view or the database sees it.
- :func:`db_id` and :func:`page_number` are ``type=`` callables for ``request.args.get``: a
  value they refuse falls back to the default, as a non-number does.
- :func:`init_app` answers 400 to a request whose path or query string holds NUL or another
  control character (PostgreSQL refuses NUL in text; nothing here means one).
"""

from __future__ import annotations

import re

from flask import abort, request
from werkzeug.routing import IntegerConverter

#: the largest value of an INTEGER column (PostgreSQL; ids are kept to it on SQLite too)
DB_INT_MAX = 2**31 - 1
#: page numbers beyond this are refused (no list here has that many pages)
MAX_PAGE = 100_000
#: C0 controls and DEL (tab and line ends included: no query parameter carries them)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class IdConverter(IntegerConverter):
    """``<int:name>`` limited to the ids a database integer column can hold."""

    def __init__(self, map, fixed_digits=0, min=1, max=DB_INT_MAX, signed=False):  # noqa: A002 — werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _bounded(value: str, low: int, high: int) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(high)):
        raise ValueError(value)
    number = int(text)
    if not low <= number <= high:
        raise ValueError(value)
    return number


def db_id(value: str) -> int:
    """An id from the query string or a form (1 … 2**31-1); ValueError otherwise."""
    return _bounded(value, 1, DB_INT_MAX)


def page_number(value: str) -> int:
    """A page number (1 … :data:`MAX_PAGE`); ValueError otherwise."""
    return _bounded(value, 1, MAX_PAGE)


def has_control_characters(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def init_app(app) -> None:
    app.url_map.converters["int"] = IdConverter

    @app.before_request
    def _refuse_control_characters():
        if has_control_characters(request.path) or any(
            has_control_characters(key) or has_control_characters(value)
            for key, value in request.args.items(multi=True)
        ):
            abort(400)
