"""evidence_transactions, evidence_protections, evidence_assignments.display_name

Two new feeds: 窓口・届出・請求の受付記録 (``transactions``: what explains an access) and
支援措置対象者 (``protections``: confidential). Stored evidence, append-only like the other
feeds (triggers refuse UPDATE and DELETE). The assignments feed gains the optional
``display_name`` (added with ``ADD COLUMN``: no table rebuild, the table's triggers stay).

Revision ID: 8e3b5d7f1a24
Revises: 6cea575a7d4e
Create Date: 2026-12-22 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import common.db
from common.db import drop_guard_sql, guard_sql

# revision identifiers, used by Alembic.
revision = "8e3b5d7f1a24"
down_revision = "6cea575a7d4e"
branch_labels = None
depends_on = None

MESSAGE = "stored evidence is append-only"


def _guard(table: str) -> None:
    for stmt in guard_sql(table, f"{table}_append_only", message=MESSAGE)[op.get_bind().dialect.name]:
        op.execute(stmt)


def upgrade():
    op.add_column("evidence_assignments", sa.Column("display_name", sa.String(length=200), nullable=True))
    op.create_table(
        "evidence_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=200), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("extra", common.db.JSONType, nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["evidence_batches.id"], name=op.f("fk_evidence_transactions_batch_id_evidence_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_transactions")),
        sa.UniqueConstraint("system", "transaction_id", name="uq_evidence_transactions_system_transaction"),
    )
    op.create_index(
        "ix_evidence_transactions_subject", "evidence_transactions", ["subject_id", "system", "occurred_at"]
    )
    op.create_index("ix_evidence_transactions_time", "evidence_transactions", ["system", "occurred_at"])
    _guard("evidence_transactions")
    op.create_table(
        "evidence_protections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("measure", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("extra", common.db.JSONType, nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["evidence_batches.id"], name=op.f("fk_evidence_protections_batch_id_evidence_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_protections")),
        sa.UniqueConstraint("row_hash", name=op.f("uq_evidence_protections_row_hash")),
    )
    op.create_index("ix_evidence_protections_subject", "evidence_protections", ["subject_id"])
    _guard("evidence_protections")


def downgrade():
    drop_guard_sql(op.get_bind(), "evidence_protections", "evidence_protections_append_only")
    op.drop_index("ix_evidence_protections_subject", table_name="evidence_protections")
    op.drop_table("evidence_protections")
    drop_guard_sql(op.get_bind(), "evidence_transactions", "evidence_transactions_append_only")
    op.drop_index("ix_evidence_transactions_time", table_name="evidence_transactions")
    op.drop_index("ix_evidence_transactions_subject", table_name="evidence_transactions")
    op.drop_table("evidence_transactions")
    op.drop_column("evidence_assignments", "display_name")  # no rebuild: the triggers stay
