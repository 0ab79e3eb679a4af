"""Public pages of a consultation (no login): the draft, how to submit, the web form, the
receipt and the published result."""

from __future__ import annotations

import hashlib
import time as clock
from datetime import timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from common.auth import public
from common.db import UTCDateTime, db, utcnow
from common.pdf_cache import cached_pdf, pdf_response
from common.timeutil import today_jst
from consultation import services
from consultation.forms import PublicOpinionForm
from consultation.models import CHANNELS, Consultation, RateLimitHit
from consultation.report import build_report, render_pdf, report_digest

bp = Blueprint("consultation_public", __name__, url_prefix="/public/consultations")

DEFAULT_RATE_LIMIT = 5  #: posts per client address …
DEFAULT_RATE_WINDOW = 600  #: … within this many seconds
DEFAULT_MAX_POST_BYTES = 256 * 1024


#: the body's name, kept a few seconds per process like the portal index
#: (HYOKA_PORTAL_CACHE_SECONDS): every public page shows it, and it almost never changes
BODY_NAME_TTL_SECONDS = 5.0
_body_name_cache: dict[str, tuple[float, str]] = {}


@bp.context_processor
def _body_name_once():
    """The body's name for the public layout and pages, read at most once per page."""
    from common.templating import body_name

    key = current_app.config["SQLALCHEMY_DATABASE_URI"]
    ttl = current_app.config.get("HYOKA_PORTAL_CACHE_SECONDS", BODY_NAME_TTL_SECONDS)
    hit = _body_name_cache.get(key)
    if hit and clock.monotonic() - hit[0] < ttl:
        name = hit[1]
    else:
        name = body_name()
        _body_name_cache[key] = (clock.monotonic(), name)
    return {"portal_body": name, "body_name": lambda: name}


def _read_only() -> None:
    """This request only reads: run its queries without a transaction (no BEGIN and
    ROLLBACK round trips around them; each SELECT sees what is committed when it runs).
    Only for views whose code never writes (a write would be kept, not rolled back). A
    session already in a transaction (a test's, a CLI's) keeps it."""
    if not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _get_public(consultation_id: int) -> Consultation:
    """A consultation that has opened; one not yet opened answers 404 like one that does
    not exist (its draft is not public yet, and ids are not to be counted)."""
    consultation = db.session.get(Consultation, consultation_id)
    if consultation is None or not consultation.is_public:
        abort(404)
    return consultation


def _client_hash() -> str:
    address = request.remote_addr or "unknown"
    secret = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{secret}|{address}".encode()).hexdigest()


#: records this POST and counts the earlier ones of the same address in the window, in one
#: statement (one round trip, no transaction of its own to begin and commit). The count is
#: capped at the limit (enough to decide) and leaves out the row just inserted, which
#: PostgreSQL would not see anyway and SQLite would.
_HIT_SQL = sa.text(
    f"INSERT INTO {RateLimitHit.__tablename__} (client_hash, at) VALUES (:key, :now) "
    f"RETURNING (SELECT count(*) FROM (SELECT 1 FROM {RateLimitHit.__tablename__} AS earlier "
    f"WHERE earlier.client_hash = :key AND earlier.at >= :since "
    f"AND earlier.id <> {RateLimitHit.__tablename__}.id LIMIT :limit) AS recent)"
).bindparams(sa.bindparam("now", type_=UTCDateTime()), sa.bindparam("since", type_=UTCDateTime()))
#: hits older than this are deleted (at most once per RATE_CLEANUP_SECONDS in each process)
RATE_HIT_RETENTION = timedelta(days=1)
RATE_CLEANUP_SECONDS = 60


def rate_limited() -> bool:
    """Count this POST for the client address; True when it goes over the limit.

    Kept in the database so that every gunicorn worker sees the same counts; the hit is
    written on a connection of its own in autocommit, so it counts at once for every
    worker, and still counts when the rest of the request fails or is refused.
    """
    limit = current_app.config.get("CONSULTATION_RATE_LIMIT", DEFAULT_RATE_LIMIT)
    window = current_app.config.get("CONSULTATION_RATE_WINDOW", DEFAULT_RATE_WINDOW)
    now = utcnow()
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        _clean_old_hits(conn, now)
        earlier = conn.execute(
            _HIT_SQL, {"key": _client_hash(), "now": now, "limit": limit, "since": now - timedelta(seconds=window)}
        ).scalar_one()
    return earlier >= limit


def _clean_old_hits(conn, now) -> None:
    """Delete hits older than RATE_HIT_RETENTION, at most once per RATE_CLEANUP_SECONDS per process."""
    state = current_app.extensions.setdefault("hyoka_rate_hits", {"cleaned": None})
    interval = current_app.config.get("CONSULTATION_RATE_CLEANUP_SECONDS", RATE_CLEANUP_SECONDS)
    if state["cleaned"] is not None and clock.monotonic() - state["cleaned"] < interval:
        return
    state["cleaned"] = clock.monotonic()
    conn.execute(db.delete(RateLimitHit).where(RateLimitHit.at < now - RATE_HIT_RETENTION))


def limit_post_size() -> None:
    """Public form posts are small: refuse big bodies before the form is parsed (413)."""
    if request.method == "POST" and request.path.startswith(bp.url_prefix + "/"):
        request.max_content_length = current_app.config.get("CONSULTATION_MAX_POST_BYTES", DEFAULT_MAX_POST_BYTES)


@bp.route("/<int:consultation_id>", methods=["GET", "POST"])
@public
def show(consultation_id):
    """What is consulted, how to submit, and the web form while the consultation is open."""
    # a POST counts against the address first, before the session opens its transaction
    # (the hit is written on a connection of its own: one connection at a time per request)
    limited = request.method == "POST" and rate_limited()
    if request.method == "GET":
        cached = _cached_form(consultation_id)
        if cached is not None:
            return cached
        _read_only()
    consultation = _get_public(consultation_id)
    accepting = consultation.accepts_on(today_jst()) and "web" in (consultation.channels or [])
    form = PublicOpinionForm(consultation=consultation)
    if request.method == "POST":
        if limited:
            return render_template("portal/consultation_limited.html", c=consultation), 429
        if not accepting:
            return render_template(
                "portal/consultation.html",
                c=consultation,
                form=form,
                accepting=False,
                channels=CHANNELS,
                closed_post=True,
                today=today_jst(),
            ), 409
        if (request.form.get("website") or "").strip():
            # honeypot: a person never sees this field
            return render_template("portal/consultation_rejected.html", c=consultation), 400
        if form.validate_on_submit():
            visible = {n: consultation.field_mode(n) != "hidden" for n in ("name", "address", "contact")}
            submission = services.submit_web(
                consultation,
                body=form.body.data,
                today=today_jst(),
                name=form.name.data or "" if visible["name"] else "",
                address=form.address.data or "" if visible["address"] else "",
                contact=form.contact.data or "" if visible["contact"] else "",
                submitter_kind=form.submitter_kind.data
                if form.submitter_kind.data in ("individual", "organisation")
                else "individual",
                consent=bool(form.consent.data),
            )
            receipt_number = submission.receipt_number  # read before the commit expires it
            db.session.commit()
            session[f"consultation_receipt_{consultation_id}"] = receipt_number
            return redirect(url_for(".receipt", consultation_id=consultation_id), code=303)
    html = render_template(
        "portal/consultation.html",
        c=consultation,
        form=form,
        accepting=accepting,
        channels=CHANNELS,
        closed_post=False,
        today=today_jst(),
    )
    if request.method == "GET":
        _remember_form(consultation_id, html)
    return html


#: the page of a consultation with its empty form, kept a few seconds per process like the
#: portal index (HYOKA_PORTAL_CACHE_SECONDS): it is the same for every visitor but for the
#: CSRF token, which each visitor still gets from their own session. A consultation closed
#: meanwhile still refuses posts at once (the POST reads the database).
FORM_TTL_SECONDS = 5.0
_form_cache: dict[tuple, tuple[float, str]] = {}
_TOKEN_SLOT = "\x00csrf-token\x00"


def _form_cache_key(consultation_id: int) -> tuple:
    return current_app.config["SQLALCHEMY_DATABASE_URI"], consultation_id, today_jst()


def _cached_form(consultation_id: int) -> str | None:
    ttl = current_app.config.get("HYOKA_PORTAL_CACHE_SECONDS", FORM_TTL_SECONDS)
    hit = _form_cache.get(_form_cache_key(consultation_id))
    if not hit or clock.monotonic() - hit[0] >= ttl:
        return None
    return hit[1].replace(_TOKEN_SLOT, generate_csrf())


def _remember_form(consultation_id: int, html: str) -> None:
    if current_app.config.get("HYOKA_PORTAL_CACHE_SECONDS", FORM_TTL_SECONDS) <= 0:
        return
    token = generate_csrf()  # the token this page was rendered with (the same all through a request)
    if html.count(token) != 1:
        return
    if len(_form_cache) > 100:
        _form_cache.clear()
    _form_cache[_form_cache_key(consultation_id)] = (clock.monotonic(), html.replace(token, _TOKEN_SLOT))


@bp.get("/<int:consultation_id>/draft")
@public
def draft(consultation_id):
    """The draft assessment put out for comment, as HTML (as kept when the consultation opened)."""
    consultation = _get_public(consultation_id)
    view = services.draft_view(consultation)
    if view is None:
        abort(404)
    return render_template("portal/consultation_draft.html", c=consultation, view=view)


@bp.get("/<int:consultation_id>/draft.pdf")
@public
def draft_pdf(consultation_id):
    """The draft assessment put out for comment, as PDF (with the 「案」 mark), from the kept draft."""
    consultation = _get_public(consultation_id)
    if consultation.draft_snapshot is None:
        abort(404)
    data = cached_pdf(
        ("consultation-draft", consultation.id), consultation.draft_sha256, lambda: services.draft_pdf(consultation)
    )
    return pdf_response(data, services.draft_filename(consultation))


@bp.get("/<int:consultation_id>/receipt")
@public
def receipt(consultation_id):
    """The receipt number of the opinion just sent (kept in the sender's session only)."""
    _read_only()
    consultation = _get_public(consultation_id)
    number = session.get(f"consultation_receipt_{consultation.id}")
    if not number:
        return redirect(url_for(".show", consultation_id=consultation.id))
    return render_template("portal/consultation_receipt.html", c=consultation, receipt_number=number)


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
    return render_template("portal/consultation_report.html", c=consultation, report=build_report(consultation))


@bp.get("/<int:consultation_id>/report.pdf")
@public
def report_pdf(consultation_id):
    """The published result as PDF."""
    consultation = _reported(consultation_id)
    data = cached_pdf(
        ("consultation-report", consultation.id), report_digest(consultation), lambda: render_pdf(consultation)
    )
    return pdf_response(data, f"consultation-{consultation.id}-result.pdf")
