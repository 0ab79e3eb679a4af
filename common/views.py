"""The dashboard and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from common.auth import ALL_ROLES, public, requires
from common.db import db

bp = Blueprint("common", __name__)


def register_panel(app, func) -> None:
    """Add a dashboard panel: ``func(user) -> (template, context) | None``.

    Packages register their panels in their ``init_app``; a panel returns None when it has
    nothing for this user (for example, a role that does not see it).
    """
    app.extensions.setdefault("hyoka_panels", []).append(func)


@bp.get("/")
@requires(*ALL_ROLES)
def dashboard():
    """The signed-in user's dashboard."""
    panels = []
    for func in current_app.extensions.get("hyoka_panels", []):
        panel = func(current_user)
        if panel is not None:
            panels.append(panel)
    return render_template("dashboard.html", panels=panels)


@bp.get("/healthz")
@public
def healthz():
    """Liveness and database check for the reverse proxy and monitoring."""
    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}
