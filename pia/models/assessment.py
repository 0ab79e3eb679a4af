"""Affairs (事務) and their assessments (評価書) with versions.

The content of a version is a JSON document validated against the schema of its form and
edition (``pia/schemas``); what must be queried (status, dates, affair, department) lives in
columns. Submitted and published versions never change (model check and database trigger).
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common.db import JSONType, UTCDateTime, db, guard, utcnow
from common.models import Department


class Affair(db.Model):
    """A 事務: the business process an assessment covers (e.g. 住民基本台帳に関する事務)."""

    __tablename__ = "affairs"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    #: short code used by the evidence feeds (provision records' ``affair``), e.g. ``juki``
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    department: Mapped[Department] = relationship()


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

    affair: Mapped[Affair] = relationship()
    versions: Mapped[list["AssessmentVersion"]] = relationship(
        back_populates="assessment", order_by="AssessmentVersion.number", cascade="all, delete-orphan")


VERSION_STATES = {
    "draft": "作成中",
    "consultation": "意見聴取中",
    "review": "第三者点検中",
    "submitted": "提出済み",
    "published": "公表済み",
}
#: states in which a version's content can never change again
FROZEN_STATES = ("submitted", "published")


class AssessmentVersion(db.Model):
    """A version of an assessment: a draft until submitted; immutable once submitted."""

    __tablename__ = "assessment_versions"
    __table_args__ = (sa.UniqueConstraint("assessment_id", "number"),)
    __audit__ = True

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

    assessment: Mapped[Assessment] = relationship(back_populates="versions")

    @property
    def frozen(self) -> bool:
        return self.status in FROZEN_STATES


guard(AssessmentVersion.__table__, "assessment_versions_frozen",
      when="OLD.status IN ('submitted', 'published') AND NOT (OLD.status = 'submitted' AND NEW.status = 'published')",
      operations=("UPDATE",), message="submitted and published versions cannot change")
