"""Forms of the system inventory (Flask-WTF)."""

from __future__ import annotations

import re
import unicodedata

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from common.forms import MultiCheckboxField, NoMyNumber
from pia.inventory.models import (
    CONNECTION_KINDS,
    FILE_KINDS,
    HOSTINGS,
    ISMAP_STATES,
    PERSON_COUNTS,
    RETENTION_PERIODS,
    SYSTEM_KINDS,
    SYSTEM_STATUSES,
    TARGET_COUNTS,
)
from pia.inventory.services import NUMBERINGS

CODE_HINT = "英大文字で始まる英大文字・数字・_(例 JUKI)。証跡フィードでも使います。"
_CODE = Regexp(r"^[A-Z][A-Z0-9_]{0,31}$", message="英大文字で始まる英大文字・数字・_ で32文字以内にしてください。")
_LEADING_NUMBER = re.compile(r"^\s*(?:\d+[.)．]?\s+|[①-⑳]\s*|・)")


def parse_functions(text: str) -> list[dict[str, str]]:
    """The functions textarea: one function per paragraph; its first line is the title,
    the following lines its description. A leading 「1. 」「1 」「・」 is dropped."""
    functions = []
    for block in re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n").strip()):
        lines = [line.rstrip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        title = _LEADING_NUMBER.sub("", lines[0]).strip()
        functions.append({"title": title, "description": "\n".join(lines[1:]).strip()})
    return functions


def functions_text(functions: list[dict]) -> str:
    return "\n\n".join(
        f.get("title", "") + (f"\n{f['description']}" if f.get("description") else "") for f in functions or []
    )


def lines(text: str) -> list[str]:
    return [unicodedata.normalize("NFC", line).strip() for line in (text or "").splitlines() if line.strip()]


class SystemForm(FlaskForm):
    code = StringField("コード", validators=[DataRequired("コードを入力してください。"), _CODE, NoMyNumber()])
    name = StringField(
        "名称",
        validators=[
            DataRequired("名称を入力してください。"),
            Length(max=300, message="300文字以内で入力してください。"),
            NoMyNumber(),
        ],
    )
    abbreviation = StringField("略称", validators=[Optional(), Length(max=200), NoMyNumber()])
    kind = SelectField("区分", choices=list(SYSTEM_KINDS.items()))
    hosting = SelectField("設置場所", choices=list(HOSTINGS.items()))
    status = SelectField("状態", choices=list(SYSTEM_STATUSES.items()))
    owner_department = SelectField("所管課", coerce=int, choices=[])
    departments = MultiCheckboxField("利用を認める所属", coerce=int, choices=[])
    affairs = MultiCheckboxField("このシステムを使用する事務", coerce=int, choices=[])
    cloud_provider = StringField("クラウド事業者・サービス", validators=[Optional(), Length(max=200), NoMyNumber()])
    ismap = SelectField("ISMAP登録", choices=list(ISMAP_STATES.items()))
    ismap_number = StringField("ISMAP登録番号", validators=[Optional(), Length(max=60), NoMyNumber()])
    description = TextAreaField("機能の説明(前文)", validators=[NoMyNumber()])
    numbering = SelectField("機能の番号の形式", choices=list(NUMBERINGS.items()))
    functions = TextAreaField("機能", validators=[NoMyNumber()])
    notes = TextAreaField("備考(機能の後に記載する※書き)", validators=[NoMyNumber()])
    submit = SubmitField("保存する")

    def validate_ismap_number(self, field):
        if field.data and self.ismap.data != "registered":
            raise ValidationError("登録番号は、ISMAP登録を「登録済み」にした場合に入力してください。")

    def validate_cloud_provider(self, field):
        if self.hosting.data == "gov_cloud" and not (field.data or "").strip():
            raise ValidationError("ガバメントクラウドの場合は、クラウド事業者・サービスを入力してください。")

    def validate_functions(self, field):
        for function in parse_functions(field.data):
            if not function["title"]:
                raise ValidationError("機能ごとに1行目へ機能名を書いてください。")


class ConnectionForm(FlaskForm):
    target = SelectField("接続先(台帳のシステム)", coerce=int, choices=[])
    target_label = StringField(
        "接続先(台帳にないシステム・ネットワーク)", validators=[Optional(), Length(max=300), NoMyNumber()]
    )
    kind = SelectField("接続の種類(評価書「③他のシステムとの接続」の区分)", choices=list(CONNECTION_KINDS.items()))
    flows = TextAreaField("連携する情報", validators=[NoMyNumber()])
    submit = SubmitField("接続を追加する")

    def validate_target_label(self, field):
        label = (field.data or "").strip()
        if self.target.data and label:
            raise ValidationError("接続先は、台帳のシステムか名称のどちらか一方を指定してください。")
        if not self.target.data and not label:
            raise ValidationError("接続先のシステムを選ぶか、名称を入力してください。")


class PiFileForm(FlaskForm):
    code = StringField("コード", validators=[DataRequired("コードを入力してください。"), _CODE, NoMyNumber()])
    name = StringField(
        "ファイル名", validators=[DataRequired("ファイル名を入力してください。"), Length(max=300), NoMyNumber()]
    )
    file_kind = SelectField("ファイルの種類", choices=[(k, k) for k in FILE_KINDS])
    owner_department = SelectField("所管課", coerce=int, choices=[])
    systems = MultiCheckboxField("保有するシステム", coerce=int, choices=[])
    affairs = MultiCheckboxField("このファイルを取り扱う事務", coerce=int, choices=[])
    record_items = TextAreaField("記録項目(1行に1項目)", validators=[NoMyNumber()])
    person_scope = TextAreaField("対象となる本人の範囲", validators=[NoMyNumber()])
    target_count = SelectField("対象人数", choices=[("", "(選択してください)")] + [(c, c) for c in TARGET_COUNTS])
    person_count = SelectField(
        "対象となる本人の数", choices=[("", "(選択してください)")] + [(c, c) for c in PERSON_COUNTS]
    )
    retention_period = SelectField(
        "保管期間", choices=[("", "(選択してください)")] + [(c, c) for c in RETENTION_PERIODS]
    )
    retention_note = TextAreaField("保管期間の妥当性", validators=[NoMyNumber()])
    deletion_method = TextAreaField("消去方法", validators=[NoMyNumber()])
    notes = TextAreaField("備考", validators=[NoMyNumber()])
    submit = SubmitField("保存する")

    def validate_record_items(self, field):
        items = lines(field.data)
        if len(items) != len(set(items)):
            raise ValidationError("同じ記録項目が重複しています。")


class ImportForm(FlaskForm):
    file = FileField("台帳ファイル(CSV または YAML)")
    submit = SubmitField("取り込む")


class SelectionForm(FlaskForm):
    """Choosing the systems and files of an assessment version from the inventory."""

    systems = MultiCheckboxField("システム", coerce=int, choices=[])
    files = MultiCheckboxField("特定個人情報ファイル", coerce=int, choices=[])
    submit = SubmitField("評価書に記載する")
