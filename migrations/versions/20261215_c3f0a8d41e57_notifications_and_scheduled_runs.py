"""notifications by mail: each user's address and choices; notifications kept once; the tick's daily runs

users.email, users.notify_mode (immediate | digest), users.notify_off (the kinds turned off).
notifications: one row per notification and person, unique on dedupe_key (the event and the
person), so that running ``flask tick`` again never sends a notification twice.
scheduled_runs: (job, day) of the daily jobs of ``flask tick`` (the evidence checkpoint and
check run, each person's digest), so that each runs once a day.

Columns are added to users with ALTER TABLE ... ADD COLUMN (no batch copy: a copy of users
would delete each user's roles and departments through their ON DELETE CASCADE keys).

Revision ID: c3f0a8d41e57
Revises: b7d41c2e9a55
Create Date: 2026-12-15 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import common.db

# revision identifiers, used by Alembic.
revision = "c3f0a8d41e57"
down_revision = "b7d41c2e9a55"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("email", sa.String(length=254), nullable=True))
    op.add_column("users", sa.Column("notify_mode", sa.String(length=10), server_default="immediate", nullable=False))
    op.add_column(
        "users", sa.Column("notify_off", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), server_default="", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_sent_at"), ["sent_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_user_id"), ["user_id"], unique=False)
    op.create_table(
        "scheduled_runs",
        sa.Column("job", sa.String(length=80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "day", name=op.f("pk_scheduled_runs")),
    )


def downgrade():
    op.drop_table("scheduled_runs")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_user_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_sent_at"))
    op.drop_table("notifications")
    op.drop_column("users", "notify_off")
    op.drop_column("users", "notify_mode")
    op.drop_column("users", "email")
