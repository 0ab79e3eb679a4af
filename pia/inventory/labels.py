"""The labels of システム台帳 codes (common.labels): system kinds, hostings, states, ISMAP,
connection kinds, numbering, and the audited entities of this part."""

from __future__ import annotations

from typing import Any

from common import labels
from pia.inventory.importer import NUMBERING_LABELS
from pia.inventory.models import CONNECTION_KINDS, HOSTINGS, ISMAP_STATES, SYSTEM_KINDS, SYSTEM_STATUSES
from pia.inventory.services import STATE_LABELS

SYSTEM_KIND = "system_kind"
HOSTING = "system_hosting"
SYSTEM_STATUS = "system_status"
ISMAP = "ismap_state"
CONNECTION_KIND = "connection_kind"
NUMBERING = "function_numbering"


def _functions(value: Any, _object_id: Any) -> str:
    """The functions of a system: their names, one a line."""
    if not isinstance(value, list):
        return labels.describe_value("", "functions", value)
    names = [str(f.get("title") or "") if isinstance(f, dict) else str(f) for f in value]
    return "\n".join(f"・{name}" for name in names) or "(なし)"


def register() -> None:
    labels.register(SYSTEM_KIND, SYSTEM_KINDS)
    labels.register(HOSTING, HOSTINGS)
    labels.register(SYSTEM_STATUS, SYSTEM_STATUSES)
    labels.register(ISMAP, ISMAP_STATES)
    labels.register(CONNECTION_KIND, CONNECTION_KINDS)
    labels.register(NUMBERING, NUMBERING_LABELS)
    fields = {**STATE_LABELS, "owner_department_id": STATE_LABELS["owner_department"]}
    labels.register_entity(
        "System",
        "システム",
        fields={
            **fields,
            "description": "説明",
            "systems": "取り込んだシステム",
            "files": "取り込んだファイル",
            "filename": "取り込んだファイルの名前",
        },
        values={
            "kind": SYSTEM_KIND,
            "hosting": HOSTING,
            "status": SYSTEM_STATUS,
            "ismap": ISMAP,
            "numbering": NUMBERING,
        },
        formats={"functions": _functions},
    )
    labels.register_entity("PiFile", "特定個人情報ファイル", fields=fields)
    labels.register_entity(
        "Connection",
        "システムの接続",
        fields={
            "source_id": "接続元のシステム",
            "target_id": "接続先のシステム",
            "target_label": "接続先の名称",
            "kind": "接続の種類",
            "flows": "連携する情報",
        },
        values={"kind": CONNECTION_KIND},
    )
