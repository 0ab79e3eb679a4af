"""Helpers of the evidence tests (their fixtures juki and feed live in tests/conftest.py)."""

from __future__ import annotations

ACCESS_HEADER = "event_id,occurred_at,system,user_id,action,subject_id,terminal,result,purpose\n"


def access_csv(*rows: str) -> str:
    return ACCESS_HEADER + "".join(r + "\n" for r in rows)
