"""Evidence pages: dashboard, findings and triage, batches, check settings, reports."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import DataRequired

from common import audit
from common.auth import requires
from common.confirm import Confirmation, confirmation_page, confirmed
from common.db import db
from common.forms import ConfirmForm, NoMyNumber
from common.jpdate import format_month_day, format_range, parse_date
from common.params import page_number
from evidence import cases, services
from evidence.checks import CHECKS, save_settings, settings_for
from evidence.forms import check_settings_form, param_label, param_text
from evidence.labels import FINDING_STATES
from evidence.models import DECISIONS, MANUAL_DECISIONS, SEVERITIES, FeedBatch, Finding
from evidence.svg import stacked_bars

bp = Blueprint("evidence", __name__, url_prefix="/evidence")

PAGE_SIZE = 50


class DecisionForm(FlaskForm):
    decision = RadioField(
        "判断", choices=list(MANUAL_DECISIONS.items()), validators=[DataRequired("判断を選んでください。")]
    )
    reason = TextAreaField(
        "理由", validators=[DataRequired("判断の理由を記入してください。"), NoMyNumber()], render_kw={"rows": 4}
    )


def _date_arg(name: str, what: str, problems: list[str]) -> date | None:
    """A date typed into a query field (common.jpdate.parse_date); a problem for one that is not."""
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        problems.append(f"{what}: {exc}")
        return None


@bp.get("/")
@requires("auditor", "officer")
def dashboard():
    """Feeds (last batch per system, gaps), open findings by check, the trend."""
    status = services.feed_status()
    counts = services.open_counts()
    buckets = services.trend()
    chart = stacked_bars(
        [(format_month_day(start), values) for start, values in buckets],
        list(CHECKS),
        {k: c.title for k, c in CHECKS.items()},
    )
    return render_template(
        "evidence/dashboard.html",
        status=status,
        counts=counts,
        checks=CHECKS,
        chart=chart,
        series=list(CHECKS),
        repeated=cases.repeated_users(),
        open_cases=cases.open_case_count(),
        freshness=_freshness(),
    )


def _freshness():
    """The feeds' freshness for the dashboard (None, with the reason logged, when the cadence
    setting cannot be read: the dashboard still shows)."""
    from evidence.freshness import CadenceError, status

    try:
        return status()
    except CadenceError:
        current_app.logger.exception("feed cadence setting")
        return None


def _finding_filter(problems: list[str]) -> services.FindingFilter:
    """The filter of the findings list from the query; a date that cannot be read goes to ``problems``."""
    return services.FindingFilter(
        check=request.args.get("check") or None,
        system=request.args.get("system") or None,
        user_id=request.args.get("user") or None,
        start=_date_arg("from", "日付(から)", problems),
        end=_date_arg("to", "日付(まで)", problems),
        state=request.args.get("state") or None,
    )


#: most rows in one Excel export of the findings (the page shows 50 at a time)
XLSX_MAX_ROWS = 20000


@bp.get("/findings.xlsx")
@requires("auditor", "officer")
def findings_xlsx():
    """The findings as Excel, filtered as on the page (all pages, newest first)."""
    from io import BytesIO

    from flask import send_file

    from common.xlsxsafe import XLSX_MIMETYPE
    from evidence import xlsx

    problems: list[str] = []
    query = _finding_filter(problems).apply(sa.select(Finding))
    if problems:  # the list says what is wrong with the dates, with them as typed
        return redirect(url_for(".findings", **request.args.to_dict()))
    rows = (
        db.session.execute(query.order_by(Finding.day.desc(), Finding.id.desc()).limit(XLSX_MAX_ROWS)).scalars().all()
    )
    response = send_file(
        BytesIO(xlsx.findings_xlsx(rows)), mimetype=XLSX_MIMETYPE, as_attachment=True, download_name="findings.xlsx"
    )
    response.cache_control.no_store = True
    return response


@bp.get("/findings")
@requires("auditor", "officer")
def findings():
    """Findings, filtered by check, system, user, date and triage state."""
    problems: list[str] = []
    flt = _finding_filter(problems)
    page = request.args.get("page", 1, type=page_number)
    query = flt.apply(sa.select(Finding))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        db.session.execute(
            query.order_by(Finding.day.desc(), Finding.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        )
        .scalars()
        .all()
    )
    return render_template(
        "evidence/findings.html",
        rows=rows,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        checks=CHECKS,
        states=FINDING_STATES,
        flt=flt,
        severities=SEVERITIES,
        typed={"from": request.args.get("from", ""), "to": request.args.get("to", "")},
        problems=problems,
        repeated=cases.repeated_users(),
        in_cases=cases.findings_in_cases(f.id for f in rows),
    ), (400 if problems else 200)


@bp.get("/findings/<int:finding_id>")
@requires("auditor", "officer")
def finding(finding_id):
    """One finding with its context and its triage history."""
    item = db.get_or_404(Finding, finding_id)
    return _finding_page(item, DecisionForm())


def _finding_page(item, form, status=200):
    ctx = services.finding_context(item)
    return render_template(
        "evidence/finding.html",
        f=item,
        ctx=ctx,
        form=form,
        check=CHECKS[item.check],
        severities=SEVERITIES,
        case_form=ConfirmForm(formdata=None),
        in_case=cases.findings_in_cases([item.id]).get(item.id),
        user_case=cases.open_case_for(item.user_id) if item.user_id else None,
    ), status


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
    page = request.args.get("page", 1, type=page_number)
    total = db.session.execute(sa.select(sa.func.count()).select_from(FeedBatch)).scalar_one()
    rows = (
        db.session.execute(
            sa.select(FeedBatch).order_by(FeedBatch.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        )
        .scalars()
        .all()
    )
    from evidence.retention import archived_batches, describe

    return render_template(
        "evidence/batches.html",
        rows=rows,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        retention=describe(),
        archived=archived_batches(),
    )


@bp.get("/checks")
@requires("admin", "auditor", "officer")
def check_settings():
    """The checks, their settings against the defaults and the assessment items they serve."""
    rows = []
    for name, check in CHECKS.items():
        cfg = settings_for(name)
        params = [
            (
                param_label(name, key),
                param_text(name, key, cfg.params.get(key, default)),
                param_text(name, key, default),
                cfg.params.get(key, default) != default,
            )
            for key, default in check.defaults.items()
        ]
        rows.append((check, cfg, params))
    from evidence.checks import Period
    from evidence.explanations import systems_without_transactions
    from pia.inventory.models import System

    names = dict(db.session.execute(sa.select(System.code, System.name)).all())
    unmatched = [names.get(code, code) for code in systems_without_transactions(Period())]
    return render_template("evidence/checks.html", rows=rows, severities=SEVERITIES, unmatched=unmatched)


def _system_choices() -> list[tuple[str, str]]:
    from pia.inventory.models import System

    return [
        (code, f"{code}({name})")
        for code, name in db.session.execute(sa.select(System.code, System.name).order_by(System.code))
    ]


def _affair_choices() -> list[tuple[str, str]]:
    from pia.assessments.models import Affair

    return [
        (code, f"{code}({name})")
        for code, name in db.session.execute(sa.select(Affair.code, Affair.name).order_by(Affair.code))
    ]


def _stored(settings) -> dict:
    return {"enabled": settings.enabled, "severity": settings.severity, "params": settings.params}


_CHANGE_LABELS = {"enabled": "点検を行うかどうか", "severity": "重要度"}


def _changed_keys(before: dict, after: dict) -> list[str]:
    keys = [k for k in ("enabled", "severity") if before[k] != after[k]]
    return keys + [
        k
        for k in sorted(set(before["params"]) | set(after["params"]))
        if before["params"].get(k) != after["params"].get(k)
    ]


@bp.route("/checks/<name>", methods=["GET", "POST"])
@requires("admin")
def edit_check(name):
    """Change one check's settings: whether it runs, its severity and its parameters."""
    check = CHECKS.get(name) or abort(404)
    current = settings_for(name)
    form = check_settings_form(check, current, systems=_system_choices(), affairs=_affair_choices())
    if form.validate_on_submit():
        before = _stored(current)
        wanted = {**check.defaults, **current.params, **form.params()}
        enabled = True if check.always else form.enabled.data
        severity = check.severity if check.always else form.severity.data
        after = {"enabled": enabled, "severity": severity, "params": wanted}
        if after == before:
            flash("変更はありませんでした。", "info")
            return redirect(url_for(".check_settings"))
        # only what differs from the defaults is stored, so a later default still applies
        # to everything the administrator left as it was
        save_settings(
            name,
            enabled=enabled,
            severity=None if severity == check.severity else severity,
            params={k: v for k, v in wanted.items() if check.defaults.get(k, ...) != v},
        )
        labels = "、".join(_CHANGE_LABELS.get(k) or param_label(name, k) for k in _changed_keys(before, after))
        audit.record(
            "update",
            "CheckConfig",
            name,
            f"点検「{check.title}」の設定を変更しました({labels})。",
            before=before,
            after=_stored(settings_for(name)),
        )
        db.session.commit()
        flash(f"点検「{check.title}」の設定を保存しました。次に点検を行うときから反映されます。", "success")
        return redirect(url_for(".check_settings"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "evidence/check_form.html",
        check=check,
        form=form,
        defaults=[(param_label(name, k), param_text(name, k, v)) for k, v in check.defaults.items()],
        severities=SEVERITIES,
    ), status


@bp.post("/checks/<name>/reset")
@requires("admin")
def reset_check(name):
    """Put one check back to its default settings."""
    check = CHECKS.get(name) or abort(404)
    if not confirmed():
        return confirmation_page(
            Confirmation(
                title="点検の設定を既定値に戻します",
                lead=f"点検「{check.title}」の設定（有効・無効、重要度、しきい値）を既定値に戻します。",
                consequences=[
                    "いま設定している値は消え、既定値で点検します。",
                    "これまでの設定は監査記録に残ります。",
                ],
                action_label="既定値に戻す",
                back_url=url_for(".edit_check", name=name),
            )
        )
    before = _stored(settings_for(name))
    save_settings(name, enabled=True, severity=None, params={})
    after = _stored(settings_for(name))
    if after == before:
        db.session.rollback()
        flash(f"点検「{check.title}」は既定値のままです。", "info")
        return redirect(url_for(".check_settings"))
    audit.record(
        "update", "CheckConfig", name, f"点検「{check.title}」の設定を既定値に戻しました。", before=before, after=after
    )
    db.session.commit()
    flash(f"点検「{check.title}」の設定を既定値に戻しました。", "success")
    return redirect(url_for(".check_settings"))


@bp.get("/reports")
@requires("auditor", "officer")
def reports():
    """Choose an assessment and a period for the evidence report."""
    return _reports_page()


def _reports_page(problems=(), chosen=None, status=200):
    """The page to choose a report; ``problems`` of a request for ``chosen`` (an assessment id),
    shown beside its row with the dates as typed."""
    from pia.assessments.models import Assessment

    assessments = db.session.execute(sa.select(Assessment).order_by(Assessment.id)).scalars().all()
    typed = {"from": request.args.get("from", ""), "to": request.args.get("to", "")} if chosen else {}
    return render_template(
        "evidence/reports.html", assessments=assessments, problems=list(problems), chosen=chosen, typed=typed
    ), status


@bp.get("/reports/<int:assessment_id>")
@requires("auditor", "officer")
def report(assessment_id):
    """The evidence report (HTML, or ?format=pdf|csv|json as a download)."""
    from evidence.report import ReportError, build_report, render, render_html

    problems: list[str] = []
    start, end = _date_arg("from", "開始日", problems), _date_arg("to", "終了日", problems)
    fmt = request.args.get("format", "html")
    if fmt not in ("html", "pdf", "csv", "json"):
        abort(400)
    if not problems:
        if start is None or end is None:
            problems.append("開始日と終了日を入力してください。")
        elif end < start:
            problems.append("終了日が開始日より前になっています。")
    if problems:
        return _reports_page(problems, chosen=assessment_id, status=400)
    try:
        data = build_report(assessment_id, start, end)
    except ReportError:
        abort(404)
    if fmt == "html":
        return render_html(data, standalone=False)
    body = render(data, fmt)
    audit.record(
        "export",
        "evidence_report",
        assessment_id,
        f"証跡報告書({fmt.upper()})を出力しました: {format_range(start, end)}",
        after={"sha256": data["manifest"]["report_sha256"], "format": fmt},
    )
    db.session.commit()
    mimetypes = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8", "json": "application/json"}
    name = f"evidence-report-{assessment_id}-{start}-{end}.{fmt}"
    return Response(body, mimetype=mimetypes[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


def dashboard_panel(user):
    """The home dashboard panel: open findings by check (auditors and officers); for the
    administrators, the way to the check settings."""
    if not user.has_role("auditor", "officer"):
        if user.has_role("admin"):
            return "evidence/_settings_panel.html", {
                "stopped": sum(not settings_for(name).enabled for name in CHECKS),
                "total": len(CHECKS),
            }
        return None
    counts = services.open_counts()
    return "evidence/_panel.html", {"counts": counts, "checks": CHECKS, "total": sum(counts.values())}
