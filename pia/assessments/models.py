"""Affairs (事務) and their assessments (評価書) with versions, and what hangs off them.

The content of a version is a JSON document validated against the schema of its form and
edition (``pia/schemas``); what must be queried (status, dates, affair, department) lives in
columns. Submitted and published versions never change: the model refuses it and a database
trigger refuses it too (on SQLite and PostgreSQL), except for the one move a submitted
version still makes, 提出済み → 公表済み (``status``, ``published_on``, ``published_by_id``).

Lifecycle methods on :class:`AssessmentVersion` check the move and raise
:class:`InvalidTransition`; :mod:`pia.services` checks roles, calls them and writes the
audit trail.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from common.db import JSONType, UTCDateTime, db, guard, utcnow
from common.errors import InvalidTransition
from common.models import Department, User


class Affair(db.Model):
    """A 事務: the business process an assessment covers (e.g. 住民基本台帳に関する事務)."""

    __tablename__ = "affairs"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    #: short code used by the evidence feeds (provision records' ``affair``), e.g. ``juki``
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    #: the day the 事務 ended (the assessment stays published 3 years after it)
    ended_on: Mapped[date | None]

    department: Mapped[Department] = relationship()
    assessments: Mapped[list[Assessment]] = relationship(back_populates="affair", order_by="Assessment.id")
    threshold_records: Mapped[list[ThresholdRecord]] = relationship(
        back_populates="affair", order_by=lambda: (ThresholdRecord.determined_on, ThresholdRecord.id)
    )

    @property
    def latest_threshold(self) -> ThresholdRecord | None:
        return self.threshold_records[-1] if self.threshold_records else None


class Assessment(db.Model):
    """One assessment document (a form for an affair) with its versions."""

    __tablename__ = "assessments"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    affair_id: Mapped[int] = mapped_column(sa.ForeignKey("affairs.id"), index=True)
    #: ``zenkoumoku`` | ``juten`` | ``kiso`` (keys of ``pia.schema.FORMS``)
    form: Mapped[str] = mapped_column(sa.String(20))
    title: Mapped[str] = mapped_column(sa.String(300))
    #: 評価書番号 as the body numbers its assessments
    number: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    affair: Mapped[Affair] = relationship(back_populates="assessments")
    versions: Mapped[list[AssessmentVersion]] = relationship(
        back_populates="assessment",
        order_by="AssessmentVersion.number",
        cascade="all, delete-orphan",
        foreign_keys="AssessmentVersion.assessment_id",
    )
    annual_reviews: Mapped[list[AnnualReview]] = relationship(
        back_populates="assessment",
        order_by=lambda: (AnnualReview.reviewed_on, AnnualReview.id),
        cascade="all, delete-orphan",
    )
    actions: Mapped[list[ActionItem]] = relationship(
        back_populates="assessment", order_by=lambda: (ActionItem.id,), cascade="all, delete-orphan"
    )

    @property
    def department(self) -> Department:
        return self.affair.department

    @property
    def form_name(self) -> str:
        from pia.schema import FORMS

        return FORMS.get(self.form, self.form)

    @property
    def published_versions(self) -> list[AssessmentVersion]:
        return [v for v in self.versions if v.status == "published"]

    @property
    def current_version(self) -> AssessmentVersion | None:
        """The version in force: the latest published one."""
        published = self.published_versions
        return published[-1] if published else None

    @property
    def open_version(self) -> AssessmentVersion | None:
        """The version being worked on (draft, 意見聴取中, 第三者点検中 or 提出済み)."""
        for version in reversed(self.versions):
            if version.status != "published":
                return version
        return None

    @property
    def latest_version(self) -> AssessmentVersion | None:
        return self.versions[-1] if self.versions else None

    def version(self, number: int) -> AssessmentVersion | None:
        return next((v for v in self.versions if v.number == number), None)


VERSION_STATES = {
    "draft": "作成中",
    "consultation": "意見聴取中",
    "review": "第三者点検中",
    "submitted": "提出済み",
    "published": "公表済み",
}
#: states in which a version's content can never change again
FROZEN_STATES = ("submitted", "published")
#: the only state in which a version's content can be edited
EDITABLE_STATES = ("draft",)

#: what a version is, compared with the version in force when it was started
CHANGE_KINDS = {
    "initial": "新規(初回の評価)",
    "significant": "重要な変更",
    "correction": "評価書の修正",
    "none": "変更なし",
}

#: columns that may still change on 提出済み → 公表済み; every other column is frozen
PUBLISH_COLUMNS = ("status", "published_on", "published_by_id")


class FrozenVersion(InvalidTransition):
    """An attempt to change a submitted or published version."""


class AssessmentVersion(db.Model):
    """A version of an assessment: a draft until submitted; immutable once submitted."""

    __tablename__ = "assessment_versions"
    __table_args__ = (sa.UniqueConstraint("assessment_id", "number"),)
    __audit__ = True
    #: the document is audited per section by the services (only the items that changed)
    __audit_exclude__ = {"document"}

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id"), index=True)
    #: 1, 2, 3 … within the assessment
    number: Mapped[int]
    #: the schema edition the document was written in
    edition: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20), default="draft", index=True)
    document: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_on: Mapped[date | None]
    published_on: Mapped[date | None]
    #: optimistic lock: incremented on every save; a save naming an older revision is a conflict
    revision: Mapped[int] = mapped_column(default=1)
    #: the version this draft was started from (the current version, or a past one when restored)
    base_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessment_versions.id"))
    #: ``initial`` | ``significant`` | ``correction`` | ``none``, fixed when submitted
    change_kind: Mapped[str | None] = mapped_column(sa.String(20))
    #: why this version was made (見直しの結果, 制度改正, …)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    assessment: Mapped[Assessment] = relationship(back_populates="versions", foreign_keys=[assessment_id])
    base_version: Mapped[AssessmentVersion | None] = relationship(remote_side=[id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    change_notes: Mapped[list[ChangeLogNote]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="ChangeLogNote.path"
    )

    # ------------------------------------------------------------------ state

    @property
    def frozen(self) -> bool:
        return self.status in FROZEN_STATES

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE_STATES

    @property
    def status_label(self) -> str:
        return VERSION_STATES.get(self.status, self.status)

    @property
    def label(self) -> str:
        return f"第{self.number}版"

    @property
    def change_kind_label(self) -> str:
        return CHANGE_KINDS.get(self.change_kind or "", "")

    @validates(
        "document",
        "edition",
        "number",
        "assessment_id",
        "base_version_id",
        "submitted_on",
        "revision",
        "change_kind",
        "note",
    )
    def _refuse_frozen(self, key, value):
        # the ORM-side guard; the database trigger below holds even for raw SQL
        if self.status in FROZEN_STATES and self.id is not None:
            raise FrozenVersion("提出済み・公表済みの版は変更できません。")
        return value

    def check_editable(self) -> None:
        if self.frozen:
            raise FrozenVersion("提出済み・公表済みの版は変更できません。")
        if not self.editable:
            raise InvalidTransition(f"{self.status_label}の版は編集できません。作成中に戻してから編集してください。")

    def _move(self, allowed_from: tuple[str, ...], to: str) -> str:
        if self.status not in allowed_from:
            raise InvalidTransition(f"{self.status_label}の版を「{VERSION_STATES[to]}」にすることはできません。")
        before = self.status
        self.status = to
        return before

    # The workflow. ``procedure`` is the list of steps the full procedure requires for this
    # version (["consultation", "review"] for a 全項目評価書 with a 重要な変更 or a first version,
    # else []); ``problems`` maps a step to why it is not done (from pia.procedure).

    def start_consultation(self, procedure: list[str]) -> str:
        """作成中 → 意見聴取中 (only when the full procedure applies)."""
        if "consultation" not in procedure:
            raise InvalidTransition("この版は意見聴取の対象ではありません(評価書の修正)。")
        return self._move(("draft",), "consultation")

    def start_review(self, procedure: list[str], problems: dict[str, str | None]) -> str:
        """作成中 → 第三者点検中; the consultation must be done first."""
        if "review" not in procedure:
            raise InvalidTransition("この版は第三者点検の対象ではありません(評価書の修正)。")
        if problems.get("consultation"):
            raise InvalidTransition(problems["consultation"])
        return self._move(("draft",), "review")

    def return_to_draft(self) -> str:
        """意見聴取中 / 第三者点検中 → 作成中 (to revise the draft in the light of the results)."""
        return self._move(("consultation", "review"), "draft")

    def submit(self, on: date, procedure: list[str], problems: dict[str, str | None]) -> str:
        """作成中 / 第三者点検中 → 提出済み, recording the day it was sent to 個人情報保護委員会."""
        if on is None:
            raise InvalidTransition("提出日を入力してください。")
        for step in procedure:
            if problems.get(step):
                raise InvalidTransition(problems[step])
        allowed = self.check_submittable(procedure)
        self.submitted_on = on  # before the status: the version freezes with it
        return self._move(allowed, "submitted")

    def check_submittable(self, procedure: list[str]) -> tuple[str, ...]:
        """The states 提出 may start from; raises when this version is in none of them."""
        allowed = ("review",) if "review" in procedure else ("draft", "review")
        if self.status not in allowed and self.status in ("draft", "consultation"):
            raise InvalidTransition("全項目評価の手続(意見聴取・第三者点検)を終えてから提出してください。")
        if self.status not in allowed:
            raise InvalidTransition(f"{self.status_label}の版は提出できません。")
        return allowed

    def publish(self, on: date, procedure: list[str], problems: dict[str, str | None]) -> str:
        """提出済み → 公表済み."""
        if on is None:
            raise InvalidTransition("公表日を入力してください。")
        if self.submitted_on and on < self.submitted_on:
            raise InvalidTransition("公表日は提出日以降の日付にしてください。")
        for step in procedure:
            if problems.get(step):
                raise InvalidTransition(problems[step])
        before = self._move(("submitted",), "published")
        self.published_on = on
        return before


def _frozen_update_condition() -> str:
    """OLD is frozen and the update is anything but 提出済み → 公表済み with the rest unchanged."""
    frozen = "OLD.status IN ('submitted', 'published')"
    kept = " AND ".join(
        f"NEW.{c.name} IS NOT DISTINCT FROM OLD.{c.name}"
        for c in AssessmentVersion.__table__.columns
        if c.name not in PUBLISH_COLUMNS
    )
    publishing = f"(OLD.status = 'submitted' AND NEW.status = 'published' AND {kept})"
    return f"{frozen} AND NOT {publishing}"


guard(
    AssessmentVersion.__table__,
    "assessment_versions_frozen",
    when=_frozen_update_condition(),
    operations=("UPDATE",),
    message="submitted and published versions cannot change",
)
guard(
    AssessmentVersion.__table__,
    "assessment_versions_keep",
    when="OLD.status IN ('submitted', 'published')",
    operations=("DELETE",),
    message="submitted and published versions cannot be deleted",
)


class ChangeLogNote(db.Model):
    """An officer's 提出時期に係る説明 (and 提出時期) for one row of a version's 変更箇所."""

    __tablename__ = "assessment_change_notes"
    __table_args__ = (sa.UniqueConstraint("version_id", "path"),)
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_versions.id", ondelete="CASCADE"), index=True)
    #: the item path of the change (``basic/systems[0]/name``)
    path: Mapped[str] = mapped_column(sa.String(300))
    #: 事前 | 事後 (None: as generated from the ※ mark)
    timing: Mapped[str | None] = mapped_column(sa.String(4))
    timing_note: Mapped[str] = mapped_column(sa.Text, default="")
    #: an officer judged that this change of a ※ item does not materially change the risk
    #: (≪左欄にある※について≫ of the form): the version then takes the 評価書の修正 path
    immaterial: Mapped[bool] = mapped_column(default=False)
    #: why the change does not materially change the risk (required; fills 提出時期に係る説明)
    immaterial_reason: Mapped[str] = mapped_column(sa.Text, default="")
    judged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    version: Mapped[AssessmentVersion] = relationship(back_populates="change_notes")
    judged_by: Mapped[User | None] = relationship(foreign_keys=[judged_by_id])


class ThresholdRecord(db.Model):
    """A しきい値判断 of a 事務: the counts on a day and the assessments they require."""

    __tablename__ = "threshold_records"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    affair_id: Mapped[int] = mapped_column(sa.ForeignKey("affairs.id"), index=True)
    determined_on: Mapped[date]
    #: 対象人数 (people whose data is in the file)
    target_count: Mapped[int]
    #: 取扱者数 (staff and contractors who handle it)
    handlers: Mapped[int]
    #: 特定個人情報に関する重大事故 in the year before ``determined_on``
    serious_incident: Mapped[bool] = mapped_column(default=False)
    incident_on: Mapped[date | None]
    #: where the incident is known from (報告書, 報道発表, …)
    incident_source: Mapped[str] = mapped_column(sa.Text, default="")
    #: the forms the rule table required (keys of pia.schema.FORMS), least demanding first
    forms: Mapped[list] = mapped_column(JSONType, default=list)
    #: the note of the rule that decided
    rule_note: Mapped[str] = mapped_column(sa.Text, default="")
    #: the requirement rose compared with the previous record
    rose: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    affair: Mapped[Affair] = relationship(back_populates="threshold_records")


ANNUAL_REVIEW_RESULTS = {"no_change": "変更なし", "new_version": "新しい版を作成"}


class AnnualReview(db.Model):
    """A 見直し (at least once a year) of an assessment and its result."""

    __tablename__ = "assessment_reviews"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id"), index=True)
    reviewed_on: Mapped[date]
    #: ``no_change`` | ``new_version``
    result: Mapped[str] = mapped_column(sa.String(20))
    #: the version the review led to (result ``new_version``)
    version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessment_versions.id"))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    assessment: Mapped[Assessment] = relationship(back_populates="annual_reviews")
    version: Mapped[AssessmentVersion | None] = relationship()

    @property
    def result_label(self) -> str:
        return ANNUAL_REVIEW_RESULTS.get(self.result, self.result)


ACTION_STATUSES = {"open": "未着手", "in_progress": "対応中", "done": "完了"}


class ActionItem(db.Model):
    """The action for an item answered 課題が残されている (what, owner, due date, status)."""

    __tablename__ = "assessment_actions"
    __table_args__ = (sa.UniqueConstraint("assessment_id", "path"),)
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id"), index=True)
    #: the item answered 課題が残されている (``risks/files[0]/use/risk1/sufficiency``)
    path: Mapped[str] = mapped_column(sa.String(300))
    #: the item's label when the action was made
    label: Mapped[str] = mapped_column(sa.Text)
    #: the version in which the item was first answered so
    version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assessment_versions.id"))
    what: Mapped[str] = mapped_column(sa.Text, default="")
    owner: Mapped[str] = mapped_column(sa.String(200), default="")
    due_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(sa.String(20), default="open", index=True)
    #: false once the latest version no longer answers the item 課題が残されている
    still_answered: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    assessment: Mapped[Assessment] = relationship(back_populates="actions")

    @property
    def status_label(self) -> str:
        return ACTION_STATUSES.get(self.status, self.status)

    @property
    def is_open(self) -> bool:
        return self.status != "done"


class VersionSearchText(db.Model):
    """The searchable text of a version (NFKC, lower case), for LIKE / ILIKE in any language.

    Japanese has no spaces, so word indexes do not help; a substring scan over one text per
    version is fast enough for thousands of versions (see test_search_scales_to_hundreds_of_versions in tests/pia/assessments/test_assessment_views.py).
    """

    __tablename__ = "assessment_search_texts"

    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assessment_versions.id", ondelete="CASCADE"), primary_key=True
    )
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(sa.Text, default="")
