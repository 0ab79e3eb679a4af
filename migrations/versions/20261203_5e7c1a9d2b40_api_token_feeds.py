"""api_tokens: feeds (the evidence feeds a system token may post)

A system token used to be able to post every feed, including the staff assignments,
relations and provision records every check relies on. Each token now carries the feeds it
may post; tokens issued before keep the default of a system token, access and grants.

Revision ID: 5e7c1a9d2b40
Revises: e8cce7676a69
Create Date: 2026-12-03 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5e7c1a9d2b40"
down_revision = "e8cce7676a69"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feeds", sa.String(length=200), nullable=True))
    op.execute("UPDATE api_tokens SET feeds = 'access,grants' WHERE system_code IS NOT NULL")


def downgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("feeds")
