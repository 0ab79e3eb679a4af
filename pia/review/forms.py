"""Forms of the third-party review (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from common.forms import JapaneseDateField, NoMyNumber
from pia.review.models import BODY_KINDS


class BodyForm(FlaskForm):
    name = StringField("名称", validators=[DataRequired("名称を入力してください。"), Length(max=200), NoMyNumber()])
    kind = SelectField("区分", choices=list(BODY_KINDS.items()))
    members = TextAreaField("委員(1行に1人。「氏名(役職・専門分野)」)", validators=[NoMyNumber()])
    notes = TextAreaField("備考", validators=[NoMyNumber()])
    active = BooleanField("点検の記録に使う", default=True)
    submit = SubmitField("保存する")


class SessionForm(FlaskForm):
    body = SelectField("点検を行った機関", coerce=int, choices=[])
    held_on = JapaneseDateField("実施日", validators=[DataRequired("実施日を入力してください。")])
    method = TextAreaField("方法", validators=[DataRequired("方法を入力してください。"), NoMyNumber()])
    result = TextAreaField("結果", validators=[NoMyNumber()])
    minutes = FileField("議事録(PDF)")
    submit = SubmitField("保存する")

    def validate_body(self, field):
        if not field.data:
            raise ValidationError("機関を選んでください。")


class FindingForm(FlaskForm):
    item_path = SelectField("対象の項目", choices=[])
    session = SelectField("点検の回", coerce=int, choices=[])
    text = TextAreaField(
        "指摘事項",
        validators=[
            DataRequired("指摘事項を入力してください。"),
            Length(max=5000, message="5000文字以内で入力してください。"),
            NoMyNumber(),
        ],
    )
    submit = SubmitField("指摘事項を記録する")


class ResponseForm(FlaskForm):
    response = TextAreaField("対応", validators=[DataRequired("対応を入力してください。"), NoMyNumber()])
    draft_changed = BooleanField("この指摘により評価書(案)を修正した")
    change_version = SelectField("修正した版", coerce=int, choices=[])
    change_note = TextAreaField("修正の内容(修正した項目など)", validators=[NoMyNumber()])
    submit = SubmitField("対応を記録する")

    def validate_change_note(self, field):
        if self.draft_changed.data and not (field.data or "").strip():
            raise ValidationError("修正した場合は、修正の内容を入力してください。")
