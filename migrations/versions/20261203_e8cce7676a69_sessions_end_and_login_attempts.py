"""sessions end on logout and password change; failed sign-ins counted per typed name

users.session_epoch: kept in each session at sign-in and compared on every request;
logout, a password change or reset, a change of roles and disabling raise it, which ends
every session of the user (common.auth.end_sessions). Sessions signed in before this
revision carry no epoch and end once: everyone signs in again after the upgrade.

login_attempts: failures and lockouts per typed login name (a keyed digest of it), for
names no user has as well, so that the lockout does not tell which names exist. It
replaces users.failed_logins and users.locked_until; lockouts running at the upgrade are
lifted (they last 15 minutes).

The users columns are dropped with ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch
copy of users would delete each user's roles and departments through their ON DELETE
CASCADE foreign keys.

Revision ID: e8cce7676a69
Revises: 9261d149f318
Create Date: 2026-12-03 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import common.db

# revision identifiers, used by Alembic.
revision = "e8cce7676a69"
down_revision = "9261d149f318"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
    op.drop_column("users", "failed_logins")
    op.drop_column("users", "locked_until")
    op.create_table(
        "login_attempts",
        sa.Column("name_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name_hash", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempts_last_failed_at"), ["last_failed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_last_failed_at"))
    op.drop_table("login_attempts")
    op.add_column("users", sa.Column("locked_until", common.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
    op.drop_column("users", "session_epoch")
