"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from flask import current_app

from common.db import db, utcnow
from common.jpdate import DATE_HINT, format_date, format_datetime, format_month_day, format_wareki
from common.markdown import render_markdown, render_plain
from common.models import ROLES, Setting


def setting(key: str, default=None):
    row = db.session.get(Setting, key)
    return default if row is None else row.value


def body_name() -> str:
    return setting("body.name", current_app.config.get("HYOKA_BODY_NAME", "(団体名未設定)"))


def can_access(endpoint: str) -> bool:
    """True when the endpoint exists and the signed-in user holds one of its owner roles."""
    from flask_login import current_user

    view = current_app.view_functions.get(endpoint)
    if view is None:
        return False
    if getattr(view, "hyoka_public", False):
        return True
    return bool(current_user.is_authenticated and current_user.has_role(*getattr(view, "hyoka_roles", ())))


#: the main navigation: (label, endpoint); an entry shows only to users who may open it
NAVIGATION = [
    ("ダッシュボード", "common.dashboard"),
    ("評価書", "assessments.index"),
    ("第三者点検", "review.index"),
    ("システム台帳", "inventory.index"),
    ("意見募集", "consultation.index"),
    ("証跡", "evidence.dashboard"),
    ("監査ログ", "admin.audit_log"),
    ("管理", "admin.users"),
]


def init_app(app) -> None:
    app.jinja_env.filters.update(
        markdown=render_markdown,
        plaintext=render_plain,
        # dates and times for people (common.jpdate): 2026年12月3日, 2026年12月3日 17:04 (Japan
        # time), and 令和8年12月3日 where the body's documents write 和暦
        datetime=format_datetime,
        date=format_date,
        wareki=format_wareki,
        month_day=format_month_day,
    )
    app.jinja_env.globals.update(
        setting=setting,
        body_name=body_name,
        ROLE_LABELS=ROLES,
        can_access=can_access,
        NAVIGATION=NAVIGATION,
        now_utc=utcnow,
        DATE_HINT=DATE_HINT,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
