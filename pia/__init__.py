"""Assessments (評価書), しきい値判断, the system inventory and the third-party review."""
from __future__ import annotations

import importlib

#: modules that add routes to ``pia.blueprint.bp``
VIEW_MODULES = ("pia.views", "pia.inventory_views", "pia.review_views")


def init_app(app) -> None:
    import pia.models  # noqa: F401  (register the tables)
    from pia.blueprint import bp

    for name in VIEW_MODULES:
        importlib.import_module(name)
    app.register_blueprint(bp)
    for name in ("pia.setup", "pia.inventory_setup"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.init_app(app)
    _pdfs(app)


def _pdfs(app) -> None:
    """The staff PDF route, ``flask pia pdf`` and the PDF/A stored on publishing (after the
    inventory's snapshot hook, which the PDF shows)."""
    from pia import pdf, pdf_cli, procedure  # noqa: F401  (pdf_cli adds `flask pia pdf`)
    from pia.pdf_views import bp as pdf_bp

    app.register_blueprint(pdf_bp)
    procedure.register_on_publish(pdf.store_on_publish)
