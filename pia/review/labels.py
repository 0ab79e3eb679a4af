"""The labels of 第三者点検 codes (common.labels): the kinds of reviewing bodies and the
audited entities of this part."""

from __future__ import annotations

from typing import Any

from common import labels
from pia.review.models import BODY_KINDS

BODY_KIND = "review_body_kind"


def _members(value: Any, _object_id: Any) -> str:
    """The members as the body's form writes them: 「氏名(役職・専門分野)」, one a line."""
    if not isinstance(value, list):
        return labels.describe_value("", "members", value)
    lines = []
    for member in value:
        if isinstance(member, dict):
            name, title = member.get("name") or "", member.get("title") or ""
            lines.append(f"{name}({title})" if title else str(name))
        else:
            lines.append(str(member))
    return "\n".join(lines) or "(なし)"


def register() -> None:
    labels.register(BODY_KIND, BODY_KINDS)
    labels.register_entity(
        "ReviewBody",
        "第三者点検の機関",
        fields={"name": "名称", "kind": "区分", "members": "委員", "active": "点検の記録に使う"},
        values={"kind": BODY_KIND},
        formats={"members": _members},
    )
    labels.register_entity(
        "ReviewSession",
        "第三者点検の実施",
        fields={
            "held_on": "実施日",
            "body_id": "点検を行った機関",
            "method": "方法",
            "result": "結果",
            "minutes_file": "議事録の保存先",
            "minutes_name": "議事録のファイル名",
            "minutes_size": "議事録の大きさ(バイト)",
            "minutes_sha256": "議事録の要約値(SHA-256)",
            "round_id": "点検に付した本文",
        },
    )
    labels.register_entity(
        "ReviewFinding",
        "第三者点検の指摘事項",
        fields={
            "session_id": "点検の回",
            "item_path": "対象の項目",
            "item_label": "対象の項目の名称",
            "text": "指摘事項",
            "author_id": "記録した人",
            "response": "対応",
            "responded_at": "対応を記録した日時",
            "responder_id": "対応を記録した人",
            "draft_changed": "この指摘により評価書(案)を修正した",
            "change_version_id": "修正した版",
            "change_note": "修正の内容",
        },
    )
    labels.register_entity(
        "ReviewRound",
        "第三者点検に付した本文",
        fields={"document_sha256": "本文の要約値(SHA-256)", "reconstructed": "移行時に復元した本文"},
    )
