"""PDFs of versions: the staff route (any version they may read; drafts render on demand, marked
「案」) and the stored PDF/A of a published version, which the public portal sends as well."""

from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa
from flask import Blueprint, abort, make_response, request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import undefer

from common.auth import requires
from common.db import db, savepoint

bp = Blueprint("publication", __name__)

#: the roles that read versions (pia.views.STAFF); which versions is decided per version
STAFF = ("officer", "editor", "reviewer", "auditor", "admin")
#: published PDFs never change; the ETag covers a stored PDF that maintenance re-rendered
PDF_MAX_AGE = 86400


@bp.get("/versions/<int:version_id>/pdf")
@requires(*STAFF)
def version_pdf(version_id):
    """A version as PDF: the stored PDF/A when published, else rendered now with 「案」."""
    from pia.assessments import services
    from pia.assessments.models import AssessmentVersion
    from pia.publication import pdf

    version = db.get_or_404(AssessmentVersion, version_id)
    if not services.can_read_version(current_user, version):
        abort(403)
    if version.status == "published":
        return send_stored_pdf(version)
    rendered = pdf.render_version(version)
    response = make_response(rendered.pdf)
    response.mimetype = "application/pdf"
    response.headers["Content-Disposition"] = (
        f"inline; filename=\"draft.pdf\"; filename*=UTF-8''{quote(pdf.filename(version))}"
    )
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response


def _cached_publicly(response):
    response.cache_control.public = True
    response.cache_control.max_age = PDF_MAX_AGE
    return response


def send_stored_pdf(version):
    """Respond with the stored PDF of a published version, 304 when the client has it."""
    from pia.publication import pdf
    from pia.publication.models import PublishedDocument

    meta = db.session.execute(
        sa.select(PublishedDocument.id, PublishedDocument.sha256, PublishedDocument.filename).filter_by(
            version_id=version.id, kind="assessment"
        )
    ).one_or_none()
    if meta is not None and meta.sha256 in request.if_none_match:
        response = make_response("", 304)
        response.set_etag(meta.sha256)
        return _cached_publicly(response)
    if meta is None:
        stored = _store(version)
    else:
        stored = db.session.execute(
            sa.select(PublishedDocument).options(undefer(PublishedDocument.content)).filter_by(id=meta.id)
        ).scalar_one()
    response = make_response(stored.content)
    response.mimetype = "application/pdf"
    response.headers["Content-Disposition"] = _disposition(stored.filename or pdf.filename(version))
    response.set_etag(stored.sha256)
    response.make_conditional(request)
    return _cached_publicly(response)


def _store(version):
    """Render and keep the PDF of a published version: one render at a time per version
    (:func:`common.pdf_cache.render_once`); one stored meanwhile by another worker is used."""
    from common.pdf_cache import render_once

    return render_once(("published", version.id), lambda: _render_and_store(version))


def _render_and_store(version):
    from pia.publication import pdf
    from pia.publication.models import PublishedDocument

    # a request that held the render turn before may have stored it
    stored = db.session.execute(
        sa.select(PublishedDocument).filter_by(version_id=version.id, kind="assessment")
    ).scalar_one_or_none()
    if stored is not None:
        return stored
    try:
        with savepoint():
            stored = pdf.published_pdf(version)
        db.session.commit()
        return stored
    except IntegrityError:
        db.session.rollback()
        return db.session.execute(
            sa.select(PublishedDocument).filter_by(version_id=version.id, kind="assessment")
        ).scalar_one()


def _disposition(filename: str) -> str:
    return f"inline; filename=\"assessment.pdf\"; filename*=UTF-8''{quote(filename)}"


@bp.get("/versions/<int:version_id>/docx")
@requires(*STAFF)
def version_docx(version_id):
    """A version as Word (.docx) in the official table layout, for wording edits."""
    from common.templating import body_name
    from pia.assessments import services
    from pia.assessments.models import AssessmentVersion
    from pia.publication import docx

    version = db.get_or_404(AssessmentVersion, version_id)
    if not services.can_read_version(current_user, version):
        abort(403)
    response = make_response(docx.version_docx(version, body_name=body_name() or ""))
    response.mimetype = docx.DOCX_MIMETYPE
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"assessment.docx\"; filename*=UTF-8''{quote(docx.filename(version))}"
    )
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response
