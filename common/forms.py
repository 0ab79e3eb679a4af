"""Forms shared by the account and administration pages (Flask-WTF: CSRF on every form)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from common.auth import password_problems
from common.models import DEFAULT_TOKEN_FEEDS, FEED_KINDS, ROLES


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    username = StringField("ユーザーID", validators=[DataRequired("ユーザーIDを入力してください。")])
    password = PasswordField("パスワード", validators=[DataRequired("パスワードを入力してください。")])
    submit = SubmitField("ログイン")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("現在のパスワード", validators=[DataRequired("現在のパスワードを入力してください。")])
    new = PasswordField("新しいパスワード", validators=[DataRequired("新しいパスワードを入力してください。")])
    confirm = PasswordField("新しいパスワード(確認)",
                            validators=[EqualTo("new", "確認用のパスワードが一致しません。")])
    submit = SubmitField("変更する")

    def __init__(self, *args, username="", **kwargs):
        super().__init__(*args, **kwargs)
        self._username = username

    def validate_new(self, field):
        problems = password_problems(field.data or "", self._username)
        if problems:
            raise ValidationError(" ".join(problems))


class UserForm(FlaskForm):
    username = StringField("ユーザーID", validators=[
        DataRequired("ユーザーIDを入力してください。"), Length(max=64, message="64文字以内で入力してください。"),
        Regexp(r"^[A-Za-z0-9._-]+$", message="半角英数字と . _ - で入力してください。")])
    display_name = StringField("氏名", validators=[DataRequired("氏名を入力してください。"),
                                                 Length(max=200, message="200文字以内で入力してください。")])
    roles = MultiCheckboxField("役割", choices=list(ROLES.items()))
    departments = MultiCheckboxField("所属(事務担当課の担当範囲)", coerce=int, choices=[])
    active = BooleanField("有効", default=True)
    password = PasswordField("初期パスワード")
    submit = SubmitField("保存する")

    def validate_roles(self, field):
        if not field.data:
            raise ValidationError("役割を1つ以上選んでください。")

    def validate_departments(self, field):
        if "editor" in (self.roles.data or []) and not field.data:
            raise ValidationError("事務担当課の役割には担当する所属を1つ以上選んでください。")


class TokenForm(FlaskForm):
    name = StringField("名称", validators=[DataRequired("名称を入力してください。"), Length(max=200)])
    system_code = StringField("システムコード", validators=[DataRequired("システムコードを入力してください。"),
                                                        Length(max=32)])
    feeds = MultiCheckboxField("送信できるフィード", choices=list(FEED_KINDS.items()),
                               default=list(DEFAULT_TOKEN_FEEDS))
    submit = SubmitField("発行する")

    def validate_feeds(self, field):
        if not field.data:
            raise ValidationError("送信できるフィードを1つ以上選んでください。")


class ConfirmForm(FlaskForm):
    """An empty form for POST buttons (revoke, disable, …): carries the CSRF token."""

    submit = SubmitField("実行")
