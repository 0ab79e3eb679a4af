"""Evidence pages: dashboard, findings and triage, batches, check settings, reports."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import DataRequired

from common.auth import requires
from common.db import db
from evidence import services
from evidence.checks import CHECKS, settings_for
from evidence.models import DECISIONS, SEVERITIES, FeedBatch, Finding
from evidence.svg import stacked_bars

bp = Blueprint("evidence", __name__, url_prefix="/evidence")

PAGE_SIZE = 50
STATES = {"open": "未対応(未判断・要調査・不正の疑い)", "undecided": "未判断", "closed": "対応済み",
          **DECISIONS}


class DecisionForm(FlaskForm):
    decision = RadioField("判断", choices=list(DECISIONS.items()),
                          validators=[DataRequired("判断を選んでください。")])
    reason = TextAreaField("理由", validators=[DataRequired("判断の理由を記入してください。")],
                           render_kw={"rows": 4})


def _date_arg(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@bp.get("/")
@requires("auditor", "officer")
def dashboard():
    """Feeds (last batch per system, gaps), open findings by check, the trend."""
    status = services.feed_status()
    counts = services.open_counts()
    buckets = services.trend()
    chart = stacked_bars([(f"{start.month}/{start.day}", values) for start, values in buckets],
                         list(CHECKS), {k: c.title for k, c in CHECKS.items()})
    return render_template("evidence/dashboard.html", status=status, counts=counts, checks=CHECKS,
                           chart=chart, series=list(CHECKS))


@bp.get("/findings")
@requires("auditor", "officer")
def findings():
    """Findings, filtered by check, system, user, date and triage state."""
    flt = services.FindingFilter(
        check=request.args.get("check") or None, system=request.args.get("system") or None,
        user_id=request.args.get("user") or None, start=_date_arg("from"), end=_date_arg("to"),
        state=request.args.get("state") or None)
    page = max(request.args.get("page", 1, type=int), 1)
    query = flt.apply(sa.select(Finding))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.order_by(Finding.day.desc(), Finding.id.desc())
                              .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).scalars().all()
    return render_template("evidence/findings.html", rows=rows, total=total, page=page,
                           page_size=PAGE_SIZE, checks=CHECKS, states=STATES, flt=flt,
                           severities=SEVERITIES)


@bp.get("/findings/<int:finding_id>")
@requires("auditor", "officer")
def finding(finding_id):
    """One finding with its context and its triage history."""
    item = db.get_or_404(Finding, finding_id)
    return _finding_page(item, DecisionForm())


def _finding_page(item, form, status=200):
    ctx = services.finding_context(item)
    return render_template("evidence/finding.html", f=item, ctx=ctx, form=form,
                           check=CHECKS[item.check], severities=SEVERITIES), status


@bp.post("/findings/<int:finding_id>/decisions")
@requires("auditor", "officer")
def decide(finding_id):
    """Record a triage decision with its reason."""
    item = db.get_or_404(Finding, finding_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _finding_page(item, form, 400)
    try:
        services.decide(item, form.decision.data, form.reason.data, current_user)
    except services.TriageError as exc:
        form.reason.errors = list(form.reason.errors) + [str(exc)]
        return _finding_page(item, form, 400)
    db.session.commit()
    flash(f"判断「{DECISIONS[form.decision.data]}」を記録しました。", "success")
    return redirect(url_for(".finding", finding_id=item.id))


@bp.get("/batches")
@requires("auditor", "officer")
def batches():
    """Stored batches with their hashes (the chain)."""
    page = max(request.args.get("page", 1, type=int), 1)
    total = db.session.execute(sa.select(sa.func.count()).select_from(FeedBatch)).scalar_one()
    rows = db.session.execute(sa.select(FeedBatch).order_by(FeedBatch.id.desc())
                              .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).scalars().all()
    return render_template("evidence/batches.html", rows=rows, total=total, page=page,
                           page_size=PAGE_SIZE)


@bp.get("/checks")
@requires("auditor", "officer")
def check_settings():
    """The checks, their parameters and the assessment items they give evidence for."""
    rows = [(check, settings_for(name)) for name, check in CHECKS.items()]
    return render_template("evidence/checks.html", rows=rows, severities=SEVERITIES)


@bp.get("/reports")
@requires("auditor", "officer")
def reports():
    """Choose an assessment and a period for the evidence report."""
    from pia.models import Assessment

    assessments = db.session.execute(sa.select(Assessment).order_by(Assessment.id)).scalars().all()
    return render_template("evidence/reports.html", assessments=assessments)


@bp.get("/reports/<int:assessment_id>")
@requires("auditor", "officer")
def report(assessment_id):
    """The evidence report (HTML, or ?format=pdf|csv|json as a download)."""
    from common import audit
    from evidence.report import ReportError, build_report, render, render_html

    start, end = _date_arg("from"), _date_arg("to")
    fmt = request.args.get("format", "html")
    if fmt not in ("html", "pdf", "csv", "json") or start is None or end is None or end < start:
        abort(400)
    try:
        data = build_report(assessment_id, start, end)
    except ReportError:
        abort(404)
    if fmt == "html":
        return render_html(data, standalone=False)
    body = render(data, fmt)
    audit.record("export", "evidence_report", assessment_id,
                 f"証跡報告書({fmt})を出力しました: {start}〜{end}",
                 after={"sha256": data["manifest"]["report_sha256"], "format": fmt})
    db.session.commit()
    mimetypes = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8",
                 "json": "application/json"}
    name = f"evidence-report-{assessment_id}-{start}-{end}.{fmt}"
    return Response(body, mimetype=mimetypes[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def dashboard_panel(user):
    """The home dashboard panel: open findings by check (auditors and officers)."""
    if not user.has_role("auditor", "officer"):
        return None
    counts = services.open_counts()
    return "evidence/_panel.html", {"counts": counts, "checks": CHECKS,
                                    "total": sum(counts.values())}
