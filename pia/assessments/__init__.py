"""評価書: 事務 and their しきい値判断, assessments and their versions, the change table (変更箇所),
見直し (annual_review), action plans, the pre-submission checklist and the procedure's next step.

The ground the other parts of pia stand on; it imports none of them. What they add to the
assessment (panels, checks, the 台帳 pickers, the reviewer's name) they register through
:mod:`pia.procedure` and :mod:`pia.assessments.checklist`.
"""

from __future__ import annotations


def init_app(app) -> None:
    import pia.assessments.models  # noqa: F401  (register the tables)
    from common.demo import register_demo
    from common.notify import register_kind
    from common.views import register_panel
    from pia import procedure
    from pia.assessments import (
        api,  # noqa: F401  (adds the /api/v1/assessments routes)
        checklist,
        labels,
        notices,
        views,
    )
    from pia.assessments.cli import cli
    from pia.assessments.demo import load_demo
    from pia.assessments.render import document_view

    labels.register()
    app.register_blueprint(views.bp)
    app.cli.add_command(cli)
    procedure.register_gate(checklist.require_passing)  # submitting and publishing wait for the checklist
    register_panel(app, deadlines_panel)
    register_demo("pia-assessments", load_demo, order=10)
    for kind in notices.KINDS:
        register_kind(app, kind)
    app.jinja_env.globals.setdefault("pia_document_view", document_view)
    app.jinja_env.globals["pia_can_read_version"] = _can_read_version


def _can_read_version(version) -> bool:
    """For the panels other parts add to the assessment pages: may the signed-in user read it."""
    from flask_login import current_user

    from pia.assessments import services

    return bool(
        version is not None and current_user.is_authenticated and services.can_read_version(current_user, version)
    )


def deadlines_panel(user):
    """Dashboard: deadlines per 事務, しきい値判断 rises and open actions (staff who plan the work)."""
    if not user.has_role("officer", "editor", "auditor", "admin"):
        return None
    from common.timeutil import today_jst
    from pia.assessments import services

    today = today_jst()
    rows = services.deadlines(today, user=user)
    if not rows:
        return None
    return "pia/assessments/_panel_deadlines.html", {
        "rows": rows,
        "alerts": services.threshold_alerts(user),
        "open_actions": sum(r.open_actions for r in rows),
        "overdue_actions": sum(r.overdue_actions for r in rows),
    }
