"""Staff as people read them: the id beside the name the assignments feed gives
(``u0095(札幌 太郎)``), the latest ``display_name`` stored for the id.

Below the models and :mod:`evidence.explain` (it reads ``evidence_assignments`` as a plain
table), so every place that shows a staff id can use it: the ``staff`` Jinja filter, the
explanations of findings, the spreadsheets. Filtering by user stays by id.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, has_app_context, has_request_context

from common.db import db

_ASSIGNMENTS = sa.table(
    "evidence_assignments",
    sa.column("id"),
    sa.column("user_id"),
    sa.column("start_date"),
    sa.column("display_name"),
)
_G_KEY = "hyoka_staff_names"


def _latest():
    a = _ASSIGNMENTS
    return (
        sa.select(a.c.user_id, a.c.display_name)
        .where(a.c.display_name.is_not(None), a.c.display_name != "")
        .order_by(a.c.start_date, a.c.id)
    )


def display_names() -> dict[str, str]:
    """user_id -> the name of its latest assignment that gives one (by start date, then as
    stored); read once per request."""
    if not has_app_context():
        return {}
    cached = g.get(_G_KEY) if has_request_context() else None
    if cached is None:
        cached = {row[0]: row[1] for row in db.session.execute(_latest())}
        if has_request_context():
            setattr(g, _G_KEY, cached)
    return cached


def display_name(user_id: str | None) -> str | None:
    """The latest name stored for ``user_id`` (None without one)."""
    if not user_id or not has_app_context():
        return None
    if has_request_context():
        return display_names().get(user_id)
    a = _ASSIGNMENTS
    q = _latest().where(a.c.user_id == user_id)
    rows = db.session.execute(q).all()
    return rows[-1][1] if rows else None


def staff_label(user_id: str | None) -> str:
    """``u0095(札幌 太郎)``, or the id alone when no name is known (``""`` for None)."""
    if not user_id:
        return ""
    name = display_name(user_id)
    return f"{user_id}({name})" if name else user_id
