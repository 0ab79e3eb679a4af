"""Forms shared by the account and administration pages, and the fields every package's
forms use (Flask-WTF: CSRF on every form)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from common.auth import password_problems
from common.jpdate import DATE_HINT, format_date, parse_date
from common.models import DEFAULT_TOKEN_FEEDS, FEED_KINDS, ROLES
from common.mynumber import REFUSED as MY_NUMBER_REFUSED
from common.mynumber import contains_my_number


def my_number_refused(what: str) -> str:
    """The refusal for a value that is not a form field (an import's line, a mail's header)."""
    return f"{what}に{MY_NUMBER_REFUSED}"


class NoMyNumber:
    """Refuses a value that holds a 個人番号 in any shape :mod:`common.mynumber` knows.

    For the fields that never need one (names, addresses, contacts, file names, findings,
    reasons, login names …). Free text that is published (opinions) is masked instead.
    A list value (a multiple field) is refused when any of its items holds one.
    """

    field_flags = {"no_my_number": True}

    def __init__(self, message: str = MY_NUMBER_REFUSED):
        self.message = message

    def __call__(self, form, field):
        data = field.data
        values = data if isinstance(data, (list, tuple)) else [data]
        if any(contains_my_number(value) for value in values if isinstance(value, str)):
            raise ValidationError(self.message)


class JapaneseDateField(StringField):
    """A date typed as people write it: 令和8年12月3日, R8.12.3, 2026/12/3, full width too
    (:func:`common.jpdate.parse_date`). ``data`` is a :class:`~datetime.date` (None when empty).

    A text input, not ``<input type=date>``: that one shows the browser's locale (mm/dd/yyyy
    in an English browser) and cannot take 和暦. Its description says what it accepts (the
    ``field`` macro shows it as the hint). A date that cannot be read stays in the box as
    typed, with the reason beside it; the validators after it do not run then. A 個人番号
    typed into it is refused as such (it stores a date, never the text).
    """

    refuses_my_number = True

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("description", DATE_HINT)
        render_kw = dict(kwargs.pop("render_kw", None) or {})
        render_kw.setdefault("placeholder", "例: 令和8年12月3日")
        render_kw.setdefault("autocomplete", "off")
        render_kw.setdefault("size", 18)
        super().__init__(label, validators, render_kw=render_kw, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = (valuelist[0] or "").strip()
        self.data = None
        if contains_my_number(text):
            raise ValueError(MY_NUMBER_REFUSED)
        if text:
            try:
                self.data = parse_date(text)
            except ValueError as exc:
                raise ValueError(str(exc)) from None

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()  # the reason is already there; "required" would mislead

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]  # what was typed, also when it could not be read
        return format_date(self.data) if self.data else ""


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
    confirm = PasswordField("新しいパスワード(確認)", validators=[EqualTo("new", "確認用のパスワードが一致しません。")])
    submit = SubmitField("変更する")

    def __init__(self, *args, username="", **kwargs):
        super().__init__(*args, **kwargs)
        self._username = username

    def validate_new(self, field):
        problems = password_problems(field.data or "", self._username)
        if problems:
            raise ValidationError(" ".join(problems))


class UserForm(FlaskForm):
    username = StringField(
        "ユーザーID",
        validators=[
            DataRequired("ユーザーIDを入力してください。"),
            Length(max=64, message="64文字以内で入力してください。"),
            Regexp(r"^[A-Za-z0-9._-]+$", message="半角英数字と . _ - で入力してください。"),
            NoMyNumber(),
        ],
    )
    display_name = StringField(
        "氏名",
        validators=[
            DataRequired("氏名を入力してください。"),
            Length(max=200, message="200文字以内で入力してください。"),
            NoMyNumber(),
        ],
    )
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
    name = StringField("名称", validators=[DataRequired("名称を入力してください。"), Length(max=200), NoMyNumber()])
    system_code = StringField(
        "システムコード", validators=[DataRequired("システムコードを入力してください。"), Length(max=32), NoMyNumber()]
    )
    feeds = MultiCheckboxField(
        "送信できるフィード", choices=list(FEED_KINDS.items()), default=list(DEFAULT_TOKEN_FEEDS)
    )
    submit = SubmitField("発行する")

    def validate_feeds(self, field):
        if not field.data:
            raise ValidationError("送信できるフィードを1つ以上選んでください。")


class ConfirmForm(FlaskForm):
    """A form for POST buttons (revoke, delete, …): carries the CSRF token, and ``confirm``
    once the user has seen what will happen (:mod:`common.confirm`)."""

    confirm = HiddenField()
    submit = SubmitField("実行")
