"""Staff pages of the consultation (保護評価担当): set up, intake, opinions, review, result."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from common.auth import requires
from common.confirm import Confirmation, confirmation_page, confirmed, excerpt
from common.db import db
from common.jpdate import format_date
from common.params import db_id
from common.timeutil import today_jst
from common.uploads import UploadRejected
from consultation import services
from consultation.forms import (
    ActionForm,
    CloseForm,
    ConsultationForm,
    MailImportForm,
    OpinionForm,
    PaperSubmissionForm,
    ReplyImportForm,
    SplitForm,
)
from consultation.models import (
    STATES,
    Consultation,
    FormLetterGroup,
    InvalidTransition,
    Opinion,
    Submission,
    SubmissionFile,
)
from consultation.report import build_report, render_pdf

bp = Blueprint("consultation", __name__, url_prefix="/consultations")


def _versions():
    from pia.assessments.models import Assessment, AssessmentVersion

    rows = db.session.execute(
        db.select(AssessmentVersion).join(Assessment).order_by(Assessment.title, AssessmentVersion.number)
    ).scalars()
    return list(rows)


def _version_label(version) -> str:
    from pia.assessments.models import VERSION_STATES

    return f"{version.assessment.title} 第{version.number}版（{VERSION_STATES.get(version.status, version.status)}）"


def _item_choices(version) -> list[tuple[str, str]]:
    """(path, label) of every item of the version's form, for the target item of an opinion."""
    choices = [("", "（指定しない）")]
    if version is None:
        return choices
    try:
        from pia.schema import display_label, load_schema, walk_schema

        schema = load_schema(version.assessment.form, version.edition)
    except Exception:  # schema missing or pia not ready: no item list, still usable
        return choices
    for section in schema.sections:
        choices.append((section.key, section.display_title))
        for item, path in walk_schema(section.items, section.key):
            depth = path.count("/")
            choices.append((path, "　" * depth + display_label(item.number, item.label)))
    return choices


def _get(consultation_id: int) -> Consultation:
    return db.get_or_404(Consultation, consultation_id)


# --- consultations --------------------------------------------------------------------


@bp.get("/")
@requires("officer")
def index():
    """Every consultation, newest first."""
    rows = (
        db.session.execute(db.select(Consultation).order_by(Consultation.start_date.desc(), Consultation.id.desc()))
        .scalars()
        .all()
    )
    return render_template(
        "consultation/index.html",
        consultations=rows,
        states=STATES,
        unanswered={c.id: services.unanswered_count(c) for c in rows},
    )


def _fill(consultation: Consultation, form: ConsultationForm) -> dict:
    return dict(
        version_id=form.version_id.data,
        title=form.title.data.strip(),
        description=form.description.data or "",
        start_date=form.start_date.data,
        end_date=form.end_date.data,
        shortened_reason=(form.shortened_reason.data or "").strip(),
        places=form.place_list(),
        web_url=(form.web_url.data or "").strip(),
        channels=list(form.channels.data),
        channel_info=form.channel_info(),
        eligibility=form.eligibility.data or "",
        form_fields=form.field_modes(),
        consent_text=form.consent_text.data or "",
        categories=form.category_list(consultation.category_list() if consultation else []),
    )


def _form_defaults(consultation: Consultation) -> dict:
    info = consultation.channel_info or {}
    return dict(
        version_id=consultation.version_id,
        title=consultation.title,
        description=consultation.description,
        start_date=consultation.start_date,
        end_date=consultation.end_date,
        shortened_reason=consultation.shortened_reason,
        places="\n".join(consultation.places or []),
        web_url=consultation.web_url,
        channels=consultation.channels,
        info_post=info.get("post", ""),
        info_hand=info.get("hand", ""),
        info_fax=info.get("fax", ""),
        info_email=info.get("email", ""),
        eligibility=consultation.eligibility,
        field_name=consultation.field_mode("name"),
        field_address=consultation.field_mode("address"),
        field_contact=consultation.field_mode("contact"),
        consent_text=consultation.consent_text,
        categories="\n".join(
            c["label"] + (f"｜{c['heading']}" if c.get("heading") else "") for c in consultation.category_list()
        ),
    )


@bp.route("/new", methods=["GET", "POST"])
@requires("officer")
def create():
    """Set up a consultation for an assessment version."""
    form = ConsultationForm()
    versions = _versions()
    form.version_id.choices = [(v.id, _version_label(v)) for v in versions]
    if request.method == "GET":
        form.version_id.data = request.args.get("version_id", type=db_id)
        form.channels.data = ["post", "hand", "fax", "email", "web"]
        form.categories.data = "評価書に対するご意見\n制度全体に関するご意見"
        form.consent_text.data = (
            "いただいたご意見は、氏名・住所・連絡先を除き、概要として公表することがあります。"
            "氏名・住所・連絡先は、ご意見の内容を確認する場合にのみ使用します。"
        )
        version = next((v for v in versions if v.id == form.version_id.data), None)
        if version is not None:
            form.title.data = version.assessment.title
    if form.validate_on_submit():
        version = next(v for v in versions if v.id == form.version_id.data)
        values = _fill(None, form)
        values.pop("version_id")
        consultation = services.create_consultation(version, actor=current_user, **values)
        db.session.commit()
        flash("意見募集を作成しました。", "success")
        return redirect(url_for(".show", consultation_id=consultation.id))
    return render_template("consultation/form.html", form=form, consultation=None, c=None)


@bp.route("/<int:consultation_id>/edit", methods=["GET", "POST"])
@requires("officer")
def edit(consultation_id):
    """Change the settings of a consultation."""
    consultation = _get(consultation_id)
    if consultation.status == "reported":
        flash("結果を公表した意見募集は変更できません。", "error")
        return redirect(url_for(".show", consultation_id=consultation.id))
    form = ConsultationForm(data=_form_defaults(consultation) if request.method == "GET" else None)
    form.version_id.choices = [(v.id, _version_label(v)) for v in _versions()]
    if form.validate_on_submit():
        try:
            services.update_consultation(consultation, actor=current_user, **_fill(consultation, form))
        except ValueError as error:
            db.session.rollback()
            form.version_id.errors = [str(error)]
        else:
            db.session.commit()
            flash("意見募集の設定を保存しました。", "success")
            return redirect(url_for(".show", consultation_id=consultation.id))
    return render_template("consultation/form.html", form=form, consultation=consultation, c=consultation)


@bp.get("/<int:consultation_id>")
@requires("officer")
def show(consultation_id):
    """A consultation: its state, settings, submissions and next steps."""
    consultation = _get(consultation_id)
    return render_template(
        "consultation/show.html",
        c=consultation,
        form=ActionForm(),
        unanswered=services.unanswered_count(consultation),
        today=today_jst(),
        procedure_problems=services.procedure_problems(consultation),
        publish_problems=services.publish_problems(consultation) if consultation.status == "closed" else [],
        version_label=_version_label(consultation.version),
    )


def _open_confirmation(consultation) -> Confirmation:
    """What opening (or reopening) the intake will do."""
    back_url = url_for(".show", consultation_id=consultation.id)
    carry = {"state": "open"}
    if consultation.status == "closed":
        consequences = ["公開ページのWebフォームで、再び意見を受け付けます。"]
        if consultation.closed_early:
            consequences.append("記録した締め切る特段の理由は消去されます（変更の記録には残ります）。")
        return Confirmation(
            title="意見募集を再開します",
            lead=f"「{consultation.title}」の意見の受付を再開します。",
            consequences=consequences,
            action_label="募集を再開する",
            back_url=back_url,
            carry=carry,
            danger=False,
        )
    return Confirmation(
        title="意見募集を開始します",
        lead=f"「{consultation.title}」の意見募集を開始します"
        f"（募集期間: {format_date(consultation.start_date)}～{format_date(consultation.end_date)}）。",
        consequences=[
            "公開ページに意見募集と評価書（案）を掲載し、Webフォームでの受付を始めます。",
            "掲載する評価書（案）は、開始した時点の記載で確定します。",
            "開始した意見募集を「募集前」に戻すことはできません。",
        ],
        action_label="募集を開始する",
        back_url=back_url,
        carry=carry,
    )


@bp.post("/<int:consultation_id>/state")
@requires("officer")
def change_state(consultation_id):
    """Open or reopen the consultation (closing has its own page: :func:`close`)."""
    consultation = _get(consultation_id)
    target = request.form.get("state", "")
    if target != "open":
        abort(400)
    if not confirmed():
        return confirmation_page(_open_confirmation(consultation))
    try:
        consultation.transition(target, actor=current_user, note="再開" if consultation.status == "closed" else "")
    except InvalidTransition as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(f"意見募集を「{STATES[target]}」にしました。", "success")
    return redirect(url_for(".show", consultation_id=consultation.id))


@bp.route("/<int:consultation_id>/close", methods=["GET", "POST"])
@requires("officer")
def close(consultation_id):
    """Close the intake. The page says what will happen; a POST without ``confirm`` shows it
    again, and before the end of the period a 特段の理由 is required."""
    consultation = _get(consultation_id)
    if consultation.status != "open":
        flash("募集中の意見募集ではないため、締め切ることはできません。", "error")
        return redirect(url_for(".show", consultation_id=consultation.id))
    form = CloseForm()
    today = today_jst()
    early = consultation.closes_early_on(today)
    status = 200
    if form.validate_on_submit() and form.confirm.data == "yes":
        reason = (form.reason.data or "").strip()
        try:
            services.close_consultation(consultation, actor=current_user, reason=reason, today=today)
        except InvalidTransition as error:
            form.reason.errors = [str(error)]
            status = 400
        else:
            db.session.commit()
            flash(f"意見募集を「{STATES['closed']}」にしました。", "success")
            return redirect(url_for(".show", consultation_id=consultation.id))
    elif form.errors:
        status = 400
    return render_template(
        "consultation/close.html",
        c=consultation,
        form=form,
        early=early,
        today=today,
        remaining=(consultation.end_date - today).days + 1 if early else 0,
    ), status


@bp.route("/<int:consultation_id>/early-close-reason", methods=["GET", "POST"])
@requires("officer")
def early_close_reason(consultation_id):
    """Record why a consultation was closed before the end of its period (section VI)."""
    consultation = _get(consultation_id)
    if not consultation.closed_early:
        abort(404)
    form = CloseForm(data={"reason": consultation.early_close_reason} if request.method == "GET" else None)
    status = 200
    if form.validate_on_submit():
        try:
            services.record_early_close_reason(consultation, actor=current_user, reason=form.reason.data or "")
        except ValueError as error:
            form.reason.errors = [str(error)]
            status = 400
        else:
            db.session.commit()
            flash("締め切った特段の理由を記録しました。", "success")
            return redirect(url_for(".show", consultation_id=consultation.id))
    elif form.errors:
        status = 400
    return render_template("consultation/early_close_reason.html", c=consultation, form=form), status


@bp.post("/<int:consultation_id>/publish")
@requires("officer")
def publish(consultation_id):
    """Publish the result report (state 結果公表済み)."""
    consultation = _get(consultation_id)
    if not confirmed():
        return confirmation_page(
            Confirmation(
                title="意見募集の結果を公表します",
                lead=f"「{consultation.title}」の結果（寄せられた意見の概要と市の考え方）を公表します。",
                consequences=[
                    "公開ページに結果を掲載します。",
                    "「結果公表済み」にした意見募集は、募集中や募集終了に戻せません。",
                ],
                action_label="結果を公表する",
                back_url=url_for(".show", consultation_id=consultation.id),
            )
        )
    try:
        services.publish_result(consultation, actor=current_user)
    except (ValueError, InvalidTransition) as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash("結果を公表しました。", "success")
    return redirect(url_for(".show", consultation_id=consultation.id))


# --- intake ---------------------------------------------------------------------------


@bp.route("/<int:consultation_id>/submissions/new", methods=["GET", "POST"])
@requires("officer")
def add_submission(consultation_id):
    """Enter an opinion received by 郵送, 持参 or FAX."""
    consultation = _get(consultation_id)
    form = PaperSubmissionForm()
    if consultation.status == "reported":
        flash("結果を公表した意見募集には追加できません。", "error")
        return redirect(url_for(".show", consultation_id=consultation.id))
    if form.validate_on_submit():
        upload = form.scan.data
        scan = (upload.filename or "", upload.read()) if upload and upload.filename else None
        try:
            submission = services.add_paper_submission(
                consultation,
                actor=current_user,
                channel=form.channel.data,
                received_on=form.received_on.data,
                submitter_kind=form.submitter_kind.data or "individual",
                name=form.name.data or "",
                address=form.address.data or "",
                contact=form.contact.data or "",
                body=form.body.data or "",
                scan=scan,
                note=form.note.data or "",
            )
        except UploadRejected as rejected:
            form.scan.errors = [rejected.message]
        else:
            if not submission.body and not submission.files:
                db.session.rollback()
                form.body.errors = ["意見の内容を入力するか、スキャンした書面を添付してください。"]
            else:
                db.session.commit()
                flash(
                    f"{submission.channel_label}の意見を登録しました（受付番号 {submission.receipt_number}）。",
                    "success",
                )
                return redirect(url_for(".submission", submission_id=submission.id))
    return render_template("consultation/submission_form.html", c=consultation, form=form)


@bp.route("/<int:consultation_id>/mail", methods=["GET", "POST"])
@requires("officer")
def import_mail(consultation_id):
    """Import opinions sent by e-mail (.eml files or an mbox)."""
    consultation = _get(consultation_id)
    form = MailImportForm()
    result = None
    errors = []
    if form.validate_on_submit():
        files = [(f.filename or "", f.read()) for f in (form.files.data or []) if f and f.filename]
        try:
            result = services.import_mail(consultation, files, actor=current_user)
        except services.IntakeError as error:
            db.session.rollback()
            errors = error.messages
        else:
            db.session.commit()
            flash(f"電子メールの意見を{len(result.created)}件取り込みました。", "success")
    return render_template("consultation/mail_import.html", c=consultation, form=form, result=result, errors=errors)


@bp.get("/submissions/<int:submission_id>")
@requires("officer")
def submission(submission_id):
    """One submission with the submitter's details (staff only) and its opinions."""
    sub = db.get_or_404(Submission, submission_id)
    return render_template("consultation/submission.html", s=sub, c=sub.consultation, form=ActionForm())


@bp.get("/files/<int:file_id>")
@requires("officer")
def download(file_id):
    """A scanned page or mail attachment."""
    stored = db.get_or_404(SubmissionFile, file_id)
    path = services.file_path(stored)
    if not path.exists():
        abort(404)
    return send_file(path, mimetype=stored.content_type, as_attachment=True, download_name=stored.filename)


# --- opinions -------------------------------------------------------------------------


@bp.get("/<int:consultation_id>/opinions")
@requires("officer")
def opinions(consultation_id):
    """All opinions in report order: reorder, split, answer."""
    consultation = _get(consultation_id)
    return render_template(
        "consultation/opinions.html",
        c=consultation,
        form=ActionForm(),
        opinions=services.ordered_opinions(consultation),
    )


@bp.get("/<int:consultation_id>/opinions.xlsx")
@requires("officer")
def opinions_xlsx(consultation_id):
    """The opinions and replies as Excel (no submitter data)."""
    from io import BytesIO
    from urllib.parse import quote

    from common.xlsxsafe import XLSX_MIMETYPE
    from consultation import xlsx

    consultation = _get(consultation_id)
    response = send_file(
        BytesIO(xlsx.opinions_xlsx(consultation)),
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=f"consultation-{consultation.id}-opinions.xlsx",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="consultation-{consultation.id}-opinions.xlsx"; '
        f"filename*=UTF-8''{quote(xlsx.filename(consultation))}"
    )
    response.cache_control.no_store = True
    return response


#: largest Excel file read back (the sheet of a large consultation is well under 1 MB)
REPLY_IMPORT_MAX_BYTES = 5 * 1024 * 1024


@bp.route("/<int:consultation_id>/opinions/import", methods=["GET", "POST"])
@requires("officer")
def import_replies(consultation_id):
    """Read replies written in Excel and show what would change (nothing is stored yet)."""
    from common.xlsxsafe import SpreadsheetError
    from consultation import xlsx

    consultation = _get(consultation_id)
    form = ReplyImportForm()
    errors: list[str] = []
    reading = None
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read(REPLY_IMPORT_MAX_BYTES + 1) if upload else b""
        if not data:
            errors.append("ファイルを選んでください。")
        elif len(data) > REPLY_IMPORT_MAX_BYTES:
            errors.append("ファイルが大きすぎます（5MBまで）。")
        else:
            try:
                reading = xlsx.read_replies(consultation, data)
            except SpreadsheetError as exc:
                errors.append(exc.message)
            else:
                errors = reading.errors
    elif request.method == "POST":
        errors.append("送信を確認できませんでした。もう一度お試しください。")
    return render_template(
        "consultation/opinions_import.html",
        c=consultation,
        form=form,
        confirm=ActionForm(),
        errors=errors,
        reading=reading if reading and not errors else None,
    ), (400 if errors else 200)


@bp.post("/<int:consultation_id>/opinions/import/confirm")
@requires("officer")
def confirm_replies(consultation_id):
    """Store the replies shown in the preview, all or none."""
    from consultation import xlsx

    consultation = _get(consultation_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    ids = request.form.getlist("opinion_id")
    digests = request.form.getlist("old_digest")
    replies = request.form.getlist("reply")
    if not ids or not (len(ids) == len(digests) == len(replies)):
        abort(400)
    try:
        rows = [(db_id(i), d, r) for i, d, r in zip(ids, digests, replies)]
    except ValueError:
        abort(400)
    try:
        count = xlsx.apply_replies(consultation, rows, actor=current_user)
    except ValueError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".import_replies", consultation_id=consultation.id))
    db.session.commit()
    flash(f"市の考え方を{count}件保存しました。", "success")
    return redirect(url_for(".opinions", consultation_id=consultation.id))


@bp.post("/submissions/<int:submission_id>/opinions")
@requires("officer")
def add_opinion(submission_id):
    """Add an empty opinion to a submission."""
    sub = db.get_or_404(Submission, submission_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    opinion = services.add_opinion(sub, actor=current_user, summary="（意見の概要を入力してください）")
    db.session.commit()
    return redirect(url_for(".edit_opinion", opinion_id=opinion.id))


def _change_versions(consultation):
    version = consultation.version
    return [v for v in version.assessment.versions if v.number > version.number]


@bp.route("/opinions/<int:opinion_id>/edit", methods=["GET", "POST"])
@requires("officer")
def edit_opinion(opinion_id):
    """Edit an opinion's summary, category, topic, target item and reply."""
    opinion = db.get_or_404(Opinion, opinion_id)
    consultation = opinion.consultation
    form = OpinionForm(obj=opinion if request.method == "GET" else None)
    form.category.choices = [(c["key"], c["label"]) for c in consultation.category_list()]
    items = _item_choices(consultation.version)
    form.target_path.choices = items
    later = _change_versions(consultation)
    form.change_version_id.choices = [(0, "（選択してください）")] + [(v.id, _version_label(v)) for v in later]
    change_items = _item_choices(later[0] if later else consultation.version)
    form.change_path.choices = change_items
    if request.method == "GET":
        form.change_version_id.data = opinion.change_version_id or 0
    if opinion.represented_by_id:
        flash("この意見は同一・類似の意見として代表の意見に従います。代表の意見を編集してください。", "info")
        return redirect(url_for(".edit_opinion", opinion_id=opinion.represented_by_id))
    if form.validate_on_submit():
        services.update_opinion(
            opinion,
            actor=current_user,
            summary=form.summary.data.strip(),
            category=form.category.data,
            topic=(form.topic.data or "").strip().strip("【】"),
            target_path=form.target_path.data or "",
            reply=(form.reply.data or "").strip(),
            changed=form.changed.data,
            change_version_id=(form.change_version_id.data or None) if form.changed.data else None,
            change_path=(form.change_path.data or "") if form.changed.data else "",
        )
        db.session.commit()
        flash("意見を保存しました。", "success")
        return redirect(url_for(".opinions", consultation_id=consultation.id, _anchor=f"op-{opinion.id}"))
    return render_template(
        "consultation/opinion_form.html", c=consultation, o=opinion, form=form, item_labels=dict(items)
    )


@bp.route("/opinions/<int:opinion_id>/split", methods=["GET", "POST"])
@requires("officer")
def split_opinion(opinion_id):
    """Split an opinion into several at the lines of ----."""
    opinion = db.get_or_404(Opinion, opinion_id)
    form = SplitForm(data={"text": opinion.summary} if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            parts = services.split_opinion(opinion, form.parts(), actor=current_user)
        except ValueError as error:
            form.text.errors = [str(error)]
        else:
            db.session.commit()
            flash(f"意見を{len(parts)}件に分割しました。", "success")
            return redirect(url_for(".opinions", consultation_id=opinion.consultation_id))
    return render_template("consultation/split.html", c=opinion.consultation, o=opinion, form=form)


@bp.post("/opinions/<int:opinion_id>/move")
@requires("officer")
def move_opinion(opinion_id):
    """Move an opinion up or down in the report's order."""
    opinion = db.get_or_404(Opinion, opinion_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    services.move_opinion(opinion, -1 if request.form.get("direction") == "up" else 1, actor=current_user)
    db.session.commit()
    return redirect(url_for(".opinions", consultation_id=opinion.consultation_id, _anchor=f"op-{opinion.id}"))


@bp.post("/opinions/<int:opinion_id>/delete")
@requires("officer")
def delete_opinion(opinion_id):
    """Delete an opinion (the submission itself stays)."""
    opinion = db.get_or_404(Opinion, opinion_id)
    consultation_id = opinion.consultation_id
    if not confirmed():
        copies = len(opinion.copies)
        consequences = [
            "意見の概要と市の考え方が削除され、後の意見の番号が繰り上がります。",
            "提出された意見（原文）は残ります。",
        ]
        if copies:
            consequences.append(f"この意見に従っている同一・類似の意見{copies}件は、それぞれ独立した意見になります。")
        return confirmation_page(
            Confirmation(
                title=f"意見No.{opinion.number or ''}を削除します",
                lead=f"意見No.{opinion.number or ''}「{excerpt(opinion.summary)}」を削除します。",
                consequences=consequences,
                action_label="削除する",
                back_url=url_for(".opinions", consultation_id=consultation_id, _anchor=f"op-{opinion.id}"),
            )
        )
    services.delete_opinion(opinion, actor=current_user)
    db.session.commit()
    flash("意見を削除しました。", "success")
    return redirect(url_for(".opinions", consultation_id=consultation_id))


# --- form letters ---------------------------------------------------------------------


@bp.get("/<int:consultation_id>/groups")
@requires("officer")
def groups(consultation_id):
    """Identical and near-identical submissions."""
    consultation = _get(consultation_id)
    return render_template("consultation/groups.html", c=consultation, form=ActionForm())


@bp.post("/<int:consultation_id>/groups/detect")
@requires("officer")
def detect_groups(consultation_id):
    """Group the submissions whose texts are identical or nearly so."""
    consultation = _get(consultation_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    created = services.group_form_letters(consultation, actor=current_user)
    db.session.commit()
    flash(
        f"同一・類似の意見のグループを{len(created)}件見つけました。"
        if created
        else "新たな同一・類似の意見は見つかりませんでした。",
        "success" if created else "info",
    )
    return redirect(url_for(".groups", consultation_id=consultation.id))


@bp.post("/groups/<int:group_id>/answer")
@requires("officer")
def answer_group(group_id):
    """Apply the representative's opinions and replies to every member of the group."""
    group = db.get_or_404(FormLetterGroup, group_id)
    if not confirmed():
        others = len(group.members) - 1
        return confirmation_page(
            Confirmation(
                title="グループ全体に代表の意見を適用します",
                lead=f"同一・類似の意見のグループ（{len(group.members)}件）に、代表の提出の意見と市の考え方を適用します。",
                consequences=[
                    f"代表以外の{others}件の提出について、入力済みの意見の概要と市の考え方は削除され、"
                    "代表の意見に従う写しに置き換わります。",
                ],
                action_label="グループ全体に適用",
                back_url=url_for(".groups", consultation_id=group.consultation_id),
            )
        )
    try:
        made = services.answer_group(group, actor=current_user)
    except ValueError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(f"グループの{len(group.members)}件に代表の意見と市の考え方を適用しました（{made}件）。", "success")
    return redirect(url_for(".groups", consultation_id=group.consultation_id))


@bp.post("/groups/<int:group_id>/representative")
@requires("officer")
def set_representative(group_id):
    """Choose which submission of the group stands for it."""
    group = db.get_or_404(FormLetterGroup, group_id)
    sub = db.get_or_404(Submission, request.form.get("submission_id", type=db_id) or 0)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.set_representative(group, sub, actor=current_user)
    except ValueError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
    return redirect(url_for(".groups", consultation_id=group.consultation_id))


@bp.post("/submissions/<int:submission_id>/ungroup")
@requires("officer")
def ungroup(submission_id):
    """Take a submission out of its group."""
    sub = db.get_or_404(Submission, submission_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    services.ungroup(sub, actor=current_user)
    db.session.commit()
    flash("グループから外しました。", "success")
    return redirect(url_for(".groups", consultation_id=sub.consultation_id))


# --- review and report ----------------------------------------------------------------


@bp.route("/<int:consultation_id>/review", methods=["GET", "POST"])
@requires("officer")
def review(consultation_id):
    """Personal data found in the texts to publish, masked; the officer confirms."""
    consultation = _get(consultation_id)
    form = ActionForm()
    if form.validate_on_submit():
        hits = services.mark_reviewed(consultation, actor=current_user)
        db.session.commit()
        flash(f"公表する文面の確認を記録しました（マスキング{hits}箇所）。", "success")
        return redirect(url_for(".show", consultation_id=consultation.id))
    items = services.review_items(consultation)
    return render_template(
        "consultation/review.html",
        c=consultation,
        form=form,
        items=items,
        with_hits=[i for i in items if i.hits],
        current=services.review_is_current(consultation),
    )


@bp.get("/<int:consultation_id>/report")
@requires("officer")
def report_preview(consultation_id):
    """The result report as it will be published (masked)."""
    consultation = _get(consultation_id)
    return render_template("consultation/report_preview.html", c=consultation, report=build_report(consultation))


@bp.get("/<int:consultation_id>/report.pdf")
@requires("officer")
def report_preview_pdf(consultation_id):
    """The result report as PDF (preview)."""
    consultation = _get(consultation_id)
    return _pdf_response(consultation)


@bp.get("/<int:consultation_id>/report.docx")
@requires("officer")
def report_docx(consultation_id):
    """The result report as Word (.docx), to adjust the wording before the final PDF."""
    from io import BytesIO
    from urllib.parse import quote

    from consultation import docx

    consultation = _get(consultation_id)
    response = send_file(
        BytesIO(docx.report_docx(build_report(consultation))),
        mimetype=docx.DOCX_MIMETYPE,
        as_attachment=True,
        download_name=f"consultation-{consultation.id}-result.docx",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="consultation-{consultation.id}-result.docx"; '
        f"filename*=UTF-8''{quote(docx.filename(consultation))}"
    )
    response.cache_control.no_store = True
    return response


def _pdf_response(consultation):
    from io import BytesIO

    return send_file(
        BytesIO(render_pdf(consultation)),
        mimetype="application/pdf",
        download_name=f"consultation-{consultation.id}-result.pdf",
    )
