"""findings: the key is their only index

The checks store thousands of findings in one INSERT ... SELECT; on PostgreSQL each index
cost 1.5-2 µs per finding (the three dropped here: about a third of the check suite's time
over 1M events). Lists and counts read findings by check through the (check, key) key;
a municipality's findings are filtered by day, user or system in milliseconds without them.

Revision ID: adecc29cceae
Revises: 9670c7a841a2
Create Date: 2026-11-22 10:43:31.563509

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "adecc29cceae"
down_revision = "9670c7a841a2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evidence_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_findings_check_day"))
        batch_op.drop_index(batch_op.f("ix_evidence_findings_day"))
        batch_op.drop_index(batch_op.f("ix_evidence_findings_user_id"))


def downgrade():
    with op.batch_alter_table("evidence_findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_findings_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_findings_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_findings_check_day"), ["check", "day"], unique=False)
