"""The JSON API under /api/v1 and its OpenAPI description.

Packages add routes to :data:`bp` (decorated with ``common.auth.api_requires``) and describe
them with :func:`document`; ``/api/v1/openapi.json`` serves the assembled specification,
which the contract tests (schemathesis) check every response against.
"""

from __future__ import annotations

import copy

from flask import Blueprint, jsonify

from common.auth import public

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_PATHS: dict[str, dict] = {}
_SCHEMAS: dict[str, dict] = {
    "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
}

ERROR_RESPONSES = {
    "400": {
        "description": "リクエストの内容に誤りがあります(アドレスに制御文字を含むなど)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "401": {
        "description": "認証が必要です",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "403": {
        "description": "権限がありません",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "404": {
        "description": "見つかりません",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}


def document(path: str, method: str, operation: dict, schemas: dict | None = None) -> None:
    """Describe one operation (OpenAPI 3.1 ``operation`` object) of ``path`` (OpenAPI syntax)."""
    op = copy.deepcopy(operation)
    responses = op.setdefault("responses", {})
    for code, response in ERROR_RESPONSES.items():
        responses.setdefault(code, response)
    op.setdefault("security", [{"bearer": []}, {"session": []}])
    _PATHS.setdefault(path, {})[method.lower()] = op
    _SCHEMAS.update(schemas or {})


def spec() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hyoka API", "version": "1.0.0", "description": "特定個人情報保護評価システム Hyoka のAPI"},
        "servers": [{"url": "/"}],
        "paths": {f"/api/v1{p}": ops for p, ops in sorted(_PATHS.items())},
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "hyoka_session"},
            },
        },
    }


@bp.get("/openapi.json")
@public
def openapi():
    """The OpenAPI specification of this API."""
    return jsonify(spec())


document(
    "/openapi.json",
    "get",
    {
        "summary": "このAPIのOpenAPI仕様",
        "operationId": "getOpenApi",
        "security": [],
        "responses": {
            "200": {
                "description": "OpenAPI 3.1 の仕様書",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    },
)
