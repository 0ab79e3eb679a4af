"""Each person's notification settings: the address, at once or a daily digest, the kinds."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import Length, Optional, ValidationError

from common import mail, notify
from common.auth import ALL_ROLES, requires
from common.db import db
from common.forms import MultiCheckboxField, NoMyNumber
from common.models import NOTIFY_MODES, Notification

bp = Blueprint("notifications", __name__)

#: the person's latest notifications shown under the settings
RECENT = 10
OUTCOMES = {
    "": "送信待ち",
    "immediate": "送信済み",
    "combined": "送信済み(まとめて)",
    "digest": "送信済み(1日分をまとめて)",
    "off": "送らず(受け取らない設定)",
    "no_address": "送らず(メールアドレスなし)",
    "failed": "送信できませんでした",
}


def _address(form, field):
    if field.data and not mail.is_address(field.data):
        raise ValidationError("メールアドレスの形式が正しくありません(例: taro.yamada@city.example.lg.jp)。")


class PreferencesForm(FlaskForm):
    email = StringField(
        "メールアドレス",
        filters=[lambda v: (v or "").strip()],
        validators=[Optional(), Length(max=254, message="254文字以内で入力してください。"), _address, NoMyNumber()],
    )
    mode = RadioField("受け取り方", choices=list(NOTIFY_MODES.items()), default="immediate")
    kinds = MultiCheckboxField("受け取る通知", choices=[])
    submit = SubmitField("保存する")


@bp.route("/account/notifications", methods=["GET", "POST"])
@requires(*ALL_ROLES)
def preferences():
    """One's own notification settings."""
    user = current_user._get_current_object()
    offered = notify.kinds_for(user)
    form = PreferencesForm()
    form.kinds.choices = [(kind.name, kind.label) for kind in offered]
    if form.validate_on_submit():
        chosen = set(form.kinds.data or [])
        # kinds the user's roles do not receive now keep their setting
        kept_off = [name for name in (user.notify_off or []) if name not in {k.name for k in offered}]
        user.email = form.email.data or None
        user.notify_mode = form.mode.data
        user.notify_off = sorted(kept_off + [kind.name for kind in offered if kind.name not in chosen]) or None
        db.session.commit()
        flash("通知の設定を保存しました。", "success")
        return redirect(url_for(".preferences"))
    if not form.is_submitted():
        form.email.data = user.email or ""
        form.mode.data = user.notify_mode or "immediate"
        form.kinds.data = [kind.name for kind in offered if notify.wants(user, kind.name)]
    recent = (
        db.session.execute(
            sa.select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.id.desc())
            .limit(RECENT)
        )
        .scalars()
        .all()
    )
    return render_template(
        "notifications/preferences.html",
        form=form,
        offered=offered,
        mail_on=mail.mail_enabled(),
        digest_hour=notify.digest_hour(),
        recent=recent,
        outcomes=OUTCOMES,
    ), 400 if form.errors else 200
