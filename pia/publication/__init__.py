"""Publication: the assessment as a PDF in the official layout (staff preview, ``flask pia pdf``)
and the PDF/A stored, with its digest, when a version is published.

Depends on :mod:`pia.assessments` and :mod:`pia.inventory` (the 別添1 diagram).
"""

from __future__ import annotations


def init_app(app) -> None:
    import pia.publication.models  # noqa: F401  (register the tables)
    from pia import procedure
    from pia.publication import cli, pdf, views  # noqa: F401  (cli adds `flask pia pdf`)

    app.register_blueprint(views.bp)
    # after the inventory's snapshot hook, which the PDF shows
    procedure.register_on_publish(pdf.store_on_publish)
