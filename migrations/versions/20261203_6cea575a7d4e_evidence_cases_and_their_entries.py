"""evidence_cases and evidence_case_entries: 調査案件, append-only

An auditor opens a case about one staff account from its findings; every later step (a
finding accepted, an assignee named, a note, the conclusion) is a new entry. Rows never
change: triggers refuse UPDATE and DELETE on both tables, as on the stored evidence.

Revision ID: 6cea575a7d4e
Revises: 5d1e0c7a9b3f
Create Date: 2026-12-03 17:42:34.455944

"""

import sqlalchemy as sa
from alembic import op

import common.db
from common.db import drop_guard_sql, guard_sql

# revision identifiers, used by Alembic.
revision = "6cea575a7d4e"
down_revision = "5d1e0c7a9b3f"
branch_labels = None
depends_on = None

CASES_GUARD = "evidence_cases_append_only"
ENTRIES_GUARD = "evidence_case_entries_append_only"


def _guard(table, name, message):
    for stmt in guard_sql(table, name, message=message)[op.get_bind().dialect.name]:
        op.execute(stmt)


def upgrade():
    op.create_table(
        "evidence_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("opened_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_by_id", sa.Integer(), nullable=True),
        sa.Column("opened_by_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["opened_by_id"], ["users.id"], name=op.f("fk_evidence_cases_opened_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_cases")),
    )
    with op.batch_alter_table("evidence_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_cases_user_id"), ["user_id"], unique=False)

    op.create_table(
        "evidence_case_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("assignee_name", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], name=op.f("fk_evidence_case_entries_assignee_id_users")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["evidence_cases.id"], name=op.f("fk_evidence_case_entries_case_id_evidence_cases")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_evidence_case_entries_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["evidence_findings.id"], name=op.f("fk_evidence_case_entries_finding_id_evidence_findings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_case_entries")),
    )
    with op.batch_alter_table("evidence_case_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_case_entries_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_case_entries_finding_id"), ["finding_id"], unique=False)

    _guard("evidence_cases", CASES_GUARD, "cases are append-only")
    _guard("evidence_case_entries", ENTRIES_GUARD, "case entries are append-only")


def downgrade():
    drop_guard_sql(op.get_bind(), "evidence_case_entries", ENTRIES_GUARD)
    drop_guard_sql(op.get_bind(), "evidence_cases", CASES_GUARD)
    with op.batch_alter_table("evidence_case_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_case_entries_finding_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_case_entries_case_id"))

    op.drop_table("evidence_case_entries")
    with op.batch_alter_table("evidence_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_cases_user_id"))

    op.drop_table("evidence_cases")
