"""Application logging that can never write a 個人番号."""
from __future__ import annotations

import logging

from common.mynumber import find_my_numbers

REDACTED = "[個人番号を伏せました]"


def redact(text: str) -> str:
    spans = find_my_numbers(text)
    for start, end in reversed(spans):
        text = text[:start] + REDACTED + text[end:]
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
            if find_my_numbers(text):
                record.exc_info, record.exc_text = None, redact(text)
        return True


def init_app(app) -> None:
    flt = MyNumberFilter()
    for logger in (logging.getLogger(), app.logger, logging.getLogger("werkzeug"), logging.getLogger("gunicorn.error")):
        if not any(isinstance(f, MyNumberFilter) for f in logger.filters):
            logger.addFilter(flt)
    for handler in logging.getLogger().handlers + app.logger.handlers:
        if not any(isinstance(f, MyNumberFilter) for f in handler.filters):
            handler.addFilter(flt)
