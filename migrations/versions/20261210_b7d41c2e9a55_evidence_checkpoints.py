"""evidence_checkpoints and evidence_log_leaves: the evidence log's signed checkpoints and leaves

The Merkle tree over the sealed evidence batches is signed after imports and on demand
(``flask evidence checkpoint``); the database keeps each signed note for the portal and for
``flask evidence verify``, and each batch's leaf hash as first signed (derived; ``verify``
recomputes and compares). Rows never change: triggers refuse UPDATE and DELETE.

Revision ID: b7d41c2e9a55
Revises: 5e7c1a9d2b40
Create Date: 2026-12-10 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import common.db
from common.db import drop_guard_sql, guard_sql

# revision identifiers, used by Alembic.
revision = "b7d41c2e9a55"
down_revision = "5e7c1a9d2b40"
branch_labels = None
depends_on = None

GUARD = "evidence_checkpoints_append_only"
LEAVES_GUARD = "evidence_log_leaves_append_only"


def upgrade():
    op.create_table(
        "evidence_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_checkpoints")),
    )
    with op.batch_alter_table("evidence_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_checkpoints_signed_at"), ["signed_at"], unique=False)
    for stmt in guard_sql("evidence_checkpoints", GUARD, message="checkpoints are append-only")[
        op.get_bind().dialect.name
    ]:
        op.execute(stmt)
    op.create_table(
        "evidence_log_leaves",
        sa.Column("batch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_evidence_log_leaves")),
    )
    for stmt in guard_sql("evidence_log_leaves", LEAVES_GUARD, message="log leaves are append-only")[
        op.get_bind().dialect.name
    ]:
        op.execute(stmt)


def downgrade():
    drop_guard_sql(op.get_bind(), "evidence_log_leaves", LEAVES_GUARD)
    op.drop_table("evidence_log_leaves")
    drop_guard_sql(op.get_bind(), "evidence_checkpoints", GUARD)
    with op.batch_alter_table("evidence_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_checkpoints_signed_at"))
    op.drop_table("evidence_checkpoints")
