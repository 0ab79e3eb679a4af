"""Operations of the third-party review (第三者点検).

Reviewer bodies, sessions on a version (with the minutes as a PDF), findings on items of
the document and the body's responses. The procedure hooks (:func:`review_problem`,
:func:`section_vi`) tell the assessment workflow whether the review is done and what
section VI says about it. Services flush; the request commits.
"""

from __future__ import annotations

import copy
import os
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from common import audit
from common.canonical import document_digest
from common.db import db, utcnow
from common.uploads import PDF, UploadRejected, check_upload, holds_my_number
from pia.assessments.models import AssessmentVersion
from pia.review.models import BODY_KINDS, ReviewBody, ReviewFinding, ReviewRound, ReviewSession

MINUTES_MAX_BYTES = 20 * 1024 * 1024
MINUTES_DIR = "review-minutes"


class ReviewError(ValueError):
    """A review operation is refused; the message is shown to the user."""


def _uid(actor):
    return getattr(actor, "id", None)


# --------------------------------------------------------------------------- which versions


def sessions_for(version: AssessmentVersion) -> list[ReviewSession]:
    """The sessions held on ``version`` itself: a review of another version never counts for it."""
    return (
        db.session.execute(
            sa.select(ReviewSession)
            .where(ReviewSession.version_id == version.id)
            .order_by(ReviewSession.held_on, ReviewSession.id)
        )
        .scalars()
        .all()
    )


def findings_for(version: AssessmentVersion) -> list[ReviewFinding]:
    return (
        db.session.execute(
            sa.select(ReviewFinding)
            .where(ReviewFinding.version_id == version.id)
            .order_by(ReviewFinding.created_at, ReviewFinding.id)
        )
        .scalars()
        .all()
    )


def latest_round(version: AssessmentVersion) -> ReviewRound | None:
    return (
        db.session.execute(
            sa.select(ReviewRound).where(ReviewRound.version_id == version.id).order_by(ReviewRound.id.desc())
        )
        .scalars()
        .first()
    )


def open_round(version: AssessmentVersion, *, actor) -> ReviewRound:
    """Record the text put before the reviewers; a round with the same text is reused."""
    current = latest_round(version)
    digest = document_digest(version.document)
    if current is not None and current.document_sha256 == digest:
        return current
    review_round = ReviewRound(
        version_id=version.id,
        document=copy.deepcopy(version.document or {}),
        document_sha256=digest,
        created_by_id=_uid(actor),
    )
    db.session.add(review_round)
    db.session.flush()
    audit.record(
        "create",
        "ReviewRound",
        review_round.id,
        f"{version.assessment.title} {version.label}を第三者点検に付しました(本文の要約値 {digest[:12]})。",
        after={"version_id": version.id, "document_sha256": digest},
        actor=actor,
    )
    return review_round


def on_review_start(version: AssessmentVersion, actor) -> None:
    """Procedure hook: the version was put to 第三者点検."""
    open_round(version, actor=actor)


#: sections filled from the records after the review (VI 評価実施手続, 別添3 変更箇所): editing
#: them does not change what the reviewers judged
NOT_REVIEWED = ("procedure/", "changelog/")


@dataclass(frozen=True)
class Staleness:
    """What changed in a version since the text its review covered."""

    review_round: ReviewRound
    #: changes not accounted for by a finding marked この指摘により修正した
    unexplained: tuple
    #: changes that answer a finding: (change, finding)
    explained: tuple

    @property
    def stale(self) -> bool:
        return bool(self.unexplained)


def _covers(finding: ReviewFinding, path: str) -> bool:
    item = finding.item_path.strip("/")
    return bool(item) and (path == item or path.startswith(item + "/") or path.startswith(item + "["))


def staleness(version: AssessmentVersion) -> Staleness | None:
    """The changes since the reviewed text (None when the version has no concluded review)."""
    from pia.diff import diff_documents
    from pia.schema import load_schema

    concluded = [s for s in sessions_for(version) if s.result.strip() and s.round is not None]
    if not concluded:
        return None
    review_round = concluded[-1].round
    schema = load_schema(version.assessment.form, version.edition)
    diff = diff_documents(schema, review_round.document, schema, version.document)
    changed_by_finding = [f for f in findings_for(version) if f.draft_changed]
    unexplained, explained = [], []
    for change in diff.changes:
        if change.path.startswith(NOT_REVIEWED):
            continue
        finding = next((f for f in changed_by_finding if _covers(f, change.path)), None)
        if finding is None:
            unexplained.append(change)
        else:
            explained.append((change, finding))
    return Staleness(review_round, tuple(unexplained), tuple(explained))


def review_problem(version: AssessmentVersion) -> str | None:
    """None when a session on this version's text has a result, every finding has a response
    and the text has not changed since, except in answer to a finding."""
    sessions = [s for s in sessions_for(version) if s.result.strip()]
    if not sessions:
        return "第三者点検の実施結果が記録されていません。"
    open_findings = [f for f in findings_for(version) if not f.answered]
    if open_findings:
        return f"第三者点検の指摘事項のうち{len(open_findings)}件に対応が記録されていません。"
    if not any(s.round is not None for s in sessions):
        return "第三者点検が対象とした評価書(案)の本文が記録されていません。第三者点検に付し直してください。"
    stale = staleness(version)
    if stale is not None and stale.stale:
        labels = "、".join(f"「{c.label}」" for c in stale.unexplained[:3])
        more = f"ほか{len(stale.unexplained) - 3}項目" if len(stale.unexplained) > 3 else ""
        return (
            f"第三者点検の後に評価書(案)が修正されています({labels}{more})。"
            "修正が指摘への対応であれば指摘事項の対応に「この指摘により修正した」と記録し、"
            "そうでなければ改めて第三者点検に付してください。"
        )
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
    return "\n".join(
        f"{m.get('name', '')}({m['title']})" if m.get("title") else m.get("name", "") for m in members or []
    )


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
        raise UploadRejected(
            "議事録の文字に個人番号と判定される番号が含まれています。個人番号を伏せたPDFを登録してください。"
        )
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
    audit.record(
        "update",
        "ReviewSession",
        session.id,
        f"議事録({checked.safe_name})を登録しました。",
        after={"minutes_name": checked.safe_name, "sha256": checked.sha256},
        actor=actor,
    )


def save_session(session: ReviewSession, *, actor) -> ReviewSession:
    if session.version is None and session.version_id is None:
        raise ReviewError("版が指定されていません。")
    if session.held_on is None:
        raise ReviewError("実施日を入力してください。")
    if session.id is None:
        session.created_by_id = _uid(actor)
        version = session.version or db.session.get(AssessmentVersion, session.version_id)
        # the session reviewed the text put before the reviewers; a version never put to review
        # (recorded afterwards) is reviewed as it reads now
        session.round = latest_round(version) if version.status == "review" else None
        if session.round is None:
            session.round = open_round(version, actor=actor)
        db.session.add(session)
    db.session.flush()
    return session


# --------------------------------------------------------------------------- findings


def add_finding(
    version: AssessmentVersion,
    *,
    actor,
    text: str,
    item_path: str = "",
    item_label: str = "",
    session: ReviewSession | None = None,
) -> ReviewFinding:
    if not text.strip():
        raise ReviewError("指摘事項を入力してください。")
    finding = ReviewFinding(
        version_id=version.id,
        session=session,
        item_path=item_path,
        item_label=item_label,
        text=text.strip(),
        author_id=_uid(actor),
        created_at=utcnow(),
    )
    db.session.add(finding)
    db.session.flush()
    return finding


def respond(
    finding: ReviewFinding,
    *,
    actor,
    response: str,
    draft_changed: bool,
    change_version: AssessmentVersion | None = None,
    change_note: str = "",
) -> ReviewFinding:
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
    return (
        db.session.execute(
            sa.select(ReviewFinding).where(ReviewFinding.response == "").order_by(ReviewFinding.created_at)
        )
        .scalars()
        .all()
    )


def versions_under_review() -> list[AssessmentVersion]:
    return (
        db.session.execute(sa.select(AssessmentVersion).filter_by(status="review").order_by(AssessmentVersion.id))
        .scalars()
        .all()
    )


def item_choices(version: AssessmentVersion) -> list[tuple[str, str]]:
    """(path, label) of every item of the version, for choosing what a finding is about."""
    from pia.schema import flatten, load_schema

    schema = load_schema(version.assessment.form, version.edition)
    return [(item.path, item.label) for item in flatten(schema, version.document)]


def today() -> date:
    from common.timeutil import today_jst

    return today_jst()


__all__ = ["UploadRejected", "ReviewError"]


def reviewer_name(version: AssessmentVersion) -> str:
    """The body that held the latest review session with a result (e.g. 個人情報保護審議会)."""
    held = [s for s in sessions_for(version) if s.result.strip() and s.body is not None]
    return held[-1].body.name if held else ""
