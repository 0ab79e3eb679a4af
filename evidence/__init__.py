"""Evidence: feeds from the business systems, a tamper-evident store, checks against the
assessments' declarations, triage, evidence reports and the dashboard.

``init_app(app)`` registers the tables, the views (``evidence.dashboard`` …), the feed
API (``POST /api/v1/feeds/<kind>``), the ``flask evidence`` commands, the dashboard panel
and the demo step.
"""

from __future__ import annotations


def init_app(app) -> None:
    import evidence.api  # noqa: F401  (adds its route to the API blueprint)
    import evidence.models  # noqa: F401  (register the tables)
    from common.demo import register_demo
    from common.views import register_panel
    from evidence import demo, views
    from evidence.cli import cli

    app.register_blueprint(views.bp)
    app.cli.add_command(cli)
    register_panel(app, views.dashboard_panel)
    register_demo("evidence", demo.load_demo, order=40, evidence=True)
