"""Canonical JSON text and its SHA-256: the same document always gives the same bytes and digest.

Used for the texts Hyoka freezes and later compares (a consultation's draft, the text put to
第三者点検): keys sorted, no spaces, UTF-8 without escapes.
"""

from __future__ import annotations

import hashlib
import json


def canonical_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_digest(document) -> str:
    """SHA-256 of a document's canonical JSON (an empty document for None)."""
    return sha256_text(canonical_json(document or {}))
