"""Forms of the evidence pages (Flask-WTF: CSRF on every form).

:func:`check_settings_form` builds the settings form of one check from the parameters its
defaults name (``evidence.checks.CHECKS[name].defaults``): whole numbers for days and
thresholds, 「08:30」 times for the working hours, a small table of per-system hours, and a
small table from 情報項目 to 事務. A rejected form keeps what was typed: numbers and times
stay text until they are valid.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask import request
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, RadioField, SelectField, StringField, SubmitField
from wtforms.validators import AnyOf, InputRequired, StopValidation

from common.mynumber import contains_my_number
from evidence.models import SEVERITIES

#: at most this many rows in the per-system hours and 情報項目 tables
MAX_ROWS = 50
#: blank rows offered under the filled ones (rows are removed by emptying them)
BLANK_ROWS = 2
INFO_ITEM_MAX = 100
_HHMM = re.compile(r"(\d{1,2}):(\d{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class NumberParam:
    label: str
    unit: str
    minimum: int
    maximum: int
    hint: str = ""


#: whole-number parameters by key; :data:`NUMBER_PARAMS_BY_CHECK` words them for one check
NUMBER_PARAMS = {
    "days": NumberParam("基準日数", "日", 1, 3650),
    "subjects": NumberParam(
        "基準値(1日に操作した住民の数)",
        "人",
        1,
        100_000,
        "1日にこの人数を超える住民の記録を操作すると点検結果になります。",
    ),
    "denied": NumberParam(
        "基準値(1日に拒否された回数)", "回", 1, 10_000, "1日にこの回数を超えて操作を拒否されると点検結果になります。"
    ),
}
NUMBER_PARAMS_BY_CHECK = {
    ("unexplained_access", "subjects"): NumberParam(
        "基準値(1日に操作した住民の数)",
        "人",
        1,
        100_000,
        "1日にこの人数以上の住民の記録を操作した日を対象にします。",
    ),
    ("unexplained_access", "percent"): NumberParam(
        "基準値(業務上の説明のない割合)",
        "%",
        0,
        99,
        "操作した住民のうち、説明のない住民の割合がこの値を超えると点検結果になります。",
    ),
    ("unexplained_access", "before"): NumberParam(
        "説明とみなす期間(操作日の前)",
        "開庁日",
        0,
        30,
        "操作日のこの開庁日数前から、所属が扱った受付記録を業務上の説明とみなします(すべての点検結果の表示に使います)。",
    ),
    ("unexplained_access", "after"): NumberParam(
        "説明とみなす期間(操作日の後)",
        "開庁日",
        0,
        30,
        "操作日のこの開庁日数後までの受付記録を業務上の説明とみなします。",
    ),
    ("stale_grant", "days"): NumberParam(
        "基準日数(所属を離れてからの日数)",
        "日",
        1,
        365,
        "利用を認められた所属をすべて離れてから、この日数を過ぎても残っている権限を点検結果にします。",
    ),
    ("dormant_grant", "days"): NumberParam(
        "基準日数(使われていない日数)",
        "日",
        1,
        1095,
        "この日数以上使われていない有効な権限を点検結果にします(最長3年)。",
    ),
}
HOUR_LABELS = {"start": "業務時間の開始", "end": "業務時間の終了"}
HOUR_PLACEHOLDERS = {"start": "08:30", "end": "17:15"}
PARAM_LABELS = {
    "systems": "システムごとの業務時間",
    "info_item_affairs": "情報項目と事務の対応",
    "windows": "システムごとの説明とみなす期間",
}
#: the operating days before / after an access that a per-system window may reach
WINDOW_MAX_DAYS = 30


def number_param(check: str, key: str) -> NumberParam | None:
    return NUMBER_PARAMS_BY_CHECK.get((check, key)) or NUMBER_PARAMS.get(key)


def param_kind(check: str, key: str) -> str:
    """``number`` | ``hour`` | ``systems`` | ``windows`` | ``info_item_affairs`` | ``other`` (shown,
    not edited)."""
    if number_param(check, key):
        return "number"
    if key in HOUR_LABELS:
        return "hour"
    if key in PARAM_LABELS:
        return key
    return "other"


def param_label(check: str, key: str) -> str:
    spec = number_param(check, key)
    return spec.label if spec else HOUR_LABELS.get(key) or PARAM_LABELS.get(key) or key


def param_text(check: str, key: str, value) -> str:
    """A parameter's value as the settings page shows it."""
    kind = param_kind(check, key)
    if kind == "number":
        try:
            return f"{int(value):,}{number_param(check, key).unit}"
        except (TypeError, ValueError):
            return str(value)
    if kind == "systems":
        rows = (
            [
                f"{code} {own.get('start') or '(共通)'}〜{own.get('end') or '(共通)'}"
                for code, own in sorted(value.items())
                if isinstance(own, dict)
            ]
            if isinstance(value, dict)
            else []
        )
        return "、".join(rows) or "なし(すべてのシステムで共通の業務時間)"
    if kind == "windows":
        rows = (
            [
                f"{code} {own.get('before', '(共通)')}開庁日前〜{own.get('after', '(共通)')}開庁日後"
                for code, own in sorted(value.items())
                if isinstance(own, dict)
            ]
            if isinstance(value, dict)
            else []
        )
        return "、".join(rows) or "なし(すべてのシステムで共通の期間)"
    if kind == "info_item_affairs" and isinstance(value, dict):
        return "、".join(f"{info} → {affair}" for info, affair in value.items()) or "なし"
    return "" if value is None else str(value)


def parse_hhmm(text: str) -> str | None:
    """「8:30」「０８：３０」 → ``08:30``; None unless a time between 00:00 and 23:59."""
    match = _HHMM.fullmatch(unicodedata.normalize("NFKC", text or "").strip())
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


class WholeNumberField(StringField):
    """A whole number within bounds; full-width digits and 「1,000」 are accepted.

    The data stays the typed text until it is valid, so a rejected form shows it again.
    """

    def __init__(self, label=None, validators=None, *, spec: NumberParam, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "numeric", "autocomplete": "off", "size": 8})
        super().__init__(label, validators, **kwargs)
        self.spec = spec

    def pre_validate(self, form):
        text = unicodedata.normalize("NFKC", str(self.data or "")).strip().replace(",", "")
        if not text:
            raise StopValidation("入力してください。")
        if not text.isascii() or not text.isdigit():
            raise StopValidation("数字(整数)で入力してください。")
        number = int(text)
        if not self.spec.minimum <= number <= self.spec.maximum:
            raise StopValidation(
                f"{self.spec.minimum:,}から{self.spec.maximum:,}までの整数({self.spec.unit})で入力してください。"
            )
        self.data = number


class HourMinuteField(StringField):
    """A time of day as 「08:30」 (24-hour clock); optional unless ``required``."""

    def __init__(self, label=None, validators=None, *, required=True, placeholder="", **kwargs):
        kwargs.setdefault(
            "render_kw",
            {
                "inputmode": "numeric",
                "autocomplete": "off",
                "size": 6,
                **({"placeholder": placeholder} if placeholder else {}),
            },
        )
        super().__init__(label, validators, **kwargs)
        self.required = required

    def pre_validate(self, form):
        text = str(self.data or "").strip()
        if not text:
            self.data = ""
            if self.required:
                raise StopValidation("時刻を入力してください。")
            return
        value = parse_hhmm(text)
        if value is None:
            raise StopValidation("「08:30」のように、時と分をコロンで区切って入力してください(00:00〜23:59)。")
        self.data = value


class SystemHoursRow(Form):
    """One row of the per-system hours table (no CSRF of its own: the outer form carries it)."""

    system = SelectField("システム", choices=[], validate_choice=False)
    start = HourMinuteField("開始", required=False)
    end = HourMinuteField("終了", required=False)


class SystemWindowRow(Form):
    """One row of the per-system window table (operating days before and after an access)."""

    system = SelectField("システム", choices=[], validate_choice=False)
    before = StringField("前(開庁日)", render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 4})
    after = StringField("後(開庁日)", render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 4})


class AffairRow(Form):
    """One row of the 情報項目 → 事務 table."""

    info_item = StringField("情報項目", render_kw={"autocomplete": "off"})
    affair = SelectField("事務", choices=[], validate_choice=False)


class CheckSettingsForm(FlaskForm):
    enabled = BooleanField("この点検を行う")
    severity = RadioField(
        "重要度",
        choices=list(SEVERITIES.items()),
        validate_choice=False,
        validators=[
            InputRequired("重要度を選んでください。"),
            AnyOf(list(SEVERITIES), message="重要度は「高」「中」「低」から選んでください。"),
        ],
    )
    submit = SubmitField("保存する")

    #: set by :func:`check_settings_form`
    check_name = ""
    param_keys: tuple[str, ...] = ()
    system_codes: frozenset[str] = frozenset()
    affair_codes: frozenset[str] = frozenset()

    def param_fields(self):
        """(key, kind, field) of the parameters this form edits."""
        return [(key, param_kind(self.check_name, key), self[key]) for key in self.param_keys]

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if "start" in self.param_keys and "end" in self.param_keys:
            ok = self._check_hours() and ok
        if "systems" in self.param_keys:
            ok = self._check_systems() and ok
        if "info_item_affairs" in self.param_keys:
            ok = self._check_affairs() and ok
        if "windows" in self.param_keys:
            ok = self._check_windows() and ok
        return ok

    def _check_windows(self) -> bool:
        ok, seen = True, set()
        for entry in self["windows"]:
            row = entry.form
            code = (row.system.data or "").strip()
            for sub in (row.before, row.after):
                text = unicodedata.normalize("NFKC", str(sub.data or "")).strip()
                if not text:
                    sub.data = ""
                elif not (text.isascii() and text.isdigit() and int(text) <= WINDOW_MAX_DAYS):
                    sub.errors.append(f"0から{WINDOW_MAX_DAYS}までの整数(開庁日)で入力してください。")
                    ok = False
                else:
                    sub.data = int(text)
            if not code:
                if row.before.data != "" or row.after.data != "":
                    row.system.errors.append("システムを選んでください。")
                    ok = False
                continue
            if code not in self.system_codes:
                row.system.errors.append("システム台帳にないシステムです。")
                ok = False
            elif code in seen:
                row.system.errors.append("同じシステムが複数の行にあります。")
                ok = False
            seen.add(code)
            if row.before.data == "" and row.after.data == "" and not (row.before.errors or row.after.errors):
                row.before.errors.append("前・後の少なくとも一方を入力してください。")
                ok = False
        return ok

    def _check_hours(self) -> bool:
        start, end = self["start"], self["end"]
        if start.errors or end.errors or start.data < end.data:
            return True
        end.errors.append("終了は開始より後の時刻にしてください。")
        return False

    def _check_systems(self) -> bool:
        ok, seen = True, set()
        common_start = None if "start" not in self.param_keys or self["start"].errors else self["start"].data
        common_end = None if "end" not in self.param_keys or self["end"].errors else self["end"].data
        for entry in self["systems"]:
            row = entry.form
            code = (row.system.data or "").strip()
            if not code:
                if (row.start.data or row.end.data) and not (row.start.errors or row.end.errors):
                    row.system.errors.append("システムを選んでください。")
                    ok = False
                continue
            if code not in self.system_codes:
                row.system.errors.append("システム台帳にないシステムです。")
                ok = False
            elif code in seen:
                row.system.errors.append("同じシステムが複数の行にあります。")
                ok = False
            seen.add(code)
            if row.start.errors or row.end.errors:
                continue
            if not row.start.data and not row.end.data:
                row.start.errors.append("開始・終了の少なくとも一方を入力してください。")
                ok = False
                continue
            start, end = row.start.data or common_start, row.end.data or common_end
            if start and end and start >= end:
                row.end.errors.append("終了は開始より後の時刻にしてください。")
                ok = False
        return ok

    def _check_affairs(self) -> bool:
        ok, seen = True, set()
        for entry in self["info_item_affairs"]:
            row = entry.form
            info = (row.info_item.data or "").strip()
            code = (row.affair.data or "").strip()
            if not info and not code:
                continue
            if not info:
                row.info_item.errors.append("情報項目の名称を入力してください。")
            elif len(info) > INFO_ITEM_MAX:
                row.info_item.errors.append(f"{INFO_ITEM_MAX}文字以内で入力してください。")
            elif _CONTROL.search(info):
                row.info_item.errors.append("改行や制御文字は入力できません。")
            elif contains_my_number(info):
                row.info_item.errors.append("個人番号のような12桁の数字は入力できません。")
            elif info in seen:
                row.info_item.errors.append("同じ情報項目が複数の行にあります。")
            seen.add(info)
            if not code:
                row.affair.errors.append("事務を選んでください。")
            elif code not in self.affair_codes:
                row.affair.errors.append("登録されていない事務です。")
            ok = ok and not (row.info_item.errors or row.affair.errors)
        return ok

    def params(self) -> dict:
        """The edited parameters (call after a successful ``validate``)."""
        out = {}
        for key, kind, field in self.param_fields():
            if kind in ("number", "hour"):
                out[key] = field.data
            elif kind == "systems":
                rows = {}
                for entry in field:
                    code = (entry.form.system.data or "").strip()
                    if code:
                        rows[code] = {k: entry.form[k].data for k in ("start", "end") if entry.form[k].data}
                out[key] = dict(sorted(rows.items()))
            elif kind == "windows":
                rows = {}
                for entry in field:
                    code = (entry.form.system.data or "").strip()
                    if code:
                        rows[code] = {k: entry.form[k].data for k in ("before", "after") if entry.form[k].data != ""}
                out[key] = dict(sorted(rows.items()))
            elif kind == "info_item_affairs":
                out[key] = {
                    entry.form.info_item.data.strip(): entry.form.affair.data.strip()
                    for entry in field
                    if (entry.form.info_item.data or "").strip()
                }
        return out


def _rows(value, kind: str) -> list[dict]:
    value = value if isinstance(value, dict) else {}
    if kind == "systems":
        return [
            {"system": code, "start": own.get("start") or "", "end": own.get("end") or ""}
            for code, own in sorted(value.items())
            if isinstance(own, dict)
        ]
    if kind == "windows":
        return [
            {"system": code, "before": own.get("before", ""), "after": own.get("after", "")}
            for code, own in sorted(value.items())
            if isinstance(own, dict)
        ]
    return [{"info_item": info, "affair": affair} for info, affair in value.items()]


def check_settings_form(
    check, current, *, systems: list[tuple[str, str]], affairs: list[tuple[str, str]]
) -> CheckSettingsForm:
    """The settings form of ``check`` (a CheckDef) filled from ``current`` (its CheckSettings).

    ``systems`` and ``affairs`` are the (code, label) choices of the two tables; codes already
    in the settings stay selectable so that an old row can be kept or emptied.
    """
    keys = tuple(key for key in check.defaults if param_kind(check.name, key) != "other")
    attrs: dict = {"check_name": check.name, "param_keys": keys}
    if check.always:  # always run at its own severity: only the parameters can change
        attrs.update(enabled=None, severity=None)
    data: dict = {"enabled": current.enabled, "severity": current.severity}
    for key in keys:
        kind = param_kind(check.name, key)
        value = current.params.get(key, check.defaults[key])
        if kind == "number":
            spec = number_param(check.name, key)
            attrs[key] = WholeNumberField(spec.label, spec=spec, description=spec.hint)
            data[key] = value
        elif kind == "hour":
            attrs[key] = HourMinuteField(HOUR_LABELS[key], placeholder=HOUR_PLACEHOLDERS[key])
            data[key] = value
        else:
            row_form = {"systems": SystemHoursRow, "windows": SystemWindowRow}.get(kind, AffairRow)
            rows = _rows(value, kind)
            attrs[key] = FieldList(
                FormField(row_form),
                label=PARAM_LABELS[key],
                min_entries=min(len(rows) + BLANK_ROWS, MAX_ROWS),
                max_entries=MAX_ROWS,
            )
            data[key] = rows
    form_class = type(f"{check.name.title().replace('_', '')}SettingsForm", (CheckSettingsForm,), attrs)
    # a submitted form is filled from what was posted only (a rejected one shows it again)
    form = form_class() if request.method == "POST" else form_class(data=data)

    kept_systems = {row["system"] for row in data.get("systems", []) + data.get("windows", [])}
    kept_affairs = {row["affair"] for row in data.get("info_item_affairs", [])}
    system_choices = _choices(systems, kept_systems, "(システム台帳にありません)")
    affair_choices = _choices(affairs, kept_affairs, "(事務の登録がありません)")
    form.system_codes = frozenset(code for code, _ in system_choices if code)
    form.affair_codes = frozenset(code for code, _ in affair_choices if code)
    for key in keys:
        for entry in form[key] if param_kind(check.name, key) in ("systems", "windows", "info_item_affairs") else ():
            if "system" in entry.form:
                entry.form.system.choices = system_choices
            else:
                entry.form.affair.choices = affair_choices
    return form


def _choices(known: list[tuple[str, str]], kept: set[str], missing: str) -> list[tuple[str, str]]:
    codes = {code for code, _ in known}
    extra = [(code, f"{code}{missing}") for code in sorted(kept - codes)]
    return [("", "(選んでください)")] + list(known) + extra
