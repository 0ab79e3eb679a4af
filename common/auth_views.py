"""Login, logout and password change."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user, logout_user

from common import audit
from common.auth import (
    ALL_ROLES,
    authenticate,
    end_sessions,
    hash_password,
    public,
    requires,
    start_session,
    verify_password,
)
from common.db import db, utcnow
from common.forms import ChangePasswordForm, LoginForm
from common.redirects import next_target

bp = Blueprint("auth", __name__)

WRONG = "ユーザーIDまたはパスワードが正しくありません。"
LOCKED = "ログインの失敗が続いたため、このアカウントは一時的にロックされています。しばらくしてから再度お試しください。"
UNAVAILABLE = (
    "庁内ディレクトリ(LDAP)に接続できないため、ログインできません。しばらくしてから再度お試しいただくか、"
    "システム管理者にお問い合わせください。"
)
NO_ROLES = (
    "ユーザーIDとパスワードは確認できましたが、所属するグループにこのシステムの権限が割り当てられていません。"
    "システム管理者にお問い合わせください。"
)
LOCAL_REFUSED = (
    "このシステムには庁内ディレクトリのアカウントでログインしてください(ローカルアカウントは管理者のみ使用できます)。"
)


def _refusal(result) -> str:
    if result.locked:
        return LOCKED
    if result.unavailable:
        return UNAVAILABLE
    if result.no_roles:
        return NO_ROLES
    if result.local_refused:
        return LOCAL_REFUSED
    return WRONG


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in."""
    if current_user.is_authenticated:
        return redirect(next_target())
    form = LoginForm()
    if form.validate_on_submit():
        result = authenticate(form.username.data, form.password.data)
        if result.user is None:
            db.session.commit()
            flash(_refusal(result), "error")
            return render_template("auth/login.html", form=form), 200
        user = result.user
        # new session at login: nothing from the anonymous session survives (fixation)
        session.clear()
        user.last_login_at = utcnow()
        start_session(user)
        audit.record("login", "User", user.id, "ログイン", actor=user)
        db.session.commit()
        return redirect(next_target())
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@requires(*ALL_ROLES)
def logout():
    """Sign out: every session of the user ends, also copies of this one's cookie."""
    user = current_user._get_current_object()
    audit.record("logout", "User", user.id, "ログアウト（全てのセッションを終了）")
    end_sessions(user)
    db.session.commit()
    logout_user()
    session.clear()
    flash("ログアウトしました。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires(*ALL_ROLES)
def change_password():
    """Change one's own password: the other sessions of the user end, this one stays."""
    if current_user.directory_dn is not None:
        flash("庁内ディレクトリのアカウントです。パスワードはディレクトリ側(庁内の手続き)で変更してください。", "info")
        return redirect(url_for("common.dashboard"))
    form = ChangePasswordForm(username=current_user.username)
    if form.validate_on_submit():
        if not verify_password(current_user, form.current.data):
            form.current.errors.append("現在のパスワードが正しくありません。")
        else:
            user = current_user._get_current_object()
            user.password_hash = hash_password(form.new.data)
            user.password_changed_at = utcnow()
            audit.record("update", "User", user.id, "パスワードを変更")
            end_sessions(user, "パスワードの変更")
            db.session.commit()
            start_session(user)
            flash("パスワードを変更しました。ほかの端末のログインは終了しました。", "success")
            return redirect(url_for("common.dashboard"))
    return render_template("auth/password.html", form=form)
