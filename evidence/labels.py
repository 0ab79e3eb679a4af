"""The labels of evidence codes (common.labels): the checks, the operations and results of
the access logs, relations, provision directions, severities, decisions and states of
findings, where a batch came from, and the audited entities of this package."""

from __future__ import annotations

from typing import Any

from common import labels
from evidence.checks import CHECKS
from evidence.explain import ACTION_LABELS, RELATION_LABELS
from evidence.explanations import MEASURE_LABELS
from evidence.feeds import feed_source
from evidence.forms import param_label, param_text
from evidence.models import DECISIONS, SEVERITIES

CHECK = "evidence_check"
ACTION = "access_action"
RESULT = "access_result"
RELATION = "relation"
DIRECTION = "provision_direction"
SEVERITY = "severity"
DECISION = "decision"
FINDING_STATE = "finding_state"
MEASURE = "protection_measure"

#: results of an operation (access) or of a provision (provisions)
RESULT_LABELS = {"success": "成功", "denied": "拒否", "error": "エラー"}
DIRECTION_LABELS = {"provide": "提供", "inquire": "照会"}
#: the states a list of findings can be narrowed to
FINDING_STATES = {
    "open": "未対応(未判断・要調査・不正の疑い)",
    "undecided": "未判断",
    "closed": "対応済み",
    "cleared": "解消(再点検で該当なし)",
    **DECISIONS,
}


def _params(value: Any, check: Any) -> str:
    """A check's parameters as the settings page words them."""
    if not isinstance(value, dict):
        return labels.describe_value("", "params", value)
    name = str(check or "")
    lines = [f"{param_label(name, key)}: {param_text(name, key, item)}" for key, item in value.items()]
    return "\n".join(lines) or "(既定値のまま)"


def register(app) -> None:
    labels.register(CHECK, {name: check.title for name, check in CHECKS.items()})
    labels.register(ACTION, ACTION_LABELS)
    labels.register(RESULT, RESULT_LABELS)
    labels.register(RELATION, RELATION_LABELS)
    labels.register(DIRECTION, DIRECTION_LABELS)
    labels.register(SEVERITY, SEVERITIES)
    labels.register(DECISION, DECISIONS)
    labels.register(FINDING_STATE, FINDING_STATES)
    labels.register(MEASURE, MEASURE_LABELS)
    labels.register_entity(
        "CheckConfig",
        "点検の設定",
        fields={"check": "点検", "enabled": "点検を行う", "severity": "重要度", "params": "基準値など"},
        values={"check": CHECK, "severity": SEVERITY},
        formats={"params": _params},
        ids=CHECK,
    )
    batch = {
        "kind": "フィードの種類",
        "source": "送信元",
        "rows_stored": "保存した件数",
        "duplicates": "重複の件数",
        "rejected": "除外した件数",
        "sha256": "受信データの要約値(SHA-256)",
        "chain_hash": "チェーンハッシュ",
        "errors_total": "不備の件数",
        "reasons": "不備の内容",
    }
    source = {"source": lambda value, _id: feed_source(value)}
    labels.register_entity(
        "evidence_batch", "証跡フィードの受信バッチ", fields=batch, values={"kind": labels.FEED_KIND}, formats=source
    )
    labels.register_entity(
        "evidence_feed", "証跡フィード", fields=batch, values={"kind": labels.FEED_KIND}, formats=source
    )
    labels.register_entity(
        "evidence_report", "証跡報告書", fields={"sha256": "報告書の要約値(SHA-256)", "format": "形式"}
    )
    labels.register_entity("evidence_check_run", "証跡の点検")
    labels.register_entity(
        "evidence_retention",
        "保存期間の満了による証跡の削除",
        fields={
            "before": "この日より前",
            "by": "実施者",
            "batches": "バッチ",
            "rows": "削除した行の件数",
            "head_hash": "残るチェーンの先頭ハッシュ",
            "archive": "書き出したファイル",
            "sha256": "ファイルの要約値(SHA-256)",
            "forced": "保存期間内を含む",
        },
    )
    labels.register_entity(
        "evidence_finding",
        "証跡の点検結果",
        fields={"decision": "判断", "reason": "判断の理由"},
        values={"decision": DECISION},
    )
    app.jinja_env.filters["feed_source"] = feed_source
