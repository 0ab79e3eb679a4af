"""consultations: the draft as put out for comment, and closing before the end of the period

A consultation now keeps the draft it put out (the JSON text of the version's document as
shown when it opened, with its SHA-256): the public 評価書の案 page and PDF show that, not
the live draft. Closing before the end of the period records closed_early and needs a
特段の理由 (early_close_reason), printed in section VI.

Consultations already opened get a snapshot of their version's document as it is now (the
frozen document of a submitted or published version, else the draft's current content),
flagged snapshot_reconstructed. Those closed on or before their end date (Japan time) are
marked closed_early, without a reason: the 意見聴取 step of their version then asks for one.
Nothing published changes (assessment versions are only read).

Revision ID: 9261d149f318
Revises: 5e1d3c7a9b21
Create Date: 2026-12-03 12:00:00

"""

from datetime import UTC

import sqlalchemy as sa
from alembic import op

from common.db import JSONType, UTCDateTime, drop_guard_sql, guard_sql
from common.timeutil import to_jst
from consultation.models import SNAPSHOT_GUARD, SNAPSHOT_GUARD_ARGS, snapshot_digest, snapshot_text

# revision identifiers, used by Alembic.
revision = "9261d149f318"
down_revision = "5e1d3c7a9b21"
branch_labels = None
depends_on = None

_consultations = sa.table(
    "consultations",
    sa.column("id", sa.Integer),
    sa.column("version_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("end_date", sa.Date),
    sa.column("closed_at", UTCDateTime()),
    sa.column("closed_early", sa.Boolean),
    sa.column("draft_snapshot", sa.Text),
    sa.column("draft_sha256", sa.String),
    sa.column("snapshot_reconstructed", sa.Boolean),
)
_versions = sa.table("assessment_versions", sa.column("id", sa.Integer), sa.column("document", JSONType))


def upgrade():
    with op.batch_alter_table("consultations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_early", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("early_close_reason", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("draft_snapshot", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("draft_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("snapshot_reconstructed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _consultations.c.id,
            _consultations.c.status,
            _consultations.c.end_date,
            _consultations.c.closed_at,
            _versions.c.document,
        )
        .join(_versions, _versions.c.id == _consultations.c.version_id)
        .where(_consultations.c.status != "scheduled")
    ).all()
    for row in rows:
        text = snapshot_text(row.document or {})
        closed_at = row.closed_at
        if closed_at is not None and closed_at.tzinfo is None:
            closed_at = closed_at.replace(tzinfo=UTC)
        early = (
            row.status in ("closed", "reported") and closed_at is not None and to_jst(closed_at).date() <= row.end_date
        )
        bind.execute(
            _consultations.update()
            .where(_consultations.c.id == row.id)
            .values(
                draft_snapshot=text, draft_sha256=snapshot_digest(text), snapshot_reconstructed=True, closed_early=early
            )
        )
    for stmt in guard_sql("consultations", SNAPSHOT_GUARD, **SNAPSHOT_GUARD_ARGS).get(bind.dialect.name, []):
        op.execute(stmt)


def downgrade():
    drop_guard_sql(op.get_bind(), "consultations", SNAPSHOT_GUARD, operations=("UPDATE",))
    with op.batch_alter_table("consultations", schema=None) as batch_op:
        batch_op.drop_column("snapshot_reconstructed")
        batch_op.drop_column("draft_sha256")
        batch_op.drop_column("draft_snapshot")
        batch_op.drop_column("early_close_reason")
        batch_op.drop_column("closed_early")
