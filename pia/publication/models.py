"""The stored PDF of each published assessment version.

A published version never changes, so its PDF is rendered once (PDF/A), kept here with
its SHA-256, and served as stored (the hash is the ETag). Rows are never updated (model
and database trigger); a row may be deleted by maintenance to have it rendered again.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from common.db import UTCDateTime, db, guard, utcnow
from pia.assessments.models import AssessmentVersion


class PublishedDocument(db.Model):
    """The PDF of a published version, as it was published."""

    __tablename__ = "published_documents"
    __table_args__ = (sa.UniqueConstraint("version_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_versions.id"), index=True)
    #: what the file is; ``assessment`` (the 評価書) for now
    kind: Mapped[str] = mapped_column(sa.String(20), default="assessment")
    #: hex SHA-256 of ``content`` (also the ETag)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    pages: Mapped[int]
    filename: Mapped[str] = mapped_column(sa.String(300))
    content: Mapped[bytes] = deferred(mapped_column(sa.LargeBinary))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    version: Mapped[AssessmentVersion] = relationship()

    @property
    def etag(self) -> str:
        return self.sha256


@sa.event.listens_for(PublishedDocument, "before_update")
def _refuse_update(_mapper, _connection, target):
    raise ValueError("a published document is never changed")


guard(
    PublishedDocument.__table__,
    "published_documents_frozen",
    operations=("UPDATE",),
    message="published documents cannot change",
)
