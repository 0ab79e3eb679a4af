"""The last line of defence: no 個人番号 reaches the database through the ORM.

Domain code rejects or masks a 個人番号 where the user can be told (assessment items are
refused with a clear error, opinions are masked at intake, feeds reject the row). Anything
that still carries one when the session flushes — a free-text field nobody thought of, a
login name typed into the wrong box — is masked here, and a warning (without the number)
is logged.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from common.mynumber import find_my_numbers

MASK = "［個人番号］"
log = logging.getLogger("hyoka.mynumber")

#: columns that hold digests, password hashes, tokens' hashes and similar opaque values, which
#: are derived from other data and may contain any run of digits; never rewrite them
OPAQUE_COLUMN = re.compile(r"(^|_)(hash|sha256|digest|fingerprint|password_hash|token_hash)$")
#: values that are digests whatever the column is called (hex of 128+ bits, werkzeug hashes)
OPAQUE_VALUE = re.compile(r"^(?:[0-9a-f]{32,}|(?:pbkdf2|scrypt)(?::[^$]*)?\$[^$]*\$[0-9a-f]+)$")


def is_opaque(column) -> bool:
    """True for columns whose values must never be rewritten (``info={"opaque": True}`` or a digest name)."""
    return bool(column.info.get("opaque")) or bool(OPAQUE_COLUMN.search(column.key))


def mask_my_numbers(text: str) -> str:
    for start, end in reversed(find_my_numbers(text)):
        text = text[:start] + MASK + text[end:]
    return text


def scrub(value):
    """``value`` with every 個人番号 masked (strings, and strings inside JSON structures)."""
    if isinstance(value, str):
        if OPAQUE_VALUE.match(value):
            return value
        return mask_my_numbers(value) if find_my_numbers(value) else value
    if isinstance(value, list):
        cleaned = [scrub(v) for v in value]
        return cleaned if any(a is not b for a, b in zip(cleaned, value)) else value
    if isinstance(value, dict):
        cleaned = {k: scrub(v) for k, v in value.items()}
        return cleaned if any(cleaned[k] is not value[k] for k in value) else value
    return value


#: mapper -> keys of its column attributes that may hold text (not opaque), worked out once
_checked_keys: dict = {}


def _keys_to_check(mapper) -> tuple[str, ...]:
    keys = _checked_keys.get(mapper)
    if keys is None:
        keys = tuple(attr.key for attr in mapper.column_attrs if not any(is_opaque(col) for col in attr.columns))
        _checked_keys[mapper] = keys
    return keys


def _scrub_object(obj) -> None:
    state = inspect(obj)
    for key in _keys_to_check(state.mapper):
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
