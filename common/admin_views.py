"""Administration: users, roles, departments, API tokens; the audit trail browser."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from common import audit
from common.auth import (
    end_sessions,
    hash_password,
    issue_token,
    locked_user_ids,
    password_problems,
    requires,
    start_session,
    unlock,
)
from common.confirm import Confirmation, confirmation_page, confirmed
from common.db import db, utcnow
from common.forms import ConfirmForm, TokenForm, UserForm
from common.jpdate import parse_date
from common.models import ROLES, ApiToken, AuditEvent, Department, User
from common.params import page_number
from common.timeutil import JST

bp = Blueprint("admin", __name__, url_prefix="/admin")

AUDIT_PAGE_SIZE = 50


def _department_choices():
    rows = db.session.execute(db.select(Department).order_by(Department.sort_order, Department.name)).scalars()
    return [(d.id, d.name) for d in rows]


@bp.get("/users")
@requires("admin")
def users():
    """List accounts."""
    rows = db.session.execute(db.select(User).order_by(User.username)).scalars().all()
    return render_template(
        "admin/users.html", users=rows, roles=ROLES, form=ConfirmForm(), locked=locked_user_ids(rows)
    )


def _apply_user_form(user: User, form: UserForm) -> None:
    user.username = form.username.data.strip()
    user.display_name = form.display_name.data.strip()
    user.active = form.active.data
    user.set_roles(form.roles.data)
    wanted = set(form.departments.data or [])
    user.departments = [d for d in db.session.execute(db.select(Department)).scalars() if d.id in wanted]


@bp.route("/users/new", methods=["GET", "POST"])
@requires("admin")
def create_user():
    """Create an account."""
    form = UserForm()
    form.departments.choices = _department_choices()
    if form.validate_on_submit():
        exists = db.session.execute(db.select(User).filter_by(username=form.username.data.strip())).scalar_one_or_none()
        problems = password_problems(form.password.data or "", form.username.data)
        if exists:
            form.username.errors.append("このユーザーIDは既に使われています。")
        elif problems:
            form.password.errors.extend(problems)
        else:
            user = User(password_hash=hash_password(form.password.data), password_changed_at=utcnow())
            _apply_user_form(user, form)
            db.session.add(user)
            db.session.commit()
            flash(f"ユーザー「{user.display_name}」を作成しました。", "success")
            return redirect(url_for(".users"))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires("admin")
def edit_user(user_id):
    """Edit an account: name, roles, departments, enabled, password reset."""
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=None if request.method == "POST" else user)
    form.departments.choices = _department_choices()
    if request.method == "GET":
        form.roles.data = sorted(user.roles)
        form.departments.data = [d.id for d in user.departments]
    if form.validate_on_submit():
        clash = db.session.execute(
            db.select(User).filter(User.username == form.username.data.strip(), User.id != user.id)
        ).scalar_one_or_none()
        problems = password_problems(form.password.data, form.username.data) if form.password.data else []
        if clash:
            form.username.errors.append("このユーザーIDは既に使われています。")
        elif user.directory_dn is not None and form.password.data:
            form.password.errors.append(
                "庁内ディレクトリのアカウントにはパスワードを設定できません(ディレクトリのパスワードでログインします)。"
            )
        elif problems:
            form.password.errors.extend(problems)
        elif user.id == current_user.id and ("admin" not in form.roles.data or not form.active.data):
            form.roles.errors.append("自分自身の管理者権限の削除や無効化はできません。")
        else:
            # what ends the user's sessions: a new password, other roles, disabling
            reasons = [
                reason
                for reason, changed in (
                    ("パスワードの再設定", bool(form.password.data)),
                    ("役割の変更", set(form.roles.data) != user.roles),
                    ("利用の停止", user.active and not form.active.data),
                )
                if changed
            ]
            unlock_name = user.username
            _apply_user_form(user, form)
            if form.password.data:
                user.password_hash = hash_password(form.password.data)
                user.password_changed_at = utcnow()
                unlock(user, username=unlock_name)
            # roles and departments live in other tables: record them explicitly
            audit.record(
                "update",
                "User",
                user.id,
                "役割・所属を設定",
                after={"roles": sorted(form.roles.data), "departments": sorted(form.departments.data)},
            )
            if reasons:
                end_sessions(user, "・".join(reasons))
            db.session.commit()
            if reasons and user.id == current_user.id:
                start_session(user)  # an administrator editing themself stays signed in here
            flash(f"ユーザー「{user.display_name}」を更新しました。", "success")
            return redirect(url_for(".users"))
    return render_template("admin/user_form.html", form=form, user=user)


@bp.post("/users/<int:user_id>/unlock")
@requires("admin")
def unlock_user(user_id):
    """Lift a lockout."""
    user = db.get_or_404(User, user_id)
    if ConfirmForm().validate_on_submit():
        unlock(user)
        audit.record("update", "User", user.id, "ロックを解除")
        db.session.commit()
        flash(f"「{user.display_name}」のロックを解除しました。", "success")
    return redirect(url_for(".users"))


@bp.get("/departments")
@requires("admin")
def departments():
    """List departments."""
    rows = db.session.execute(db.select(Department).order_by(Department.sort_order, Department.name)).scalars().all()
    return render_template("admin/departments.html", departments=rows)


@bp.route("/tokens", methods=["GET", "POST"])
@requires("admin")
def tokens():
    """API tokens for the evidence feeds: issue and list."""
    form = TokenForm()
    plain = None
    if form.validate_on_submit():
        _token, plain = issue_token(
            form.name.data.strip(), system_code=form.system_code.data.strip().upper(), feeds=form.feeds.data
        )
        db.session.commit()
        flash("トークンを発行しました。この画面を離れると二度と表示されません。", "success")
    rows = db.session.execute(db.select(ApiToken).order_by(ApiToken.created_at.desc())).scalars().all()
    return render_template("admin/tokens.html", tokens=rows, form=form, plain=plain, confirm=ConfirmForm())


@bp.post("/tokens/<int:token_id>/revoke")
@requires("admin")
def revoke_token(token_id):
    """Revoke an API token."""
    token = db.get_or_404(ApiToken, token_id)
    if token.revoked_at is None and not confirmed():
        return confirmation_page(
            Confirmation(
                title="トークンを失効させます",
                lead=f"API トークン「{token.name}」（システムコード {token.system_code}）を失効させます。",
                consequences=[
                    "このトークンを使ったフィードの送信は、直ちに受け付けられなくなります。",
                    "失効させたトークンは元に戻せません。送信を続けるには、新しいトークンを発行して送信元に設定します。",
                ],
                action_label="失効させる",
                back_url=url_for(".tokens"),
            )
        )
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
        flash(f"トークン「{token.name}」を失効させました。", "success")
    return redirect(url_for(".tokens"))


def _filter_date(value: str, what: str, problems: list[str]) -> date | None:
    """A date typed into a filter (common.jpdate.parse_date); a problem for one that is not."""
    if not value:
        return None
    try:
        day = parse_date(value)
    except ValueError as exc:
        problems.append(f"{what}: {exc}")
        return None
    if not date.min < day < date.max:  # a day before and after exist
        problems.append(f"{what}: この日付では絞り込めません。")
        return None
    return day


@bp.get("/audit")
@requires("admin", "officer")
def audit_log():
    """Browse and filter the audit trail."""
    q = db.select(AuditEvent)
    filters = {
        k: request.args.get(k, "").strip() for k in ("actor", "action", "object_type", "object_id", "from", "to")
    }
    if filters["actor"]:
        q = q.filter(AuditEvent.actor_name.contains(filters["actor"]))
    if filters["action"]:
        q = q.filter(AuditEvent.action == filters["action"])
    if filters["object_type"]:
        q = q.filter(AuditEvent.object_type == filters["object_type"])
    if filters["object_id"]:
        q = q.filter(AuditEvent.object_id == filters["object_id"])
    problems: list[str] = []
    start = _filter_date(filters["from"], "期間の開始日", problems)
    end = _filter_date(filters["to"], "期間の終了日", problems)
    if start:
        q = q.filter(AuditEvent.at >= datetime.combine(start, time.min, JST))
    if end:
        q = q.filter(AuditEvent.at < datetime.combine(end + timedelta(days=1), time.min, JST))
    page = request.args.get("page", 1, type=page_number)
    # (with_only_columns(count()) alone would drop the FROM: "SELECT count(*)" is 1, and the pager vanished)
    total = db.session.execute(db.select(db.func.count()).select_from(q.order_by(None).subquery())).scalar_one()
    rows = (
        db.session.execute(q.order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE_SIZE).offset((page - 1) * AUDIT_PAGE_SIZE))
        .scalars()
        .all()
    )
    types = (
        db.session.execute(db.select(AuditEvent.object_type).distinct().order_by(AuditEvent.object_type))
        .scalars()
        .all()
    )
    return render_template(
        "admin/audit.html",
        events=rows,
        filters=filters,
        page=page,
        total=total,
        page_size=AUDIT_PAGE_SIZE,
        actions=audit.ACTIONS,
        types=types,
        problems=problems,
    ), (400 if problems else 200)


@bp.get("/audit/<int:event_id>")
@requires("admin", "officer")
def audit_event(event_id):
    """One audit event with its before/after values."""
    ev = db.session.get(AuditEvent, event_id) or abort(404)
    return render_template("admin/audit_event.html", ev=ev)
