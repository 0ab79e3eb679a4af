"""``POST /api/v1/feeds/<kind>``: business systems send their feeds with a system token."""

from __future__ import annotations

from flask import g, jsonify, request

from common.api import bp, document
from common.auth import api_error, api_requires
from common.db import unit_of_work
from common.models import FEED_KINDS
from evidence import transparency
from evidence.feeds import KINDS
from evidence.ingest import import_feed

CONTENT_TYPES = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
}


@bp.post("/feeds/<kind>")
@api_requires(feed=True)
def post_feed(kind):
    """Store one feed batch sent by a business system (all or nothing)."""
    if kind not in KINDS:
        return api_error(404, f"フィードの種類「{kind}」はありません。")
    token = g.api_token
    if kind not in token.feed_kinds:
        allowed = "、".join(f"{FEED_KINDS[k]}({k})" for k in token.feed_kinds) or "なし"
        return api_error(
            403,
            f"このトークンでは{FEED_KINDS[kind]}({kind})を送信できません"
            f"(送信できるフィード: {allowed})。管理 › APIトークンで確認してください。",
        )
    mimetype = (request.mimetype or "").lower()
    fmt = CONTENT_TYPES.get(mimetype)
    if fmt is None:
        return api_error(415, "Content-Type は text/csv または application/x-ndjson にしてください。")
    with unit_of_work():
        result = import_feed(
            kind,
            request.stream,
            source=f"api:{token.name}",
            fmt=fmt,
            system_code=token.system_code,
            actor=f"api:{token.name}",
        )
    transparency.after_import(result)  # after the commit: a checkpoint over the new batch
    body = result.as_dict()
    return jsonify(body), (201 if result.stored else 422)


_ERROR_ITEM = {
    "type": "object",
    "properties": {"line": {"type": "integer"}, "field": {"type": ["string", "null"]}, "reason": {"type": "string"}},
    "required": ["line", "field", "reason"],
}

document(
    "/feeds/{kind}",
    "post",
    {
        "summary": "証跡フィードの送信",
        "description": (
            "業務システムが操作履歴・権限・人事配置・関係・情報提供等記録を送信します。"
            "システムごとに発行したトークン(Authorization: Bearer)が必要です。"
            "1回の送信が1つのバッチで、不備のある行が1行でもあれば何も保存しません(全件不受理)。"
            "同じ行を再送しても二重には保存しません。トークンのシステム以外の system を持つ行は不備として扱います。"
            "トークンごとに送信できるフィードが決まっており(既定は操作履歴と権限付与)、それ以外は 403 を返します。"
            "データ行のないファイル(空、ヘッダ行だけ)は受け付けません。"
        ),
        "operationId": "postFeed",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "kind", "in": "path", "required": True, "schema": {"type": "string", "enum": list(KINDS)}}
        ],
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "201": {
                "description": "保存しました",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedResult"}}},
            },
            "403": {
                "description": "このトークンではこの種類のフィードを送信できません",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "415": {
                "description": "Content-Type が対応していません",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "422": {
                "description": "不備があるため保存しませんでした(errors に行番号・項目・理由)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedResult"}}},
            },
        },
    },
    schemas={
        "FeedResult": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": list(KINDS)},
                "stored": {"type": "boolean"},
                "batch_id": {"type": ["integer", "null"]},
                "format": {"type": ["string", "null"]},
                "rows": {"type": "integer"},
                "accepted": {"type": "integer", "description": "保存した行数"},
                "duplicate": {"type": "integer", "description": "既に保存済みのため保存しなかった行数"},
                "rejected": {"type": "integer", "description": "不備のある行数"},
                "errors": {"type": "array", "items": _ERROR_ITEM},
                "errors_total": {"type": "integer"},
                "sha256": {"type": ["string", "null"]},
                "chain_hash": {"type": ["string", "null"]},
            },
            "required": ["kind", "stored", "rows", "accepted", "duplicate", "rejected", "errors"],
        },
    },
)
