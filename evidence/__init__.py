"""Evidence: feeds from the business systems, a tamper-evident store, checks against the
assessments' declarations, triage, evidence reports and the dashboard.

``init_app(app)`` registers the tables, the views (``evidence.dashboard`` …), the feed
API (``POST /api/v1/feeds/<kind>``), the ``flask evidence`` commands, the dashboard panel,
the demo step, the evidence log's settings (:func:`evidence.transparency.init_config`), the
retention (:func:`evidence.retention.init_config`), and
what ``flask tick`` and ``flask doctor`` do for the evidence (:mod:`evidence.schedule`).
"""

from __future__ import annotations


def init_app(app) -> None:
    import evidence.api  # noqa: F401  (adds its route to the API blueprint)
    import evidence.case_views  # noqa: F401  (adds the case pages to the evidence blueprint)
    import evidence.disclosure_views  # noqa: F401  (adds the 本人開示 page to the evidence blueprint)
    import evidence.models  # noqa: F401  (register the tables)
    from common.demo import register_demo
    from common.doctor import register_check
    from common.notify import register_kind
    from common.schedule import register_job
    from common.views import register_panel
    from evidence import (
        cases,
        demo,
        disclosure,
        freshness,
        labels,
        retention,
        schedule,
        services,
        staff,
        transparency,
        views,
    )
    from evidence.cli import cli

    transparency.init_config(app)
    schedule.init_config(app)
    freshness.init_config(app)
    retention.init_config(app)
    labels.register(app)
    app.jinja_env.filters["staff"] = staff.staff_label
    app.jinja_env.globals["access_explanation"] = services.access_explanation
    cases.register_labels()
    disclosure.register_labels()
    app.register_blueprint(views.bp)
    app.cli.add_command(cli)
    register_panel(app, views.dashboard_panel)
    register_demo("evidence", demo.load_demo, order=40, evidence=True)
    register_job(app, "evidence_checkpoint", "証跡ログのチェックポイント", schedule.daily_checkpoint, order=20)
    register_job(app, "evidence_checks", "証跡の点検", schedule.daily_checks, order=30)
    for kind in schedule.KINDS:
        register_kind(app, kind)
    register_check(app, "evidence_log_key", "証跡ログの署名鍵", schedule.check_log_key, order=60)
    register_check(app, "evidence_feed_freshness", "証跡フィードの受信", freshness.doctor_check, order=61)
    register_check(app, "evidence_retention", "証跡の保存期間", retention.doctor_check, order=62)
