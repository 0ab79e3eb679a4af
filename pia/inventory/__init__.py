"""The システム台帳 (system inventory): the systems and 特定個人情報ファイル the assessments
describe, their connections, and what each published version said about them.

Depends on :mod:`pia.assessments` (an entry belongs to a 事務; drift is measured against the
published versions). It adds to the assessment: a panel on the assessment and version pages,
the 台帳 check of the pre-submission checklist, the record pickers of section editing, and
the snapshot taken when a version is published.
"""

from __future__ import annotations


def init_app(app) -> None:
    import pia.inventory.models  # noqa: F401  (register the tables)
    from common.demo import register_demo
    from common.views import register_panel
    from pia import procedure
    from pia.assessments import checklist
    from pia.inventory import checks, cli, demo, labels, services, views

    labels.register()
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.inventory_cli)
    procedure.register_on_publish(services.snapshot_version)
    procedure.register_ledger(services)
    procedure.register_panel("pia/inventory/_assessment_panel.html")
    checklist.register(checks.ledger, before=checklist.procedure_steps)
    app.jinja_env.globals.update(views.template_helpers())
    register_demo("inventory", demo.load_demo, order=15)
    register_panel(app, views.dashboard_panel)
