"""Evidence: feeds from the business systems, a tamper-evident store, checks against the
assessments' declarations, triage, evidence reports and the dashboard.

``init_app(app)`` registers the tables, the views (``evidence.dashboard`` …), the feed
API (``POST /api/v1/feeds/<kind>``), the ``flask evidence`` commands, the dashboard panel,
the demo step and the evidence log's settings (:func:`evidence.transparency.init_config`).
"""

from __future__ import annotations


def init_app(app) -> None:
    import evidence.api  # noqa: F401  (adds its route to the API blueprint)
    import evidence.models  # noqa: F401  (register the tables)
    from common.demo import register_demo
    from common.views import register_panel
    from evidence import demo, transparency, views
    from evidence.cli import cli

    transparency.init_config(app)
    app.register_blueprint(views.bp)
    app.cli.add_command(cli)
    register_panel(app, views.dashboard_panel)
    register_demo("evidence", demo.load_demo, order=40, evidence=True)
