"""Assessments (評価書), しきい値判断, the system inventory and the third-party review."""

from __future__ import annotations


def init_app(app) -> None:
    import pia.models  # noqa: F401  (register the tables)
    from pia import inventory_setup, inventory_views, review_views, setup, views  # noqa: F401  (they add their routes to pia.blueprint.bp)
    from pia.blueprint import bp

    app.register_blueprint(bp)
    setup.init_app(app)
    inventory_setup.init_app(app)
    _pdfs(app)


def _pdfs(app) -> None:
    """The staff PDF route, ``flask pia pdf`` and the PDF/A stored on publishing (after the
    inventory's snapshot hook, which the PDF shows)."""
    from pia import pdf, pdf_cli, procedure  # noqa: F401  (pdf_cli adds `flask pia pdf`)
    from pia.pdf_views import bp as pdf_bp

    app.register_blueprint(pdf_bp)
    procedure.register_on_publish(pdf.store_on_publish)
