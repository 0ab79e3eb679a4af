"""Routes of the assessments (blueprint ``assessments``): 事務, assessments, versions, しきい値判断, deadlines.

Views are thin: load (404), check the role and the department, call a service or a model
method, commit once, flash, redirect.
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from common import audit
from common.auth import requires
from common.confirm import Confirmation, confirmation_page, confirmed
from common.db import db
from common.jpdate import format_date
from common.markdown import render_markdown
from common.models import Department
from common.params import db_id
from common.timeutil import today_jst
from pia import procedure, threshold
from pia.assessments import checklist, exchange, search, services, workflow
from pia.assessments.forms import (
    ActionForm,
    AnnualReviewForm,
    ConflictForm,
    DateActionForm,
    ImportForm,
    NewAffairForm,
    NewAssessmentForm,
    SectionForm,
    ThresholdForm,
)
from pia.assessments.models import (
    ACTION_STATUSES,
    CHANGE_KINDS,
    VERSION_STATES,
    ActionItem,
    Affair,
    Assessment,
    AssessmentVersion,
    InvalidTransition,
)
from pia.assessments.render import document_view
from pia.diff import TIMING_AFTER, TIMING_BEFORE
from pia.schema import FORMS, LINK_KEY, coerce, field_name, flatten, load_schema, section_completion, to_form_data

bp = Blueprint("assessments", __name__)

#: every staff role reads the versions it may (reviewers: those under review)
STAFF = ("officer", "editor", "reviewer", "auditor", "admin")
#: the assessment pages, action plans, しきい値判断, deadlines and search: not the reviewers,
#: who see the versions under review and their findings (the review pages), nothing else
PLANNERS = ("officer", "editor", "auditor", "admin")
EDITORS = ("officer", "editor")


# --------------------------------------------------------------------------- helpers


def _get_or_404(model, ident: int):
    """Like db.get_or_404, also for ids no database integer can hold."""
    if not 0 < ident <= 2**31 - 1:
        abort(404)
    return db.get_or_404(model, ident)


def _version_or_404(version_id: int) -> AssessmentVersion:
    version = _get_or_404(AssessmentVersion, version_id)
    if not services.can_read_version(current_user, version):
        abort(403)
    return version


def _assessment_or_404(assessment_id: int) -> Assessment:
    assessment = _get_or_404(Assessment, assessment_id)
    if not services.can_see_assessment(current_user, assessment):
        abort(403)
    return assessment


def _editable_or_403(assessment: Assessment) -> None:
    if not services.can_edit(current_user, assessment):
        abort(403)


def _pia_head():
    return url_for("static", filename="css/pia.css")


def _context(**kwargs):
    return dict(
        VERSION_STATES=VERSION_STATES,
        CHANGE_KINDS=CHANGE_KINDS,
        FORMS=FORMS,
        can_edit=lambda a: services.can_edit(current_user, a),
        entry_indices=entry_indices,
        is_officer=services.is_officer(current_user),
        **kwargs,
    )


def entry_indices(values: dict, name: str) -> list[int]:
    """Indices of the entries of the group or table ``name`` present in the form values."""
    start = f"{name}-"
    found = set()
    for key in values:
        if key.startswith(start):
            head = key[len(start) :].split("-", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def _values_from_document(schema, section_key, section_doc) -> dict[str, list[str]]:
    out = {}
    for name, value in to_form_data(schema, section_key, section_doc or {}).items():
        out[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return out


def _form_data_without_deleted(form) -> dict[str, list[str]]:
    """The posted section fields, without the entries whose 削除 box is checked."""
    data = {k: v for k, v in form.to_dict(flat=False).items() if k not in ("csrf_token", "revision", "choose")}
    deleted = [k[: -len("-_delete")] for k in data if k.endswith("-_delete")]
    out = {}
    for name, value in data.items():
        if name.endswith("-_delete") or any(name == d or name.startswith(d + "-") for d in deleted):
            continue
        out[name] = value
    return out


#: the checkboxes of 「台帳からまとめて追加」 (``systems-_add``, one value per 台帳 record)
LEDGER_ADD = "_add"


def with_ledger_additions(posted: dict[str, list[str]], pickers: dict[str, list]) -> dict[str, list[str]]:
    """``posted`` with one new entry, linked to its record, for each 台帳 record ticked in
    「台帳からまとめて追加」 (``systems-_add``) that no entry names yet; the entries take the
    record's name and what else the 台帳 fills when the section is saved."""
    out = {k: v for k, v in posted.items() if not k.endswith(f"-{LEDGER_ADD}")}
    for group, records in pickers.items():
        known = {str(record[0]) for record in records}
        linked = {
            value
            for key, values in out.items()
            if re.fullmatch(rf"{re.escape(group)}-\d+-{LINK_KEY}", key)
            for value in values
            if value
        }
        index = max(entry_indices(out, group), default=-1) + 1
        for value in dict.fromkeys(posted.get(f"{group}-{LEDGER_ADD}", [])):
            if value in known and value not in linked:
                out[f"{group}-{index}-{LINK_KEY}"] = [value]
                linked.add(value)
                index += 1
    return out


def _errors_by_field(errors) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for error in errors:
        name = field_name(error.path) if "/" in error.path else error.path
        out.setdefault(name, []).append(error.message)
        base = re.sub(r"-\d+$", "", name)
        if base != name:
            out.setdefault(base, []).append(error.message)
    return out


# --------------------------------------------------------------------------- list, new


@bp.get("/assessments")
@requires(*PLANNERS)
def index():
    """The assessments the user sees, with their current and open versions."""
    department_id = request.args.get("department", type=db_id)
    stmt = db.select(Assessment).join(Affair).order_by(Affair.department_id, Affair.id, Assessment.id)
    if department_id:
        stmt = stmt.where(Affair.department_id == department_id)
    items = [a for a in db.session.execute(stmt).scalars() if services.can_see_assessment(current_user, a)]
    departments = (
        db.session.execute(
            db.select(Department)
            .where(Department.id.in_(db.select(Affair.department_id)))
            .order_by(Department.sort_order)
        )
        .scalars()
        .all()
    )
    return render_template(
        "pia/assessments/assessments.html",
        **_context(
            items=items,
            departments=departments,
            department_id=department_id,
            visible=lambda a: services.visible_versions(current_user, a),
        ),
    )


@bp.route("/assessments/new", methods=["GET", "POST"])
@requires("officer")
def new_assessment():
    """Create an assessment (and, when needed, its 事務)."""
    form = NewAssessmentForm()
    affairs = db.session.execute(db.select(Affair).order_by(Affair.id)).scalars().all()
    form.affair_id.choices = [(0, "(新しい事務を登録する)")] + [
        (a.id, f"{a.name}({a.department.name})") for a in affairs
    ]
    departments = db.session.execute(db.select(Department).order_by(Department.sort_order)).scalars().all()
    form.department_id.choices = [(d.id, d.name) for d in departments]
    if form.validate_on_submit():
        if form.affair_id.data:
            affair = db.session.get(Affair, form.affair_id.data)
        else:
            if db.session.execute(db.select(Affair).filter_by(code=form.affair_code.data)).scalar_one_or_none():
                form.affair_code.errors.append("このコードの事務は既にあります。")
                return render_template("pia/assessments/assessment_new.html", form=form), 400
            affair = services.create_affair(
                code=form.affair_code.data,
                name=form.affair_name.data.strip(),
                department=db.session.get(Department, form.department_id.data),
                actor=current_user,
            )
        try:
            assessment = services.create_assessment(
                affair,
                form=form.form.data,
                actor=current_user,
                title=form.title.data.strip() or None,
                number=form.number.data.strip() or None,
            )
        except ValueError as exc:
            form.form.errors.append(str(exc))
            return render_template("pia/assessments/assessment_new.html", form=form), 400
        db.session.commit()
        flash("評価書を作成しました。", "success")
        return redirect(url_for("assessments.assessment", assessment_id=assessment.id))
    return render_template("pia/assessments/assessment_new.html", form=form), 400 if form.errors else 200


@bp.route("/affairs/new", methods=["GET", "POST"])
@requires("officer")
def new_affair():
    """Register a 事務; it starts with its しきい値判断."""
    form = NewAffairForm()
    departments = db.session.execute(db.select(Department).order_by(Department.sort_order)).scalars().all()
    form.department_id.choices = [(d.id, d.name) for d in departments]
    if form.validate_on_submit():
        if db.session.execute(db.select(Affair).filter_by(code=form.code.data)).scalar_one_or_none():
            form.code.errors.append("このコードの事務は既にあります。")
        else:
            affair = services.create_affair(
                code=form.code.data,
                name=form.name.data.strip(),
                department=db.session.get(Department, form.department_id.data),
                actor=current_user,
            )
            db.session.commit()
            flash("事務を登録しました。次に、しきい値判断を行って必要な評価書を確かめます。", "success")
            return redirect(url_for("assessments.affair_threshold", affair_id=affair.id))
    return render_template("pia/assessments/affair_new.html", form=form), 400 if form.errors else 200


@bp.post("/affairs/<int:affair_id>/assessments")
@requires("officer")
def create_required_assessment(affair_id):
    """Create the assessment of a form the しきい値判断 requires, with an empty 第1版."""
    affair = _get_or_404(Affair, affair_id)
    if not ConflictForm().validate_on_submit():
        abort(400)
    form = request.form.get("form", "")
    record = affair.latest_threshold
    if record is None or form not in (record.forms or []):
        flash("しきい値判断で必要とされた評価書だけを作成できます。", "error")
        return redirect(url_for("assessments.affair_threshold", affair_id=affair.id))
    try:
        assessment = services.create_assessment(affair, form=form, actor=current_user)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("assessments.affair_threshold", affair_id=affair.id))
    db.session.commit()
    flash(f"{assessment.title}を作成しました。第1版(作成中)を記載してください。", "success")
    return redirect(url_for("assessments.version", version_id=assessment.versions[-1].id))


# --------------------------------------------------------------------------- one assessment


@bp.get("/assessments/<int:assessment_id>")
@requires(*PLANNERS)
def assessment(assessment_id):
    """An assessment: its versions, workflow, 見直し, actions and what other parts add."""
    item = _assessment_or_404(assessment_id)
    versions = services.visible_versions(current_user, item)
    open_version = item.open_version
    annual_review_form = AnnualReviewForm()
    annual_review_form.version_id.choices = [(0, "—")] + [(v.id, v.label) for v in item.versions]
    annual_review_form.reviewed_on.data = annual_review_form.reviewed_on.data or today_jst()
    deadline = next((d for d in services.deadlines(user=current_user) if d.assessment is item), None)
    return render_template(
        "pia/assessments/assessment.html",
        **_context(
            assessment=item,
            versions=versions,
            open_version=open_version,
            open_visible=open_version is not None and services.can_read_version(current_user, open_version),
            editable=services.can_edit(current_user, item),
            annual_review_form=annual_review_form,
            deadline=deadline,
            internals=services.sees_internals(current_user, item.affair),
            assessment_extras=procedure.panels(),
            version=item.current_version or (versions[-1] if versions else None),
            today=today_jst(),
        ),
    )


def _start_draft(assessment: Assessment, back: str, done: str, **options):
    """Start a draft; on refusal go ``back`` with the reason, else to the draft saying ``done``."""
    try:
        version = services.start_draft(assessment, actor=current_user, **options)
    except (InvalidTransition, services.ValidationFailed) as exc:
        flash(str(exc), "error")
        return redirect(back)
    db.session.commit()
    flash(done.format(label=version.label), "success")
    return redirect(url_for("assessments.version", version_id=version.id))


@bp.post("/assessments/<int:assessment_id>/versions")
@requires(*EDITORS)
def create_version(assessment_id):
    """Start a new draft from the current version."""
    item = _get_or_404(Assessment, assessment_id)
    _editable_or_403(item)
    return _start_draft(
        item,
        url_for("assessments.assessment", assessment_id=item.id),
        "{label}(作成中)を作成しました。",
        note=request.form.get("note", "").strip(),
    )


@bp.post("/versions/<int:version_id>/restore")
@requires(*EDITORS)
def restore_version(version_id):
    """Start a new draft from a past version."""
    past = _version_or_404(version_id)
    _editable_or_403(past.assessment)
    return _start_draft(
        past.assessment,
        url_for("assessments.version", version_id=past.id),
        f"{past.label}の内容で{{label}}(作成中)を作成しました。",
        base_version=past,
        note=f"{past.label}を復元",
    )


@bp.post("/versions/<int:version_id>/delete")
@requires(*EDITORS)
def delete_version(version_id):
    """Discard a draft that was never submitted (after a page that says what goes)."""
    version = _version_or_404(version_id)
    _editable_or_403(version.assessment)
    assessment_id = version.assessment_id
    if not confirmed():
        return confirmation_page(
            Confirmation(
                title=f"{version.label}を削除します",
                lead=f"{version.assessment.title} {version.label}({version.status_label})を削除します。",
                consequences=[
                    "この版に入力した内容と変更箇所の記載は、すべて削除されます。",
                    "公表済みの版と評価書そのものは残ります。",
                ],
                action_label="削除する",
                back_url=url_for("assessments.version", version_id=version.id),
            )
        )
    try:
        services.discard_draft(version, actor=current_user)
    except InvalidTransition as exc:
        flash(str(exc), "error")
        return redirect(url_for("assessments.version", version_id=version.id))
    db.session.commit()
    flash("作成中の版を削除しました。", "success")
    return redirect(url_for("assessments.assessment", assessment_id=assessment_id))


# --------------------------------------------------------------------------- one version


@bp.get("/versions/<int:version_id>")
@requires(*STAFF)
def version(version_id):
    """A version, read-only, with its table of contents, 変更箇所 and workflow."""
    return _version_page(_version_or_404(version_id))


def _version_page(item, date_form=None, status=200):
    """The version page; ``date_form``: a submitted date of 提出・公表 that was refused, shown as typed."""
    schema = load_schema(item.assessment.form, item.edition)
    sections = document_view(item)
    completion = section_completion(schema, item.document)
    steps = services.procedure_steps(item)
    problems = services.step_problems(item)
    kind = services.change_kind(item)
    change_rows = services.generated_change_rows(item) if not item.frozen else []
    notes = {n.path: n for n in item.change_notes}
    significant_rows = [row for row in change_rows if row["significant"]]
    previous = services.previous_published(item)
    return render_template(
        "pia/assessments/version.html",
        **_context(
            version=item,
            assessment=item.assessment,
            schema=schema,
            sections=sections,
            completion=completion,
            steps=steps,
            problems=problems,
            kind=kind,
            change_rows=change_rows,
            notes=notes,
            previous=previous,
            significant_rows=significant_rows,
            workflow_steps=workflow.steps(item),
            next_action=workflow.next_action(item, current_user),
            may_check=services.is_officer(current_user)
            or (current_user.has_role("editor") and services.in_department(current_user, item.assessment)),
            missing=services.missing_required(item) if not item.frozen else [],
            editable=item.editable and services.can_edit(current_user, item.assessment),
            date_form=date_form or DateActionForm(formdata=None, on=today_jst()),
            timing_choices=(TIMING_BEFORE, TIMING_AFTER),
            step_labels={"consultation": "住民等からの意見聴取", "review": "第三者点検"},
            assessment_extras=procedure.panels(),
            section_edit_url=(lambda key: url_for("assessments.edit_section", version_id=item.id, section_key=key))
            if item.editable and services.can_edit(current_user, item.assessment)
            else None,
        ),
    ), status


def _section_to_edit(version_id: int, section_key: str):
    """(version, schema, section) for an editor of the assessment; 404 for an unknown section."""
    item = _version_or_404(version_id)
    _editable_or_403(item.assessment)
    schema = load_schema(item.assessment.form, item.edition)
    try:
        return item, schema, schema.section(section_key)
    except KeyError:
        abort(404)


@bp.route("/versions/<int:version_id>/sections/<section_key>", methods=["GET", "POST"])
@requires(*EDITORS)
def edit_section(version_id, section_key):
    """Edit one section of a draft (fields generated from the schema)."""
    item, schema, section = _section_to_edit(version_id, section_key)
    if not item.editable:
        flash(f"{item.status_label}の版は編集できません。", "error")
        return redirect(url_for("assessments.version", version_id=item.id))
    form = SectionForm()
    errors: dict[str, list[str]] = {}
    status = 200
    ledger = procedure.ledger()
    pickers = ledger.pickers(section) if ledger is not None else {}
    if request.method == "POST":
        posted = with_ledger_additions(_form_data_without_deleted(request.form), pickers)
        data = coerce(schema, section_key, posted)
        if not form.validate():
            errors = {"revision": form.revision.errors}
            status = 400
        else:
            if ledger is not None:
                data = ledger.link_entries(item, section_key, data, actor=current_user)
            try:
                services.update_section(
                    item, section_key, data, actor=current_user, expected_revision=int(form.revision.data)
                )
            except services.Conflict as conflict:
                db.session.rollback()
                return _conflict_page(item, schema, section, conflict, posted), 409
            except services.ValidationFailed as exc:
                errors = _errors_by_field(exc.errors)
                status = 400
            else:
                db.session.commit()
                flash(f"{section.display_title}を保存しました。", "success")
                if request.form.get("next") == "stay":
                    return redirect(url_for("assessments.edit_section", version_id=item.id, section_key=section_key))
                return redirect(url_for("assessments.version", version_id=item.id, _anchor=f"section-{section_key}"))
        values = posted  # a rejected save keeps what the user typed
        revision = form.revision.data
    else:
        values = _values_from_document(schema, section_key, item.document.get(section_key))
        if ledger is not None:
            ledger.preselect(section, item.document.get(section_key) or {}, values)
        revision = str(item.revision)
        form.revision.data = revision
    return render_template(
        "pia/assessments/section_edit.html",
        **_context(
            version=item,
            assessment=item.assessment,
            schema=schema,
            section=section,
            form=form,
            values=values,
            errors=errors,
            revision=revision,
            inventory_pickers=pickers,
            completion=section_completion(schema, item.document),
            extra_rows=1,
        ),
    ), status


#: the longest text the preview renders (the longest 機能 of 001 is about 2,000 characters)
PREVIEW_MAX_CHARS = 100_000


@bp.post("/assessments/text-preview")
@requires(*EDITORS)
def text_preview():
    """A formatted text as the pages and the PDF show it (the same renderer and sanitiser), for
    the preview beside a text box of the section editor. JSON: ``{"html": …}``."""
    text = request.form.get("text", "")
    if len(text) > PREVIEW_MAX_CHARS:
        return jsonify({"error": f"{PREVIEW_MAX_CHARS:,}文字を超える文章は表示を確認できません。"}), 400
    response = jsonify({"html": str(render_markdown(text))})
    response.headers["Cache-Control"] = "no-store"
    return response


def _conflict_page(version, schema, section, conflict: services.Conflict, posted):
    """Both texts, item by item; the user chooses (nothing is overwritten silently)."""
    items = []
    for top in section.items:
        mine = flatten(schema, {section.key: {top.key: conflict.mine.get(top.key)}})
        theirs = flatten(schema, {section.key: {top.key: conflict.theirs.get(top.key)}})
        mine_text = "\n".join(f"{i.label}: {i.text}" for i in mine if i.text)
        theirs_text = "\n".join(f"{i.label}: {i.text}" for i in theirs if i.text)
        if mine_text != theirs_text:
            from pia.diff import text_ops

            before_ops, after_ops = text_ops(theirs_text, mine_text)
            items.append(
                {
                    "key": top.key,
                    "label": top.label,
                    "mine": mine_text,
                    "theirs": theirs_text,
                    "theirs_ops": before_ops,
                    "mine_ops": after_ops,
                }
            )
    form = ConflictForm(formdata=None, revision=str(conflict.revision))
    return render_template(
        "pia/assessments/conflict.html",
        **_context(
            version=version,
            assessment=version.assessment,
            section=section,
            items=items,
            posted=posted,
            form=form,
            saved_by=conflict.saved_by,
        ),
    )


@bp.post("/versions/<int:version_id>/sections/<section_key>/resolve")
@requires(*EDITORS)
def resolve_conflict(version_id, section_key):
    """Save the user's choice between their text and the saved one, item by item."""
    item, schema, section = _section_to_edit(version_id, section_key)
    form = ConflictForm()
    if not form.validate() or not (form.revision.data or "").isdigit():
        abort(400)
    posted = _form_data_without_deleted(request.form)
    posted = {k: v for k, v in posted.items() if not k.startswith("choose-")}
    mine = coerce(schema, section_key, posted)
    saved = item.document.get(section_key) or {}
    data = {}
    for top in section.items:
        choice = request.form.get(f"choose-{top.key}", "mine")
        data[top.key] = saved.get(top.key) if choice == "theirs" else mine.get(top.key)
    try:
        services.update_section(item, section_key, data, actor=current_user, expected_revision=int(form.revision.data))
    except services.Conflict as conflict:
        db.session.rollback()
        return _conflict_page(item, schema, section, conflict, posted), 409
    except services.ValidationFailed as exc:
        db.session.rollback()
        values = _values_from_document(schema, section_key, data)
        sform = SectionForm(formdata=None, revision=str(item.revision))
        return render_template(
            "pia/assessments/section_edit.html",
            **_context(
                version=item,
                assessment=item.assessment,
                schema=schema,
                section=section,
                form=sform,
                values=values,
                errors=_errors_by_field(exc.errors),
                revision=str(item.revision),
                inventory_pickers=ledger.pickers(section) if (ledger := procedure.ledger()) else {},
                completion=section_completion(schema, item.document),
                extra_rows=1,
            ),
        ), 400
    db.session.commit()
    flash(f"{section.display_title}を保存しました(競合を解消しました)。", "success")
    return redirect(url_for("assessments.version", version_id=item.id, _anchor=f"section-{section_key}"))


@bp.post("/versions/<int:version_id>/changes")
@requires(*EDITORS)
def save_change_notes(version_id):
    """Save the 提出時期 and 提出時期に係る説明 of the draft's 変更箇所."""
    item = _version_or_404(version_id)
    _editable_or_403(item.assessment)
    form = ConflictForm()  # CSRF only
    if not form.validate_on_submit():
        abort(400)
    try:
        paths = {row["path"] for row in services.generated_change_rows(item)}
        for path in paths:
            key = field_key(path)
            if f"note-{key}" not in request.form:
                continue
            services.set_change_note(
                item,
                path,
                timing=request.form.get(f"timing-{key}") or None,
                timing_note=request.form.get(f"note-{key}", ""),
                actor=current_user,
            )
    except (InvalidTransition, services.ValidationFailed) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("assessments.version", version_id=item.id, _anchor="changes"))
    db.session.commit()
    flash("変更箇所の説明を保存しました。", "success")
    return redirect(url_for("assessments.version", version_id=item.id, _anchor="changes"))


@bp.post("/versions/<int:version_id>/changes/judgement")
@requires("officer")
def judge_change(version_id):
    """Record (or withdraw) that a change of a ※ item does not materially change the risk."""
    item = _version_or_404(version_id)
    if not ConflictForm().validate_on_submit():
        abort(400)
    path = request.form.get("path", "")
    try:
        if request.form.get("withdraw"):
            services.withdraw_immaterial(item, path, actor=current_user)
            message = "判断を取り消しました。この変更は重要な変更として扱います。"
        else:
            services.judge_immaterial(item, path, reason=request.form.get("reason", ""), actor=current_user)
            message = "重要な変更に当たらないとの判断を記録しました。"
    except services.ValidationFailed as exc:
        db.session.rollback()
        flash(" ".join(e.message for e in exc.errors), "error")
        return redirect(url_for("assessments.version", version_id=item.id, _anchor="significant"))
    except (InvalidTransition, services.PermissionDenied) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("assessments.version", version_id=item.id, _anchor="significant"))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("assessments.version", version_id=item.id, _anchor="significant"))


def field_key(path: str) -> str:
    """A form-safe key for an item path."""
    return re.sub(r"[^a-z0-9_]", "_", path)


TRANSITIONS = {
    "consultation": (services.start_consultation, "意見聴取を開始しました。"),
    "review": (services.start_review, "第三者点検に付しました。"),
    "draft": (services.return_to_draft, "作成中に戻しました。"),
    "submit": (services.submit, "提出済みにしました。"),
    "publish": (services.publish, "公表済みにしました。"),
}


def _transition_confirmation(version: AssessmentVersion, action: str, on) -> Confirmation:
    """What 提出 and 公表 (the steps that cannot be undone) will do."""
    name = f"{version.assessment.title} {version.label}"
    back_url = url_for("assessments.version", version_id=version.id)
    carry = {"on": request.form.get("on", "")}
    if action == "submit":
        return Confirmation(
            title=f"{version.label}を提出済みにします",
            lead=f"{name}を、提出日{format_date(on)}で提出済みにします。",
            consequences=[
                "評価書の記載と変更箇所は確定し、以後は編集できません。",
                "提出前の確認に問題があるときは、提出済みにはなりません。",
                "提出後に記載を改めるには、新しい版を作成します。",
            ],
            action_label="提出済みにする",
            back_url=back_url,
            carry=carry,
        )
    return Confirmation(
        title=f"{version.label}を公表します",
        lead=f"{name}を、公表日{format_date(on)}で公表します。",
        consequences=[
            "この版が現在の評価書となり、公開ページに掲載されます。",
            "公表した版は、変更も削除もできません。",
        ],
        action_label="公表する",
        back_url=back_url,
        carry=carry,
    )


@bp.post("/versions/<int:version_id>/transition/<action>")
@requires("officer")
def transition(version_id, action):
    """Move a version in the workflow (意見聴取, 第三者点検, 提出, 公表)."""
    item = _version_or_404(version_id)
    if action not in TRANSITIONS:
        abort(404)
    func, message = TRANSITIONS[action]
    kwargs = {}
    if action in ("submit", "publish"):
        form = DateActionForm()
        if not form.validate_on_submit():
            db.session.rollback()
            shown = workflow.next_action(item, current_user)
            if not (shown.kind == "date" and shown.transition == action):  # no date field to show it beside
                flash(" ".join(form.on.errors) or "日付を入力してください。", "error")
            return _version_page(item, date_form=form, status=400)
        kwargs["on"] = form.on.data
        if not confirmed(form):
            return confirmation_page(_transition_confirmation(item, action, form.on.data))
    elif not ConflictForm().validate_on_submit():
        abort(400)
    try:
        func(item, actor=current_user, **kwargs)
    except checklist.ChecklistFailed as exc:
        db.session.rollback()
        return _checklist_page(item, checklist.run(item, on=kwargs.get("on")), refused=exc.summary), 400
    except (InvalidTransition, services.PermissionDenied) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("assessments.version", version_id=item.id))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("assessments.version", version_id=item.id))


@bp.get("/versions/<int:version_id>/checklist")
@requires(*EDITORS)
def version_checklist(version_id):
    """The pre-submission checklist of a version: every check with its state."""
    item = _version_or_404(version_id)
    if not (services.is_officer(current_user) or services.in_department(current_user, item.assessment)):
        abort(403)
    return _checklist_page(item, checklist.run(item))


def _checklist_page(version: AssessmentVersion, items: list[checklist.CheckItem], refused: str = ""):
    editable = version.editable and services.can_edit(current_user, version.assessment)

    def edit_url(path: str | None) -> str | None:
        if not path or not editable:
            return None
        section_key = path.split("/", 1)[0]
        anchor = f"f-{field_name(path)}" if "/" in path else None
        return url_for("assessments.edit_section", version_id=version.id, section_key=section_key, _anchor=anchor)

    groups: dict[str, list[checklist.CheckItem]] = {}
    for entry in items:
        groups.setdefault(entry.group, []).append(entry)
    return render_template(
        "pia/assessments/checklist.html",
        **_context(
            version=version,
            assessment=version.assessment,
            groups=groups,
            items=items,
            failed=checklist.failures(items),
            refused=refused,
            edit_url=edit_url,
        ),
    )


# --------------------------------------------------------------------------- compare


@bp.get("/assessments/<int:assessment_id>/compare")
@requires(*PLANNERS)
def compare(assessment_id):
    """Two versions side by side, item by item, with character-level highlighting."""
    item = _assessment_or_404(assessment_id)
    versions = services.visible_versions(current_user, item)
    if len(versions) < 2:
        flash("比較できる版が2つ以上ありません。", "info")
        return redirect(url_for("assessments.assessment", assessment_id=item.id))
    by_number = {v.number: v for v in versions}
    a = by_number.get(request.args.get("a", type=int) or 0) or versions[-2]
    b = by_number.get(request.args.get("b", type=int) or 0) or versions[-1]
    diff = services.diff_versions(a, b)
    only_significant = request.args.get("significant") == "1"
    changes = [c for c in diff.changes if c.significant or not only_significant]
    # the officers' ※ judgements belong to b's changes against the version in force before it
    judgements = services.immaterial_judgements(b) if services.previous_published(b) is a else {}
    significant = any(c.significant and c.path not in judgements for c in diff.changes)
    return render_template(
        "pia/assessments/compare.html",
        **_context(
            assessment=item,
            versions=versions,
            a=a,
            b=b,
            diff=diff,
            changes=changes,
            only_significant=only_significant,
            judgements=judgements,
            significant=significant,
        ),
    )


# --------------------------------------------------------------------------- 見直し, actions


@bp.post("/assessments/<int:assessment_id>/annual-reviews")
@requires(*EDITORS)
def record_annual_review(assessment_id):
    """Record a 見直し and its result."""
    item = _get_or_404(Assessment, assessment_id)
    _editable_or_403(item)
    form = AnnualReviewForm()
    form.version_id.choices = [(0, "—")] + [(v.id, v.label) for v in item.versions]
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("assessments.assessment", assessment_id=item.id, _anchor="annual-reviews"))
    version = db.session.get(AssessmentVersion, form.version_id.data) if form.version_id.data else None
    try:
        services.record_annual_review(
            item,
            actor=current_user,
            reviewed_on=form.reviewed_on.data,
            result=form.result.data,
            version=version,
            note=form.note.data or "",
        )
    except services.ValidationFailed as exc:
        flash(str(exc.errors[0].message), "error")
        return redirect(url_for("assessments.assessment", assessment_id=item.id, _anchor="annual-reviews"))
    db.session.commit()
    flash("見直しを記録しました。", "success")
    return redirect(url_for("assessments.assessment", assessment_id=item.id, _anchor="annual-reviews"))


def _action_items(status: str) -> list[ActionItem]:
    """The action items the user sees, filtered by ``status`` (open, all or one state)."""
    stmt = (
        db.select(ActionItem)
        .join(Assessment)
        .join(Affair)
        .order_by(ActionItem.due_on.is_(None), ActionItem.due_on, ActionItem.id)
    )
    scope = services.department_scope(current_user)
    if scope is not None:
        stmt = stmt.where(Affair.department_id.in_(scope))
    if status == "open":
        stmt = stmt.where(ActionItem.status != "done")
    elif status in ACTION_STATUSES:
        stmt = stmt.where(ActionItem.status == status)
    return list(db.session.execute(stmt).scalars().all())


@bp.get("/actions.xlsx")
@requires(*PLANNERS)
def actions_xlsx():
    """The action plan as Excel, filtered as on the page."""
    from io import BytesIO

    from common.xlsxsafe import XLSX_MIMETYPE
    from pia.assessments import xlsx

    items = _action_items(request.args.get("status", "open"))
    response = send_file(
        BytesIO(xlsx.actions_xlsx(items)),
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name="action-plan.xlsx",
    )
    response.cache_control.no_store = True
    return response


@bp.get("/actions")
@requires(*PLANNERS)
def actions():
    """The action plan: every item answered 課題が残されている, across the assessments of the
    departments the user sees."""
    status = request.args.get("status", "open")
    items = _action_items(status)
    return render_template(
        "pia/assessments/actions.html",
        **_context(items=items, status=status, today=today_jst(), ACTION_STATUSES=ACTION_STATUSES),
    )


@bp.route("/actions/<int:action_id>", methods=["GET", "POST"])
@requires(*EDITORS)
def edit_action(action_id):
    """Edit one action (what, owner, due date, status)."""
    action = _get_or_404(ActionItem, action_id)
    _editable_or_403(action.assessment)
    form = ActionForm(obj=action)
    if form.validate_on_submit():
        services.update_action(
            action,
            actor=current_user,
            what=form.what.data,
            owner=form.owner.data,
            due_on=form.due_on.data,
            status=form.status.data,
        )
        db.session.commit()
        flash("行動計画を保存しました。", "success")
        return redirect(url_for("assessments.actions"))
    return render_template(
        "pia/assessments/action_edit.html", **_context(action=action, form=form)
    ), 400 if form.errors else 200


# --------------------------------------------------------------------------- しきい値判断


@bp.route("/affairs/<int:affair_id>/threshold", methods=["GET", "POST"])
@requires(*PLANNERS)
def affair_threshold(affair_id):
    """The しきい値判断 of a 事務: its records and a form for a new one."""
    affair = _get_or_404(Affair, affair_id)
    if not services.sees_internals(current_user, affair):
        abort(403)
    may_record = services.is_officer(current_user) or (
        current_user.has_role("editor") and affair.department_id in current_user.department_ids
    )
    form = ThresholdForm()
    if request.method == "POST":
        if not may_record:
            abort(403)
        if form.validate_on_submit():
            try:
                record = services.record_threshold(
                    affair,
                    actor=current_user,
                    determined_on=form.determined_on.data,
                    target_count=form.target_count.data,
                    handlers=form.handlers.data,
                    serious_incident=form.serious_incident.data,
                    incident_on=form.incident_on.data,
                    incident_source=form.incident_source.data or "",
                    note=form.note.data or "",
                )
            except (services.ValidationFailed, threshold.RuleError) as exc:
                form.target_count.errors = list(form.target_count.errors) + [str(exc)]
            else:
                db.session.commit()
                flash(f"しきい値判断を記録しました: {threshold.describe(record.forms)}", "success")
                if record.rose:
                    flash("しきい値判断の結果が上がりました。評価の再実施が必要です。", "warning")
                return redirect(url_for("assessments.affair_threshold", affair_id=affair.id))
    elif form.determined_on.data is None:
        form.determined_on.data = today_jst()
    rules = services.threshold_rules()
    return render_template(
        "pia/assessments/threshold.html",
        **_context(
            affair=affair,
            form=form,
            may_record=may_record,
            rules=rules,
            describe=threshold.describe,
            level=threshold.requirement_level,
        ),
    ), 400 if form.errors else 200


@bp.route("/threshold/rules", methods=["GET", "POST"])
@requires("officer", "editor", "auditor", "admin")
def threshold_rules():
    """The rule table of the しきい値判断 (officers edit it)."""
    rules = services.threshold_rules()
    problems: list[str] = []
    form = ConflictForm()
    if request.method == "POST":
        if not services.is_officer(current_user):
            abort(403)
        if not form.validate_on_submit():
            abort(400)
        rules, problems = _rules_from_form(request.form)
        if not problems:
            try:
                services.save_rules(rules, actor=current_user)
            except services.ValidationFailed as exc:
                problems = [e.message for e in exc.errors]
            else:
                db.session.commit()
                flash("判断基準を保存しました。", "success")
                return redirect(url_for("assessments.threshold_rules"))
    return render_template(
        "pia/assessments/threshold_rules.html",
        **_context(
            rules=rules, problems=problems, form=form, defaults=threshold.DEFAULT_RULES, describe=threshold.describe
        ),
    ), 400 if problems else 200


def _rules_from_form(form) -> tuple[list[dict], list[str]]:
    rules, problems = [], []
    indices = sorted({int(m.group(1)) for k in form for m in [re.match(r"rule-(\d+)-", k)] if m})
    for index in indices:
        prefix = f"rule-{index}-"
        if form.get(prefix + "delete"):
            continue
        raw_min, raw_max = form.get(prefix + "min", "").strip(), form.get(prefix + "max", "").strip()
        forms = [f for f in form.getlist(prefix + "forms") if f in FORMS]
        note = form.get(prefix + "note", "").strip()
        handlers = form.get(prefix + "handlers", "").strip()
        incident = bool(form.get(prefix + "incident"))
        if not raw_min and not raw_max and not forms and not note and not handlers and not incident:
            continue  # the blank row for adding
        try:
            rule = {
                "target_min": int(raw_min.replace(",", "") or 0),
                "target_max": int(raw_max.replace(",", "")) if raw_max else None,
                "forms": forms,
                "note": note,
            }
            when = {}
            if handlers:
                when["handlers_at_least"] = int(handlers.replace(",", ""))
            if incident:
                when["serious_incident"] = True
            if when:
                rule["when"] = when
        except ValueError:
            problems.append(f"{len(rules) + 1}行目: 人数は数字で入力してください。")
            continue
        rules.append(rule)
    return rules, problems


# --------------------------------------------------------------------------- deadlines, search


@bp.get("/deadlines")
@requires(*PLANNERS)
def deadlines():
    """Deadlines per 事務: required form, publication, re-assessment, 見直し, actions."""
    today = today_jst()
    return render_template(
        "pia/assessments/deadlines.html",
        **_context(
            rows=services.deadlines(today, user=current_user),
            today=today,
            alerts=services.threshold_alerts(current_user),
        ),
    )


@bp.get("/search")
@requires(*PLANNERS)
def search_page():
    """Full-text search across the versions the user may read."""
    query = request.args.get("q", "").strip()[:200]
    results = []
    if query:
        results = search.search(query, version_filter=services.readable_versions_clause(current_user))
    return render_template("pia/assessments/search.html", **_context(query=query, results=results))


# --------------------------------------------------------------------------- export, import


@bp.get("/assessments/<int:assessment_id>/export")
@requires("officer", "auditor", "admin")
def export_assessment(assessment_id):
    """The assessment with all its versions as JSON."""
    item = _get_or_404(Assessment, assessment_id)
    data = exchange.export_assessment(item)
    audit.record("export", "Assessment", item.id, f"{item.title}をJSONで出力しました。", actor=current_user)
    db.session.commit()
    body = json.dumps(data, ensure_ascii=False, indent=2)
    filename = f"assessment-{item.affair.code}-{item.form}.json"
    return Response(
        body, mimetype="application/json", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@bp.route("/assessments/import", methods=["GET", "POST"])
@requires("officer", "admin")
def import_assessment():
    """Recreate an assessment from its JSON export."""
    form = ImportForm()
    error = None
    if form.validate_on_submit():
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise exchange.ImportError_("ファイルを選んでください。")
            raw = upload.read(20 * 1024 * 1024 + 1)
            if len(raw) > 20 * 1024 * 1024:
                raise exchange.ImportError_("ファイルが大きすぎます(20MBまで)。")
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise exchange.ImportError_("JSONとして読み込めません。") from None
            item = exchange.import_assessment(data, actor=current_user, affair_code=form.affair_code.data or None)
        except exchange.ImportError_ as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
            flash("評価書を取り込みました。", "success")
            return redirect(url_for("assessments.assessment", assessment_id=item.id))
    return render_template("pia/assessments/import.html", form=form, error=error), 400 if error else 200
