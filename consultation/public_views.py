"""Public pages of a consultation (no login): the draft, how to submit, the web form, the
receipt and the published result."""
from __future__ import annotations

import hashlib
from datetime import timedelta
from io import BytesIO

from flask import (
    Blueprint, abort, current_app, redirect, render_template, request, send_file, session, url_for,
)

from common.auth import public
from common.db import db, utcnow
from common.timeutil import today_jst
from consultation import services
from consultation.forms import PublicOpinionForm
from consultation.models import CHANNELS, Consultation, RateLimitHit
from consultation.report import build_report, render_pdf

bp = Blueprint("consultation_public", __name__, url_prefix="/public/consultations")

DEFAULT_RATE_LIMIT = 5  #: posts per client address …
DEFAULT_RATE_WINDOW = 600  #: … within this many seconds
DEFAULT_MAX_POST_BYTES = 256 * 1024


def _get_public(consultation_id: int) -> Consultation:
    return db.get_or_404(Consultation, consultation_id)


def _client_hash() -> str:
    address = request.remote_addr or "unknown"
    secret = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{secret}|{address}".encode()).hexdigest()


def rate_limited() -> bool:
    """Count this POST for the client address; True when it goes over the limit.

    Kept in the database so that every gunicorn worker sees the same counts.
    """
    limit = current_app.config.get("CONSULTATION_RATE_LIMIT", DEFAULT_RATE_LIMIT)
    window = current_app.config.get("CONSULTATION_RATE_WINDOW", DEFAULT_RATE_WINDOW)
    now = utcnow()
    since = now - timedelta(seconds=window)
    key = _client_hash()
    db.session.execute(db.delete(RateLimitHit).where(RateLimitHit.at < now - timedelta(days=1)))
    count = db.session.execute(
        db.select(db.func.count()).select_from(RateLimitHit)
        .where(RateLimitHit.client_hash == key, RateLimitHit.at >= since)).scalar_one()
    db.session.add(RateLimitHit(client_hash=key, at=now))
    db.session.commit()
    return count >= limit


def limit_post_size() -> None:
    """Public form posts are small: refuse big bodies before the form is parsed (413)."""
    if request.method == "POST" and request.path.startswith(bp.url_prefix + "/"):
        request.max_content_length = current_app.config.get("CONSULTATION_MAX_POST_BYTES", DEFAULT_MAX_POST_BYTES)


def _draft_view(version):
    try:
        from pia.render import document_view
    except ImportError:
        return None
    return document_view(version)


@bp.route("/<int:consultation_id>", methods=["GET", "POST"])
@public
def show(consultation_id):
    """What is consulted, how to submit, and the web form while the consultation is open."""
    consultation = _get_public(consultation_id)
    accepting = consultation.accepts_on(today_jst()) and "web" in (consultation.channels or [])
    form = PublicOpinionForm(consultation=consultation)
    if request.method == "POST":
        if rate_limited():
            return render_template("public/consultation_limited.html", c=consultation), 429
        if not accepting:
            return render_template("public/consultation.html", c=consultation, form=form, accepting=False,
                                   channels=CHANNELS, closed_post=True, today=today_jst()), 409
        if (request.form.get("website") or "").strip():
            # honeypot: a person never sees this field
            return render_template("public/consultation_rejected.html", c=consultation), 400
        if form.validate_on_submit():
            visible = {n: consultation.field_mode(n) != "hidden" for n in ("name", "address", "contact")}
            submission = services.submit_web(
                consultation, body=form.body.data, today=today_jst(),
                name=form.name.data or "" if visible["name"] else "",
                address=form.address.data or "" if visible["address"] else "",
                contact=form.contact.data or "" if visible["contact"] else "",
                submitter_kind=form.submitter_kind.data if form.submitter_kind.data in ("individual", "organisation")
                else "individual",
                consent=bool(form.consent.data))
            db.session.commit()
            session[f"consultation_receipt_{consultation.id}"] = submission.receipt_number
            return redirect(url_for(".receipt", consultation_id=consultation.id), code=303)
    return render_template("public/consultation.html", c=consultation, form=form, accepting=accepting,
                           channels=CHANNELS, closed_post=False, today=today_jst())


@bp.get("/<int:consultation_id>/draft")
@public
def draft(consultation_id):
    """The draft assessment put out for comment, as HTML."""
    consultation = _get_public(consultation_id)
    view = _draft_view(consultation.version)
    if view is None:
        abort(404)
    return render_template("public/consultation_draft.html", c=consultation, view=view)


@bp.get("/<int:consultation_id>/draft.pdf")
@public
def draft_pdf(consultation_id):
    """The draft assessment put out for comment, as PDF (with the 「案」 mark)."""
    consultation = _get_public(consultation_id)
    try:
        from pia.pdf import filename, render_version
    except ImportError:
        abort(404)
    rendered = render_version(consultation.version)
    return send_file(BytesIO(rendered.pdf), mimetype="application/pdf", download_name=filename(consultation.version))


@bp.get("/<int:consultation_id>/receipt")
@public
def receipt(consultation_id):
    """The receipt number of the opinion just sent (kept in the sender's session only)."""
    consultation = _get_public(consultation_id)
    number = session.get(f"consultation_receipt_{consultation.id}")
    if not number:
        return redirect(url_for(".show", consultation_id=consultation.id))
    return render_template("public/consultation_receipt.html", c=consultation, receipt_number=number)


def _reported(consultation_id: int) -> Consultation:
    consultation = db.get_or_404(Consultation, consultation_id)
    if consultation.status != "reported":
        abort(404)
    return consultation


@bp.get("/<int:consultation_id>/report")
@public
def report(consultation_id):
    """The published result: 寄せられたご意見と市の考え方."""
    consultation = _reported(consultation_id)
    return render_template("public/consultation_report.html", c=consultation, report=build_report(consultation))


@bp.get("/<int:consultation_id>/report.pdf")
@public
def report_pdf(consultation_id):
    """The published result as PDF."""
    consultation = _reported(consultation_id)
    return send_file(BytesIO(render_pdf(consultation)), mimetype="application/pdf",
                     download_name=f"consultation-{consultation.id}-result.pdf")
