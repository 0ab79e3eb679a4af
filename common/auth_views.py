"""Login, logout and password change."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_user, logout_user

from common import audit
from common.auth import (ALL_ROLES, hash_password, is_locked, public,
                         register_failed_login, requires, verify_password)
from common.db import db, utcnow
from common.forms import ChangePasswordForm, LoginForm
from common.models import User
from common.redirects import next_target

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in."""
    if current_user.is_authenticated:
        return redirect(next_target())
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.execute(db.select(User).filter_by(username=form.username.data.strip())).scalar_one_or_none()
        if user is not None and is_locked(user):
            audit.record("login_failed", "User", user.id, "ロック中のアカウントへのログイン試行", actor=user)
            db.session.commit()
            flash("ログインの失敗が続いたため、このアカウントは一時的にロックされています。しばらくしてから再度お試しください。", "error")
            return render_template("auth/login.html", form=form), 200
        if user is None or not user.active or not verify_password(user, form.password.data):
            if user is not None:
                register_failed_login(user)
                audit.record("login_failed", "User", user.id, "パスワード誤り", actor=user)
            else:
                audit.record("login_failed", "User", None, f"存在しないユーザーID: {form.username.data[:64]}",
                             actor="anonymous")
            db.session.commit()
            flash("ユーザーIDまたはパスワードが正しくありません。", "error")
            return render_template("auth/login.html", form=form), 200
        # new session at login: nothing from the anonymous session survives (fixation)
        session.clear()
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = utcnow()
        login_user(user)
        session.permanent = True
        audit.record("login", "User", user.id, "ログイン", actor=user)
        db.session.commit()
        return redirect(next_target())
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@requires(*ALL_ROLES)
def logout():
    """Sign out."""
    audit.record("logout", "User", current_user.id, "ログアウト")
    db.session.commit()
    logout_user()
    session.clear()
    flash("ログアウトしました。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires(*ALL_ROLES)
def change_password():
    """Change one's own password."""
    form = ChangePasswordForm(username=current_user.username)
    if form.validate_on_submit():
        if not verify_password(current_user, form.current.data):
            form.current.errors.append("現在のパスワードが正しくありません。")
        else:
            current_user.password_hash = hash_password(form.new.data)
            current_user.password_changed_at = utcnow()
            audit.record("update", "User", current_user.id, "パスワードを変更")
            db.session.commit()
            flash("パスワードを変更しました。", "success")
            return redirect(url_for("common.dashboard"))
    return render_template("auth/password.html", form=form)
