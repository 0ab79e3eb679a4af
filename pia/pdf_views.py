"""Staff route: the PDF of any version they may read (drafts render on demand, marked 「案」)."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, make_response
from flask_login import current_user

from common.auth import requires
from common.db import db

bp = Blueprint("pia_pdf", __name__)

#: the roles that read versions (pia.views.STAFF); which versions is decided per version
STAFF = ("officer", "editor", "reviewer", "auditor", "admin")


@bp.get("/versions/<int:version_id>/pdf")
@requires(*STAFF)
def version_pdf(version_id):
    """A version as PDF: the stored PDF/A when published, else rendered now with 「案」."""
    from common.public_views import send_stored_pdf
    from pia import pdf, services
    from pia.models.assessment import AssessmentVersion

    version = db.get_or_404(AssessmentVersion, version_id)
    if not services.can_read_version(current_user, version):
        abort(403)
    if version.status == "published":
        return send_stored_pdf(version)
    rendered = pdf.render_version(version)
    response = make_response(rendered.pdf)
    response.mimetype = "application/pdf"
    response.headers["Content-Disposition"] = (
        f"inline; filename=\"draft.pdf\"; filename*=UTF-8''{quote(pdf.filename(version))}")
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response
