"""Forms of the assessment pages (Flask-WTF: CSRF on every form).

The section editor's fields are generated from the schema (``templates/pia/assessments/_fields.html``)
and turned into a document by :func:`pia.schema.coerce`; :class:`SectionForm` carries the
CSRF token and the revision the user started from.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from common.forms import JapaneseDateField, NoMyNumber
from pia.assessments.models import ACTION_STATUSES, ANNUAL_REVIEW_RESULTS
from pia.schema import FORMS


class SectionForm(FlaskForm):
    revision = HiddenField()

    def validate_revision(self, field):
        if not (field.data or "").isdigit():
            raise ValidationError("版の更新番号がありません。画面を開き直してください。")


class ConflictForm(FlaskForm):
    revision = HiddenField()


class DateActionForm(FlaskForm):
    on = JapaneseDateField("日付", validators=[DataRequired("日付を入力してください。")])
    submit = SubmitField("実行")


class NewAssessmentForm(FlaskForm):
    affair_id = SelectField("事務", coerce=int, choices=[])
    affair_code = StringField(
        "新しい事務のコード",
        validators=[
            Optional(),
            Length(max=40),
            Regexp(r"^[a-z][a-z0-9_-]*$", message="半角英小文字・数字・-・_で入力してください。"),
            NoMyNumber(),
        ],
    )
    affair_name = StringField("新しい事務の名称", validators=[Optional(), Length(max=300), NoMyNumber()])
    department_id = SelectField("担当課", coerce=int, choices=[])
    form = SelectField("評価書の種類", choices=list(FORMS.items()))
    title = StringField("評価書名", validators=[Optional(), Length(max=300), NoMyNumber()])
    number = StringField("評価書番号", validators=[Optional(), Length(max=40), NoMyNumber()])
    submit = SubmitField("作成する")

    def validate_affair_id(self, field):
        if field.data == 0 and not (self.affair_code.data and self.affair_name.data):
            raise ValidationError("既存の事務を選ぶか、新しい事務のコードと名称を入力してください。")


class NewAffairForm(FlaskForm):
    code = StringField(
        "事務のコード",
        validators=[
            DataRequired("事務のコードを入力してください。"),
            Length(max=40),
            Regexp(r"^[a-z][a-z0-9_-]*$", message="半角英小文字・数字・-・_で入力してください。"),
            NoMyNumber(),
        ],
    )
    name = StringField(
        "事務の名称", validators=[DataRequired("事務の名称を入力してください。"), Length(max=300), NoMyNumber()]
    )
    department_id = SelectField("担当課", coerce=int, choices=[])
    submit = SubmitField("登録する")


class ThresholdForm(FlaskForm):
    determined_on = JapaneseDateField("判断日", validators=[DataRequired("判断日を入力してください。")])
    target_count = IntegerField(
        "対象人数",
        validators=[
            InputRequired("対象人数を入力してください。"),
            NumberRange(min=0, message="0以上で入力してください。"),
        ],
    )
    handlers = IntegerField(
        "取扱者数(委託先を含む)",
        validators=[
            InputRequired("取扱者数を入力してください。"),
            NumberRange(min=0, message="0以上で入力してください。"),
        ],
    )
    serious_incident = BooleanField("過去1年以内に特定個人情報に関する重大事故が発生した")
    incident_on = JapaneseDateField("重大事故の発生日", validators=[Optional()])
    incident_source = TextAreaField("重大事故の情報源(報告書、報道発表等)", validators=[Length(max=2000), NoMyNumber()])
    note = TextAreaField("備考", validators=[Length(max=2000), NoMyNumber()])
    submit = SubmitField("判断を記録する")

    def validate_incident_on(self, field):
        if self.serious_incident.data and not field.data:
            raise ValidationError("重大事故の発生日を入力してください。")

    def validate_incident_source(self, field):
        if self.serious_incident.data and not (field.data or "").strip():
            raise ValidationError("重大事故の情報源を入力してください。")


class AnnualReviewForm(FlaskForm):
    reviewed_on = JapaneseDateField("見直し日", validators=[DataRequired("見直し日を入力してください。")])
    result = RadioField(
        "結果", choices=list(ANNUAL_REVIEW_RESULTS.items()), validators=[InputRequired("結果を選んでください。")]
    )
    version_id = SelectField("見直しの結果作成した版", coerce=int, choices=[])
    note = TextAreaField("見直しの内容", validators=[Length(max=4000), NoMyNumber()])
    submit = SubmitField("見直しを記録する")

    def validate_version_id(self, field):
        if self.result.data == "new_version" and not field.data:
            raise ValidationError("見直しの結果作成した版を選んでください。")


class ActionForm(FlaskForm):
    what = TextAreaField(
        "対応内容", validators=[DataRequired("対応内容を入力してください。"), Length(max=4000), NoMyNumber()]
    )
    owner = StringField("担当", validators=[DataRequired("担当を入力してください。"), Length(max=200), NoMyNumber()])
    due_on = JapaneseDateField("期限", validators=[DataRequired("期限を入力してください。")])
    status = SelectField("状況", choices=list(ACTION_STATUSES.items()))
    submit = SubmitField("保存する")


class ImportForm(FlaskForm):
    affair_code = StringField(
        "事務コードを変える(任意)",
        validators=[
            Optional(),
            Regexp(r"^[a-z][a-z0-9_-]*$", message="半角英小文字・数字・-・_で入力してください。"),
            NoMyNumber(),
        ],
    )
    submit = SubmitField("取り込む")
