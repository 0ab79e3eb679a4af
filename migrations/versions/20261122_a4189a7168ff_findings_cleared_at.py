"""findings: cleared_at (解消 when a later run no longer produces them)

A run of a check over a period marks the period's findings it no longer produces (a late
feed showed the grant or the assignment, or the check's settings changed) and unmarks them
when they come back. The rows and their triage are kept.

Revision ID: a4189a7168ff
Revises: adecc29cceae
Create Date: 2026-11-22 10:55:54.655779

"""

import sqlalchemy as sa
from alembic import op

import common.db

# revision identifiers, used by Alembic.
revision = "a4189a7168ff"
down_revision = "adecc29cceae"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evidence_findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cleared_at", common.db.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("evidence_findings", schema=None) as batch_op:
        batch_op.drop_column("cleared_at")
