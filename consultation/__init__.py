"""Consultations (住民等からの意見聴取): periods, intake by every channel, opinions and
replies, form letters, masking, and the result report (寄せられたご意見と市の考え方)."""

from __future__ import annotations


def init_app(app) -> None:
    import consultation.models  # noqa: F401  (register the tables)
    from common.demo import register_demo
    from common.notify import register_kind
    from common.schedule import register_job
    from common.views import register_panel
    from consultation import procedure as hooks
    from consultation import schedule
    from consultation.cli import cli
    from consultation.demo import load_demo
    from consultation.labels import register as register_labels
    from consultation.panel import panel
    from consultation.public_views import bp as public_bp
    from consultation.public_views import limit_post_size
    from consultation.services import consultation_for as consultation_for_version
    from consultation.views import bp
    from pia import procedure

    register_labels()
    app.register_blueprint(bp)
    app.register_blueprint(public_bp)
    # before CSRFProtect parses the form: public posts are refused early when too big
    app.before_request_funcs.setdefault(None, []).insert(0, limit_post_size)
    app.cli.add_command(cli)
    app.jinja_env.globals.update(consultation_for_version=consultation_for_version, period_text=period_text)
    register_panel(app, panel)
    register_demo("consultation", load_demo, order=30)
    procedure.register_check("consultation", hooks.check)
    procedure.register_section_vi("consultation", hooks.section_vi)
    procedure.register_panel("consultation/_assessment_panel.html")
    register_job(app, "consultation_periods", "意見募集の開始・締切", schedule.open_and_close, order=10)
    for kind in schedule.KINDS:
        register_kind(app, kind)


def period_text(consultation) -> str:
    """令和7年11月12日（水）～令和7年12月11日（木）"""
    from common.jpdate import wareki_range

    return wareki_range(consultation.start_date, consultation.end_date)
