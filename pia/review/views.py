"""Routes of the third-party review (第三者点検): the blueprint ``review``.

Reviewers (role ``reviewer``) read the versions under review and write findings — nothing
else; officers record the sessions, upload the minutes and write the responses.
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from common import audit
from common.auth import requires
from common.confirm import Confirmation, confirmation_page, confirmed, excerpt
from common.db import db
from common.forms import ConfirmForm
from common.jpdate import format_date
from common.uploads import UploadRejected
from pia.assessments.models import AssessmentVersion
from pia.review import services
from pia.review.forms import BodyForm, FindingForm, ResponseForm, SessionForm
from pia.review.models import ReviewBody, ReviewFinding, ReviewSession

bp = Blueprint("review", __name__)

REVIEW_ROLES = ("officer", "reviewer")


def _is_officer() -> bool:
    return current_user.has_role("officer")


def _readable(version: AssessmentVersion) -> None:
    """Reviewers see a version only while it is under review; officers always."""
    if _is_officer():
        return
    if version.status != "review":
        abort(403)


# --------------------------------------------------------------------------- lists


@bp.get("/reviews")
@requires(*REVIEW_ROLES)
def index():
    """Versions under third-party review (and, for officers, the reviews recorded)."""
    under_review = services.versions_under_review()
    recorded = []
    if _is_officer():
        recorded = (
            db.session.execute(
                sa.select(ReviewSession).order_by(ReviewSession.held_on.desc(), ReviewSession.id.desc()).limit(50)
            )
            .scalars()
            .all()
        )
    counts = {}
    for version in under_review:
        findings = services.findings_for(version)
        counts[version.id] = (len(findings), sum(1 for f in findings if not f.answered))
    return render_template(
        "pia/review/index.html",
        versions=under_review,
        recorded=recorded,
        counts=counts,
        officer=_is_officer(),
        pending=services.pending_findings() if _is_officer() else [],
    )


@bp.get("/reviews/versions/<int:version_id>")
@requires(*REVIEW_ROLES)
def version(version_id):
    """A version as the reviewers read it, with the sessions, findings and responses."""
    from pia.assessments.render import document_view

    version = db.get_or_404(AssessmentVersion, version_id)
    _readable(version)
    sessions = services.sessions_for(version)
    findings = services.findings_for(version)
    finding_form = _finding_form(version, sessions)
    response_forms = {}
    if _is_officer():
        for finding in findings:
            response_forms[finding.id] = _response_form(finding, prefix=f"f{finding.id}")
    return render_template(
        "pia/review/version.html",
        version=version,
        assessment=version.assessment,
        sections=document_view(version),
        sessions=sessions,
        findings=findings,
        finding_form=finding_form,
        response_forms=response_forms,
        officer=_is_officer(),
        problem=services.review_problem(version),
        confirm=ConfirmForm(),
        staleness=services.staleness(version),
        review_round=services.latest_round(version),
        can_write=version.status == "review" or _is_officer(),
    )


@bp.get("/reviews/versions/<int:version_id>/since-review")
@requires(*REVIEW_ROLES)
def since_review(version_id):
    """What changed in the version since the text its third-party review covered."""
    version = db.get_or_404(AssessmentVersion, version_id)
    _readable(version)
    stale = services.staleness(version)
    if stale is None:
        flash("この版には結果が記録された第三者点検がありません。", "info")
        return redirect(url_for("review.version", version_id=version.id))
    return render_template("pia/review/since.html", version=version, assessment=version.assessment, stale=stale)


def _finding_form(version: AssessmentVersion, sessions, formdata=None) -> FindingForm:
    form = FindingForm(formdata=formdata) if formdata is not None else FindingForm(formdata=None)
    form.item_path.choices = [("", "評価書全体")] + [(path, label) for path, label in services.item_choices(version)]
    form.session.choices = [(0, "(会議の前・書面)")] + [
        (s.id, f"{format_date(s.held_on)} {s.body.name}") for s in sessions
    ]
    return form


def _response_form(finding: ReviewFinding, prefix: str, formdata=None) -> ResponseForm:
    kwargs = {"prefix": prefix}
    if formdata is None:
        kwargs["formdata"] = None
    form = ResponseForm(**kwargs)
    versions = sorted(finding.version.assessment.versions, key=lambda v: v.number)
    form.change_version.choices = [(0, "(この指摘を受けた版)")] + [
        (v.id, f"{v.label}({v.status_label})") for v in versions if v.number >= finding.version.number
    ]
    if formdata is None:
        form.response.data = finding.response
        form.draft_changed.data = finding.draft_changed
        form.change_version.data = finding.change_version_id or 0
        form.change_note.data = finding.change_note
    return form


# --------------------------------------------------------------------------- findings


@bp.post("/reviews/versions/<int:version_id>/findings")
@requires(*REVIEW_ROLES)
def add_finding(version_id):
    """Record a finding (指摘事項) on an item of the version."""
    version = db.get_or_404(AssessmentVersion, version_id)
    _readable(version)
    sessions = services.sessions_for(version)
    form = _finding_form(version, sessions, formdata=request.form)
    if not form.validate_on_submit():
        for field in (form.item_path, form.session, form.text):
            for error in field.errors:
                flash(f"{field.label.text}: {error}", "error")
        return redirect(url_for("review.version", version_id=version.id) + "#new-finding")
    labels = dict(form.item_path.choices)
    session = db.session.get(ReviewSession, form.session.data) if form.session.data else None
    finding = services.add_finding(
        version,
        actor=current_user,
        text=form.text.data,
        item_path=form.item_path.data or "",
        item_label=labels.get(form.item_path.data, "") if form.item_path.data else "",
        session=session,
    )
    db.session.commit()
    flash("指摘事項を記録しました。", "success")
    return redirect(url_for("review.version", version_id=version.id) + f"#finding-{finding.id}")


@bp.post("/reviews/findings/<int:finding_id>/delete")
@requires(*REVIEW_ROLES)
def delete_finding(finding_id):
    """Withdraw a finding that has no response yet (reviewers: only their own)."""
    finding = db.get_or_404(ReviewFinding, finding_id)
    version = finding.version
    _readable(version)
    if not _is_officer() and finding.author_id != current_user.id:
        abort(403)
    if not confirmed():
        return confirmation_page(
            Confirmation(
                title="指摘事項を取り下げます",
                lead=f"{finding.item_label or '評価書全体'}への指摘「{excerpt(finding.text)}」を取り下げます。",
                consequences=[
                    "指摘事項は削除され、第三者点検の記録と評価書のVI 評価実施手続に載らなくなります。",
                ],
                action_label="取り下げる",
                back_url=url_for("review.version", version_id=version.id) + f"#finding-{finding.id}",
            )
        )
    try:
        services.delete_finding(finding, actor=current_user)
    except services.ReviewError as exc:
        flash(str(exc), "error")
        return redirect(url_for("review.version", version_id=version.id))
    db.session.commit()
    flash("指摘事項を取り下げました。", "success")
    return redirect(url_for("review.version", version_id=version.id))


@bp.post("/reviews/findings/<int:finding_id>/response")
@requires("officer")
def respond_finding(finding_id):
    """Record the body's response to a finding."""
    finding = db.get_or_404(ReviewFinding, finding_id)
    form = _response_form(finding, prefix=f"f{finding.id}", formdata=request.form)
    if not form.validate_on_submit():
        for field in (form.response, form.change_version, form.change_note):
            for error in field.errors:
                flash(f"{field.label.text}: {error}", "error")
        return redirect(url_for("review.version", version_id=finding.version_id) + f"#finding-{finding.id}")
    change_version = db.session.get(AssessmentVersion, form.change_version.data) if form.change_version.data else None
    try:
        services.respond(
            finding,
            actor=current_user,
            response=form.response.data,
            draft_changed=form.draft_changed.data,
            change_version=change_version,
            change_note=form.change_note.data or "",
        )
    except services.ReviewError as exc:
        flash(str(exc), "error")
        return redirect(url_for("review.version", version_id=finding.version_id) + f"#finding-{finding.id}")
    db.session.commit()
    flash("対応を記録しました。", "success")
    return redirect(url_for("review.version", version_id=finding.version_id) + f"#finding-{finding.id}")


# --------------------------------------------------------------------------- sessions


def _session_form(session: ReviewSession | None = None) -> SessionForm:
    form = SessionForm(obj=None if request.method == "POST" else session)
    bodies = db.session.execute(sa.select(ReviewBody).order_by(ReviewBody.id)).scalars().all()
    form.body.choices = [(0, "(選択してください)")] + [
        (b.id, b.name) for b in bodies if b.active or (session is not None and session.body_id == b.id)
    ]
    if request.method != "POST" and session is not None:
        form.body.data = session.body_id
    return form


def _save_session_form(form: SessionForm, session: ReviewSession) -> bool:
    session.body_id = form.body.data
    session.held_on = form.held_on.data
    session.method = (form.method.data or "").strip()
    session.result = (form.result.data or "").strip()
    services.save_session(session, actor=current_user)
    upload = form.minutes.data
    if upload is not None and getattr(upload, "filename", ""):
        data = upload.read(services.MINUTES_MAX_BYTES + 1)
        try:
            services.attach_minutes(session, upload.filename, data, actor=current_user)
        except UploadRejected as exc:
            form.minutes.errors = [exc.message]
            return False
    return True


@bp.route("/reviews/versions/<int:version_id>/sessions/new", methods=["GET", "POST"])
@requires("officer")
def new_session(version_id):
    """Record a review session on a version."""
    version = db.get_or_404(AssessmentVersion, version_id)
    form = _session_form()
    if form.validate_on_submit():
        session = ReviewSession(version_id=version.id)
        if _save_session_form(form, session):
            db.session.commit()
            flash("第三者点検の実施を記録しました。", "success")
            return redirect(url_for("review.version", version_id=version.id))
        db.session.rollback()
    if request.method != "POST" and not form.method.data:
        form.held_on.data = services.today()
    return render_template(
        "pia/review/session_form.html", form=form, version=version, session=None
    ), 400 if form.errors else 200


@bp.route("/reviews/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@requires("officer")
def edit_session(session_id):
    """Change a session: result, minutes."""
    session = db.get_or_404(ReviewSession, session_id)
    form = _session_form(session)
    if form.validate_on_submit():
        if _save_session_form(form, session):
            db.session.commit()
            flash("第三者点検の記録を保存しました。", "success")
            return redirect(url_for("review.version", version_id=session.version_id))
        db.session.rollback()
        session = db.session.get(ReviewSession, session_id)
    return render_template(
        "pia/review/session_form.html", form=form, version=session.version, session=session
    ), 400 if form.errors else 200


@bp.get("/reviews/sessions/<int:session_id>/minutes")
@requires(*REVIEW_ROLES)
def minutes(session_id):
    """Download the minutes (PDF) of a session."""
    session = db.get_or_404(ReviewSession, session_id)
    _readable(session.version)
    path = services.minutes_path(session)
    if path is None or not path.is_file():
        abort(404)
    audit.record("export", "ReviewSession", session.id, f"議事録({session.minutes_name})をダウンロードしました。")
    db.session.commit()
    return send_file(
        io.BytesIO(path.read_bytes()),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=session.minutes_name or "minutes.pdf",
    )


# --------------------------------------------------------------------------- bodies


@bp.get("/reviews/bodies")
@requires("officer")
def bodies():
    """The bodies that review assessments."""
    bodies = db.session.execute(sa.select(ReviewBody).order_by(ReviewBody.id)).scalars().all()
    return render_template("pia/review/bodies.html", bodies=bodies)


def _body_form(body: ReviewBody | None = None) -> BodyForm:
    form = BodyForm(obj=None if request.method == "POST" else body)
    if request.method != "POST" and body is not None:
        form.members.data = services.members_text(body.members)
    return form


def _name_taken(name: str, own_id: int | None) -> bool:
    found = db.session.execute(sa.select(ReviewBody.id).filter_by(name=name)).scalar_one_or_none()
    return found is not None and found != own_id


@bp.route("/reviews/bodies/new", methods=["GET", "POST"])
@requires("officer")
def new_body():
    """Register a reviewer body."""
    form = _body_form()
    if form.validate_on_submit():
        if _name_taken(form.name.data.strip(), None):
            form.name.errors.append("同じ名称の機関が登録されています。")
        else:
            body = ReviewBody(
                name=form.name.data.strip(),
                kind=form.kind.data,
                members=services.parse_members(form.members.data),
                notes=(form.notes.data or "").strip(),
                active=form.active.data,
            )
            services.save_body(body, actor=current_user)
            db.session.commit()
            flash("点検を行う機関を登録しました。", "success")
            return redirect(url_for("review.bodies"))
    return render_template("pia/review/body_form.html", form=form, body=None), 400 if form.errors else 200


@bp.route("/reviews/bodies/<int:body_id>/edit", methods=["GET", "POST"])
@requires("officer")
def edit_body(body_id):
    """Change a reviewer body and its members."""
    body = db.get_or_404(ReviewBody, body_id)
    form = _body_form(body)
    if form.validate_on_submit():
        if _name_taken(form.name.data.strip(), body.id):
            form.name.errors.append("同じ名称の機関が登録されています。")
        else:
            body.name = form.name.data.strip()
            body.kind = form.kind.data
            body.members = services.parse_members(form.members.data)
            body.notes = (form.notes.data or "").strip()
            body.active = form.active.data
            services.save_body(body, actor=current_user)
            db.session.commit()
            flash("保存しました。", "success")
            return redirect(url_for("review.bodies"))
    return render_template("pia/review/body_form.html", form=form, body=body), 400 if form.errors else 200


# --------------------------------------------------------------------------- dashboard and templates


def dashboard_panel(user):
    """Dashboard: the versions under review, and for officers the findings awaiting a response."""
    if not user.has_role("officer", "reviewer"):
        return None
    under_review = services.versions_under_review()
    pending = services.pending_findings() if user.has_role("officer") else []
    return "pia/review/_panel.html", {"versions": under_review, "pending": pending, "officer": user.has_role("officer")}


def template_helpers() -> dict:
    """The functions the review's panel on the assessment pages calls."""
    return {
        "review_sessions_for": services.sessions_for,
        "review_findings_for": services.findings_for,
        "review_problem": services.review_problem,
    }
