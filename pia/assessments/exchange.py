"""Export of an assessment with all its versions as JSON, and the import that recreates it.

The export is self-contained (the 事務 and its department by code, users by user ID) so it
can move between installations; ``import_assessment(export_assessment(a))`` on another
database gives an assessment whose export is identical (tests/pia/assessments/test_assessment_views.py, test_export_import_round_trip).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from common import audit
from common.db import db, utcnow
from common.models import Department, User
from common.mynumber import find_in_structure
from pia.assessments import search
from pia.assessments.models import (
    ACTION_STATUSES,
    ANNUAL_REVIEW_RESULTS,
    VERSION_STATES,
    ActionItem,
    Affair,
    AnnualReview,
    Assessment,
    AssessmentVersion,
    ChangeLogNote,
    ThresholdRecord,
)
from pia.schema import FORMS, LINK_KEY, SchemaNotFound, load_schema, validate

FORMAT = "hyoka.assessment"
FORMAT_VERSION = 1


class ImportError_(ValueError):
    """The file cannot be imported (the message says why, in Japanese)."""


def _d(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _user(user_id: int | None) -> str | None:
    user = db.session.get(User, user_id) if user_id else None
    return user.username if user else None


def export_assessment(assessment: Assessment) -> dict[str, Any]:
    affair = assessment.affair
    numbers = {v.id: v.number for v in assessment.versions}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "affair": {
            "code": affair.code,
            "name": affair.name,
            "ended_on": _d(affair.ended_on),
            "department": {"code": affair.department.code, "name": affair.department.name},
            "threshold_records": [
                {
                    "determined_on": _d(r.determined_on),
                    "target_count": r.target_count,
                    "handlers": r.handlers,
                    "serious_incident": r.serious_incident,
                    "incident_on": _d(r.incident_on),
                    "incident_source": r.incident_source,
                    "forms": list(r.forms),
                    "rule_note": r.rule_note,
                    "rose": r.rose,
                    "note": r.note,
                    "created_by": _user(r.created_by_id),
                    "created_at": _dt(r.created_at),
                }
                for r in affair.threshold_records
            ],
        },
        "assessment": {
            "form": assessment.form,
            "title": assessment.title,
            "number": assessment.number,
            "created_at": _dt(assessment.created_at),
        },
        "versions": [
            {
                "number": v.number,
                "edition": v.edition,
                "status": v.status,
                "document": v.document,
                "created_at": _dt(v.created_at),
                "submitted_on": _d(v.submitted_on),
                "published_on": _d(v.published_on),
                "revision": v.revision,
                "base_version": numbers.get(v.base_version_id),
                "change_kind": v.change_kind,
                "note": v.note,
                "created_by": _user(v.created_by_id),
                "updated_at": _dt(v.updated_at),
                "updated_by": _user(v.updated_by_id),
                "submitted_by": _user(v.submitted_by_id),
                "published_by": _user(v.published_by_id),
                "change_notes": [
                    {"path": n.path, "timing": n.timing, "timing_note": n.timing_note} for n in v.change_notes
                ],
            }
            for v in assessment.versions
        ],
        "annual_reviews": [
            {
                "reviewed_on": _d(r.reviewed_on),
                "result": r.result,
                "version": numbers.get(r.version_id),
                "note": r.note,
                "created_by": _user(r.created_by_id),
                "created_at": _dt(r.created_at),
            }
            for r in assessment.annual_reviews
        ],
        "actions": [
            {
                "path": a.path,
                "label": a.label,
                "version": numbers.get(a.version_id),
                "what": a.what,
                "owner": a.owner,
                "due_on": _d(a.due_on),
                "status": a.status,
                "still_answered": a.still_answered,
                "created_at": _dt(a.created_at),
                "updated_at": _dt(a.updated_at),
            }
            for a in sorted(assessment.actions, key=lambda a: a.id)
        ],
    }


# --------------------------------------------------------------------------- import


def _date(value, what: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ImportError_(f"{what}の日付が正しくありません: {value!r}") from None


def _datetime(value, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ImportError_(f"{what}の日時が正しくありません: {value!r}") from None
    if parsed.tzinfo is None:
        raise ImportError_(f"{what}の日時にタイムゾーンがありません: {value!r}")
    return parsed


def _user_id(username: str | None) -> int | None:
    if not username:
        return None
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    return user.id if user else None


def _check(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ImportError_("Hyokaの評価書エクスポート形式ではありません。")
    if data.get("format_version") != FORMAT_VERSION:
        raise ImportError_("対応していない形式の版です。")
    for key in ("affair", "assessment", "versions"):
        if not isinstance(data.get(key), (dict, list)):
            raise ImportError_(f"{key}がありません。")
    found = list(find_in_structure(data))
    if found:
        where = "、".join(found[:5]) + (f" ほか{len(found) - 5}か所" if len(found) > 5 else "")
        raise ImportError_(
            f"個人番号と判定される番号が含まれているため取り込めません({where})。"
            "評価書に個人番号を記載することはできません。"
        )
    if data["assessment"].get("form") not in FORMS:
        raise ImportError_("評価書の種類が正しくありません。")
    versions = data["versions"]
    if not versions or not isinstance(versions, list):
        raise ImportError_("版がありません。")
    numbers = [v.get("number") for v in versions]
    if any(not isinstance(n, int) or n < 1 for n in numbers) or len(set(numbers)) != len(numbers):
        raise ImportError_("版番号が正しくありません。")
    for v in versions:
        if v.get("status") not in VERSION_STATES:
            raise ImportError_(f"第{v.get('number')}版の状態が正しくありません。")
        try:
            schema = load_schema(data["assessment"]["form"], str(v.get("edition")))
        except SchemaNotFound:
            raise ImportError_(f"第{v['number']}版の様式の版({v.get('edition')})がありません。") from None
        if not isinstance(v.get("document"), dict):
            raise ImportError_(f"第{v['number']}版の内容がありません。")
        errors = [e for e in validate(schema, v["document"]) if e.message != "必須項目です"]
        if errors:
            raise ImportError_(f"第{v['number']}版の内容が様式に合いません({errors[0].path}: {errors[0].message})。")


def import_assessment(data: Any, *, actor, affair_code: str | None = None) -> Assessment:
    """Recreate the assessment of an export (a new 事務 when its code is unknown).

    :param affair_code: import under this 事務 code instead of the exported one.
    :raises ImportError_: the data is not a valid export, or the 事務 already has an
        assessment of this form.
    """
    _check(data)
    a = data["affair"]
    code = affair_code or a.get("code")
    affair = db.session.execute(db.select(Affair).filter_by(code=code)).scalar_one_or_none()
    new_affair = affair is None
    if new_affair:
        dept_data = a.get("department") or {}
        department = db.session.execute(
            db.select(Department).filter_by(code=dept_data.get("code"))
        ).scalar_one_or_none()
        if department is None:
            department = db.session.execute(
                db.select(Department).filter_by(name=dept_data.get("name"))
            ).scalar_one_or_none()
        if department is None:
            raise ImportError_(
                f"所属「{dept_data.get('name')}」({dept_data.get('code')})がありません。先に登録してください。"
            )
        affair = Affair(
            code=code,
            name=a.get("name") or code,
            department=department,
            ended_on=_date(a.get("ended_on"), "事務の終了日"),
        )
        db.session.add(affair)
        db.session.flush()
        for r in a.get("threshold_records") or []:
            db.session.add(
                ThresholdRecord(
                    affair=affair,
                    determined_on=_date(r.get("determined_on"), "しきい値判断"),
                    target_count=int(r.get("target_count") or 0),
                    handlers=int(r.get("handlers") or 0),
                    serious_incident=bool(r.get("serious_incident")),
                    incident_on=_date(r.get("incident_on"), "重大事故"),
                    incident_source=r.get("incident_source") or "",
                    forms=[f for f in r.get("forms") or [] if f in FORMS],
                    rule_note=r.get("rule_note") or "",
                    rose=bool(r.get("rose")),
                    note=r.get("note") or "",
                    created_by_id=_user_id(r.get("created_by")),
                    created_at=_datetime(r.get("created_at"), "しきい値判断") or utcnow(),
                )
            )
    form = data["assessment"]["form"]
    if any(x.form == form for x in affair.assessments):
        raise ImportError_(f"{affair.name}の{FORMS[form]}は既にあります。")
    s = data["assessment"]
    assessment = Assessment(
        affair=affair,
        form=form,
        title=s.get("title") or FORMS[form],
        number=s.get("number"),
        created_at=_datetime(s.get("created_at"), "評価書") or utcnow(),
    )
    db.session.add(assessment)
    db.session.flush()
    by_number: dict[int, AssessmentVersion] = {}
    for v in sorted(data["versions"], key=lambda v: v["number"]):
        base = by_number.get(v.get("base_version"))
        version = AssessmentVersion(
            assessment_id=assessment.id,
            number=v["number"],
            edition=str(v["edition"]),
            document=_without_links(v["document"]),
            created_at=_datetime(v.get("created_at"), "版") or utcnow(),
            submitted_on=_date(v.get("submitted_on"), "提出日"),
            published_on=_date(v.get("published_on"), "公表日"),
            revision=int(v.get("revision") or 1),
            base_version_id=base.id if base else None,
            change_kind=v.get("change_kind"),
            note=v.get("note") or "",
            created_by_id=_user_id(v.get("created_by")),
            updated_at=_datetime(v.get("updated_at"), "版"),
            updated_by_id=_user_id(v.get("updated_by")),
            submitted_by_id=_user_id(v.get("submitted_by")),
            published_by_id=_user_id(v.get("published_by")),
            status=v["status"],
        )
        # notes go in with the row: a frozen version takes no later UPDATE
        version.change_notes = [
            ChangeLogNote(path=n["path"], timing=n.get("timing"), timing_note=n.get("timing_note") or "")
            for n in v.get("change_notes") or []
        ]
        db.session.add(version)
        db.session.flush()
        by_number[version.number] = version
    db.session.refresh(assessment)
    # files exported before 2026-12 name them "reviews"
    for r in data.get("annual_reviews") or data.get("reviews") or []:
        if r.get("result") not in ANNUAL_REVIEW_RESULTS:
            raise ImportError_("見直しの結果が正しくありません。")
        linked = by_number.get(r.get("version"))
        db.session.add(
            AnnualReview(
                assessment=assessment,
                reviewed_on=_date(r.get("reviewed_on"), "見直し"),
                result=r["result"],
                version_id=linked.id if linked else None,
                note=r.get("note") or "",
                created_by_id=_user_id(r.get("created_by")),
                created_at=_datetime(r.get("created_at"), "見直し") or utcnow(),
            )
        )
    for x in data.get("actions") or []:
        if x.get("status") not in ACTION_STATUSES:
            raise ImportError_("行動計画の状況が正しくありません。")
        linked = by_number.get(x.get("version"))
        db.session.add(
            ActionItem(
                assessment=assessment,
                path=x["path"],
                label=x.get("label") or "",
                version_id=linked.id if linked else None,
                what=x.get("what") or "",
                owner=x.get("owner") or "",
                due_on=_date(x.get("due_on"), "行動計画"),
                status=x["status"],
                still_answered=bool(x.get("still_answered", True)),
                created_at=_datetime(x.get("created_at"), "行動計画") or utcnow(),
                updated_at=_datetime(x.get("updated_at"), "行動計画"),
            )
        )
    db.session.flush()
    for version in by_number.values():
        search.index_version(version)
    audit.record(
        "import", "Assessment", assessment.id, f"{assessment.title}を取り込みました({len(by_number)}版)。", actor=actor
    )
    db.session.refresh(assessment)
    return assessment


def _without_links(value: Any) -> Any:
    """The document without the ids of 台帳 records (``pia.schema.LINK_KEY``): ids of another
    database name other records here; entries are linked again by their names when read."""
    if isinstance(value, dict):
        return {k: _without_links(v) for k, v in value.items() if k != LINK_KEY}
    if isinstance(value, list):
        return [_without_links(v) for v in value]
    return value
