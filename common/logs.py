"""Application logging that can never write a 個人番号.

A request line reaches the logs in the forms the servers write it: gunicorn's access log
has the path as WSGI text (percent-decoded, UTF-8 bytes read as Latin-1) and the raw
request target; werkzeug's development server writes the target half-decoded, with control
characters escaped as ``\\x09`` and ``+`` kept for a space in the query string. A
個人番号 hides in all of them behind ``%20``, ``%09``, ``%E2%80%90``, ``\\x0a`` or ``+``.
:func:`redact` therefore looks at the text as written *and* as decoded, and when the
decoded text holds one, writes the decoded text redacted (control characters escaped).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from common.mynumber import find_my_numbers

REDACTED = "[個人番号を伏せました]"

#: escapes that servers write for control characters: \x09, \u3000, \t
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\([ntr])")
_NAMED = {"n": "\n", "t": "\t", "r": "\r"}
#: a text with none of these reads the same decoded
_ENCODED = re.compile(r"[%+\\\x80-\xff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _mask(text: str) -> str:
    for start, end in reversed(find_my_numbers(text)):
        text = text[:start] + REDACTED + text[end:]
    return text


def _unescape(text: str) -> str:
    def one(match: re.Match) -> str:
        if match.group(1) or match.group(2):
            return chr(int(match.group(1) or match.group(2), 16))
        return _NAMED[match.group(3)]

    return _ESCAPE.sub(one, text)


def _from_wsgi(text: str) -> str:
    """WSGI text (UTF-8 bytes read as Latin-1) as the characters it stands for."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def decoded(text: str) -> str:
    """``text`` as a person reads the URL in it: escapes undone, percent-decoded (twice, for
    a doubly encoded target), ``+`` as a space, WSGI Latin-1 read as UTF-8."""
    out = _from_wsgi(_unescape(text))
    for _ in range(3):
        step = _from_wsgi(unquote(out.replace("+", " "), errors="replace"))
        if step == out:
            break
        out = step
    return out


def _escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def redact(text: str) -> str:
    """``text`` with every 個人番号 replaced, also one written percent-encoded or escaped."""
    text = _mask(text)
    if not _ENCODED.search(text):
        return text
    plain = decoded(text)
    if plain != text and find_my_numbers(plain):
        return _escape_controls(_mask(plain))
    return text


class MyNumberFilter(logging.Filter):
    """Rewrites any record whose rendered message contains a valid 個人番号."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is still logged, as its raw msg
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            cleaned = redact(text)
            if cleaned != text:
                record.exc_info, record.exc_text = None, cleaned
        return True


#: loggers whose records are filtered where they are made (a filter on a logger does not see
#: the records its children propagate to it: the handlers are filtered too)
LOGGERS = ("", "werkzeug", "gunicorn.error", "gunicorn.access", "hyoka", "sqlalchemy", "alembic")


def install(logger_names=LOGGERS, extra_loggers=()) -> None:
    """Put the filter on the named loggers and on every handler they have now."""
    flt = _FILTER
    for logger in [*(logging.getLogger(name) for name in logger_names), *extra_loggers]:
        if not any(isinstance(f, MyNumberFilter) for f in logger.filters):
            logger.addFilter(flt)
        for handler in logger.handlers:
            if not any(isinstance(f, MyNumberFilter) for f in handler.filters):
                handler.addFilter(flt)


_FILTER = MyNumberFilter()


def _redacting_factory(previous):
    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        _FILTER.filter(record)
        return record

    factory.hyoka_redacts = True
    return factory


def install_record_factory() -> None:
    """Redact every log record of this process when it is made, whichever logger makes it
    and whichever handler writes it (also one added later, such as a test's)."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "hyoka_redacts", False):
        logging.setLogRecordFactory(_redacting_factory(current))


def init_app(app) -> None:
    install_record_factory()
    install(extra_loggers=(app.logger,))


try:  # gunicorn is a production dependency; the development server runs without it
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = None


if _GunicornLogger is not None:

    class GunicornLogger(_GunicornLogger):
        """gunicorn's logger with every atom of the access log redacted (the path, the raw
        request line, the query string, headers such as the Referer) and the filter on the
        error log (``logger_class`` in gunicorn.conf.py)."""

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}

        def setup(self, cfg):
            super().setup(cfg)
            install_record_factory()
            install(("gunicorn.error", "gunicorn.access"), extra_loggers=(self.error_log, self.access_log))
