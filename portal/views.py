"""The public portal (no login): published assessments, consultations, search, Atom feed, and
the evidence log's signed checkpoints (HTML, Atom, each note as text, consistency proofs).

Only what the body has published is reachable from here: assessment versions in the
state 公表済み (their stored PDF/A and 変更箇所) and consultations that are open or done
(the intake form and result reports are the consultation package's pages). Drafts, staff
data and anything of a version that is not published never are; every query below filters
on the published state, and ``tests/portal/test_portal.py`` checks it.
"""

from __future__ import annotations

import time as clock
from collections import OrderedDict
from datetime import UTC, datetime, time
from itertools import groupby

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, make_response, render_template, request, url_for
from sqlalchemy.orm import contains_eager, defer
from werkzeug.routing import BuildError

from common.auth import public
from common.db import db
from common.jpdate import format_date, format_range
from common.timeutil import JST, today_jst

bp = Blueprint("public", __name__, url_prefix="/public")

#: how long browsers and proxies may keep a portal page (published content changes rarely)
PAGE_MAX_AGE = 300
FEED_LIMIT = 50
MAX_QUERY_LENGTH = 100


@bp.context_processor
def _portal_context():
    """The body's name, read once per page (the layout shows it several times)."""
    from common.templating import body_name

    return {"portal_body": body_name()}


def _cached(response, max_age: int = PAGE_MAX_AGE):
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response


def _page(template: str, **context):
    return _cached(make_response(render_template(template, **context)))


# --------------------------------------------------------------------------- queries


def _published_versions():
    """Published versions with their assessment, affair and department, documents deferred."""
    from common.models import Department
    from pia.assessments.models import Affair, Assessment, AssessmentVersion

    return (
        sa.select(AssessmentVersion)
        .join(AssessmentVersion.assessment)
        .join(Assessment.affair)
        .join(Affair.department)
        .where(AssessmentVersion.status == "published")
        .options(
            defer(AssessmentVersion.document),
            contains_eager(AssessmentVersion.assessment)
            .contains_eager(Assessment.affair)
            .contains_eager(Affair.department),
        )
        .order_by(Department.name, Affair.name, Assessment.form, Assessment.id, AssessmentVersion.number)
    )


def published_assessments() -> list[dict]:
    """[{affair, department, assessments: [{assessment, current, past}]}] in one query."""
    versions = db.session.execute(_published_versions()).scalars().unique().all()
    affairs: OrderedDict[int, dict] = OrderedDict()
    for assessment, group in groupby(versions, key=lambda v: v.assessment):
        group = list(group)
        entry = affairs.setdefault(
            assessment.affair_id,
            {"affair": assessment.affair, "department": assessment.affair.department, "assessments": []},
        )
        entry["assessments"].append({"assessment": assessment, "current": group[-1], "past": group[:-1][::-1]})
    return list(affairs.values())


def _consultations():
    """Consultations the public may see: open, closed (result being prepared), reported."""
    try:
        from consultation.models import Consultation
    except ImportError:  # the consultation package is optional for the portal
        return []
    rows = (
        db.session.execute(
            sa.select(Consultation)
            .where(Consultation.status.in_(("open", "closed", "reported")))
            .order_by(Consultation.start_date.desc(), Consultation.id.desc())
        )
        .scalars()
        .all()
    )
    return list(rows)


def _consultation_url(endpoint: str, consultation, external: bool = False) -> str | None:
    try:
        return url_for(endpoint, consultation_id=consultation.id, _external=external)
    except BuildError:  # the consultation package's pages are not installed
        return None


def _published_version_or_404(assessment_id: int, number: int):
    from pia.assessments.models import AssessmentVersion

    version = db.session.execute(
        sa.select(AssessmentVersion).filter_by(assessment_id=assessment_id, number=number, status="published")
    ).scalar_one_or_none()
    if version is None:
        abort(404)
    return version


# --------------------------------------------------------------------------- pages


#: the rendered index, kept a few seconds per process: it is the same for every visitor and
#: the most requested page while a consultation is open
INDEX_TTL_SECONDS = 5.0
_index_cache: dict[str, tuple[float, str]] = {}


@bp.get("/")
@public
def index():
    """The portal: published assessments by 事務, consultations, search."""
    key = f"{current_app.config['SQLALCHEMY_DATABASE_URI']}|{today_jst()}"
    ttl = current_app.config.get("HYOKA_PORTAL_CACHE_SECONDS", INDEX_TTL_SECONDS)
    hit = _index_cache.get(key)
    if hit and clock.monotonic() - hit[0] < ttl:
        return _cached(make_response(hit[1]))
    today = today_jst()
    consultations = _consultations()
    open_now = [c for c in consultations if c.status == "open" and c.start_date <= today <= c.end_date]
    past = [c for c in consultations if c not in open_now]
    html = render_template(
        "portal/index.html",
        affairs=published_assessments(),
        open_now=open_now,
        past=past,
        consultation_url=_consultation_url,
        today=today,
    )
    _index_cache.clear()
    _index_cache[key] = (clock.monotonic(), html)
    return _cached(make_response(html))


@bp.get("/assessments/<int:assessment_id>")
@public
def assessment(assessment_id):
    """One assessment: the version in force and the earlier published versions."""
    from pia.assessments.models import AssessmentVersion
    from pia.publication.models import PublishedDocument

    versions = (
        db.session.execute(_published_versions().where(AssessmentVersion.assessment_id == assessment_id))
        .scalars()
        .unique()
        .all()
    )
    if not versions:
        abort(404)
    stored = {
        row.version_id: row
        for row in db.session.execute(
            sa.select(PublishedDocument).where(
                PublishedDocument.version_id.in_([v.id for v in versions]), PublishedDocument.kind == "assessment"
            )
        ).scalars()
    }
    versions = versions[::-1]
    return _page(
        "portal/assessment.html",
        assessment=versions[0].assessment,
        current=versions[0],
        versions=versions,
        stored=stored,
    )


@bp.get("/assessments/<int:assessment_id>/versions/<int:number>/changes")
@public
def changes(assessment_id, number):
    """変更箇所 of a published version."""
    from pia.publication.pdf import change_rows

    version = _published_version_or_404(assessment_id, number)
    return _page("portal/changes.html", version=version, assessment=version.assessment, rows=change_rows(version))


@bp.get("/assessments/<int:assessment_id>/versions/<int:number>.pdf")
@public
def version_pdf(assessment_id, number):
    """The PDF of a published version (stored once; ETag = SHA-256)."""
    from pia.publication.views import send_stored_pdf

    version = _published_version_or_404(assessment_id, number)
    return send_stored_pdf(version)


@bp.get("/search")
@public
def search():
    """Search published assessments and consultations (Japanese: substring match)."""
    from pia.assessments import search as pia_search
    from pia.assessments.models import AssessmentVersion

    query = (request.args.get("q") or "").strip()[:MAX_QUERY_LENGTH]
    results = []
    consultations = []
    if query:
        results = pia_search.search(query, version_filter=AssessmentVersion.status == "published", limit=50)
        words = pia_search.terms(query)
        consultations = [
            c for c in _consultations() if all(w in pia_search.normalise(f"{c.title}\n{c.description}") for w in words)
        ]
    return _page(
        "portal/search.html",
        query=query,
        results=results,
        consultations=consultations,
        consultation_url=_consultation_url,
    )


# --------------------------------------------------------------------------- the evidence log's checkpoints

CHECKPOINT_PAGE_SIZE = 50


def _checkpoint_or_404(checkpoint_id: int):
    from evidence.models import LogCheckpoint

    return db.get_or_404(LogCheckpoint, checkpoint_id)


@bp.get("/checkpoints")
@public
def checkpoints():
    """The evidence log's signed checkpoints, newest first, with the public key to check them."""
    from common.params import page_number
    from evidence import transparency
    from evidence.models import LogCheckpoint

    page = request.args.get("page", 1, type=page_number)
    total = db.session.execute(sa.select(sa.func.count()).select_from(LogCheckpoint)).scalar_one()
    rows = (
        db.session.execute(
            sa.select(LogCheckpoint)
            .order_by(LogCheckpoint.id.desc())
            .limit(CHECKPOINT_PAGE_SIZE)
            .offset((page - 1) * CHECKPOINT_PAGE_SIZE)
        )
        .scalars()
        .all()
    )
    return _page(
        "portal/checkpoints.html",
        rows=rows,
        total=total,
        page=page,
        page_size=CHECKPOINT_PAGE_SIZE,
        key=transparency.public_key(),
        when=transparency.when_label,
    )


def _text(body: str, max_age: int = PAGE_MAX_AGE):
    response = make_response(body)
    response.mimetype = "text/plain"
    response.charset = "utf-8"
    return _cached(response, max_age)


@bp.get("/checkpoints/<int:checkpoint_id>.txt")
@public
def checkpoint_note(checkpoint_id):
    """One checkpoint as its signed note (C2SP tlog-checkpoint), to keep a copy of."""
    return _text(_checkpoint_or_404(checkpoint_id).note, max_age=86400)


@bp.get("/checkpoints/key.txt")
@public
def checkpoint_key():
    """The log's public key (C2SP verifier key), for ``--key`` of the verifiers."""
    from evidence import transparency

    key = transparency.public_key()
    if key is None:
        abort(404)
    return _text(key.encode() + "\n")


@bp.get("/checkpoints/consistency")
@public
def checkpoint_consistency():
    """A consistency proof from ``?from=N`` batches to the latest checkpoint (JSON), for
    ``tools/verify_evidence_report.py consistency``."""
    from flask import jsonify

    from evidence import transparency

    old_size = request.args.get("from", type=int)
    if old_size is None:
        response = jsonify({"error": "お持ちのチェックポイントのバッチ数を ?from= で指定してください。"})
        response.status_code = 400
        return response
    try:
        body = transparency.consistency_from(old_size)
    except transparency.ProofUnavailable as exc:
        response = jsonify({"error": str(exc)})
        response.status_code = 404
        return response
    return _cached(jsonify(body), 60)


@bp.get("/checkpoints.atom")
@public
def checkpoints_feed():
    """Atom feed of the evidence log's checkpoints (each entry carries the signed note)."""
    from common.templating import body_name
    from evidence.models import LogCheckpoint

    rows = (
        db.session.execute(sa.select(LogCheckpoint).order_by(LogCheckpoint.id.desc()).limit(FEED_LIMIT)).scalars().all()
    )
    authority = current_app.config.get("HYOKA_FEED_AUTHORITY") or current_app.config.get("SERVER_NAME") or "hyoka.local"
    host = authority.split(":")[0]
    response = make_response(
        render_template(
            "portal/checkpoints.xml",
            rows=rows,
            updated=rows[0].signed_at if rows else datetime(2000, 1, 1, tzinfo=UTC),
            body=body_name(),
            feed_id=f"tag:{host},2000:evidence-checkpoints",
            host=host,
        )
    )
    response.mimetype = "application/atom+xml"
    return _cached(response, 60)


# --------------------------------------------------------------------------- Atom


def _moment(value) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(0, 0), tzinfo=JST).astimezone(UTC)


def feed_entries() -> list[dict]:
    """New publications and consultations, newest first."""
    authority = current_app.config.get("HYOKA_FEED_AUTHORITY") or current_app.config.get("SERVER_NAME") or "hyoka.local"
    authority = authority.split(":")[0]
    entries = []
    for version in db.session.execute(_published_versions()).scalars().unique():
        published = version.published_on or version.created_at.date()
        a = version.assessment
        entries.append(
            {
                "id": f"tag:{authority},{published.isoformat()}:assessment-version/{version.id}",
                "title": f"{a.title}({version.label})を公表しました",
                "updated": _moment(published),
                "link": url_for(".assessment", assessment_id=a.id, _external=True),
                "enclosure": url_for(".version_pdf", assessment_id=a.id, number=version.number, _external=True),
                "summary": f"{a.affair.name}({a.affair.department.name})の{a.form_name}{version.label}。"
                f"公表日 {format_date(published)}。",
                "category": "評価書の公表",
            }
        )
    for c in _consultations():
        show = _consultation_url("consultation_public.show", c, external=True)
        started = c.opened_at or _moment(c.start_date)
        entries.append(
            {
                "id": f"tag:{authority},{c.start_date.isoformat()}:consultation/{c.id}",
                "title": f"意見募集「{c.title}」",
                "updated": started.astimezone(UTC),
                "link": show or url_for(".index", _external=True),
                "summary": f"意見の募集期間 {format_range(c.start_date, c.end_date)}",
                "category": "意見募集",
            }
        )
        if c.status == "reported":
            report = _consultation_url("consultation_public.report", c, external=True)
            reported = c.reported_at or _moment(c.reported_on or c.end_date)
            entries.append(
                {
                    "id": f"tag:{authority},{c.start_date.isoformat()}:consultation/{c.id}/result",
                    "title": f"意見募集「{c.title}」の結果を公表しました",
                    "updated": reported.astimezone(UTC),
                    "link": report or url_for(".index", _external=True),
                    "summary": "寄せられたご意見とそれに対する考え方を公表しました。",
                    "category": "意見募集の結果",
                }
            )
    entries.sort(key=lambda e: (e["updated"], e["id"]), reverse=True)
    return entries[:FEED_LIMIT]


@bp.get("/feed.atom")
@public
def feed():
    """Atom feed of new publications and consultations."""
    from common.templating import body_name

    entries = feed_entries()
    updated = entries[0]["updated"] if entries else datetime(2000, 1, 1, tzinfo=UTC)
    authority = current_app.config.get("HYOKA_FEED_AUTHORITY") or current_app.config.get("SERVER_NAME") or "hyoka.local"
    response = make_response(
        render_template(
            "portal/feed.xml",
            entries=entries,
            updated=updated,
            body=body_name(),
            feed_id=f"tag:{authority.split(':')[0]},2000:public-feed",
        )
    )
    response.mimetype = "application/atom+xml"
    return _cached(response)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@bp.app_template_filter("rfc3339")
def _rfc3339_filter(moment: datetime) -> str:
    return rfc3339(moment)
