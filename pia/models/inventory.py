"""The system inventory (システム台帳): systems, the departments authorised to use them, …"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common.db import UTCDateTime, db, utcnow
from common.models import Department

#: departments whose staff may use a system (the evidence checks rely on this)
system_departments = sa.Table(
    "system_departments",
    db.metadata,
    sa.Column("system_id", sa.ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("department_id", sa.ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True),
)

SYSTEM_KINDS = {"city": "市のシステム", "national": "国のシステム", "external": "外部"}
HOSTINGS = {"onprem": "庁内", "gov_cloud": "ガバメントクラウド", "national": "国"}
SYSTEM_STATUSES = {"active": "稼働中", "planned": "移行予定", "retired": "廃止"}


class System(db.Model):
    __tablename__ = "systems"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    #: code used everywhere else, in feeds too, e.g. ``JUKI`` for 既存住基システム
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    owner_department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    kind: Mapped[str] = mapped_column(sa.String(20), default="city")
    hosting: Mapped[str] = mapped_column(sa.String(20), default="onprem")
    status: Mapped[str] = mapped_column(sa.String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    owner_department: Mapped[Department | None] = relationship(foreign_keys=[owner_department_id])
    authorised_departments: Mapped[list[Department]] = relationship(
        secondary=system_departments, order_by=Department.sort_order)
