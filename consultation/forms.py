"""Forms of the consultation pages (Flask-WTF: CSRF on every form, also the public one)."""

from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, InputRequired, Length, Optional, ValidationError

from common.forms import JapaneseDateField, MultiCheckboxField, NoMyNumber
from consultation.models import (
    CHANNELS,
    FIELD_MODES,
    FORM_FIELDS,
    PAPER_CHANNELS,
    SUBMITTER_KINDS,
    min_period_days,
    period_problem,
)

DEFAULT_MAX_OPINION_CHARS = 10000


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class ConsultationForm(FlaskForm):
    version_id = SelectField(
        "意見を募集する評価書（版）", coerce=int, validators=[InputRequired("評価書の版を選んでください。")]
    )
    title = StringField(
        "件名（意見を募集する評価書の名称）",
        validators=[
            DataRequired("件名を入力してください。"),
            Length(max=300, message="300文字以内で入力してください。"),
            NoMyNumber(),
        ],
    )
    description = TextAreaField("募集の趣旨・概要", validators=[Length(max=5000), NoMyNumber()])
    start_date = JapaneseDateField("募集開始日", validators=[InputRequired("募集開始日を入力してください。")])
    end_date = JapaneseDateField("募集終了日", validators=[InputRequired("募集終了日を入力してください。")])
    shortened_reason = TextAreaField("期間を短縮する特段の理由", validators=[Length(max=2000), NoMyNumber()])
    places = TextAreaField("配布場所（1行に1か所）", validators=[Length(max=5000), NoMyNumber()])
    web_url = StringField(
        "ホームページのURL",
        validators=[
            Optional(),
            URL(require_tld=False, message="URLの形式で入力してください。"),
            Length(max=500),
            NoMyNumber(),
        ],
    )
    channels = MultiCheckboxField("受付方法", choices=list(CHANNELS.items()))
    info_post = TextAreaField("郵送の宛先", validators=[Length(max=1000), NoMyNumber()])
    info_hand = TextAreaField("持参の受付場所・時間", validators=[Length(max=1000), NoMyNumber()])
    info_fax = StringField("FAX番号", validators=[Length(max=200), NoMyNumber()])
    info_email = StringField("電子メールの宛先", validators=[Length(max=200), NoMyNumber()])
    eligibility = TextAreaField("意見を提出できる方", validators=[Length(max=2000), NoMyNumber()])
    field_name = SelectField(FORM_FIELDS["name"], choices=list(FIELD_MODES.items()), default="optional")
    field_address = SelectField(FORM_FIELDS["address"], choices=list(FIELD_MODES.items()), default="optional")
    field_contact = SelectField(FORM_FIELDS["contact"], choices=list(FIELD_MODES.items()), default="optional")
    consent_text = TextAreaField("同意事項（Webフォームに表示）", validators=[Length(max=3000), NoMyNumber()])
    categories = TextAreaField(
        "意見の区分（1行に1区分。結果公表での見出しを変える場合は「区分｜見出し」）",
        validators=[DataRequired("意見の区分を1つ以上入力してください。"), Length(max=3000), NoMyNumber()],
    )
    submit = SubmitField("保存する")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_days = min_period_days()
        self.shortened_reason.label.text = f"期間を{self.min_days}日未満とする特段の理由"

    def validate_end_date(self, field):
        if self.start_date.data and field.data:
            problem = period_problem(self.start_date.data, field.data, self.shortened_reason.data or "")
            if problem:
                raise ValidationError(problem)

    def validate_channels(self, field):
        if not field.data:
            raise ValidationError("受付方法を1つ以上選んでください。")

    def place_list(self) -> list[str]:
        return _lines(self.places.data)

    def category_list(self, existing: list[dict]) -> list[dict]:
        """Categories from the text; a label already used keeps its key (opinions refer to it)."""
        by_label = {c["label"]: c["key"] for c in existing}
        used = set()
        out = []
        for line in _lines(self.categories.data):
            label, _, heading = line.replace("|", "｜").partition("｜")
            label, heading = label.strip(), heading.strip()
            key = by_label.get(label)
            if key is None or key in used:
                n = len(out) + 1
                key = f"cat{n}"
                while key in used or key in by_label.values():
                    n += 1
                    key = f"cat{n}"
            used.add(key)
            out.append({"key": key, "label": label, "heading": heading})
        return out

    def channel_info(self) -> dict:
        return {
            key: getattr(self, f"info_{key}").data.strip()
            for key in ("post", "hand", "fax", "email")
            if (getattr(self, f"info_{key}").data or "").strip()
        }

    def field_modes(self) -> dict:
        return {name: getattr(self, f"field_{name}").data for name in FORM_FIELDS}


class PaperSubmissionForm(FlaskForm):
    channel = RadioField(
        "受付方法",
        choices=[(c, CHANNELS[c]) for c in PAPER_CHANNELS],
        validators=[InputRequired("受付方法を選んでください。")],
    )
    received_on = JapaneseDateField("受付日", validators=[InputRequired("受付日を入力してください。")])
    submitter_kind = RadioField("提出者の区分", choices=list(SUBMITTER_KINDS.items()), default="individual")
    name = StringField("氏名・団体名（公表しません）", validators=[Length(max=200), NoMyNumber()])
    address = StringField("住所（公表しません）", validators=[Length(max=300), NoMyNumber()])
    contact = StringField("連絡先（公表しません）", validators=[Length(max=200), NoMyNumber()])
    body = TextAreaField("意見の内容（書き起こし）", validators=[Length(max=50000)])
    scan = FileField("スキャンした書面（PDFまたは画像）")
    note = TextAreaField("メモ", validators=[Length(max=2000), NoMyNumber()])
    submit = SubmitField("登録する")


class MailImportForm(FlaskForm):
    files = MultipleFileField("メールファイル（.eml または mbox。複数選べます）")
    submit = SubmitField("取り込む")


class ReplyImportForm(FlaskForm):
    file = FileField("書き出したExcelファイル（.xlsx）")
    submit = SubmitField("読み込んで確認する")


class OpinionForm(FlaskForm):
    summary = TextAreaField(
        "寄せられたご意見（意見の概要）", validators=[DataRequired("意見の概要を入力してください。"), Length(max=20000)]
    )
    category = SelectField("区分", choices=[])
    topic = StringField("見出し（例: システム総論、クラウド化について）", validators=[Length(max=100)])
    target_path = SelectField("対象となる評価書の項目", choices=[], validate_choice=False)
    reply = TextAreaField("市の考え方", validators=[Length(max=20000)])
    changed = BooleanField("この意見を受けて評価書を修正した")
    change_version_id = SelectField("修正後の版", coerce=int, choices=[], validate_choice=False)
    change_path = SelectField("修正した項目", choices=[], validate_choice=False)
    submit = SubmitField("保存する")

    def validate_change_path(self, field):
        if self.changed.data and not field.data:
            raise ValidationError("修正した項目を選んでください。")


class SplitForm(FlaskForm):
    text = TextAreaField(
        "分割する内容（分ける位置に「----」だけの行を入れてください）",
        validators=[DataRequired("内容を入力してください。")],
    )
    submit = SubmitField("分割する")

    def parts(self) -> list[str]:
        import re

        return [p.strip() for p in re.split(r"^\s*-{4,}\s*$", self.text.data or "", flags=re.MULTILINE) if p.strip()]


class CloseForm(FlaskForm):
    """締切: the reason (required before the end of the period) and the confirmation."""

    reason = TextAreaField(
        "締め切る特段の理由", validators=[Length(max=2000, message="2000文字以内で入力してください。"), NoMyNumber()]
    )
    #: "yes" once the officer has seen what closing will do (the confirmation page)
    confirm = HiddenField()
    submit = SubmitField("締め切る")


class ActionForm(FlaskForm):
    """A bare form for POST buttons (CSRF only)."""


class PublicOpinionForm(FlaskForm):
    """The web form; fields are shown, required or hidden as the consultation sets them."""

    submitter_kind = RadioField(
        "提出者の区分", choices=list(SUBMITTER_KINDS.items()), default="individual", validators=[Optional()]
    )
    name = StringField(
        FORM_FIELDS["name"], validators=[Length(max=200, message="200文字以内で入力してください。"), NoMyNumber()]
    )
    address = StringField(
        FORM_FIELDS["address"], validators=[Length(max=300, message="300文字以内で入力してください。"), NoMyNumber()]
    )
    contact = StringField(
        FORM_FIELDS["contact"], validators=[Length(max=200, message="200文字以内で入力してください。"), NoMyNumber()]
    )
    body = TextAreaField("ご意見", validators=[DataRequired("ご意見を入力してください。")])
    consent = BooleanField("上記の取扱いに同意します")
    #: honeypot: hidden from people by CSS and from assistive technology; bots fill it in
    website = StringField("ホームページ（この欄には何も入力しないでください）")
    submit = SubmitField("意見を送信する")

    def __init__(self, *args, consultation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.consultation = consultation
        limit = current_app.config.get("CONSULTATION_MAX_OPINION_CHARS", DEFAULT_MAX_OPINION_CHARS)
        self.body.validators = [
            DataRequired("ご意見を入力してください。"),
            Length(max=limit, message=f"ご意見は{limit}文字以内で入力してください。"),
        ]
        for name in FORM_FIELDS:
            field = getattr(self, name)
            if consultation is not None and consultation.field_mode(name) == "required":
                field.flags.required = True

    def attrs(self, field, *, describedby: str = "") -> dict:
        """HTML attributes of a field: autocomplete, required, and the error it is described by."""
        out = {}
        autocomplete = {"name": "name", "address": "street-address", "contact": "email"}.get(field.name)
        if autocomplete:
            out["autocomplete"] = autocomplete
        if field.name == "body" or (
            field.name in FORM_FIELDS and self.consultation.field_mode(field.name) == "required"
        ):
            out["required"] = True
        ids = [describedby] if describedby else []
        if field.errors:
            ids.append(f"{field.id}-error")
            out["aria-invalid"] = "true"
        if ids:
            out["aria-describedby"] = " ".join(ids)
        return out

    def visible_fields(self):
        return [getattr(self, n) for n in FORM_FIELDS if self.consultation.field_mode(n) != "hidden"]

    def validate_name(self, field):
        self._check_required(field, "氏名（団体の場合は団体名）を入力してください。")

    def validate_address(self, field):
        self._check_required(field, "住所を入力してください。")

    def validate_contact(self, field):
        self._check_required(field, "連絡先を入力してください。")

    def _check_required(self, field, message):
        if self.consultation is not None and self.consultation.field_mode(field.name) == "required":
            if not (field.data or "").strip():
                raise ValidationError(message)

    def validate_consent(self, field):
        if self.consultation is not None and (self.consultation.consent_text or "").strip() and not field.data:
            raise ValidationError("同意事項をご確認のうえ、チェックを入れてください。")
