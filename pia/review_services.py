"""Operations of the third-party review (第三者点検).

Reviewer bodies, sessions on a version (with the minutes as a PDF), findings on items of
the document and the body's responses. The procedure hooks (:func:`review_problem`,
:func:`section_vi`) tell the assessment workflow whether the review is done and what
section VI says about it. Services flush; the request commits.
"""
from __future__ import annotations

import os
import secrets
import unicodedata
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from common import audit
from common.db import db, utcnow
from common.uploads import PDF, UploadRejected, check_upload, holds_my_number
from pia.models.assessment import AssessmentVersion
from pia.models.review import BODY_KINDS, ReviewBody, ReviewFinding, ReviewSession

MINUTES_MAX_BYTES = 20 * 1024 * 1024
MINUTES_DIR = "review-minutes"


class ReviewError(ValueError):
    """A review operation is refused; the message is shown to the user."""


def _uid(actor):
    return getattr(actor, "id", None)


# --------------------------------------------------------------------------- which versions


def review_versions(version: AssessmentVersion) -> list[AssessmentVersion]:
    """The versions whose review counts for ``version``: itself and the earlier versions of
    the same assessment since the last published one (the drafts it came from)."""
    versions = sorted(version.assessment.versions, key=lambda v: v.number)
    out = []
    for candidate in versions:
        if candidate.number > version.number:
            break
        if candidate.status == "published" and candidate.id != version.id:
            out = []
            continue
        out.append(candidate)
    return out


def sessions_for(version: AssessmentVersion) -> list[ReviewSession]:
    ids = [v.id for v in review_versions(version)]
    return db.session.execute(
        sa.select(ReviewSession).where(ReviewSession.version_id.in_(ids))
        .order_by(ReviewSession.held_on, ReviewSession.id)).scalars().all()


def findings_for(version: AssessmentVersion) -> list[ReviewFinding]:
    ids = [v.id for v in review_versions(version)]
    return db.session.execute(
        sa.select(ReviewFinding).where(ReviewFinding.version_id.in_(ids))
        .order_by(ReviewFinding.created_at, ReviewFinding.id)).scalars().all()


def review_problem(version: AssessmentVersion) -> str | None:
    """None when a session with a result is recorded and every finding has a response."""
    sessions = [s for s in sessions_for(version) if s.result.strip()]
    if not sessions:
        return "第三者点検の実施結果が記録されていません。"
    open_findings = [f for f in findings_for(version) if not f.answered]
    if open_findings:
        return f"第三者点検の指摘事項のうち{len(open_findings)}件に対応が記録されていません。"
    return None


def section_vi(version: AssessmentVersion) -> dict | None:
    """{"date", "method", "result"} of section VI 3 (第三者点検), from the latest concluded session."""
    sessions = [s for s in sessions_for(version) if s.result.strip()]
    if not sessions:
        return None
    latest = sessions[-1]
    result = latest.result.strip()
    findings = findings_for(version)
    if findings:
        changed = sum(1 for f in findings if f.draft_changed)
        result += f"\n(指摘事項{len(findings)}件。うち{changed}件について評価書を修正した。)"
    body = latest.body.name if latest.body else ""
    method = latest.method.strip() or body
    if body and body not in method:
        method = f"{body}において{method}"
    return {"date": latest.held_on.isoformat(), "method": method, "result": result}


# --------------------------------------------------------------------------- bodies


def save_body(body: ReviewBody, *, actor) -> ReviewBody:
    if body.kind not in BODY_KINDS:
        raise ReviewError("区分が正しくありません。")
    if body.id is None:
        db.session.add(body)
    db.session.flush()
    return body


def parse_members(text: str) -> list[dict]:
    """One member a line: 「氏名(役職・専門分野)」 or 「氏名 役職」."""
    members = []
    for line in (text or "").splitlines():
        line = unicodedata.normalize("NFKC", line).strip()
        if not line:
            continue
        if line.endswith(")") and "(" in line:
            name, _, title = line[:-1].partition("(")
        else:
            name, _, title = line.partition(" ")
        members.append({"name": name.strip(), "title": title.strip()})
    return members


def members_text(members: list[dict]) -> str:
    return "\n".join(f"{m.get('name', '')}({m['title']})" if m.get("title") else m.get("name", "")
                     for m in members or [])


# --------------------------------------------------------------------------- sessions


def upload_dir() -> Path:
    path = Path(current_app.config["HYOKA_UPLOAD_DIR"]) / MINUTES_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def minutes_path(session: ReviewSession) -> Path | None:
    if not session.minutes_file:
        return None
    # the stored name is generated by us; still never let it leave the directory
    name = os.path.basename(session.minutes_file)
    if name != session.minutes_file:
        return None
    return upload_dir() / name


def attach_minutes(session: ReviewSession, filename: str, data: bytes, *, actor) -> None:
    """Check the upload (PDF only, size limit) and store it under a generated name.

    Minutes are records that reviewers read: a PDF whose text layer holds a 個人番号 is
    refused (a scan without a text layer cannot be checked and is accepted).

    :raises UploadRejected: the file is refused (message for the user).
    """
    checked = check_upload(filename, data, allowed={PDF}, max_bytes=MINUTES_MAX_BYTES)
    if holds_my_number(data, PDF):
        raise UploadRejected("議事録の文字に個人番号と判定される番号が含まれています。"
                             "個人番号を伏せたPDFを登録してください。")
    stored = f"{secrets.token_hex(16)}.pdf"
    path = upload_dir() / stored
    with open(path, "xb") as fh:
        fh.write(data)
    # a replaced file stays on disk: minutes are records, and the audit trail names it
    session.minutes_file = stored
    session.minutes_name = checked.safe_name
    session.minutes_size = checked.size
    session.minutes_sha256 = checked.sha256
    db.session.flush()
    audit.record("update", "ReviewSession", session.id, f"議事録({checked.safe_name})を登録しました。",
                 after={"minutes_name": checked.safe_name, "sha256": checked.sha256}, actor=actor)


def save_session(session: ReviewSession, *, actor) -> ReviewSession:
    if session.version is None and session.version_id is None:
        raise ReviewError("版が指定されていません。")
    if session.held_on is None:
        raise ReviewError("実施日を入力してください。")
    if session.id is None:
        session.created_by_id = _uid(actor)
        db.session.add(session)
    db.session.flush()
    return session


# --------------------------------------------------------------------------- findings


def add_finding(version: AssessmentVersion, *, actor, text: str, item_path: str = "", item_label: str = "",
                session: ReviewSession | None = None) -> ReviewFinding:
    if not text.strip():
        raise ReviewError("指摘事項を入力してください。")
    finding = ReviewFinding(version_id=version.id, session=session, item_path=item_path, item_label=item_label,
                            text=text.strip(), author_id=_uid(actor), created_at=utcnow())
    db.session.add(finding)
    db.session.flush()
    return finding


def respond(finding: ReviewFinding, *, actor, response: str, draft_changed: bool,
            change_version: AssessmentVersion | None = None, change_note: str = "") -> ReviewFinding:
    if not response.strip():
        raise ReviewError("対応を入力してください。")
    if change_version is not None and change_version.assessment_id != finding.version.assessment_id:
        raise ReviewError("修正した版は同じ評価書の版を選んでください。")
    if draft_changed and change_version is None:
        change_version = finding.version
    finding.response = response.strip()
    finding.draft_changed = draft_changed
    finding.change_version = change_version if draft_changed else None
    finding.change_note = change_note.strip() if draft_changed else ""
    finding.responded_at = utcnow()
    finding.responder_id = _uid(actor)
    db.session.flush()
    return finding


def delete_finding(finding: ReviewFinding, *, actor) -> None:
    if finding.answered:
        raise ReviewError("対応が記録された指摘事項は削除できません。")
    db.session.delete(finding)
    db.session.flush()


def pending_findings() -> list[ReviewFinding]:
    return db.session.execute(
        sa.select(ReviewFinding).where(ReviewFinding.response == "").order_by(ReviewFinding.created_at)
    ).scalars().all()


def versions_under_review() -> list[AssessmentVersion]:
    return db.session.execute(
        sa.select(AssessmentVersion).filter_by(status="review").order_by(AssessmentVersion.id)
    ).scalars().all()


def item_choices(version: AssessmentVersion) -> list[tuple[str, str]]:
    """(path, label) of every item of the version, for choosing what a finding is about."""
    from pia.schema import flatten, load_schema

    schema = load_schema(version.assessment.form, version.edition)
    return [(item.path, item.label) for item in flatten(schema, version.document)]


def today() -> date:
    from common.timeutil import today_jst

    return today_jst()


__all__ = ["UploadRejected", "ReviewError"]
