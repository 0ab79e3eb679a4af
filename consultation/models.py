"""Consultations (意見聴取), the submissions they receive, and the opinions split from them.

A consultation belongs to one assessment version (the draft put out for comment) and moves
scheduled → open → closed → reported; :meth:`Consultation.transition` refuses any other move
and writes the audit trail. When it opens it keeps a snapshot of the draft as put out (the
public pages show that, never the live draft); closing it before the end of its period needs
a 特段の理由. A submission is what one submitter sent through one channel;
officers split it into opinions (意見), each answered with the body's view (市の考え方).
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common import audit
from common.canonical import canonical_json, sha256_text
from common.db import JSONType, UTCDateTime, db, guard, trigger, utcnow
from common.errors import InvalidTransition
from common.jpdate import format_date
from common.timeutil import to_jst, today_jst
from pia.procedure import consultation_min_days

#: channel key -> label, in the order of the result report (004: 郵送、持参、FAX、電子メール)
CHANNELS = {
    "post": "郵送",
    "hand": "持参",
    "fax": "FAX",
    "email": "電子メール",
    "web": "Webフォーム",
}
#: channels the staff enter by hand with a scanned page
PAPER_CHANNELS = ("post", "hand", "fax")

STATES = {
    "scheduled": "募集前",
    "open": "募集中",
    "closed": "募集終了",
    "reported": "結果公表済み",
}
#: state -> states it may move to
TRANSITIONS = {
    "scheduled": ("open",),
    "open": ("closed",),
    "closed": ("reported", "open"),
    "reported": (),
}

SUBMITTER_KINDS = {"individual": "個人", "organisation": "団体"}

#: fields of the web form an administrator sets per consultation; value: required|optional|hidden
FORM_FIELDS = {
    "name": "氏名（団体の場合は団体名）",
    "address": "住所",
    "contact": "連絡先（電話番号またはメールアドレス）",
}
FIELD_MODES = {"required": "必須", "optional": "任意", "hidden": "表示しない"}

DEFAULT_CATEGORIES = [
    {"key": "assessment", "label": "評価書に対するご意見", "heading": ""},
    {"key": "system", "label": "制度全体に関するご意見", "heading": ""},
]

#: the shortest period without a 特段の理由 (pia.procedure, app config HYOKA_CONSULTATION_MIN_DAYS)
min_period_days = consultation_min_days


#: the JSON text a draft is kept as, and its digest (common.canonical)
snapshot_text = canonical_json
snapshot_digest = sha256_text


class Consultation(db.Model):
    __tablename__ = "consultations"
    __audit__ = True
    #: the snapshot is large; its digest is audited instead
    __audit_exclude__ = {"draft_snapshot"}

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_versions.id"), index=True)
    #: what is consulted, e.g. 住民基本台帳事務に関する特定個人情報保護評価書
    title: Mapped[str] = mapped_column(sa.String(300))
    #: explanation shown on the public page (plain text, paragraphs separated by blank lines)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    start_date: Mapped[date]
    end_date: Mapped[date]
    #: 特段の理由 for a period shorter than 30 days (goes to section VI)
    shortened_reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: 配布場所: places where the draft could be read, in report order (ア, イ, ウ …)
    places: Mapped[list] = mapped_column(JSONType, default=list)
    web_url: Mapped[str] = mapped_column(sa.String(500), default="")
    #: accepted channel keys (see CHANNELS)
    channels: Mapped[list] = mapped_column(JSONType, default=list)
    #: channel key -> how to submit by it (postal address, FAX number, mail address …)
    channel_info: Mapped[dict] = mapped_column(JSONType, default=dict)
    #: who may submit, as the body words it
    eligibility: Mapped[str] = mapped_column(sa.Text, default="")
    #: web form field -> required|optional|hidden (see FORM_FIELDS)
    form_fields: Mapped[dict] = mapped_column(JSONType, default=dict)
    consent_text: Mapped[str] = mapped_column(sa.Text, default="")
    #: [{"key", "label", "heading"}]: categories of the result report, in order
    categories: Mapped[list] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(sa.String(20), default="scheduled", index=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the date the result was published (shown on the report)
    reported_on: Mapped[date | None]
    #: closed (by an officer) before the end of its period
    closed_early: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: 特段の理由 for closing before the end of the period (goes to section VI)
    early_close_reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    #: the draft put out for comment, as it was when the consultation opened: the JSON text
    #: of the document as shown (:func:`pia.assessments.services.document_with_facts`); never changes
    draft_snapshot: Mapped[str | None] = mapped_column(sa.Text)
    #: SHA-256 of ``draft_snapshot`` (its UTF-8 bytes)
    draft_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: the snapshot was made afterwards (by a migration) from the version as it then was
    snapshot_reconstructed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: reflection in the assessment (評価書への反映) for section VI
    reflection: Mapped[str] = mapped_column(sa.Text, default="")
    #: digest of the published texts the officer reviewed for personal data (None: not reviewed)
    review_digest: Mapped[str | None] = mapped_column(sa.String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    version = relationship("AssessmentVersion")
    submissions: Mapped[list[Submission]] = relationship(
        back_populates="consultation", order_by="Submission.id", cascade="all, delete-orphan"
    )
    opinions: Mapped[list[Opinion]] = relationship(
        back_populates="consultation", order_by="Opinion.position", cascade="all, delete-orphan"
    )
    groups: Mapped[list[FormLetterGroup]] = relationship(
        back_populates="consultation", order_by="FormLetterGroup.id", cascade="all, delete-orphan"
    )

    # --- period ------------------------------------------------------------------------

    @property
    def period_days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    @property
    def opened_on(self) -> date | None:
        """The day (Japan time) the draft was first put out."""
        return to_jst(self.opened_at).date() if self.opened_at else None

    @property
    def actual_start_date(self) -> date:
        """The first day the draft was really out for comment: the start date, or the later day
        it was opened (a consultation opened late has a shorter period than announced)."""
        if self.opened_on is not None and self.opened_on > self.start_date:
            return self.opened_on
        return self.start_date

    @property
    def actual_period_days(self) -> int:
        return (self.end_date - self.actual_start_date).days + 1

    @property
    def opened_late(self) -> bool:
        return self.actual_start_date > self.start_date

    @property
    def is_shortened(self) -> bool:
        return self.actual_period_days < min_period_days()

    @property
    def closed_on(self) -> date | None:
        """The day (Japan time) the consultation was last closed."""
        return to_jst(self.closed_at).date() if self.closed_at else None

    @property
    def actual_end_date(self) -> date:
        """The last day opinions were taken: the day it was closed when closed early."""
        if self.closed_early and self.closed_on is not None:
            return min(self.closed_on, self.end_date)
        return self.end_date

    def closes_early_on(self, day: date) -> bool:
        """True when closing on ``day`` would cut the period short (the period runs to end_date)."""
        return day <= self.end_date

    @property
    def is_public(self) -> bool:
        """Its public pages exist (once it has opened)."""
        return self.status != "scheduled"

    def snapshot_document(self) -> dict | None:
        """The draft as put out for comment (None before the consultation opened)."""
        return None if self.draft_snapshot is None else json.loads(self.draft_snapshot)

    def take_snapshot(self) -> None:
        """Keep the version's document as shown now (once: the first opening)."""
        if self.draft_snapshot is not None:
            return
        from pia.assessments.services import document_with_facts

        text = snapshot_text(document_with_facts(self.version))
        self.draft_snapshot = text
        self.draft_sha256 = snapshot_digest(text)
        self.snapshot_reconstructed = False

    def period_problem(self) -> str | None:
        """Why the period cannot be used (None when it can)."""
        return period_problem(self.start_date, self.end_date, self.shortened_reason)

    def accepts_on(self, day: date) -> bool:
        """True when the web form takes opinions on ``day`` (open and within the period)."""
        return self.status == "open" and self.start_date <= day <= self.end_date

    # --- labels ------------------------------------------------------------------------

    @property
    def status_label(self) -> str:
        return STATES[self.status]

    @property
    def channel_labels(self) -> list[str]:
        return [CHANNELS[c] for c in CHANNELS if c in (self.channels or [])]

    def category_list(self) -> list[dict]:
        return list(self.categories or DEFAULT_CATEGORIES)

    def category_label(self, key: str) -> str:
        for cat in self.category_list():
            if cat["key"] == key:
                return cat["label"]
        return key

    def field_mode(self, name: str) -> str:
        return (self.form_fields or {}).get(name, "optional")

    # --- state machine -----------------------------------------------------------------

    def can_move_to(self, state: str) -> bool:
        return state in TRANSITIONS.get(self.status, ())

    def transition(
        self, state: str, *, actor=None, note: str = "", reason: str = "", today: date | None = None
    ) -> None:
        """Move to ``state``; raise :class:`InvalidTransition` for a move not allowed.

        Opening keeps the snapshot of the draft (the first time). Closing on or before the
        last day of the period (``today``, Japan time) is an early close and needs ``reason``
        (特段の理由); reopening clears it (the audit trail keeps it).
        """
        if state not in STATES:
            raise InvalidTransition(f"unknown state: {state}")
        if not self.can_move_to(state):
            raise InvalidTransition(f"{STATES[self.status]}から{STATES[state]}には変更できません。")
        before = {"status": self.status}
        after = {"status": state}
        now = utcnow()
        reason = (reason or "").strip()
        if state == "open":
            problem = self.period_problem()
            if problem:
                raise InvalidTransition(problem)
            day = today or today_jst()
            if self.opened_at is None and day > self.end_date:
                raise InvalidTransition(
                    f"募集期間（{format_date(self.end_date)}まで）は既に過ぎています。"
                    "意見募集は、評価書の案を実際に公表する日から始まる期間で作成してください。"
                )
            self.opened_at = self.opened_at or now
            if self.closed_early:
                before.update(closed_early=True, early_close_reason=self.early_close_reason)
            self.closed_early = False
            self.early_close_reason = ""
            self.take_snapshot()
            after["draft_sha256"] = self.draft_sha256
        elif state == "closed":
            day = today or today_jst()
            early = self.closes_early_on(day)
            if early and not reason:
                raise InvalidTransition(
                    f"募集期間は{format_date(self.end_date)}までです。期間の終了前に締め切るには、"
                    "締め切る特段の理由を記載してください（評価書のVIに記載されます）。"
                )
            self.closed_at = now
            self.closed_early = early
            self.early_close_reason = reason if early else ""
            if early:
                after.update(closed_early=True, early_close_reason=reason)
                note = note or f"募集期間の終了前に締切。理由: {reason}"
        elif state == "reported":
            self.reported_at = now
        self.status = state
        summary = f"意見募集「{self.title}」を{STATES[before['status']]}から{STATES[state]}に変更"
        if note:
            summary += f"（{note}）"
        audit.record("transition", "consultation", self.id, summary, before=before, after=after, actor=actor)

    def open(self, *, actor=None, today: date | None = None) -> None:
        self.transition("open", actor=actor, today=today)

    def close(self, *, actor=None, reason: str = "", today: date | None = None) -> None:
        self.transition("closed", actor=actor, reason=reason, today=today)

    def reopen(self, *, actor=None, note: str = "") -> None:
        self.transition("open", actor=actor, note=note)

    def mark_reported(self, *, actor=None) -> None:
        self.transition("reported", actor=actor)


def period_problem(start: date | None, end: date | None, shortened_reason: str = "") -> str | None:
    """The rule of 原則30日以上: a shorter period needs a recorded 特段の理由."""
    if start is None or end is None:
        return "意見の募集期間の開始日と終了日を入力してください。"
    if end < start:
        return "募集期間の終了日が開始日より前になっています。"
    days = (end - start).days + 1
    minimum = min_period_days()
    if days < minimum and not (shortened_reason or "").strip():
        return (
            f"募集期間が{days}日間で、{minimum}日に満たないため、"
            "期間を短縮する特段の理由を記載してください（評価書のVIに記載されます）。"
        )
    return None


SNAPSHOT_GUARD = "consultations_snapshot_kept"
#: the draft put out for comment never changes once kept (also not in a direct SQL session)
SNAPSHOT_GUARD_ARGS = dict(
    operations=("UPDATE",),
    when="OLD.draft_snapshot IS NOT NULL AND (NEW.draft_snapshot IS DISTINCT FROM OLD.draft_snapshot "
    "OR NEW.draft_sha256 IS DISTINCT FROM OLD.draft_sha256)",
    message="the draft put out for comment cannot change",
)
guard(Consultation.__table__, SNAPSHOT_GUARD, **SNAPSHOT_GUARD_ARGS)


def new_receipt_number() -> str:
    """An unguessable receipt number such as ``PC-7K3M-Q9TX-2HBD`` (60 random bits)."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
    chars = "".join(secrets.choice(alphabet) for _ in range(12))
    return f"PC-{chars[:4]}-{chars[4:8]}-{chars[8:]}"


class FormLetterGroup(db.Model):
    """Identical or near-identical submissions (組織的な同一文面の意見), answered once."""

    __tablename__ = "consultation_groups"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(sa.ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    #: the submission whose opinions stand for the whole group (one of the members)
    representative_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    consultation: Mapped[Consultation] = relationship(back_populates="groups")
    members: Mapped[list[Submission]] = relationship(
        back_populates="group", foreign_keys="Submission.group_id", order_by="Submission.id"
    )

    @property
    def representative(self) -> Submission | None:
        for member in self.members:
            if member.id == self.representative_id:
                return member
        return self.members[0] if self.members else None


class Submission(db.Model):
    """What one submitter sent through one channel. Names and contacts are never published."""

    __tablename__ = "consultation_submissions"
    __audit__ = True
    __table_args__ = (sa.UniqueConstraint("consultation_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(sa.ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    receipt_number: Mapped[str] = mapped_column(sa.String(24), unique=True, default=new_receipt_number)
    channel: Mapped[str] = mapped_column(sa.String(10))
    received_on: Mapped[date]
    submitter_kind: Mapped[str] = mapped_column(sa.String(20), default="individual")
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    contact: Mapped[str] = mapped_column(sa.String(200), default="")
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: e-mail: Message-ID or content digest, to refuse the same message twice
    fingerprint: Mapped[str | None] = mapped_column(sa.String(300))
    consent: Mapped[bool] = mapped_column(default=False)
    group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("consultation_groups.id", ondelete="SET NULL"), index=True
    )
    #: similarity (0–1) to the group's representative when grouped
    similarity: Mapped[float | None]
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    consultation: Mapped[Consultation] = relationship(back_populates="submissions")
    group: Mapped[FormLetterGroup | None] = relationship(back_populates="members", foreign_keys=[group_id])
    files: Mapped[list[SubmissionFile]] = relationship(
        back_populates="submission", order_by="SubmissionFile.id", cascade="all, delete-orphan"
    )
    opinions: Mapped[list[Opinion]] = relationship(
        back_populates="submission", order_by="Opinion.position", foreign_keys="Opinion.submission_id"
    )

    @property
    def channel_label(self) -> str:
        return CHANNELS.get(self.channel, self.channel)

    @property
    def kind_label(self) -> str:
        return SUBMITTER_KINDS.get(self.submitter_kind, self.submitter_kind)


class SubmissionFile(db.Model):
    """A scanned page, or an attachment of an e-mail; stored under its SHA-256."""

    __tablename__ = "consultation_files"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("consultation_submissions.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="files")


class Opinion(db.Model):
    """One opinion (意見) split from a submission, with the body's reply (市の考え方)."""

    __tablename__ = "consultation_opinions"
    __audit__ = True
    # the next position and the next No. of a category are the last entries of these
    # (each web submission reads both); the first also serves lookups by consultation
    __table_args__ = (
        sa.Index("ix_consultation_opinions_position", "consultation_id", "position"),
        sa.Index("ix_consultation_opinions_number", "consultation_id", "category", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(sa.ForeignKey("consultations.id", ondelete="CASCADE"))
    submission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("consultation_submissions.id", ondelete="CASCADE"), index=True
    )
    #: order in the consultation (the report follows it within each category)
    position: Mapped[int] = mapped_column(default=0)
    #: No. within its category in the report (set by renumbering)
    number: Mapped[int | None]
    #: 意見の概要 (plain text; paragraphs separated by blank lines)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    category: Mapped[str] = mapped_column(sa.String(40), default="assessment")
    #: topic tag, e.g. システム総論 (shown as 【システム総論】 where a run of it starts)
    topic: Mapped[str] = mapped_column(sa.String(100), default="")
    #: item of the assessment the opinion is about (schema path, e.g. basic/systems)
    target_path: Mapped[str] = mapped_column(sa.String(300), default="")
    #: 市の考え方
    reply: Mapped[str] = mapped_column(sa.Text, default="")
    #: whether the assessment was changed because of this opinion
    changed: Mapped[bool] = mapped_column(default=False)
    change_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessment_versions.id"))
    change_path: Mapped[str] = mapped_column(sa.String(300), default="")
    #: a form-letter copy: the opinion of the group's representative that answers it
    represented_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("consultation_opinions.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    consultation: Mapped[Consultation] = relationship(back_populates="opinions")
    submission: Mapped[Submission] = relationship(back_populates="opinions", foreign_keys=[submission_id])
    change_version = relationship("AssessmentVersion", foreign_keys=[change_version_id])
    represented_by: Mapped[Opinion | None] = relationship(remote_side=[id], back_populates="copies")
    copies: Mapped[list[Opinion]] = relationship(back_populates="represented_by")

    @property
    def has_reply(self) -> bool:
        return bool((self.reply or "").strip())


#: the position of an opinion that the database numbers when its transaction commits
NUMBER_AT_COMMIT = 0
NUMBERING_TRIGGER = "consultation_opinions_number"
#: PostgreSQL advisory locks taken by Hyoka are pg_advisory_xact_lock(namespace, id); this
#: namespace is the numbering of one consultation's opinions
NUMBERING_LOCK = 1
_NUMBER_OPINION = (
    "UPDATE consultation_opinions SET "
    "position = (SELECT coalesce(max(position), 0) + 1 FROM consultation_opinions "
    "WHERE consultation_id = NEW.consultation_id), "
    "number = (SELECT coalesce(max(number), 0) + 1 FROM consultation_opinions "
    "WHERE consultation_id = NEW.consultation_id AND category = NEW.category) "
    f"WHERE id = NEW.id AND position = {NUMBER_AT_COMMIT}"
)


def numbering_trigger_sql() -> dict[str, list[str]]:
    """SQL creating the trigger that numbers an opinion inserted at position NUMBER_AT_COMMIT:
    the next position in its consultation and the next No. in its category.

    On PostgreSQL it runs when the transaction commits (a deferred constraint trigger) and
    takes the consultation's numbering lock there, so that simultaneous submissions wait
    for each other only for the moment of their commits, not while the application is
    still at work on them; once the lock is granted, the UPDATE sees every opinion that
    was committed before. SQLite has one writer at a time, and the inserting transaction
    is that writer until it ends: the trigger runs at once.
    """
    name = NUMBERING_TRIGGER
    return {
        "sqlite": [
            f"CREATE TRIGGER {name} AFTER INSERT ON consultation_opinions FOR EACH ROW "
            f"WHEN NEW.position = {NUMBER_AT_COMMIT} BEGIN {_NUMBER_OPINION}; END"
        ],
        "postgresql": [
            f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN "
            f"PERFORM pg_advisory_xact_lock({NUMBERING_LOCK}, NEW.consultation_id); "
            f"{_NUMBER_OPINION}; RETURN NULL; END; $$ LANGUAGE plpgsql",
            f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT ON consultation_opinions "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.position = {NUMBER_AT_COMMIT}) "
            f"EXECUTE FUNCTION {name}_fn()",
        ],
    }


trigger(Opinion.__table__, NUMBERING_TRIGGER, numbering_trigger_sql())


class RateLimitHit(db.Model):
    """One POST to a public form, by a hashed client address (shared by all workers)."""

    __tablename__ = "consultation_rate_hits"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the secret key and the client address; the address itself is not kept
    client_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
