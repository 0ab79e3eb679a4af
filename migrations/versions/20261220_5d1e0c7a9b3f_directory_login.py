"""directory login: users.directory_dn marks an account that signs in through LDAP

An account with a ``directory_dn`` was created by its first sign-in through the 庁内
directory (common.directory); its roles and departments follow its groups at each
sign-in and it has no local password. Existing accounts stay local (NULL).

Revision ID: 5d1e0c7a9b3f
Revises: c3f0a8d41e57
Create Date: 2026-12-20 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5d1e0c7a9b3f"
down_revision = "c3f0a8d41e57"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("directory_dn", sa.String(length=1000), nullable=True))


def downgrade():
    op.drop_column("users", "directory_dn")
