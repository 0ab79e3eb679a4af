"""The system inventory (システム台帳): systems, their functions and connections, the
departments authorised to use them, the 特定個人情報ファイル they hold, and the history.

Every change to a system or a file goes through :mod:`pia.inventory_services`, which
bumps ``revision`` and appends a :class:`SystemRevision` / :class:`PiFileRevision` holding
the whole state after the change (relationships included, which the audit trail cannot
show). What a published assessment said about them is kept in
:class:`InventorySnapshot`, so that later changes can be shown as 「台帳と不一致」.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common.db import JSONType, UTCDateTime, db, guard, utcnow
from common.models import Department

if TYPE_CHECKING:
    from pia.assessments.models import Affair

#: departments whose staff may use a system (the evidence checks rely on this)
system_departments = sa.Table(
    "system_departments",
    db.metadata,
    sa.Column("system_id", sa.ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("department_id", sa.ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True),
)

#: systems holding a 特定個人情報ファイル
pi_file_systems = sa.Table(
    "pi_file_systems",
    db.metadata,
    sa.Column("pi_file_id", sa.ForeignKey("pi_files.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("system_id", sa.ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
)

#: the 事務 whose assessment must name a system (a system record belongs to the 事務 that use it)
affair_systems = sa.Table(
    "affair_systems",
    db.metadata,
    sa.Column("affair_id", sa.ForeignKey("affairs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("system_id", sa.ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
)

#: the 事務 whose assessment must name a 特定個人情報ファイル
affair_pi_files = sa.Table(
    "affair_pi_files",
    db.metadata,
    sa.Column("affair_id", sa.ForeignKey("affairs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("pi_file_id", sa.ForeignKey("pi_files.id", ondelete="CASCADE"), primary_key=True),
)

SYSTEM_KINDS = {"city": "市のシステム", "national": "国のシステム", "external": "外部"}
HOSTINGS = {"onprem": "庁内", "gov_cloud": "ガバメントクラウド", "national": "国"}
SYSTEM_STATUSES = {"active": "稼働中", "planned": "移行予定", "retired": "廃止"}
#: ISMAP (政府情報システムのためのセキュリティ評価制度) registration of the cloud service
ISMAP_STATES = {"": "該当なし", "registered": "登録済み", "not_registered": "未登録", "unknown": "確認中"}

#: kinds of connection = the choices of 「③他のシステムとの接続」 in the assessment forms
CONNECTION_KINDS = {
    "ipn": "情報提供ネットワークシステム",
    "chonai": "庁内連携システム",
    "juki_net": "住民基本台帳ネットワークシステム",
    "kizon_juki": "既存住民基本台帳システム",
    "atena": "宛名システム等",
    "zeimu": "税務システム",
    "other": "その他",
}

#: 対象人数 (しきい値判断, 全項目評価書 I 1③)
TARGET_COUNTS = ("1,000人未満", "1,000人以上1万人未満", "1万人以上10万人未満", "10万人以上30万人未満", "30万人以上")
#: 対象となる本人の数 (全項目評価書 II 2②)
PERSON_COUNTS = (
    "1万人未満",
    "1万人以上10万人未満",
    "10万人以上100万人未満",
    "100万人以上1,000万人未満",
    "1,000万人以上",
)
FILE_KINDS = ("システム用ファイル", "その他の電子ファイル(表計算ファイル等)")
RETENTION_PERIODS = (
    "1年未満",
    "1年",
    "2年",
    "3年",
    "4年",
    "5年",
    "6年以上10年未満",
    "10年以上20年未満",
    "20年以上",
    "定められていない",
)


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
    #: the short name the assessment uses after defining it (「以下「既存住基システム」という。」)
    abbreviation: Mapped[str] = mapped_column(sa.String(200), default="")
    #: the lead sentence of ②システムの機能 (before the numbered list)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: ②システムの機能 as a numbered list: ``[{"title": ..., "description": ...}, ...]``
    functions: Mapped[list] = mapped_column(JSONType, default=list)
    #: how the list is numbered in the assessment: ``dot`` 「1. 」, ``space`` 「1 」, ``bullet`` 「・」
    numbering: Mapped[str] = mapped_column(sa.String(10), default="dot")
    #: remarks written after the list (※ …)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    cloud_provider: Mapped[str] = mapped_column(sa.String(200), default="")
    #: key of :data:`ISMAP_STATES`
    ismap: Mapped[str] = mapped_column(sa.String(20), default="")
    #: ISMAP registration number of the cloud service, when registered
    ismap_number: Mapped[str] = mapped_column(sa.String(60), default="")
    #: bumped on every change (see :class:`SystemRevision`)
    revision: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    owner_department: Mapped[Department | None] = relationship(foreign_keys=[owner_department_id])
    authorised_departments: Mapped[list[Department]] = relationship(
        secondary=system_departments, order_by=Department.sort_order
    )
    outgoing: Mapped[list[Connection]] = relationship(
        foreign_keys="Connection.source_id",
        back_populates="source",
        cascade="all, delete-orphan",
        order_by="Connection.position",
    )
    incoming: Mapped[list[Connection]] = relationship(
        foreign_keys="Connection.target_id", back_populates="target", order_by="Connection.id"
    )
    pi_files: Mapped[list[PiFile]] = relationship(
        secondary=pi_file_systems, back_populates="systems", order_by="PiFile.position"
    )
    revisions: Mapped[list[SystemRevision]] = relationship(
        back_populates="system", order_by="SystemRevision.revision.desc()", cascade="all, delete-orphan"
    )
    #: the 事務 whose assessments must name this system (台帳と一致 by identity)
    affairs: Mapped[list[Affair]] = relationship(secondary=affair_systems, order_by="Affair.id")

    @property
    def display_name(self) -> str:
        """The name as an assessment's ①システムの名称 writes it."""
        if self.abbreviation and self.abbreviation != self.name:
            return f"{self.name}(以下「{self.abbreviation}」という。)"
        return self.name

    @property
    def short_name(self) -> str:
        """The name used when other systems refer to this one (略称 when defined)."""
        return self.abbreviation or self.name

    @property
    def kind_label(self) -> str:
        return SYSTEM_KINDS.get(self.kind, self.kind)

    @property
    def hosting_label(self) -> str:
        return HOSTINGS.get(self.hosting, self.hosting)

    @property
    def status_label(self) -> str:
        return SYSTEM_STATUSES.get(self.status, self.status)

    @property
    def ismap_label(self) -> str:
        return ISMAP_STATES.get(self.ismap, self.ismap)

    def __repr__(self):
        return f"<System {self.code}>"


class Connection(db.Model):
    """A directed link from a system to another system of the inventory or to an outside
    network / system named by ``target_label`` (e.g. 庁内各業務システム)."""

    __tablename__ = "system_connections"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("systems.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int | None] = mapped_column(sa.ForeignKey("systems.id", ondelete="CASCADE"), index=True)
    #: the outside party when ``target_id`` is empty (情報提供ネットワークシステム, 庁内各業務システム, …)
    target_label: Mapped[str] = mapped_column(sa.String(300), default="")
    #: key of :data:`CONNECTION_KINDS`: the box ticked in 「③他のシステムとの接続」
    kind: Mapped[str] = mapped_column(sa.String(20), default="other")
    #: what flows over the link (異動データ, 本人確認情報, …)
    flows: Mapped[str] = mapped_column(sa.Text, default="")
    #: order in which the assessment lists the connections of the source system
    position: Mapped[int] = mapped_column(default=0)

    source: Mapped[System] = relationship(foreign_keys=[source_id], back_populates="outgoing")
    target: Mapped[System | None] = relationship(foreign_keys=[target_id], back_populates="incoming")

    @property
    def kind_label(self) -> str:
        return CONNECTION_KINDS.get(self.kind, self.kind)

    @property
    def target_name(self) -> str:
        """The name of the other end as the source system's assessment writes it."""
        if self.target is not None:
            return self.target.short_name
        return self.target_label


class PiFile(db.Model):
    """A 特定個人情報ファイル."""

    __tablename__ = "pi_files"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    owner_department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    #: ファイルの種類 (:data:`FILE_KINDS`)
    file_kind: Mapped[str] = mapped_column(sa.String(60), default=FILE_KINDS[0])
    #: 記録項目, in the order of (別添2)
    record_items: Mapped[list] = mapped_column(JSONType, default=list)
    #: 対象となる本人の範囲 (kind of persons)
    person_scope: Mapped[str] = mapped_column(sa.Text, default="")
    #: 対象人数 (:data:`TARGET_COUNTS`), the range used by the しきい値判断
    target_count: Mapped[str] = mapped_column(sa.String(40), default="")
    #: 対象となる本人の数 (:data:`PERSON_COUNTS`)
    person_count: Mapped[str] = mapped_column(sa.String(40), default="")
    #: 保管期間 (:data:`RETENTION_PERIODS`) and why
    retention_period: Mapped[str] = mapped_column(sa.String(40), default="")
    retention_note: Mapped[str] = mapped_column(sa.Text, default="")
    #: 消去方法
    deletion_method: Mapped[str] = mapped_column(sa.Text, default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    revision: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    owner_department: Mapped[Department | None] = relationship()
    systems: Mapped[list[System]] = relationship(
        secondary=pi_file_systems, back_populates="pi_files", order_by=System.code
    )
    revisions: Mapped[list[PiFileRevision]] = relationship(
        back_populates="pi_file", order_by="PiFileRevision.revision.desc()", cascade="all, delete-orphan"
    )
    #: the 事務 whose assessments must name this file
    affairs: Mapped[list[Affair]] = relationship(secondary=affair_pi_files, order_by="Affair.id")

    def __repr__(self):
        return f"<PiFile {self.code}>"


class SystemRevision(db.Model):
    """The whole state of a system after one change (履歴). Rows never change."""

    __tablename__ = "system_revisions"
    __table_args__ = (sa.UniqueConstraint("system_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(sa.ForeignKey("systems.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_name: Mapped[str] = mapped_column(sa.String(200), default="")
    #: what was done, in Japanese (登録, 更新, 接続の追加, 取込 …)
    summary: Mapped[str] = mapped_column(sa.String(300), default="")
    state: Mapped[dict] = mapped_column(JSONType, default=dict)

    system: Mapped[System] = relationship(back_populates="revisions")


class PiFileRevision(db.Model):
    """The whole state of a 特定個人情報ファイル after one change. Rows never change."""

    __tablename__ = "pi_file_revisions"
    __table_args__ = (sa.UniqueConstraint("pi_file_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pi_file_id: Mapped[int] = mapped_column(sa.ForeignKey("pi_files.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_name: Mapped[str] = mapped_column(sa.String(200), default="")
    summary: Mapped[str] = mapped_column(sa.String(300), default="")
    state: Mapped[dict] = mapped_column(JSONType, default=dict)

    pi_file: Mapped[PiFile] = relationship(back_populates="revisions")


class InventoryLink(db.Model):
    """Which inventory entry an assessment version's group entry was filled from."""

    __tablename__ = "inventory_links"
    __table_args__ = (sa.UniqueConstraint("version_id", "kind", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_versions.id", ondelete="CASCADE"), index=True)
    #: ``system`` | ``pi_file``
    kind: Mapped[str] = mapped_column(sa.String(20))
    object_id: Mapped[int]
    #: 0-based order among the version's entries of that kind
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InventorySnapshot(db.Model):
    """What a published version said about one system or file (for 「台帳と不一致」).

    ``values`` maps a path relative to the entry (``functions``, ``basic/person_count``)
    to the text the version held there, per group path: ``{group_path: {rel_path: text}}``.
    Rows never change.
    """

    __tablename__ = "inventory_snapshots"
    __table_args__ = (sa.UniqueConstraint("version_id", "kind", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_versions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    object_id: Mapped[int] = mapped_column(index=True)
    #: code and name at publication, kept for display if the entry is later removed
    code: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(300))
    #: the inventory revision the published text was compared against
    revision: Mapped[int] = mapped_column(default=0)
    values: Mapped[dict] = mapped_column(JSONType, default=dict)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


guard(
    SystemRevision.__table__,
    "system_revisions_immutable",
    operations=("UPDATE",),
    message="system history cannot change",
)
guard(
    PiFileRevision.__table__,
    "pi_file_revisions_immutable",
    operations=("UPDATE",),
    message="file history cannot change",
)
guard(
    InventorySnapshot.__table__,
    "inventory_snapshots_immutable",
    operations=("UPDATE",),
    message="inventory snapshots cannot change",
)
