"""The last line of defence: no 個人番号 reaches the database through the ORM.

Domain code rejects or masks a 個人番号 where the user can be told (assessment items are
refused with a clear error, opinions are masked at intake, feeds reject the row). Anything
that still carries one when the session flushes — a free-text field nobody thought of, a
login name typed into the wrong box — is masked here, and a warning (without the number)
is logged.
"""
from __future__ import annotations

import logging

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from common.mynumber import find_my_numbers

MASK = "［個人番号］"
log = logging.getLogger("hyoka.mynumber")


def mask_my_numbers(text: str) -> str:
    for start, end in reversed(find_my_numbers(text)):
        text = text[:start] + MASK + text[end:]
    return text


def scrub(value):
    """``value`` with every 個人番号 masked (strings, and strings inside JSON structures)."""
    if isinstance(value, str):
        return mask_my_numbers(value) if find_my_numbers(value) else value
    if isinstance(value, list):
        cleaned = [scrub(v) for v in value]
        return cleaned if any(a is not b for a, b in zip(cleaned, value)) else value
    if isinstance(value, dict):
        cleaned = {k: scrub(v) for k, v in value.items()}
        return cleaned if any(cleaned[k] is not value[k] for k in value) else value
    return value


def _scrub_object(obj) -> None:
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key not in state.dict:
            continue
        value = state.dict[key]
        if not isinstance(value, (str, list, dict)):
            continue
        cleaned = scrub(value)
        if cleaned is not value:
            setattr(obj, key, cleaned)
            log.warning("個人番号と判定される値を伏せて保存しました: %s.%s", type(obj).__name__, key)


@event.listens_for(Session, "before_flush")
def _before_flush(session, flush_context, instances):
    for obj in list(session.new) + list(session.dirty):
        _scrub_object(obj)
