"""Read API for assessments under /api/v1 (described in the OpenAPI document).

Editors see every assessment and its published versions, and the other versions only of
their own departments' affairs (as in the HTML pages).
"""

from __future__ import annotations

from flask import g, jsonify

from common.api import bp, document
from common.auth import api_error, api_requires
from common.db import db
from common.params import DB_INT_MAX
from pia.assessments import services
from pia.assessments.models import Affair, Assessment

ROLES = ("officer", "editor", "auditor", "admin")

_NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}

SCHEMAS = {
    "Affair": {
        "type": "object",
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "department": {"type": "string"}},
        "required": ["code", "name", "department"],
    },
    "AssessmentSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "affair": {"$ref": "#/components/schemas/Affair"},
            "form": {"type": "string", "enum": ["zenkoumoku", "juten", "kiso"]},
            "form_name": {"type": "string"},
            "title": {"type": "string"},
            "number": {"type": ["string", "null"]},
            "current_version": {"type": ["integer", "null"], "description": "公表中の版の番号"},
            "current_published_on": _NULLABLE_DATE,
        },
        "required": ["id", "affair", "form", "form_name", "title", "number", "current_version", "current_published_on"],
    },
    "VersionSummary": {
        "type": "object",
        "properties": {
            "number": {"type": "integer"},
            "status": {"type": "string", "enum": ["draft", "consultation", "review", "submitted", "published"]},
            "status_label": {"type": "string"},
            "edition": {"type": "string"},
            "change_kind": {"type": ["string", "null"], "enum": ["initial", "significant", "correction", "none", None]},
            "submitted_on": _NULLABLE_DATE,
            "published_on": _NULLABLE_DATE,
            "revision": {"type": "integer"},
        },
        "required": [
            "number",
            "status",
            "status_label",
            "edition",
            "change_kind",
            "submitted_on",
            "published_on",
            "revision",
        ],
    },
    "AssessmentList": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/AssessmentSummary"}}},
        "required": ["items"],
    },
    "AssessmentDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/AssessmentSummary"},
            {
                "type": "object",
                "properties": {"versions": {"type": "array", "items": {"$ref": "#/components/schemas/VersionSummary"}}},
                "required": ["versions"],
            },
        ],
    },
    "VersionDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/VersionSummary"},
            {
                "type": "object",
                "properties": {
                    "assessment_id": {"type": "integer"},
                    "document": {"type": "object", "description": "様式(pia/schemas)に沿った評価書の内容"},
                    "change_log": {"type": "array", "items": {"type": "object"}, "description": "変更箇所"},
                },
                "required": ["assessment_id", "document", "change_log"],
            },
        ],
    },
}


#: ids beyond a database integer cannot exist (and must not reach the driver)
MAX_ID = 2**31 - 1


def _find(assessment_id: int) -> Assessment | None:
    """The assessment, when it exists and the caller sees it (else None: a 404)."""
    assessment = db.session.get(Assessment, assessment_id) if 0 < assessment_id <= MAX_ID else None
    if assessment is None or not services.can_see_assessment(g.api_user, assessment):
        return None
    return assessment


def _d(value):
    return value.isoformat() if value else None


def _summary(assessment: Assessment) -> dict:
    current = assessment.current_version
    return {
        "id": assessment.id,
        "affair": {
            "code": assessment.affair.code,
            "name": assessment.affair.name,
            "department": assessment.affair.department.name,
        },
        "form": assessment.form,
        "form_name": assessment.form_name,
        "title": assessment.title,
        "number": assessment.number,
        "current_version": current.number if current else None,
        "current_published_on": _d(current.published_on) if current else None,
    }


def _version(version) -> dict:
    return {
        "number": version.number,
        "status": version.status,
        "status_label": version.status_label,
        "edition": version.edition,
        "change_kind": version.change_kind if version.frozen else services.change_kind(version),
        "submitted_on": _d(version.submitted_on),
        "published_on": _d(version.published_on),
        "revision": version.revision,
    }


@bp.get("/assessments")
@api_requires(*ROLES)
def api_assessments():
    """The assessments the caller sees, with their current published version."""
    items = db.session.execute(db.select(Assessment).join(Affair).order_by(Affair.id, Assessment.id)).scalars()
    return jsonify({"items": [_summary(a) for a in items if services.can_see_assessment(g.api_user, a)]})


@bp.get("/assessments/<int:assessment_id>")
@api_requires(*ROLES)
def api_assessment(assessment_id):
    """One assessment with the versions the caller may read."""
    assessment = _find(assessment_id)
    if assessment is None:
        return api_error(404, "評価書が見つかりません。")
    data = _summary(assessment)
    data["versions"] = [_version(v) for v in services.visible_versions(g.api_user, assessment)]
    return jsonify(data)


@bp.get("/assessments/<int:assessment_id>/versions/<int:number>")
@api_requires(*ROLES)
def api_assessment_version(assessment_id, number):
    """One version with its document (as shown: section VI and 変更箇所 filled)."""
    assessment = _find(assessment_id)
    version = assessment.version(number) if assessment else None
    if version is None or not services.can_read_version(g.api_user, version):
        return api_error(404, "版が見つかりません。")
    data = _version(version)
    data["assessment_id"] = assessment.id
    data["document"] = services.document_with_facts(version)
    data["change_log"] = (data["document"].get("changelog") or {}).get("changes") or []
    return jsonify(data)


#: ids and numbers in paths are 1 … 2**31-1 (common.params.IdConverter); others are a 404
_INT = {"type": "integer", "minimum": 1, "maximum": DB_INT_MAX}
_ID = {"name": "assessment_id", "in": "path", "required": True, "schema": _INT}

document(
    "/assessments",
    "get",
    {
        "summary": "評価書の一覧",
        "operationId": "listAssessments",
        "tags": ["assessments"],
        "responses": {
            "200": {
                "description": "評価書の一覧",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AssessmentList"}}},
            }
        },
    },
    SCHEMAS,
)
document(
    "/assessments/{assessment_id}",
    "get",
    {
        "summary": "評価書と版の一覧",
        "operationId": "getAssessment",
        "tags": ["assessments"],
        "parameters": [_ID],
        "responses": {
            "200": {
                "description": "評価書",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AssessmentDetail"}}},
            }
        },
    },
)
document(
    "/assessments/{assessment_id}/versions/{number}",
    "get",
    {
        "summary": "評価書の版(内容を含む)",
        "operationId": "getAssessmentVersion",
        "tags": ["assessments"],
        "parameters": [_ID, {"name": "number", "in": "path", "required": True, "schema": _INT}],
        "responses": {
            "200": {
                "description": "版",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VersionDetail"}}},
            }
        },
    },
)
