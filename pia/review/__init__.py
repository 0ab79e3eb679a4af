"""第三者点検 (third-party review): the bodies that review, their sessions and findings, and
the text each review round was given.

"Review" means this and nothing else; the annual 見直し of an assessment is
``annual_review`` (:mod:`pia.assessments`). Depends on :mod:`pia.assessments`; adds the
review step to the procedure, its facts to section VI, and a panel to the assessment page.
"""

from __future__ import annotations


def init_app(app) -> None:
    import pia.review.models  # noqa: F401  (register the tables)
    from common.demo import register_demo
    from common.notify import register_kind
    from common.views import register_panel
    from pia import procedure
    from pia.review import demo, labels, notices, services, views

    labels.register()
    app.register_blueprint(views.bp)
    procedure.register_check("review", services.review_problem)
    procedure.register_on_enter("review", services.on_review_start)
    procedure.register_section_vi("review", services.section_vi)
    procedure.register_reviewer(services.reviewer_name)
    procedure.register_panel("pia/review/_assessment_panel.html")
    app.jinja_env.globals.update(views.template_helpers())
    register_demo("review", demo.load_demo, order=18)
    register_panel(app, views.dashboard_panel)
    for kind in notices.KINDS:
        register_kind(app, kind)
