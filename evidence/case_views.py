"""Pages of the 調査案件 (evidence.cases): auditors open and carry cases; officers read them.

The routes are added to the evidence blueprint (``evidence.views.bp``)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired

from common.auth import requires
from common.confirm import Confirmation, confirmation_page, confirmed, excerpt
from common.db import db
from common.forms import ConfirmForm, NoMyNumber
from common.models import User, UserRole
from common.params import page_number
from common.redirects import local_target
from evidence import cases
from evidence.cases import OUTCOMES, STATUSES, Case, CaseError
from evidence.checks import CHECKS
from evidence.models import SEVERITIES
from evidence.views import PAGE_SIZE, bp


class NoteForm(FlaskForm):
    text = TextAreaField(
        "経過の記録", validators=[DataRequired("記録する内容を入力してください。"), NoMyNumber()], render_kw={"rows": 3}
    )


class AssigneeForm(FlaskForm):
    assignee = SelectField("担当者", coerce=int, validators=[DataRequired("担当者を選んでください。")])


class ConclusionForm(FlaskForm):
    outcome = RadioField(
        "処分等の区分", choices=list(OUTCOMES.items()), validators=[DataRequired("処分等の区分を選んでください。")]
    )
    conclusion = TextAreaField(
        "結論", validators=[DataRequired("結論を記入してください。"), NoMyNumber()], render_kw={"rows": 5}
    )


def _auditors() -> list[tuple[int, str]]:
    rows = db.session.execute(
        sa.select(User.id, User.display_name)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "auditor", User.active.is_(True))
        .order_by(User.display_name, User.id)
        .distinct()
    ).all()
    return [(uid, name) for uid, name in rows]


def _finding_ids() -> list[int]:
    ids = []
    for value in request.form.getlist("finding_id"):
        try:
            ids.append(int(value))
        except ValueError:
            continue
    return ids


@bp.get("/cases")
@requires("auditor", "officer")
def cases_list():
    """Cases, the open ones first, filtered by status and staff account."""
    status = request.args.get("status") or None
    flt = cases.CaseFilter(
        status=status if status in STATUSES else None, user_id=(request.args.get("user") or "").strip() or None
    )
    page = request.args.get("page", 1, type=page_number)
    query = flt.apply(sa.select(Case))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        db.session.execute(query.order_by(Case.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
        .scalars()
        .all()
    )
    return render_template(
        "evidence/cases.html",
        rows=rows,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        flt=flt,
        statuses=STATUSES,
        repeated=cases.repeated_users(),
    )


@bp.post("/cases")
@requires("auditor")
def open_case():
    """Open a case from the chosen findings (from a finding's page or the findings list)."""
    form = ConfirmForm()
    back_url = local_target(request.form.get("back"), "evidence.findings")
    if not form.validate_on_submit():
        flash("送信内容を確認できませんでした。もう一度操作してください。", "error")
        return redirect(back_url)
    try:
        case = cases.open_case(_finding_ids(), current_user)
    except CaseError as exc:
        flash(str(exc), "error")
        return redirect(back_url)
    db.session.commit()
    flash(f"調査案件 第{case.id}号を開きました。", "success")
    return redirect(url_for(".case", case_id=case.id))


def _refuse_if_concluded(case: Case):
    """A redirect to the case with a message when it is concluded (its page has no forms then)."""
    if case.is_open:
        return None
    flash("結論済みの案件は変更できません。", "error")
    return redirect(url_for(".case", case_id=case.id))


def _case_page(case: Case, *, note_form=None, assignee_form=None, conclusion_form=None, status=200):
    assignee_form = assignee_form or AssigneeForm(formdata=None)
    assignee_form.assignee.choices = _auditors()
    if case.assignee is not None and assignee_form.assignee.data is None:
        assignee_form.assignee.data = case.assignee.assignee_id
    return render_template(
        "evidence/case.html",
        case=case,
        findings=cases.case_findings(case),
        suggestions=cases.suggestions(case) if case.is_open else [],
        other_cases=[c for c in cases.cases_of(case.user_id) if c.id != case.id],
        repeated=cases.repeated_users(before_case=case.id).get(case.user_id),
        note_form=note_form or NoteForm(formdata=None),
        assignee_form=assignee_form,
        conclusion_form=conclusion_form or ConclusionForm(formdata=None),
        add_form=ConfirmForm(formdata=None),
        checks=CHECKS,
        severities=SEVERITIES,
        outcomes=OUTCOMES,
    ), status


@bp.get("/cases/<int:case_id>")
@requires("auditor", "officer")
def case(case_id):
    """One case: its findings, suggestions, assignee, course and conclusion, with the history."""
    return _case_page(db.get_or_404(Case, case_id))


@bp.post("/cases/<int:case_id>/findings")
@requires("auditor")
def add_case_findings(case_id):
    """Accept suggested findings into the case."""
    item = db.get_or_404(Case, case_id)
    if (refused := _refuse_if_concluded(item)) is not None:
        return refused
    if not ConfirmForm().validate_on_submit():
        flash("送信内容を確認できませんでした。もう一度操作してください。", "error")
        return redirect(url_for(".case", case_id=item.id))
    try:
        added = cases.add_findings(item, _finding_ids(), current_user)
    except CaseError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".case", case_id=item.id))
    db.session.commit()
    flash(f"点検結果 {len(added)} 件を案件に加えました。", "success")
    return redirect(url_for(".case", case_id=item.id))


@bp.post("/cases/<int:case_id>/assignee")
@requires("auditor")
def assign_case(case_id):
    """Name who investigates the case."""
    item = db.get_or_404(Case, case_id)
    if (refused := _refuse_if_concluded(item)) is not None:
        return refused
    form = AssigneeForm()
    form.assignee.choices = _auditors()
    if not form.validate_on_submit():
        return _case_page(item, assignee_form=form, status=400)
    try:
        cases.assign(item, db.session.get(User, form.assignee.data), current_user)
    except CaseError as exc:
        form.assignee.errors = list(form.assignee.errors) + [str(exc)]
        return _case_page(item, assignee_form=form, status=400)
    db.session.commit()
    flash("担当者を記録しました。", "success")
    return redirect(url_for(".case", case_id=item.id))


@bp.post("/cases/<int:case_id>/notes")
@requires("auditor")
def add_case_note(case_id):
    """Record a step of the investigation."""
    item = db.get_or_404(Case, case_id)
    if (refused := _refuse_if_concluded(item)) is not None:
        return refused
    form = NoteForm()
    if not form.validate_on_submit():
        return _case_page(item, note_form=form, status=400)
    try:
        cases.add_note(item, form.text.data, current_user)
    except CaseError as exc:
        form.text.errors = list(form.text.errors) + [str(exc)]
        return _case_page(item, note_form=form, status=400)
    db.session.commit()
    flash("経過を記録しました。", "success")
    return redirect(url_for(".case", case_id=item.id))


@bp.post("/cases/<int:case_id>/conclusion")
@requires("auditor")
def conclude_case(case_id):
    """Write the conclusion and outcome (after a confirmation page): the case is closed for good."""
    item = db.get_or_404(Case, case_id)
    if (refused := _refuse_if_concluded(item)) is not None:
        return refused
    form = ConclusionForm()
    if not form.validate_on_submit():
        return _case_page(item, conclusion_form=form, status=400)
    try:
        text = cases.validate_conclusion(item, form.conclusion.data, form.outcome.data)
    except CaseError as exc:
        form.conclusion.errors = list(form.conclusion.errors) + [str(exc)]
        return _case_page(item, conclusion_form=form, status=400)
    if not confirmed(form):
        return confirmation_page(
            Confirmation(
                title="調査案件を結論済みにします",
                lead=f"{item.title()}を「{OUTCOMES[form.outcome.data]}」として結論済みにします。結論: {excerpt(text)}",
                consequences=[
                    "結論と処分等の区分を記録し、案件の状況は「結論済み」になります。",
                    "結論済みの案件には点検結果や経過を加えられず、結論も変更できません。",
                    "この職員は、今後の点検結果一覧と概要で「繰り返し」と表示されます。",
                ],
                action_label="結論済みにする",
                back_url=url_for(".case", case_id=item.id),
                carry={"outcome": form.outcome.data, "conclusion": form.conclusion.data},
            )
        )
    cases.conclude(item, text, form.outcome.data, current_user)
    db.session.commit()
    flash(f"{item.title()}を結論済みにしました。", "success")
    return redirect(url_for(".case", case_id=item.id))
