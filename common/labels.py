"""The words people use for the codes Hyoka keeps: one registry that every package adds to.

A *vocabulary* maps codes to labels (``feed_kind``: ``access`` -> 操作履歴). ``common``
registers its own vocabularies in :func:`init_app`; each domain package registers its own in
its ``init_app`` (common imports no domain package), from the dictionaries its models and
checks already define, so each label is written once. Large open vocabularies (the items of
the assessment forms) register a *resolver* instead.

The audit trail names entities (``AssessmentVersion``) and their fields (``revision``):
:func:`register_entity` gives each entity its label, its fields' labels, and how the values
of a field are shown (a vocabulary of its codes, or a function). Templates reach all of it
through the ``label`` and ``actor`` filters and the ``entity_label``, ``object_label``,
``field_label`` and ``describe_value`` globals.

A code without a label is shown as it is. Tests keep that from happening:
``tests/common/test_labels.py`` (every audited model and column has a label) and
``tests/security/test_visible_text.py`` (no registered code in the text of any page or PDF).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import has_app_context

from common import notify
from common.audit import ACTIONS
from common.db import db
from common.jpdate import format_date, format_datetime
from common.models import FEED_KINDS, NOTIFY_MODES, ROLES, User

# the vocabularies of common; each package names its own next to the codes it defines
AUDIT_ACTION = "audit_action"  #: what an audit event records (create, login, …)
AUDIT_ACTOR = "audit_actor"  #: who acted when no signed-in user did (cli, demo, public, …)
ENTITY = "entity"  #: the object of an audit event (AssessmentVersion, evidence_batch, …)
FIELD = "field"  #: a column or a key of an audit event's values (revision, updated_at, …)
ROLE = "role"  #: a user's role
FEED_KIND = "feed_kind"  #: the evidence feeds (access, grants, …)
SETTING = "setting"  #: the body-wide settings (body.name, …)
ITEM = "item"  #: the sections and items of the assessment forms (risks/files/use/risk3/measures)
NOTIFY_MODE = "notify_mode"  #: how a user receives notifications
NOTIFICATION_KIND = "notification_kind"  #: the kinds of notification (common.notify, by package)

#: (value, object_id of the audit event) -> text
Formatter = Callable[[Any, Any], str]

#: the vocabulary of an entity's ids, where they are codes (CheckConfig: the check's name)
_id_vocabularies: dict[str, str] = {}

_vocabularies: dict[str, dict[str, str]] = {}
_resolvers: dict[str, tuple[Callable[[str], str | None], Callable[[], Iterable[str]]]] = {}
#: (entity, field) -> vocabulary of the field's values (list items too); entity "" for any
_value_vocabularies: dict[tuple[str, str], str] = {}
#: (entity, field) -> a function that writes the field's value; entity "" for any
_formatters: dict[tuple[str, str], Formatter] = {}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


class LabelConflict(ValueError):
    """One code given two labels in one vocabulary (one word, one meaning)."""


def register(vocabulary: str, labels: Mapping[str, str]) -> None:
    """Add ``labels`` (code -> label) to ``vocabulary``; registering the same again is harmless."""
    known = _vocabularies.setdefault(vocabulary, {})
    for code, text in labels.items():
        if known.get(code, text) != text:
            raise LabelConflict(f"{vocabulary}: {code!r} is {known[code]!r}, not {text!r}")
        known[code] = text


def register_resolver(
    vocabulary: str, resolve: Callable[[str], str | None], codes: Callable[[], Iterable[str]]
) -> None:
    """An open vocabulary: ``resolve(code)`` gives the label (None: not one of ours), ``codes()``
    the codes there are (for the tests that look for codes in pages)."""
    _resolvers[vocabulary] = (resolve, codes)


def register_entity(
    name: str,
    label: str,
    *,
    fields: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    formats: Mapping[str, Formatter] | None = None,
    ids: str | None = None,
) -> None:
    """An audited entity: its label, its own fields' labels (generic fields such as
    ``created_at`` are in :data:`FIELD` for all), the vocabulary of a field's values
    (``values={"status": "consultation_status"}``), functions that write a field's value, and
    the vocabulary of its ids when they are codes (``ids``)."""
    register(ENTITY, {name: label})
    if ids:
        _id_vocabularies[name] = ids
    register_fields(name, fields=fields, values=values, formats=formats)


def register_fields(
    entity: str,
    *,
    fields: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    formats: Mapping[str, Formatter] | None = None,
) -> None:
    """Fields another package adds to an entity (a setting of its own, say), as in
    :func:`register_entity`."""
    register(FIELD, {f"{entity}.{key}": text for key, text in (fields or {}).items()})
    for key, vocabulary in (values or {}).items():
        _value_vocabularies[(entity, key)] = vocabulary
    for key, formatter in (formats or {}).items():
        _formatters[(entity, key)] = formatter


def register_values(field: str, vocabulary: str, *, entity: str = "") -> None:
    """The values of ``field`` (of any entity, or of ``entity``) are codes of ``vocabulary``."""
    _value_vocabularies[(entity, field)] = vocabulary


def label(code: Any, vocabulary: str, default: str | None = None) -> str:
    """The label of ``code`` in ``vocabulary``; ``default`` (or the code itself) when it has none."""
    if code is None:
        return default or ""
    key = str(code)
    found = _vocabularies.get(vocabulary, {}).get(key)
    if found is None and vocabulary in _resolvers:
        found = _resolvers[vocabulary][0](key)
    if found is not None:
        return found
    return default if default is not None else key


def has_label(code: Any, vocabulary: str) -> bool:
    return label(code, vocabulary, default="\0") != "\0"


def vocabulary(name: str) -> dict[str, str]:
    """A copy of a closed vocabulary (code -> label), in the order it was registered."""
    return dict(_vocabularies.get(name, {}))


def entity_label(name: Any) -> str:
    return label(name, ENTITY)


def object_label(entity: Any, object_id: Any) -> str:
    """The object of an audit event: 「評価書の版 12」, 「点検の設定 権限のない操作」."""
    text = entity_label(entity)
    if object_id in (None, ""):
        return text
    vocabulary_name = _id_vocabularies.get(str(entity))
    if vocabulary_name:
        return f"{text}「{label(object_id, vocabulary_name)}」"
    return f"{text} {object_id}"


def actor_label(name: Any) -> str:
    """Who acted: a person's name as recorded, or what acted for no one (「管理コマンド」,
    「API(JUKI連携)」 for a token)."""
    text = "" if name is None else str(name)
    if has_label(text, AUDIT_ACTOR):
        return label(text, AUDIT_ACTOR)
    prefix, _, rest = text.partition(":")
    if prefix == "api" and rest:
        return f"API({rest})"
    return text


def field_label(entity: str, field: str) -> str:
    """The label of ``field`` of ``entity``: the entity's own, else the generic one."""
    fields = _vocabularies.get(FIELD, {})
    found = fields.get(f"{entity}.{field}") or fields.get(field)
    if found is None and "/" in field and has_label(field, ITEM):  # a changed item of a document
        found = label(field, ITEM)
    return found or field


def describe_value(entity: str, field: str, value: Any, object_id: Any = None) -> str:
    """A value of an audit event as people read it: codes as their labels, dates and times in
    the Japanese form, yes/no, lists joined with 「、」, nested values with their keys' labels."""
    formatter = _formatters.get((entity, field)) or _formatters.get(("", field))
    if formatter is not None:
        return formatter(value, object_id)
    vocabulary_name = _value_vocabularies.get((entity, field)) or _value_vocabularies.get(("", field))
    return _describe(entity, value, vocabulary_name)


def _describe(entity: str, value: Any, vocabulary_name: str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if value == "":
            return "(空欄)"
        if vocabulary_name and has_label(value, vocabulary_name):
            return label(value, vocabulary_name)
        if _ISO_MOMENT.fullmatch(value):
            return format_datetime(value)
        if _ISO_DATE.fullmatch(value):
            return format_date(value)
        return value
    if isinstance(value, (list, tuple)):
        return "、".join(_describe(entity, item, vocabulary_name) for item in value) or "(なし)"
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            name = label(key, vocabulary_name, default="") if vocabulary_name else ""
            name = name or field_label(entity, str(key))
            parts.append(f"{name}: {_describe(entity, item, _value_vocabularies.get(('', str(key))))}")
        return "\n".join(parts) or "(なし)"
    return str(value)


def code_words() -> set[str]:
    """Every code that has a label: none of them may appear in a page people read."""
    words: set[str] = set()
    for known in _vocabularies.values():
        words.update(known)
    for _resolve, codes in _resolvers.values():
        words.update(codes())
    return {word for word in words if word}


def init_app(app) -> None:
    """common's vocabularies, and the template filters and globals."""
    register(AUDIT_ACTION, ACTIONS)
    register(AUDIT_ACTOR, AUDIT_ACTORS)
    register(ROLE, ROLES)
    register(FEED_KIND, FEED_KINDS)
    register(NOTIFY_MODE, NOTIFY_MODES)
    register_resolver(NOTIFICATION_KIND, _notification_kind, _notification_kinds)
    register(SETTING, COMMON_SETTINGS)
    register(FIELD, COMMON_FIELDS)
    register_entity(
        "User",
        "利用者",
        fields={
            "username": "ユーザーID",
            "display_name": "氏名",
            "active": "有効",
            "roles": "役割",
            "departments": "所属",
            "password_changed_at": "パスワードの変更日時",
            "email": "メールアドレス",
            "notify_mode": "通知の受け取り方",
            "notify_off": "受け取らない通知",
            "directory_dn": "ディレクトリ上の識別名(DN)",
        },
        values={"roles": ROLE, "notify_mode": NOTIFY_MODE, "notify_off": NOTIFICATION_KIND},
    )
    register_entity("Department", "所属", fields={"code": "所属コード", "name": "所属名", "sort_order": "表示順"})
    register_entity(
        "Setting", "設定", fields={"key": "設定項目", "value": "設定値"}, values={"key": SETTING}, ids=SETTING
    )
    register_entity(
        "ApiToken",
        "APIトークン",
        fields={
            "name": "名称",
            "prefix": "トークンの先頭",
            "system_code": "システムコード",
            "feeds": "送信できるフィード",
            "revoked_at": "失効日時",
        },
        formats={"feeds": _feed_list},
    )
    register_fields("", formats={field: _user_name for field in USER_FIELDS})
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["actor"] = actor_label
    app.jinja_env.globals.update(
        entity_label=entity_label,
        object_label=object_label,
        field_label=field_label,
        describe_value=describe_value,
    )


def _notification_kind(name: str) -> str | None:
    return next((kind.label for kind in _kinds() if kind.name == name), None)


def _notification_kinds() -> list[str]:
    return [kind.name for kind in _kinds()]


def _kinds():
    return notify.kinds() if has_app_context() else []  # (the kinds the packages registered with the app)


def _user_name(value: Any, _object_id: Any) -> str:
    """A user by name (and user ID), not by the number of their row."""
    if not isinstance(value, int) or isinstance(value, bool):
        return _describe("", value, None)
    user = db.session.get(User, value)
    return f"{user.display_name}({user.username})" if user else f"(削除された利用者 {value})"


def _feed_list(value: Any, _object_id: Any) -> str:
    if not isinstance(value, str) or not value:
        return _describe("ApiToken", value, None)
    return "、".join(label(kind, FEED_KIND) for kind in value.split(","))


#: what the audit trail names as the actor when no signed-in user acted (common.audit)
AUDIT_ACTORS = {
    "system": "システム(自動処理)",
    "anonymous": "ログインしていない利用者",
    "public": "公開ページの利用者",
    "cli": "管理コマンド",
    "demo": "デモデータの読込",
}

#: fields that hold the id of a user (common.models.User)
USER_FIELDS = (
    "created_by_id",
    "updated_by_id",
    "submitted_by_id",
    "published_by_id",
    "judged_by_id",
    "reviewed_by_id",
    "author_id",
    "responder_id",
)

#: the settings an administrator can change, by key
COMMON_SETTINGS = {
    "body.name": "団体名",
    "body.head": "団体の長",
    "body.website": "団体のウェブサイト",
}

#: fields many entities have, with one meaning everywhere; an entity's own label wins
COMMON_FIELDS = {
    "id": "ID",
    "name": "名称",
    "title": "件名",
    "code": "コード",
    "kind": "種類",
    "status": "状態",
    "note": "備考",
    "notes": "備考",
    "description": "説明",
    "label": "表示名",
    "position": "表示順",
    "number": "番号",
    "revision": "更新番号",
    "active": "有効",
    "created_at": "作成日時",
    "created_by_id": "作成者",
    "updated_at": "更新日時",
    "updated_by_id": "更新者",
    "department_id": "所属",
    "owner_department_id": "担当の所属",
    "user_id": "利用者",
    "assessment_id": "評価書",
    "version_id": "評価書の版",
    "affair_id": "事務",
    "consultation_id": "意見募集",
    "submission_id": "意見書",
    "session_id": "点検の実施",
    "body_id": "第三者点検の機関",
    "sha256": "SHA-256(要約値)",
    "filename": "ファイル名",
    "content_type": "ファイルの種類",
    "size": "大きさ(バイト)",
    "path": "評価書の項目",
    "summary": "概要",
    "text": "本文",
    "result": "結果",
    "method": "方法",
    "before": "変更前",
    "after": "変更後",
    "format": "形式",
}
