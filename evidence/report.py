"""The evidence report of an assessment over a period (HTML, PDF, CSV, JSON).

It shows feed coverage per system and day (an operating day without access logs is a gap), findings
per check with their triage state, the open findings, and a manifest: the SHA-256 and
chain hash of every batch the report rests on and ``report_sha256`` — the SHA-256 of the
report's content (the canonical JSON of everything but that field), which the audit trail
records on every export.

The manifest also carries the latest signed checkpoint of the evidence log and, for every batch,
its leaf (the batch record the log's Merkle tree binds), its position and its inclusion proof in
that checkpoint's tree (:func:`evidence.transparency.inclusion_proofs`):
``tools/verify_evidence_report.py`` checks a JSON report with the public key alone.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import render_template

from common import csvsafe
from common.db import db, utcnow
from evidence import transparency
from evidence.checks import CHECKS, day_start_utc, explanation_rules, operating_days
from evidence.explanations import explain_finding
from evidence.models import DECISIONS, AccessDay, FeedBatch, Finding

FONT_DIRS = (
    "/usr/share/fonts/opentype/ipaexfont-gothic",
    "/usr/share/fonts/opentype/ipaexfont-mincho",
    "/usr/share/fonts/truetype",
)


class ReportError(LookupError):
    """No such assessment."""


def report_systems(assessment) -> list[str]:
    """Systems the assessment describes (inventory links), else every system with access logs."""
    from pia.inventory.models import InventoryLink, System

    version_ids = [v.id for v in assessment.versions]
    codes = []
    if version_ids:
        ids = (
            db.session.execute(
                sa.select(InventoryLink.object_id).where(
                    InventoryLink.version_id.in_(version_ids), InventoryLink.kind == "system"
                )
            )
            .scalars()
            .all()
        )
        if ids:
            codes = db.session.execute(sa.select(System.code).where(System.id.in_(ids))).scalars().all()
    if not codes:
        codes = db.session.execute(sa.select(AccessDay.system).distinct()).scalars().all()
    return sorted(set(codes))


def build_report(assessment_id: int, start: date, end: date) -> dict:
    """The report as plain data (what every format renders)."""
    from pia.assessments.models import Assessment

    assessment = db.session.get(Assessment, assessment_id)
    if assessment is None:
        raise ReportError(f"評価書 {assessment_id} が見つかりません。")
    systems = report_systems(assessment)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    d = AccessDay.__table__
    seen = {}
    if systems:
        for system, day, n in db.session.execute(
            sa.select(d.c.system, d.c.day, sa.func.sum(d.c.events))
            .where(d.c.system.in_(systems), d.c.day >= start, d.c.day <= end)
            .group_by(d.c.system, d.c.day)
        ):
            seen[(system, day)] = int(n)
    from evidence.retention import archived_spans

    archived = archived_spans(start, end, ("access",))
    archived_days = {
        span.first_day + timedelta(days=i)
        for span in archived
        for i in range((span.last_day - span.first_day).days + 1)
    }
    coverage = []
    for system in systems:
        open_days = set(operating_days(system, days))
        per_day = [
            {
                "date": day.isoformat(),
                "events": seen.get((system, day), 0),
                "operating": day in open_days,
                # the rows left the store under a retention decision: not a gap of the feed
                "archived": day in archived_days and not seen.get((system, day)),
            }
            for day in days
        ]
        coverage.append(
            {
                "system": system,
                "days": per_day,
                "gaps": [x["date"] for x in per_day if not x["events"] and x["operating"] and not x["archived"]],
                "events": sum(x["events"] for x in per_day),
            }
        )
    f = Finding
    affair = assessment.affair.code
    scope = sa.or_(
        f.system.in_(systems) if systems else sa.false(),
        sa.and_(f.record_id.is_not(None), sa.cast(f.details["affair"], sa.String).contains(affair)),
    )
    in_period = sa.and_(f.day >= start, f.day <= end, scope)
    counts = {name: {"total": 0, "undecided": 0, "cleared": 0, **{k: 0 for k in DECISIONS}} for name in CHECKS}
    # an undecided finding a later run no longer produced counts as 解消 (cleared); a decided
    # one keeps counting under its decision
    state = sa.case((f.decision.is_not(None), f.decision), (f.cleared_at.is_not(None), "cleared"), else_="undecided")
    for check, key, n in db.session.execute(
        sa.select(f.check, state, sa.func.count()).where(in_period).group_by(f.check, state)
    ):
        counts[check]["total"] += n
        counts[check][key] += n
    open_rows = (
        db.session.execute(sa.select(f).where(in_period, f.open_clause()).order_by(f.day, f.check, f.id))
        .scalars()
        .all()
    )
    rules = explanation_rules()
    b = FeedBatch.__table__
    lo, hi = day_start_utc(start), day_start_utc(end + timedelta(days=1))
    batches = db.session.execute(
        sa.select(b)
        .where(
            b.c.chain_hash.is_not(None),
            sa.or_(
                sa.and_(b.c.kind.in_(("access", "provisions")), b.c.first_at < hi, b.c.last_at >= lo),
                b.c.kind.in_(("grants", "assignments", "relations")),
            ),
        )
        .order_by(b.c.id)
    ).all()
    log = transparency.inclusion_proofs([r._mapping for r in batches])
    data = {
        "title": "証跡報告書",
        "assessment": {
            "id": assessment.id,
            "title": assessment.title,
            "number": assessment.number,
            "affair_code": affair,
            "affair_name": assessment.affair.name,
        },
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "systems": systems,
        "coverage": coverage,
        "archived": [
            {"from": span.first_day.isoformat(), "to": span.last_day.isoformat(), "decision": span.decision_id}
            for span in archived
        ],
        "checks": [
            {"check": name, "title": c.title, "items": [label for _p, label in c.items], **counts[name]}
            for name, c in CHECKS.items()
        ],
        "open_findings": [
            {
                "id": x.id,
                "check": x.check,
                "title": CHECKS[x.check].title,
                "date": x.day.isoformat() if x.day else None,
                "system": x.system,
                "user_id": x.user_id,
                "event_id": x.event_id,
                "record_id": x.record_id,
                "severity": x.severity,
                "decision": x.decision,
                "explanation": x.explanation,
                # whether the access is explained by a transaction (event findings only)
                "explained": _explained(rules, x),
            }
            for x in open_rows
        ],
        "manifest": {
            "batches": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "source": r.source,
                    "received_at": r.received_at.isoformat(),
                    "rows": r.rows_stored,
                    "sha256": r.raw_sha256,
                    "chain_hash": r.chain_hash,
                    **log["batches"][r.id],
                }
                for r in batches
            ],
            "checkpoint": log["checkpoint"],
        },
    }
    data["manifest"]["report_sha256"] = content_sha256(data)
    return data


def content_sha256(data: dict) -> str:
    """SHA-256 of the canonical JSON of the report without ``manifest.report_sha256``."""
    copy = json.loads(json.dumps(data, default=str))
    copy["manifest"].pop("report_sha256", None)
    canon = json.dumps(copy, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _explained(rules, finding) -> str | None:
    why = explain_finding(rules, finding)
    return why.sentence if why else None


def _css() -> str:
    return (Path(__file__).resolve().parent.parent / "static" / "css" / "evidence.css").read_text(encoding="utf-8")


def render_html(data: dict, *, standalone: bool = True) -> str:
    return render_template(
        "evidence/report.html", r=data, decisions=DECISIONS, inline_css=_css() if standalone else None
    )


def render_csv(data: dict) -> bytes:
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["section", "a", "b", "c", "d", "e", "f"])
    w.writerow(
        [
            "report",
            data["assessment"]["title"],
            data["assessment"]["affair_code"],
            data["period"]["from"],
            data["period"]["to"],
            data["generated_at"],
            "",
        ]
    )
    for cov in data["coverage"]:
        for day in cov["days"]:
            w.writerow(
                [
                    "coverage",
                    cov["system"],
                    day["date"],
                    day["events"],
                    "archived" if day["archived"] else "gap" if not day["events"] and day["operating"] else "",
                    "",
                    "",
                ]
            )
    for c in data["checks"]:
        w.writerow(
            [
                "check",
                c["check"],
                c["title"],
                c["total"],
                c["undecided"],
                c["investigate"] + c["suspicious"],
                c["legitimate"] + c["false_positive"] + c["cleared"],
            ]
        )
    for x in data["open_findings"]:
        w.writerow(
            [
                "open_finding",
                x["id"],
                x["check"],
                x["date"],
                x["user_id"] or "",
                x["event_id"] or x["record_id"] or "",
                x["explanation"],
            ]
        )
    for bt in data["manifest"]["batches"]:
        w.writerow(["batch", bt["id"], bt["kind"], bt["source"], bt["rows"], bt["sha256"], bt["chain_hash"]])
    w.writerow(["report_sha256", data["manifest"]["report_sha256"], "", "", "", "", ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def render(data: dict, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    if fmt == "csv":
        return render_csv(data)
    if fmt == "html":
        return render_html(data, standalone=True).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(render_html(data, standalone=True))
    raise ValueError(fmt)


def _url_fetcher(url: str, headers=None):
    """Only data: URLs and the installed IPAex fonts; everything else is refused."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    if url[:5].lower() == "data:":
        return URLFetcher(allowed_protocols=("data",), allow_redirects=False).fetch(url, headers)
    if url.startswith("file://"):
        path = Path(url[len("file://") :]).resolve()
        if (
            path.suffix.lower() in (".ttf", ".otf")
            and "ipaex" in path.name.lower()
            and any(path.is_relative_to(d) for d in FONT_DIRS)
            and path.is_file()
        ):
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": "font/ttf"})
    raise ValueError(f"refused to fetch {url[:60]}")


class _Fetcher:
    """Adapter giving WeasyPrint a fetcher object that calls :func:`_url_fetcher`."""

    @staticmethod
    def make():
        from weasyprint.urls import URLFetcher

        class Fetcher(URLFetcher):
            def __init__(self):
                super().__init__(allowed_protocols=("data",), allow_redirects=False)

            def fetch(self, url, headers=None):
                return _url_fetcher(url, headers)

        return Fetcher()


def render_pdf(html: str) -> bytes:
    """HTML → PDF through ``common.publish`` (its fetcher loads only data: URLs and whitelisted
    static files). The report carries its own styles, so the shared stylesheet is not applied."""
    from common.publish import render_pdf as publish_pdf

    return publish_pdf(html, stylesheets=())
