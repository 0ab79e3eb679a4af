"""evidence retention: decisions, archived batches, and the archive's one bypass of the append-only triggers

``flask evidence archive`` (evidence.retention) writes old batches and their rows to a file and
deletes the rows. Three tables: ``evidence_retention_decisions`` (who, why, the range, the head
chain hash, the file's SHA-256; append-only), ``evidence_retention_batches`` (the batches each
decision archived; append-only) and ``evidence_retention_open`` (the batches an archive is
deleting, filled and emptied inside its own transaction). The seven feeds' append-only triggers
are recreated so that a DELETE passes only for a row whose batch is listed in
``evidence_retention_open``; any other DELETE (a DBA's included) is still refused.

Revision ID: 7d1e0d101de4
Revises: e5a1c0d2b7f4
Create Date: 2026-12-27 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import common.db
from common.db import drop_guard_sql, guard_sql

# revision identifiers, used by Alembic.
revision = "7d1e0d101de4"
down_revision = "e5a1c0d2b7f4"
branch_labels = None
depends_on = None

FEEDS = (
    "evidence_access",
    "evidence_grants",
    "evidence_assignments",
    "evidence_relations",
    "evidence_provisions",
    "evidence_transactions",
    "evidence_protections",
)
MESSAGE = "stored evidence is append-only"
#: as evidence.models.ARCHIVE_BYPASS when this revision was written
BYPASS = "EXISTS (SELECT 1 FROM evidence_retention_open o WHERE o.batch_id = OLD.batch_id)"


def _execute(statements) -> None:
    for stmt in statements[op.get_bind().dialect.name]:
        op.execute(stmt)


def _feed_guards(bypass: str | None) -> None:
    for table in FEEDS:
        name = f"{table}_append_only"
        drop_guard_sql(op.get_bind(), table, name)
        _execute(guard_sql(table, name, message=MESSAGE, delete_allowed_when=bypass))


def upgrade():
    op.create_table(
        "evidence_retention_open",
        sa.Column("batch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_evidence_retention_open")),
    )
    op.create_table(
        "evidence_retention_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decided_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("before", sa.Date(), nullable=False),
        sa.Column("retention", common.db.JSONType, nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("archive_name", sa.String(length=400), nullable=False),
        sa.Column("archive_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["evidence_checkpoints.id"],
            name=op.f("fk_evidence_retention_decisions_checkpoint_id_evidence_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_retention_decisions")),
    )
    _execute(
        guard_sql(
            "evidence_retention_decisions",
            "evidence_retention_decisions_append_only",
            message="retention decisions are append-only",
        )
    )
    op.create_table(
        "evidence_retention_batches",
        sa.Column("batch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["evidence_batches.id"], name=op.f("fk_evidence_retention_batches_batch_id_evidence_batches")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["evidence_retention_decisions.id"],
            name=op.f("fk_evidence_retention_batches_decision_id_evidence_retention_decisions"),
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_evidence_retention_batches")),
    )
    op.create_index(
        op.f("ix_evidence_retention_batches_decision_id"), "evidence_retention_batches", ["decision_id"], unique=False
    )
    _execute(
        guard_sql(
            "evidence_retention_batches",
            "evidence_retention_batches_append_only",
            message="archived batches are append-only",
        )
    )
    _feed_guards(BYPASS)


def downgrade():
    _feed_guards(None)
    bind = op.get_bind()
    drop_guard_sql(bind, "evidence_retention_batches", "evidence_retention_batches_append_only")
    op.drop_index(op.f("ix_evidence_retention_batches_decision_id"), table_name="evidence_retention_batches")
    op.drop_table("evidence_retention_batches")
    drop_guard_sql(bind, "evidence_retention_decisions", "evidence_retention_decisions_append_only")
    op.drop_table("evidence_retention_decisions")
    op.drop_table("evidence_retention_open")
