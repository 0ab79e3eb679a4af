"""Errors every part raises the same way."""

from __future__ import annotations


class InvalidTransition(Exception):
    """A move between states that the record's state or the procedure does not allow (a version
    submitted before its checklist passes, a consultation closed twice…). The message is Japanese
    and is shown to the user as it is."""
