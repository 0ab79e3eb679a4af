"""The labels of 意見募集 codes (common.labels): channels, states, submitter kinds, the web
form's fields and their modes, and the audited entities of this package."""

from __future__ import annotations

from typing import Any

from common import labels
from consultation.models import CHANNELS, FIELD_MODES, FORM_FIELDS, STATES, SUBMITTER_KINDS

CHANNEL = "consultation_channel"
STATUS = "consultation_status"
SUBMITTER_KIND = "submitter_kind"
FORM_FIELD = "consultation_form_field"
FIELD_MODE = "consultation_field_mode"


def _form_fields(value: Any, _object_id: Any) -> str:
    """氏名: 必須 … (the web form's fields and whether each is asked)."""
    if not isinstance(value, dict):
        return labels.describe_value("", "form_fields", value)
    return "\n".join(f"{labels.label(k, FORM_FIELD)}: {labels.label(v, FIELD_MODE)}" for k, v in value.items())


def _channel_info(value: Any, _object_id: Any) -> str:
    """郵送: 〒060-… (how to submit by each channel)."""
    if not isinstance(value, dict):
        return labels.describe_value("", "channel_info", value)
    return "\n".join(f"{labels.label(k, CHANNEL)}: {v}" for k, v in value.items() if v) or "(なし)"


def _categories(value: Any, _object_id: Any) -> str:
    """The categories of the result report, by their labels (and headings)."""
    if not isinstance(value, list):
        return labels.describe_value("", "categories", value)
    lines = []
    for category in value:
        if isinstance(category, dict):
            text = str(category.get("label") or "")
            if category.get("heading"):
                text += f"(見出し: {category['heading']})"
            lines.append(text)
    return "\n".join(lines) or "(なし)"


def register() -> None:
    labels.register(CHANNEL, CHANNELS)
    labels.register(STATUS, STATES)
    labels.register(SUBMITTER_KIND, SUBMITTER_KINDS)
    labels.register(FORM_FIELD, FORM_FIELDS)
    labels.register(FIELD_MODE, FIELD_MODES)
    consultation = dict(
        fields={
            "title": "意見を求める案件",
            "description": "募集の趣旨・概要",
            "start_date": "募集開始日",
            "end_date": "募集終了日",
            "shortened_reason": "期間を短縮する特段の理由",
            "places": "配布場所",
            "web_url": "掲載しているウェブページ",
            "channels": "受付方法",
            "channel_info": "受付方法ごとの宛先",
            "eligibility": "意見を提出できる方",
            "form_fields": "Webフォームの入力欄",
            "consent_text": "同意事項",
            "categories": "結果報告の区分",
            "opened_at": "募集を開始した日時",
            "closed_at": "締め切った日時",
            "reported_at": "結果を公表した日時",
            "reported_on": "結果の公表日",
            "closed_early": "期間の終了前に締め切った",
            "early_close_reason": "期間の終了前に締め切った特段の理由",
            "draft_sha256": "意見を求めた案の要約値(SHA-256)",
            "snapshot_reconstructed": "移行時に復元した案",
            "reflection": "評価書への反映",
            "review_digest": "確認した公表文の要約値",
            "reviewed_at": "公表文を確認した日時",
            "reviewed_by_id": "公表文を確認した人",
        },
        values={"status": STATUS, "channels": CHANNEL},
        formats={"form_fields": _form_fields, "channel_info": _channel_info, "categories": _categories},
    )
    labels.register_entity("Consultation", "意見募集", **consultation)
    labels.register_entity("consultation", "意見募集", **consultation)
    submission = dict(
        fields={
            "receipt_number": "受付番号",
            "channel": "受付方法",
            "received_on": "受付日",
            "submitter_kind": "提出者の区分",
            "name": "氏名・団体名",
            "address": "住所",
            "contact": "連絡先",
            "subject": "件名",
            "body": "意見の内容",
            "fingerprint": "同一内容の判定値",
            "consent": "取扱いへの同意",
            "group_id": "同一・類似の意見のまとまり",
            "similarity": "類似度",
            "note": "メモ",
        },
        values={"channel": CHANNEL, "submitter_kind": SUBMITTER_KIND},
    )
    labels.register_entity("Submission", "意見書", **submission)
    labels.register_entity("consultation_submission", "意見書", **submission)
    labels.register_entity("SubmissionFile", "意見書の添付ファイル")
    opinion = dict(
        fields={
            "position": "並び順",
            "number": "意見の番号",
            "summary": "意見の概要",
            "category": "区分",
            "topic": "見出し",
            "target_path": "対象となる評価書の項目",
            "reply": "市の考え方",
            "changed": "この意見を受けて評価書を修正した",
            "change_version_id": "修正後の版",
            "change_path": "修正した項目",
            "represented_by_id": "代表とした意見",
        }
    )
    labels.register_entity("Opinion", "意見", **opinion)
    labels.register_entity("consultation_opinion", "意見", **opinion)
    group = dict(fields={"representative_id": "代表とした意見書"})
    labels.register_entity("FormLetterGroup", "同一・類似の意見のまとまり", **group)
    labels.register_entity("consultation_group", "同一・類似の意見のまとまり", **group)
