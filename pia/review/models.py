"""The third-party review (第三者点検): reviewer bodies, review sessions per assessment
version, the findings (指摘事項) on items of the document and the body's responses."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common.db import JSONType, UTCDateTime, db, guard, utcnow
from common.models import User
from pia.assessments.models import AssessmentVersion

BODY_KINDS = {"council": "個人情報保護審議会", "experts": "外部有識者", "other": "その他"}


class ReviewBody(db.Model):
    """A body that reviews assessments (e.g. 札幌市個人情報保護審議会)."""

    __tablename__ = "review_bodies"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    #: key of :data:`BODY_KINDS`
    kind: Mapped[str] = mapped_column(sa.String(20), default="council")
    #: ``[{"name": ..., "title": ...}]`` (氏名, 役職・専門分野)
    members: Mapped[list] = mapped_column(JSONType, default=list)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def kind_label(self) -> str:
        return BODY_KINDS.get(self.kind, self.kind)


class ReviewRound(db.Model):
    """The text of a version as it was put before the reviewers (第三者点検に付した時点の評価書(案)).

    A review covers this text and nothing else: a later edit of the version makes the review
    stale unless the edit is recorded as the response to one of its findings. Rows never change.
    """

    __tablename__ = "review_rounds"
    __audit__ = True
    __audit_exclude__ = {"document"}

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_versions.id", ondelete="CASCADE"), index=True)
    #: the document as the reviewers read it
    document: Mapped[dict] = mapped_column(JSONType, default=dict)
    #: SHA-256 of the canonical JSON of ``document`` (pia.review_services.document_digest)
    document_sha256: Mapped[str] = mapped_column(sa.String(64))
    #: true when an existing database was migrated and the text had to be taken as it was then
    reconstructed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    version: Mapped[AssessmentVersion] = relationship()
    created_by: Mapped[User | None] = relationship()


guard(
    ReviewRound.__table__,
    "review_rounds_immutable",
    operations=("UPDATE",),
    message="the text put before a third-party review cannot change",
)


class ReviewSession(db.Model):
    """One meeting (or written review) of a body on a version of an assessment."""

    __tablename__ = "review_sessions"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_versions.id"), index=True)
    body_id: Mapped[int] = mapped_column(sa.ForeignKey("review_bodies.id"))
    #: 実施日
    held_on: Mapped[date]
    #: 方法 (as section VI ② writes it)
    method: Mapped[str] = mapped_column(sa.Text, default="")
    #: 結果 (section VI ③); empty until the review is concluded
    result: Mapped[str] = mapped_column(sa.Text, default="")
    #: minutes (議事録) as a PDF stored under HYOKA_UPLOAD_DIR with a generated name
    minutes_file: Mapped[str | None] = mapped_column(sa.String(100))
    #: the uploaded file's name, made safe, only for display and download
    minutes_name: Mapped[str | None] = mapped_column(sa.String(200))
    minutes_size: Mapped[int | None]
    minutes_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: the text this session reviewed (the round open when the session was recorded)
    round_id: Mapped[int | None] = mapped_column(sa.ForeignKey("review_rounds.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    version: Mapped[AssessmentVersion] = relationship()
    body: Mapped[ReviewBody] = relationship()
    round: Mapped[ReviewRound | None] = relationship()
    created_by: Mapped[User | None] = relationship()


class ReviewFinding(db.Model):
    """A 指摘事項 on one item of a version, and the body's response to it."""

    __tablename__ = "review_findings"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_versions.id"), index=True)
    #: the session the finding was raised in (empty for findings written before the meeting)
    session_id: Mapped[int | None] = mapped_column(sa.ForeignKey("review_sessions.id"), index=True)
    #: path of the item in the document (``basic/systems[0]/functions``); empty = the whole document
    item_path: Mapped[str] = mapped_column(sa.String(300), default="")
    #: the item's label when the finding was written (paths may vanish in later versions)
    item_label: Mapped[str] = mapped_column(sa.String(500), default="")
    text: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: 対応 (the body's response)
    response: Mapped[str] = mapped_column(sa.Text, default="")
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: whether the draft was changed in response
    draft_changed: Mapped[bool] = mapped_column(default=False)
    #: the version that carries the change (may be the same version, changed while under review)
    change_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessment_versions.id"))
    #: where and how it was changed (e.g. the changed item)
    change_note: Mapped[str] = mapped_column(sa.Text, default="")

    version: Mapped[AssessmentVersion] = relationship(foreign_keys=[version_id])
    session: Mapped[ReviewSession | None] = relationship()
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    responder: Mapped[User | None] = relationship(foreign_keys=[responder_id])
    change_version: Mapped[AssessmentVersion | None] = relationship(foreign_keys=[change_version_id])

    @property
    def answered(self) -> bool:
        return bool(self.response.strip())
