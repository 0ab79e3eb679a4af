"""Evidence tables: feed batches, the seven kinds of stored rows, findings and their triage.

Stored evidence (batches and rows) is append-only: database triggers refuse UPDATE and
DELETE (a batch may be updated once, while it is being sealed). Each batch carries a hash
chain (``prev_hash`` → ``chain_hash``) over its metadata and the digest of its stored rows,
so ``flask evidence verify`` notices changes even by someone who dropped the triggers.

Uniqueness (re-sending stores nothing twice):

* access: ``(system, event_id)`` (``event_id`` derived from the row when absent);
* provisions: ``record_id``; transactions: ``(system, transaction_id)``;
* grants, assignments, relations, protections: the whole row (``row_hash``). A grant re-sent with a
  ``revoked_at`` (or an assignment with an ``end_date``) is a new version of the same
  natural key — grants ``(system, user_id, role, granted_at)``, assignments
  ``(user_id, department, start_date)``, relations ``(user_id, subject_id)``, protections
  ``(subject_id, measure, start_date)`` — and the
  latest stored version is the one the checks use.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common.db import JSONType, UTCDateTime, db, guard, utcnow

GENESIS_HASH = "0" * 64


class FeedBatch(db.Model):
    """One imported feed file or request: what came in and the chain hash that seals it."""

    __tablename__ = "evidence_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    #: ``cli:<file>``, ``api:<token name>``, ``watch:<file>``, ``demo:<name>``
    source: Mapped[str] = mapped_column(sa.String(400))
    #: the system of the API token, when it came through the API
    system_code: Mapped[str | None] = mapped_column(sa.String(32))
    fmt: Mapped[str] = mapped_column(sa.String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_stored: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    #: rows left out with --skip-invalid (written to the reject file)
    rejected: Mapped[int] = mapped_column(default=0)
    #: SHA-256 of the raw bytes received
    raw_sha256: Mapped[str] = mapped_column(sa.String(64))
    #: SHA-256 over the row digests of the stored rows, in storage order
    rows_digest: Mapped[str | None] = mapped_column(sa.String(64))
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: NULL while the batch is being written; set once, in the same transaction
    chain_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    #: earliest / latest event time of the stored rows (access and provisions)
    first_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


guard(
    FeedBatch.__table__,
    "evidence_batches_sealed",
    operations=("UPDATE",),
    when="OLD.chain_hash IS NOT NULL",
    message="sealed evidence batches cannot change",
)
guard(
    FeedBatch.__table__, "evidence_batches_kept", operations=("DELETE",), message="evidence batches cannot be deleted"
)


def _batch_fk():
    return mapped_column(sa.ForeignKey("evidence_batches.id"))


class AccessEvent(db.Model):
    """操作履歴: one operation of a staff account in a business system."""

    __tablename__ = "evidence_access"
    __table_args__ = (
        sa.UniqueConstraint("system", "event_id", name="uq_evidence_access_system_event"),
        # result and event_id too: the event checks read the events of their candidate
        # user-days from this index alone (migration e5a1c0d2b7f4)
        sa.Index("ix_evidence_access_user_time", "system", "user_id", "occurred_at", "result", "event_id"),
        sa.Index("ix_evidence_access_user_subject", "user_id", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = _batch_fk()
    event_id: Mapped[str] = mapped_column(sa.String(200))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    system: Mapped[str] = mapped_column(sa.String(32))
    user_id: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[str | None] = mapped_column(sa.String(200))
    terminal: Mapped[str | None] = mapped_column(sa.String(200))
    result: Mapped[str] = mapped_column(sa.String(10))
    purpose: Mapped[str | None] = mapped_column(sa.String(200))
    extra: Mapped[dict | None] = mapped_column(JSONType)


class Grant(db.Model):
    """権限付与: a permission in a system, with the date it was withdrawn."""

    __tablename__ = "evidence_grants"
    __table_args__ = (sa.Index("ix_evidence_grants_key", "system", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = _batch_fk()
    user_id: Mapped[str] = mapped_column(sa.String(200))
    system: Mapped[str] = mapped_column(sa.String(32))
    role: Mapped[str] = mapped_column(sa.String(200))
    granted_at: Mapped[date]
    revoked_at: Mapped[date | None]
    granted_by: Mapped[str | None] = mapped_column(sa.String(200))
    extra: Mapped[dict | None] = mapped_column(JSONType)
    row_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Assignment(db.Model):
    """人事配置: a staff account's department over a period."""

    __tablename__ = "evidence_assignments"
    __table_args__ = (sa.Index("ix_evidence_assignments_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = _batch_fk()
    user_id: Mapped[str] = mapped_column(sa.String(200))
    department: Mapped[str] = mapped_column(sa.String(200))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    #: the staff member's name as shown to auditors (optional; the latest stored one is shown)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    extra: Mapped[dict | None] = mapped_column(JSONType)
    row_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Relation(db.Model):
    """職員と住民記録の関係: a resident record that is the staff member's own or family's."""

    __tablename__ = "evidence_relations"
    __table_args__ = (sa.Index("ix_evidence_relations_user_subject", "user_id", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = _batch_fk()
    user_id: Mapped[str] = mapped_column(sa.String(200))
    subject_id: Mapped[str] = mapped_column(sa.String(200))
    relation: Mapped[str] = mapped_column(sa.String(20))
    extra: Mapped[dict | None] = mapped_column(JSONType)
    row_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Provision(db.Model):
    """情報提供等記録: one inquiry or provision through the 情報提供ネットワークシステム."""

    __tablename__ = "evidence_provisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = _batch_fk()
    record_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    direction: Mapped[str] = mapped_column(sa.String(10))
    counterpart: Mapped[str] = mapped_column(sa.String(300))
    table_item: Mapped[int]
    info_item: Mapped[str] = mapped_column(sa.String(300))
    affair: Mapped[str | None] = mapped_column(sa.String(40))
    subject_id: Mapped[str | None] = mapped_column(sa.String(200))
    result: Mapped[str] = mapped_column(sa.String(10))
    extra: Mapped[dict | None] = mapped_column(JSONType)
    row_hash: Mapped[str] = mapped_column(sa.String(64))


class Transaction(db.Model):
    """窓口・届出・請求の受付記録: what a department did for a resident on a system, the reason
    an access to that resident's record can have (:mod:`evidence.explanations`)."""

    __tablename__ = "evidence_transactions"
    __table_args__ = (
        sa.UniqueConstraint("system", "transaction_id", name="uq_evidence_transactions_system_transaction"),
        sa.Index("ix_evidence_transactions_subject", "subject_id", "system", "occurred_at"),
        #: which days a system handled anything (unexplained_access asks it per user-day)
        sa.Index("ix_evidence_transactions_time", "system", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = _batch_fk()
    transaction_id: Mapped[str] = mapped_column(sa.String(200))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    system: Mapped[str] = mapped_column(sa.String(32))
    department: Mapped[str] = mapped_column(sa.String(200))
    #: what it was, as the business system names it (転入届, 住民票の写し交付, …)
    kind: Mapped[str] = mapped_column(sa.String(200))
    subject_id: Mapped[str] = mapped_column(sa.String(200))
    user_id: Mapped[str | None] = mapped_column(sa.String(200))
    extra: Mapped[dict | None] = mapped_column(JSONType)
    row_hash: Mapped[str] = mapped_column(sa.String(64))


class Protection(db.Model):
    """支援措置対象者: a resident whose record is under a support measure over a period.
    Confidential: shown only to auditors and officers."""

    __tablename__ = "evidence_protections"
    __table_args__ = (sa.Index("ix_evidence_protections_subject", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = _batch_fk()
    subject_id: Mapped[str] = mapped_column(sa.String(200))
    #: ``dv_support`` | ``other``
    measure: Mapped[str] = mapped_column(sa.String(20))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    extra: Mapped[dict | None] = mapped_column(JSONType)
    row_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


#: kind -> model of its stored rows
ROW_MODELS = {
    "access": AccessEvent,
    "grants": Grant,
    "assignments": Assignment,
    "relations": Relation,
    "provisions": Provision,
    "transactions": Transaction,
    "protections": Protection,
}

#: the one way stored rows leave: ``flask evidence archive`` (:mod:`evidence.retention`) lists the
#: batches it archives in ``evidence_retention_open`` inside its own transaction, and the
#: append-only triggers let a DELETE of those batches' rows pass while they are listed
ARCHIVE_BYPASS = "EXISTS (SELECT 1 FROM evidence_retention_open o WHERE o.batch_id = OLD.batch_id)"

for _model in ROW_MODELS.values():
    guard(
        _model.__table__,
        f"{_model.__tablename__}_append_only",
        message="stored evidence is append-only",
        delete_allowed_when=ARCHIVE_BYPASS,
    )


class RetentionOpen(db.Model):
    """The batches an archive is deleting right now: filled and emptied inside the archive's
    own transaction (:data:`ARCHIVE_BYPASS`), so it is empty whenever anyone else looks;
    ``flask evidence verify`` reports a row left in it."""

    __tablename__ = "evidence_retention_open"

    batch_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class RetentionDecision(db.Model):
    """保存期間の満了による削除: a recorded decision to archive stored evidence to a file and
    delete it from the store (``flask evidence archive``). Append-only. The batch records stay
    (the chain and the log's leaves are unchanged); only their rows leave."""

    __tablename__ = "evidence_retention_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: the operator named with ``--by``
    decided_by: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.Text)
    #: rows before this JST day were archived (whole batches only)
    before: Mapped[date]
    #: the feed kinds archived, and the retention in years each had then
    retention: Mapped[dict] = mapped_column(JSONType)
    #: archived although ``before`` was within a kind's retention (``--force-retention``)
    forced: Mapped[bool] = mapped_column(default=False)
    batches: Mapped[int]
    rows: Mapped[int]
    #: the chain hash of the last archived batch: the head the remaining chain continues from
    head_hash: Mapped[str] = mapped_column(sa.String(64))
    #: the signed checkpoint the archive's inclusion proofs lead to
    checkpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("evidence_checkpoints.id"))
    archive_name: Mapped[str] = mapped_column(sa.String(400))
    archive_sha256: Mapped[str] = mapped_column(sa.String(64))


guard(
    RetentionDecision.__table__,
    "evidence_retention_decisions_append_only",
    message="retention decisions are append-only",
)


class RetentionBatch(db.Model):
    """A batch whose rows a retention decision archived and deleted. Append-only."""

    __tablename__ = "evidence_retention_batches"

    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("evidence_batches.id"), primary_key=True, autoincrement=False)
    decision_id: Mapped[int] = mapped_column(sa.ForeignKey("evidence_retention_decisions.id"), index=True)


guard(RetentionBatch.__table__, "evidence_retention_batches_append_only", message="archived batches are append-only")


class AccessDay(db.Model):
    """Derived (not evidence): per system, user and JST day, what the access events show.

    Rebuilt from the events for the days a batch touches; the checks read it to find the
    few user-days worth looking at before touching the events themselves.
    """

    __tablename__ = "evidence_access_days"
    __table_args__ = (sa.Index("ix_evidence_access_days_day", "day"),)

    system: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    #: the UTC instants the JST day starts and ends (for range joins with the events)
    day_start: Mapped[datetime] = mapped_column(UTCDateTime())
    day_end: Mapped[datetime] = mapped_column(UTCDateTime())
    events: Mapped[int] = mapped_column(default=0)
    subjects: Mapped[int] = mapped_column(default=0)
    denied: Mapped[int] = mapped_column(default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogCheckpoint(db.Model):
    """A signed checkpoint of the evidence log: the Merkle tree over the sealed batches (in id
    order) at ``tree_size`` batches, signed with the log key (see :mod:`evidence.transparency`).

    The database keeps a copy for the portal and for ``verify``; what proves anything is the
    copies others keep (the portal publishes every checkpoint, and a configured directory may
    receive each one). Append-only.
    """

    __tablename__ = "evidence_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int]
    #: the Merkle tree's root hash (hex)
    root_hash: Mapped[str] = mapped_column(sa.String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: the signed note as published (C2SP tlog-checkpoint)
    note: Mapped[str] = mapped_column(sa.Text)
    #: SHA-256 fingerprint of the public key that signed it
    key_fingerprint: Mapped[str] = mapped_column(sa.String(80))


guard(LogCheckpoint.__table__, "evidence_checkpoints_append_only", message="checkpoints are append-only")


class LogLeaf(db.Model):
    """Derived: a sealed batch's leaf hash as the evidence log first signed it, so that signing
    and proving need not recompute every leaf. ``flask evidence verify`` recomputes every leaf
    from its batch and names each batch whose record no longer gives the hash kept here.
    Append-only; no foreign key (a deleted batch leaves its leaf behind, as evidence)."""

    __tablename__ = "evidence_log_leaves"

    batch_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: SHA-256(0x00 || canonical JSON of the batch record), hex
    leaf_hash: Mapped[str] = mapped_column(sa.String(64))


guard(LogLeaf.__table__, "evidence_log_leaves_append_only", message="log leaves are append-only")


class CheckConfig(db.Model):
    """Parameters of one check as an administrator set them (defaults live in ``checks``)."""

    __tablename__ = "evidence_check_configs"
    __audit__ = True

    check: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    severity: Mapped[str | None] = mapped_column(sa.String(10))
    params: Mapped[dict] = mapped_column(JSONType, default=dict)


DECISIONS = {
    "legitimate": "正当な業務",
    "investigate": "要調査",
    "suspicious": "不正の疑い",
    "false_positive": "誤検知",
    "case_concluded": "調査案件で結論済み",
}
#: what a person may choose on a finding; ``case_concluded`` is written only by concluding its case
MANUAL_DECISIONS = {k: v for k, v in DECISIONS.items() if k != "case_concluded"}
#: decisions that close a finding; the others leave it open
CLOSING_DECISIONS = ("legitimate", "false_positive", "case_concluded")
SEVERITIES = {"high": "高", "medium": "中", "low": "低"}


class Finding(db.Model):
    """What a check found; one row per stable key, so re-running keeps the triage."""

    __tablename__ = "evidence_findings"
    __table_args__ = (
        # the only index beside the primary key: lists and counts read findings by check
        # through it, and a municipality's findings (thousands) are filtered by day, user
        # or system in milliseconds without more, while each further index cost the
        # checks' bulk inserts 1.5-2 µs per finding on PostgreSQL (migration adecc29cceae)
        sa.UniqueConstraint("check", "key", name="uq_evidence_findings_check_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check: Mapped[str] = mapped_column(sa.String(40))
    #: stable key within the check, e.g. ``JUKI/ev-123`` or ``u0012/2025-05-01``
    key: Mapped[str] = mapped_column(sa.String(500))
    system: Mapped[str | None] = mapped_column(sa.String(32))
    user_id: Mapped[str | None] = mapped_column(sa.String(200))
    event_id: Mapped[str | None] = mapped_column(sa.String(200))
    record_id: Mapped[str | None] = mapped_column(sa.String(200))
    #: the JST day the finding is about (the event's day, the user-day, the record's day)
    day: Mapped[date | None] = mapped_column()
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    severity: Mapped[str] = mapped_column(sa.String(10))
    #: the facts the explanation is written from beyond the columns (thresholds, relation,
    #: business hours, …); an event finding's action, subject and result are its event's
    details: Mapped[dict] = mapped_column(JSONType, default=dict)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: the latest triage decision (None while nobody has decided; four values: not indexed)
    decision: Mapped[str | None] = mapped_column(sa.String(20))
    #: 解消: when a later run of its check over its day no longer produced it (a late feed
    #: showed the grant or the assignment, or the check's settings changed); None again if
    #: a run produces it again. The row and its triage are kept either way.
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    decisions: Mapped[list[TriageDecision]] = relationship(back_populates="finding", order_by="TriageDecision.id")
    #: the access event an event finding is about (events are append-only: it cannot change)
    event: Mapped[AccessEvent | None] = relationship(
        primaryjoin="and_(foreign(Finding.system) == AccessEvent.system, "
        "foreign(Finding.event_id) == AccessEvent.event_id)",
        viewonly=True,
        lazy="joined",
        uselist=False,
    )

    @property
    def facts(self) -> dict:
        """``details`` with, for an event finding, the event's action, subject and result."""
        return event_facts(self.details, self.event)

    @property
    def explanation(self) -> str:
        """The finding in one Japanese sentence, written from its facts."""
        from evidence.explain import explain

        return explain(self)

    @property
    def is_open(self) -> bool:
        """Still to be dealt with: 要調査 / 不正の疑い, or undecided and not 解消 (an auditor's
        decision to look into a finding stands even when later data clears it)."""
        if self.decision is None:
            return self.cleared_at is None
        return self.decision not in CLOSING_DECISIONS

    @classmethod
    def open_clause(cls, table=None):
        """SQL: the finding is open (see :attr:`is_open`); ``table`` for Core queries."""
        c = cls if table is None else table.c
        return sa.or_(sa.and_(c.decision.is_(None), c.cleared_at.is_(None)), c.decision.not_in(CLOSING_DECISIONS))

    @property
    def decision_label(self) -> str:
        return DECISIONS.get(self.decision, "未判断")


def event_facts(details: dict | None, event) -> dict:
    """The facts of a finding: its details, completed from its access event when it has one."""
    out = dict(details or {})
    if event is not None:
        for name in ("action", "subject_id", "result"):
            out.setdefault(name, getattr(event, name))
    return out


class TriageDecision(db.Model):
    """A decision on a finding, with its written reason. Append-only."""

    __tablename__ = "evidence_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(sa.ForeignKey("evidence_findings.id"), index=True)
    decision: Mapped[str] = mapped_column(sa.String(20))
    reason: Mapped[str] = mapped_column(sa.Text)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_by_name: Mapped[str] = mapped_column(sa.String(200))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    finding: Mapped[Finding] = relationship(back_populates="decisions")

    @property
    def label(self) -> str:
        return DECISIONS.get(self.decision, self.decision)


guard(TriageDecision.__table__, "evidence_decisions_append_only", message="triage decisions are append-only")
