"""The labels of 評価書 codes (common.labels): forms, version states, change kinds, 見直し
results, action states, the audited entities of this part, and the items of the forms
(``risks/files[0]/use/risk3/measures`` -> 「III … リスク3 …」) as an open vocabulary."""

from __future__ import annotations

import functools
from typing import Any

from common import labels
from pia.assessments.checklist import item_label
from pia.assessments.models import ACTION_STATUSES, ANNUAL_REVIEW_RESULTS, CHANGE_KINDS, VERSION_STATES
from pia.assessments.services import RULES_KEY
from pia.schema import FORMS, list_editions, load_schema, parse_path, walk_schema

FORM = "assessment_form"
VERSION_STATUS = "version_status"
CHANGE_KIND = "change_kind"
ANNUAL_REVIEW_RESULT = "annual_review_result"
ACTION_STATUS = "action_status"


def _schemas():
    return [load_schema(form, edition) for form in FORMS for edition in reversed(list_editions(form))]


@functools.lru_cache(maxsize=4096)
def item_path_label(path: str) -> str | None:
    """The item at ``path`` (or the section ``path``) as people name it, in the first form
    that has it; None when no form does."""
    try:
        segments = parse_path(path)
    except KeyError:
        return None
    for schema in _schemas():
        try:
            section = schema.section(segments[0][0])
            if len(segments) == 1:
                return section.display_title
            schema.item(path)
        except KeyError:
            continue
        return item_label(schema, path)
    return None


@functools.cache
def item_paths() -> frozenset[str]:
    """Every section key and item path (without indices) of every form."""
    found: set[str] = set()
    for schema in _schemas():
        for section in schema.sections:
            found.add(section.key)
            found.update(path for _item, path in walk_schema(section.items, section.key))
    return frozenset(found)


def _rules(value: Any, _object_id: Any) -> str:
    """The しきい値判断 rules by what each says (its note)."""
    if not isinstance(value, list):
        return labels.describe_value("", "rules", value)
    notes = [str(rule.get("note") or "") if isinstance(rule, dict) else str(rule) for rule in value]
    return "\n".join(f"・{note}" for note in notes) or "(なし)"


def register() -> None:
    labels.register(labels.SETTING, {RULES_KEY: "しきい値判断の判断基準"})
    labels.register_fields("Setting", fields={"rules": "しきい値判断の判断基準"}, formats={"rules": _rules})
    labels.register(FORM, FORMS)
    labels.register(VERSION_STATUS, VERSION_STATES)
    labels.register(CHANGE_KIND, CHANGE_KINDS)
    labels.register(ANNUAL_REVIEW_RESULT, ANNUAL_REVIEW_RESULTS)
    labels.register(ACTION_STATUS, ACTION_STATUSES)
    labels.register_resolver(labels.ITEM, item_path_label, item_paths)
    for field in ("path", "target_path", "change_path", "item_path"):
        labels.register_values(field, labels.ITEM)
    labels.register_entity(
        "Affair",
        "事務",
        fields={
            "code": "事務のコード",
            "name": "事務の名称",
            "department_id": "担当の所属",
            "ended_on": "事務の終了日",
        },
    )
    labels.register_entity(
        "Assessment",
        "評価書",
        fields={"form": "評価書の種類", "title": "評価書の名称", "number": "評価書番号"},
        values={"form": FORM},
    )
    version_fields = {
        "number": "版",
        "edition": "様式の版",
        "submitted_on": "提出日",
        "published_on": "公表日",
        "base_version_id": "元にした版",
        "base_version": "元にした版",
        "change_kind": "変更の種類",
        "note": "版の説明",
        "submitted_by_id": "提出を記録した人",
        "published_by_id": "公表を記録した人",
    }
    for name in ("AssessmentVersion", "assessment_version"):
        labels.register_entity(
            name,
            "評価書の版",
            fields=version_fields,
            values={"status": VERSION_STATUS, "change_kind": CHANGE_KIND},
        )
    labels.register_entity(
        "ThresholdRecord",
        "しきい値判断",
        fields={
            "determined_on": "判断日",
            "target_count": "対象人数",
            "handlers": "取扱者数",
            "serious_incident": "重大事故の発生",
            "incident_on": "重大事故の発生日",
            "incident_source": "重大事故の内容",
            "forms": "実施する評価",
            "rule_note": "判断の根拠",
            "rose": "判断結果の上昇",
            "rules": "しきい値判断の基準",
        },
        values={"forms": FORM},
    )
    labels.register_entity(
        "AnnualReview",
        "見直し",
        fields={"reviewed_on": "見直し日", "result": "見直しの結果", "version_id": "作成した版"},
        values={"result": ANNUAL_REVIEW_RESULT},
    )
    labels.register_entity(
        "ActionItem",
        "行動計画",
        fields={
            "path": "評価書の項目",
            "label": "項目の名称",
            "version_id": "記載された版",
            "what": "対応内容",
            "owner": "担当",
            "due_on": "期限",
            "status": "状況",
            "still_answered": "最新の版でも課題が残されている",
        },
        values={"status": ACTION_STATUS},
    )
    labels.register_entity(
        "ChangeLogNote",
        "変更箇所の記録",
        fields={
            "timing": "提出時期",
            "timing_note": "提出時期に係る説明",
            "immaterial": "重要な変更に当たらない",
            "immaterial_reason": "重要な変更に当たらない理由",
            "reason": "重要な変更に当たらない理由",
            "judged_by_id": "判断した人",
            "judged_at": "判断日時",
        },
    )
