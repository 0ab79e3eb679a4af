"""inventory records of each 事務: affair_systems and affair_pi_files

The 台帳 now says which 事務 use a system or hold a 特定個人情報ファイル, so that an
assessment can be checked against the 台帳 by identity (a record of its 事務 that it does
not name is 台帳と不一致). Existing data: the records a version of the 事務's assessments
was filled from (inventory_links) or named when published (inventory_snapshots).

Revision ID: 5e1d3c7a9b21
Revises: 9a66fd521e6a
Create Date: 2026-12-03 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5e1d3c7a9b21"
down_revision = "9a66fd521e6a"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "affair_systems",
        sa.Column("affair_id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["affair_id"], ["affairs.id"], name=op.f("fk_affair_systems_affair_id_affairs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_affair_systems_system_id_systems"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("affair_id", "system_id", name=op.f("pk_affair_systems")),
    )
    op.create_table(
        "affair_pi_files",
        sa.Column("affair_id", sa.Integer(), nullable=False),
        sa.Column("pi_file_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["affair_id"], ["affairs.id"], name=op.f("fk_affair_pi_files_affair_id_affairs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["pi_file_id"], ["pi_files.id"], name=op.f("fk_affair_pi_files_pi_file_id_pi_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("affair_id", "pi_file_id", name=op.f("pk_affair_pi_files")),
    )
    for table, column, kind, target in (
        ("affair_systems", "system_id", "system", "systems"),
        ("affair_pi_files", "pi_file_id", "pi_file", "pi_files"),
    ):
        for source in ("inventory_links", "inventory_snapshots"):
            op.execute(
                f"INSERT INTO {table} (affair_id, {column}) "
                f"SELECT DISTINCT a.affair_id, s.object_id FROM {source} s "
                f"JOIN assessment_versions v ON v.id = s.version_id "
                f"JOIN assessments a ON a.id = v.assessment_id "
                f"JOIN {target} t ON t.id = s.object_id "
                f"WHERE s.kind = '{kind}' AND NOT EXISTS (SELECT 1 FROM {table} x "
                f"WHERE x.affair_id = a.affair_id AND x.{column} = s.object_id)"
            )


def downgrade():
    op.drop_table("affair_pi_files")
    op.drop_table("affair_systems")
