"""domain models: assessments, inventory, review, consultation, evidence, publication

Revision ID: b320e0fecbf2
Revises: 4c5cfea49d26
Create Date: 2026-11-22 06:03:21.315241

"""

import sqlalchemy as sa
from alembic import op

import common.db

# revision identifiers, used by Alembic.
revision = "b320e0fecbf2"
down_revision = "4c5cfea49d26"
branch_labels = None
depends_on = None


#: database guards (triggers) created with these tables; literal so this revision never changes
GUARD_SQL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION assessment_versions_frozen_fn() RETURNS trigger AS $$ BEGIN IF "
        "OLD.status IN ('submitted', 'published') AND NOT (OLD.status = 'submitted' AND NEW.status = "
        "'published' AND NEW.id IS NOT DISTINCT FROM OLD.id AND NEW.assessment_id IS NOT DISTINCT "
        "FROM OLD.assessment_id AND NEW.number IS NOT DISTINCT FROM OLD.number AND NEW.edition IS "
        "NOT DISTINCT FROM OLD.edition AND NEW.document IS NOT DISTINCT FROM OLD.document AND "
        "NEW.created_at IS NOT DISTINCT FROM OLD.created_at AND NEW.submitted_on IS NOT DISTINCT "
        "FROM OLD.submitted_on AND NEW.revision IS NOT DISTINCT FROM OLD.revision AND "
        "NEW.base_version_id IS NOT DISTINCT FROM OLD.base_version_id AND NEW.change_kind IS NOT "
        "DISTINCT FROM OLD.change_kind AND NEW.note IS NOT DISTINCT FROM OLD.note AND "
        "NEW.created_by_id IS NOT DISTINCT FROM OLD.created_by_id AND NEW.updated_at IS NOT DISTINCT "
        "FROM OLD.updated_at AND NEW.updated_by_id IS NOT DISTINCT FROM OLD.updated_by_id AND "
        "NEW.submitted_by_id IS NOT DISTINCT FROM OLD.submitted_by_id) THEN RAISE EXCEPTION "
        "'submitted and published versions cannot change'; END IF; IF TG_OP = 'DELETE' THEN RETURN "
        "OLD; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER assessment_versions_frozen BEFORE UPDATE ON assessment_versions FOR EACH ROW "
        "EXECUTE FUNCTION assessment_versions_frozen_fn()",
        "CREATE OR REPLACE FUNCTION assessment_versions_keep_fn() RETURNS trigger AS $$ BEGIN IF "
        "OLD.status IN ('submitted', 'published') THEN RAISE EXCEPTION 'submitted and published "
        "versions cannot be deleted'; END IF; IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN "
        "NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER assessment_versions_keep BEFORE DELETE ON assessment_versions FOR EACH ROW "
        "EXECUTE FUNCTION assessment_versions_keep_fn()",
        "CREATE OR REPLACE FUNCTION system_revisions_immutable_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'system history cannot change'; IF TG_OP = 'DELETE' THEN RETURN OLD; END "
        "IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER system_revisions_immutable BEFORE UPDATE ON system_revisions FOR EACH ROW "
        "EXECUTE FUNCTION system_revisions_immutable_fn()",
        "CREATE OR REPLACE FUNCTION pi_file_revisions_immutable_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'file history cannot change'; IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; "
        "RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER pi_file_revisions_immutable BEFORE UPDATE ON pi_file_revisions FOR EACH ROW "
        "EXECUTE FUNCTION pi_file_revisions_immutable_fn()",
        "CREATE OR REPLACE FUNCTION inventory_snapshots_immutable_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'inventory snapshots cannot change'; IF TG_OP = 'DELETE' THEN RETURN OLD; "
        "END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER inventory_snapshots_immutable BEFORE UPDATE ON inventory_snapshots FOR EACH "
        "ROW EXECUTE FUNCTION inventory_snapshots_immutable_fn()",
        "CREATE OR REPLACE FUNCTION published_documents_frozen_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'published documents cannot change'; IF TG_OP = 'DELETE' THEN RETURN OLD; "
        "END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER published_documents_frozen BEFORE UPDATE ON published_documents FOR EACH ROW "
        "EXECUTE FUNCTION published_documents_frozen_fn()",
        "CREATE OR REPLACE FUNCTION evidence_batches_sealed_fn() RETURNS trigger AS $$ BEGIN IF "
        "OLD.chain_hash IS NOT NULL THEN RAISE EXCEPTION 'sealed evidence batches cannot change'; "
        "END IF; IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_batches_sealed BEFORE UPDATE ON evidence_batches FOR EACH ROW "
        "EXECUTE FUNCTION evidence_batches_sealed_fn()",
        "CREATE OR REPLACE FUNCTION evidence_batches_kept_fn() RETURNS trigger AS $$ BEGIN RAISE "
        "EXCEPTION 'evidence batches cannot be deleted'; IF TG_OP = 'DELETE' THEN RETURN OLD; END "
        "IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_batches_kept BEFORE DELETE ON evidence_batches FOR EACH ROW EXECUTE "
        "FUNCTION evidence_batches_kept_fn()",
        "CREATE OR REPLACE FUNCTION evidence_access_append_only_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'stored evidence is append-only'; IF TG_OP = 'DELETE' THEN RETURN OLD; END "
        "IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_access_append_only BEFORE UPDATE OR DELETE ON evidence_access FOR "
        "EACH ROW EXECUTE FUNCTION evidence_access_append_only_fn()",
        "CREATE OR REPLACE FUNCTION evidence_grants_append_only_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'stored evidence is append-only'; IF TG_OP = 'DELETE' THEN RETURN OLD; END "
        "IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_grants_append_only BEFORE UPDATE OR DELETE ON evidence_grants FOR "
        "EACH ROW EXECUTE FUNCTION evidence_grants_append_only_fn()",
        "CREATE OR REPLACE FUNCTION evidence_assignments_append_only_fn() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'stored evidence is append-only'; IF TG_OP = 'DELETE' THEN RETURN "
        "OLD; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_assignments_append_only BEFORE UPDATE OR DELETE ON "
        "evidence_assignments FOR EACH ROW EXECUTE FUNCTION evidence_assignments_append_only_fn()",
        "CREATE OR REPLACE FUNCTION evidence_relations_append_only_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'stored evidence is append-only'; IF TG_OP = 'DELETE' THEN RETURN OLD; END "
        "IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_relations_append_only BEFORE UPDATE OR DELETE ON evidence_relations "
        "FOR EACH ROW EXECUTE FUNCTION evidence_relations_append_only_fn()",
        "CREATE OR REPLACE FUNCTION evidence_provisions_append_only_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'stored evidence is append-only'; IF TG_OP = 'DELETE' THEN RETURN OLD; END "
        "IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_provisions_append_only BEFORE UPDATE OR DELETE ON "
        "evidence_provisions FOR EACH ROW EXECUTE FUNCTION evidence_provisions_append_only_fn()",
        "CREATE OR REPLACE FUNCTION evidence_decisions_append_only_fn() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'triage decisions are append-only'; IF TG_OP = 'DELETE' THEN RETURN OLD; "
        "END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_decisions_append_only BEFORE UPDATE OR DELETE ON evidence_decisions "
        "FOR EACH ROW EXECUTE FUNCTION evidence_decisions_append_only_fn()",
    ],
    "sqlite": [
        "CREATE TRIGGER assessment_versions_frozen_update BEFORE UPDATE ON assessment_versions FOR EACH "
        "ROW WHEN OLD.status IN ('submitted', 'published') AND NOT (OLD.status = 'submitted' AND "
        "NEW.status = 'published' AND NEW.id IS NOT DISTINCT FROM OLD.id AND NEW.assessment_id IS NOT "
        "DISTINCT FROM OLD.assessment_id AND NEW.number IS NOT DISTINCT FROM OLD.number AND NEW.edition "
        "IS NOT DISTINCT FROM OLD.edition AND NEW.document IS NOT DISTINCT FROM OLD.document AND "
        "NEW.created_at IS NOT DISTINCT FROM OLD.created_at AND NEW.submitted_on IS NOT DISTINCT FROM "
        "OLD.submitted_on AND NEW.revision IS NOT DISTINCT FROM OLD.revision AND NEW.base_version_id IS "
        "NOT DISTINCT FROM OLD.base_version_id AND NEW.change_kind IS NOT DISTINCT FROM OLD.change_kind "
        "AND NEW.note IS NOT DISTINCT FROM OLD.note AND NEW.created_by_id IS NOT DISTINCT FROM "
        "OLD.created_by_id AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at AND NEW.updated_by_id "
        "IS NOT DISTINCT FROM OLD.updated_by_id AND NEW.submitted_by_id IS NOT DISTINCT FROM "
        "OLD.submitted_by_id) BEGIN SELECT RAISE(ABORT, 'submitted and published versions cannot "
        "change'); END",
        "CREATE TRIGGER assessment_versions_keep_delete BEFORE DELETE ON assessment_versions FOR EACH "
        "ROW WHEN OLD.status IN ('submitted', 'published') BEGIN SELECT RAISE(ABORT, 'submitted and "
        "published versions cannot be deleted'); END",
        "CREATE TRIGGER system_revisions_immutable_update BEFORE UPDATE ON system_revisions FOR EACH ROW "
        "BEGIN SELECT RAISE(ABORT, 'system history cannot change'); END",
        "CREATE TRIGGER pi_file_revisions_immutable_update BEFORE UPDATE ON pi_file_revisions FOR EACH "
        "ROW BEGIN SELECT RAISE(ABORT, 'file history cannot change'); END",
        "CREATE TRIGGER inventory_snapshots_immutable_update BEFORE UPDATE ON inventory_snapshots FOR "
        "EACH ROW BEGIN SELECT RAISE(ABORT, 'inventory snapshots cannot change'); END",
        "CREATE TRIGGER published_documents_frozen_update BEFORE UPDATE ON published_documents FOR EACH "
        "ROW BEGIN SELECT RAISE(ABORT, 'published documents cannot change'); END",
        "CREATE TRIGGER evidence_batches_sealed_update BEFORE UPDATE ON evidence_batches FOR EACH ROW "
        "WHEN OLD.chain_hash IS NOT NULL BEGIN SELECT RAISE(ABORT, 'sealed evidence batches cannot "
        "change'); END",
        "CREATE TRIGGER evidence_batches_kept_delete BEFORE DELETE ON evidence_batches FOR EACH ROW "
        "BEGIN SELECT RAISE(ABORT, 'evidence batches cannot be deleted'); END",
        "CREATE TRIGGER evidence_access_append_only_update BEFORE UPDATE ON evidence_access FOR EACH ROW "
        "BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_access_append_only_delete BEFORE DELETE ON evidence_access FOR EACH ROW "
        "BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_grants_append_only_update BEFORE UPDATE ON evidence_grants FOR EACH ROW "
        "BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_grants_append_only_delete BEFORE DELETE ON evidence_grants FOR EACH ROW "
        "BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_assignments_append_only_update BEFORE UPDATE ON evidence_assignments "
        "FOR EACH ROW BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_assignments_append_only_delete BEFORE DELETE ON evidence_assignments "
        "FOR EACH ROW BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_relations_append_only_update BEFORE UPDATE ON evidence_relations FOR "
        "EACH ROW BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_relations_append_only_delete BEFORE DELETE ON evidence_relations FOR "
        "EACH ROW BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_provisions_append_only_update BEFORE UPDATE ON evidence_provisions FOR "
        "EACH ROW BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_provisions_append_only_delete BEFORE DELETE ON evidence_provisions FOR "
        "EACH ROW BEGIN SELECT RAISE(ABORT, 'stored evidence is append-only'); END",
        "CREATE TRIGGER evidence_decisions_append_only_update BEFORE UPDATE ON evidence_decisions FOR "
        "EACH ROW BEGIN SELECT RAISE(ABORT, 'triage decisions are append-only'); END",
        "CREATE TRIGGER evidence_decisions_append_only_delete BEFORE DELETE ON evidence_decisions FOR "
        "EACH ROW BEGIN SELECT RAISE(ABORT, 'triage decisions are append-only'); END",
    ],
}
#: (table, guard name, SQLite trigger names)
GUARD_DROPS = [
    ("assessment_versions", "assessment_versions_frozen", ["assessment_versions_frozen_update"]),
    ("assessment_versions", "assessment_versions_keep", ["assessment_versions_keep_delete"]),
    ("system_revisions", "system_revisions_immutable", ["system_revisions_immutable_update"]),
    ("pi_file_revisions", "pi_file_revisions_immutable", ["pi_file_revisions_immutable_update"]),
    ("inventory_snapshots", "inventory_snapshots_immutable", ["inventory_snapshots_immutable_update"]),
    ("published_documents", "published_documents_frozen", ["published_documents_frozen_update"]),
    ("evidence_batches", "evidence_batches_sealed", ["evidence_batches_sealed_update"]),
    ("evidence_batches", "evidence_batches_kept", ["evidence_batches_kept_delete"]),
    (
        "evidence_access",
        "evidence_access_append_only",
        ["evidence_access_append_only_update", "evidence_access_append_only_delete"],
    ),
    (
        "evidence_grants",
        "evidence_grants_append_only",
        ["evidence_grants_append_only_update", "evidence_grants_append_only_delete"],
    ),
    (
        "evidence_assignments",
        "evidence_assignments_append_only",
        ["evidence_assignments_append_only_update", "evidence_assignments_append_only_delete"],
    ),
    (
        "evidence_relations",
        "evidence_relations_append_only",
        ["evidence_relations_append_only_update", "evidence_relations_append_only_delete"],
    ),
    (
        "evidence_provisions",
        "evidence_provisions_append_only",
        ["evidence_provisions_append_only_update", "evidence_provisions_append_only_delete"],
    ),
    (
        "evidence_decisions",
        "evidence_decisions_append_only",
        ["evidence_decisions_append_only_update", "evidence_decisions_append_only_delete"],
    ),
]


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "consultation_rate_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_rate_hits")),
    )
    with op.batch_alter_table("consultation_rate_hits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consultation_rate_hits_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_consultation_rate_hits_client_hash"), ["client_hash"], unique=False)

    op.create_table(
        "evidence_access_days",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("day_start", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("day_end", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("denied", sa.Integer(), nullable=False),
        sa.Column("first_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "user_id", "day", name=op.f("pk_evidence_access_days")),
    )
    with op.batch_alter_table("evidence_access_days", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_access_days_day", ["day"], unique=False)

    op.create_table(
        "evidence_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=400), nullable=False),
        sa.Column("system_code", sa.String(length=32), nullable=True),
        sa.Column("fmt", sa.String(length=10), nullable=False),
        sa.Column("received_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_stored", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("rows_digest", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("chain_hash", sa.String(length=64), nullable=True),
        sa.Column("first_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_batches")),
        sa.UniqueConstraint("chain_hash", name=op.f("uq_evidence_batches_chain_hash")),
    )
    with op.batch_alter_table("evidence_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_batches_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_batches_received_at"), ["received_at"], unique=False)

    op.create_table(
        "evidence_check_configs",
        sa.Column("check", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=True),
        sa.Column("params", common.db.JSONType, nullable=False),
        sa.PrimaryKeyConstraint("check", name=op.f("pk_evidence_check_configs")),
    )
    op.create_table(
        "evidence_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("record_id", sa.String(length=200), nullable=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("occurred_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("details", common.db.JSONType, nullable=False),
        sa.Column("found_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_findings")),
        sa.UniqueConstraint("check", "key", name="uq_evidence_findings_check_key"),
    )
    with op.batch_alter_table("evidence_findings", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_findings_check_day", ["check", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_findings_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_findings_decision"), ["decision"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_findings_system"), ["system"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_findings_user_id"), ["user_id"], unique=False)

    op.create_table(
        "review_bodies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("members", common.db.JSONType, nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_bodies")),
        sa.UniqueConstraint("name", name=op.f("uq_review_bodies_name")),
    )
    op.create_table(
        "affairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_affairs_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_affairs")),
        sa.UniqueConstraint("code", name=op.f("uq_affairs_code")),
    )
    op.create_table(
        "evidence_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=True),
        sa.Column("terminal", sa.String(length=200), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("extra", common.db.JSONType, nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["evidence_batches.id"], name=op.f("fk_evidence_access_batch_id_evidence_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_access")),
        sa.UniqueConstraint("system", "event_id", name="uq_evidence_access_system_event"),
    )
    with op.batch_alter_table("evidence_access", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_access_user_subject", ["user_id", "subject_id"], unique=False)
        batch_op.create_index("ix_evidence_access_user_time", ["system", "user_id", "occurred_at"], unique=False)

    op.create_table(
        "evidence_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("extra", common.db.JSONType, nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["evidence_batches.id"], name=op.f("fk_evidence_assignments_batch_id_evidence_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_assignments")),
        sa.UniqueConstraint("row_hash", name=op.f("uq_evidence_assignments_row_hash")),
    )
    with op.batch_alter_table("evidence_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_assignments_user", ["user_id"], unique=False)

    op.create_table(
        "evidence_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=200), nullable=False),
        sa.Column("decided_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_evidence_decisions_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["evidence_findings.id"], name=op.f("fk_evidence_decisions_finding_id_evidence_findings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_decisions")),
    )
    with op.batch_alter_table("evidence_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_decisions_finding_id"), ["finding_id"], unique=False)

    op.create_table(
        "evidence_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=200), nullable=False),
        sa.Column("granted_at", sa.Date(), nullable=False),
        sa.Column("revoked_at", sa.Date(), nullable=True),
        sa.Column("granted_by", sa.String(length=200), nullable=True),
        sa.Column("extra", common.db.JSONType, nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["evidence_batches.id"], name=op.f("fk_evidence_grants_batch_id_evidence_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_grants")),
        sa.UniqueConstraint("row_hash", name=op.f("uq_evidence_grants_row_hash")),
    )
    with op.batch_alter_table("evidence_grants", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_grants_key", ["system", "user_id"], unique=False)

    op.create_table(
        "evidence_provisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("counterpart", sa.String(length=300), nullable=False),
        sa.Column("table_item", sa.Integer(), nullable=False),
        sa.Column("info_item", sa.String(length=300), nullable=False),
        sa.Column("affair", sa.String(length=40), nullable=True),
        sa.Column("subject_id", sa.String(length=200), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("extra", common.db.JSONType, nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["evidence_batches.id"], name=op.f("fk_evidence_provisions_batch_id_evidence_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_provisions")),
        sa.UniqueConstraint("record_id", name=op.f("uq_evidence_provisions_record_id")),
    )
    with op.batch_alter_table("evidence_provisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_provisions_occurred_at"), ["occurred_at"], unique=False)

    op.create_table(
        "evidence_relations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("relation", sa.String(length=20), nullable=False),
        sa.Column("extra", common.db.JSONType, nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["evidence_batches.id"], name=op.f("fk_evidence_relations_batch_id_evidence_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_relations")),
        sa.UniqueConstraint("row_hash", name=op.f("uq_evidence_relations_row_hash")),
    )
    with op.batch_alter_table("evidence_relations", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_relations_user_subject", ["user_id", "subject_id"], unique=False)

    op.create_table(
        "pi_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("owner_department_id", sa.Integer(), nullable=True),
        sa.Column("file_kind", sa.String(length=60), nullable=False),
        sa.Column("record_items", common.db.JSONType, nullable=False),
        sa.Column("person_scope", sa.Text(), nullable=False),
        sa.Column("target_count", sa.String(length=40), nullable=False),
        sa.Column("person_count", sa.String(length=40), nullable=False),
        sa.Column("retention_period", sa.String(length=40), nullable=False),
        sa.Column("retention_note", sa.Text(), nullable=False),
        sa.Column("deletion_method", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_department_id"], ["departments.id"], name=op.f("fk_pi_files_owner_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pi_files")),
        sa.UniqueConstraint("code", name=op.f("uq_pi_files_code")),
    )
    op.create_table(
        "systems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("owner_department_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("hosting", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("abbreviation", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("functions", common.db.JSONType, nullable=False),
        sa.Column("numbering", sa.String(length=10), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("cloud_provider", sa.String(length=200), nullable=False),
        sa.Column("ismap", sa.String(length=20), nullable=False),
        sa.Column("ismap_number", sa.String(length=60), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_department_id"], ["departments.id"], name=op.f("fk_systems_owner_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems")),
        sa.UniqueConstraint("code", name=op.f("uq_systems_code")),
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("affair_id", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["affair_id"], ["affairs.id"], name=op.f("fk_assessments_affair_id_affairs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessments_affair_id"), ["affair_id"], unique=False)

    op.create_table(
        "pi_file_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pi_file_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("state", common.db.JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["pi_file_id"], ["pi_files.id"], name=op.f("fk_pi_file_revisions_pi_file_id_pi_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pi_file_revisions")),
        sa.UniqueConstraint("pi_file_id", "revision", name=op.f("uq_pi_file_revisions_pi_file_id")),
    )
    with op.batch_alter_table("pi_file_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pi_file_revisions_pi_file_id"), ["pi_file_id"], unique=False)

    op.create_table(
        "pi_file_systems",
        sa.Column("pi_file_id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pi_file_id"], ["pi_files.id"], name=op.f("fk_pi_file_systems_pi_file_id_pi_files"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_pi_file_systems_system_id_systems"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pi_file_id", "system_id", name=op.f("pk_pi_file_systems")),
    )
    op.create_table(
        "system_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("target_label", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("flows", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["systems.id"], name=op.f("fk_system_connections_source_id_systems"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["systems.id"], name=op.f("fk_system_connections_target_id_systems"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_connections")),
    )
    with op.batch_alter_table("system_connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_connections_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_system_connections_target_id"), ["target_id"], unique=False)

    op.create_table(
        "system_departments",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_system_departments_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_system_departments_system_id_systems"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("system_id", "department_id", name=op.f("pk_system_departments")),
    )
    op.create_table(
        "system_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("state", common.db.JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_system_revisions_system_id_systems"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_revisions")),
        sa.UniqueConstraint("system_id", "revision", name=op.f("uq_system_revisions_system_id")),
    )
    with op.batch_alter_table("system_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_revisions_system_id"), ["system_id"], unique=False)

    op.create_table(
        "threshold_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("affair_id", sa.Integer(), nullable=False),
        sa.Column("determined_on", sa.Date(), nullable=False),
        sa.Column("target_count", sa.Integer(), nullable=False),
        sa.Column("handlers", sa.Integer(), nullable=False),
        sa.Column("serious_incident", sa.Boolean(), nullable=False),
        sa.Column("incident_on", sa.Date(), nullable=True),
        sa.Column("incident_source", sa.Text(), nullable=False),
        sa.Column("forms", common.db.JSONType, nullable=False),
        sa.Column("rule_note", sa.Text(), nullable=False),
        sa.Column("rose", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["affair_id"], ["affairs.id"], name=op.f("fk_threshold_records_affair_id_affairs")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_threshold_records_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threshold_records")),
    )
    with op.batch_alter_table("threshold_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_threshold_records_affair_id"), ["affair_id"], unique=False)

    op.create_table(
        "assessment_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("edition", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("document", common.db.JSONType, nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=True),
        sa.Column("change_kind", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name=op.f("fk_assessment_versions_assessment_id_assessments")
        ),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_assessment_versions_base_version_id_assessment_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_assessment_versions_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"], ["users.id"], name=op.f("fk_assessment_versions_published_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_assessment_versions_submitted_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_assessment_versions_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_versions")),
        sa.UniqueConstraint("assessment_id", "number", name=op.f("uq_assessment_versions_assessment_id")),
    )
    with op.batch_alter_table("assessment_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessment_versions_assessment_id"), ["assessment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_assessment_versions_status"), ["status"], unique=False)

    op.create_table(
        "assessment_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("still_answered", sa.Boolean(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name=op.f("fk_assessment_actions_assessment_id_assessments")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_assessment_actions_version_id_assessment_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_actions")),
        sa.UniqueConstraint("assessment_id", "path", name=op.f("uq_assessment_actions_assessment_id")),
    )
    with op.batch_alter_table("assessment_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessment_actions_assessment_id"), ["assessment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_assessment_actions_status"), ["status"], unique=False)

    op.create_table(
        "assessment_change_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("timing", sa.String(length=4), nullable=True),
        sa.Column("timing_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_assessment_change_notes_version_id_assessment_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_change_notes")),
        sa.UniqueConstraint("version_id", "path", name=op.f("uq_assessment_change_notes_version_id")),
    )
    with op.batch_alter_table("assessment_change_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessment_change_notes_version_id"), ["version_id"], unique=False)

    op.create_table(
        "assessment_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name=op.f("fk_assessment_reviews_assessment_id_assessments")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_assessment_reviews_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_assessment_reviews_version_id_assessment_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_reviews")),
    )
    with op.batch_alter_table("assessment_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessment_reviews_assessment_id"), ["assessment_id"], unique=False)

    op.create_table(
        "assessment_search_texts",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_assessment_search_texts_assessment_id_assessments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_assessment_search_texts_version_id_assessment_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_assessment_search_texts")),
    )
    with op.batch_alter_table("assessment_search_texts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessment_search_texts_assessment_id"), ["assessment_id"], unique=False)

    op.create_table(
        "consultations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("shortened_reason", sa.Text(), nullable=False),
        sa.Column("places", common.db.JSONType, nullable=False),
        sa.Column("web_url", sa.String(length=500), nullable=False),
        sa.Column("channels", common.db.JSONType, nullable=False),
        sa.Column("channel_info", common.db.JSONType, nullable=False),
        sa.Column("eligibility", sa.Text(), nullable=False),
        sa.Column("form_fields", common.db.JSONType, nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("categories", common.db.JSONType, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_on", sa.Date(), nullable=True),
        sa.Column("reflection", sa.Text(), nullable=False),
        sa.Column("review_digest", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["reviewed_by_id"], ["users.id"], name=op.f("fk_consultations_reviewed_by_id_users")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["assessment_versions.id"], name=op.f("fk_consultations_version_id_assessment_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultations")),
    )
    with op.batch_alter_table("consultations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consultations_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_consultations_version_id"), ["version_id"], unique=False)

    op.create_table(
        "inventory_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_inventory_links_version_id_assessment_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_links")),
        sa.UniqueConstraint("version_id", "kind", "object_id", name=op.f("uq_inventory_links_version_id")),
    )
    with op.batch_alter_table("inventory_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_links_version_id"), ["version_id"], unique=False)

    op.create_table(
        "inventory_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("values", common.db.JSONType, nullable=False),
        sa.Column("taken_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_inventory_snapshots_version_id_assessment_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_snapshots")),
        sa.UniqueConstraint("version_id", "kind", "object_id", name=op.f("uq_inventory_snapshots_version_id")),
    )
    with op.batch_alter_table("inventory_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_snapshots_object_id"), ["object_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inventory_snapshots_version_id"), ["version_id"], unique=False)

    op.create_table(
        "published_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_published_documents_version_id_assessment_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_documents")),
        sa.UniqueConstraint("version_id", "kind", name=op.f("uq_published_documents_version_id")),
    )
    with op.batch_alter_table("published_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_published_documents_version_id"), ["version_id"], unique=False)

    op.create_table(
        "review_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("body_id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("minutes_file", sa.String(length=100), nullable=True),
        sa.Column("minutes_name", sa.String(length=200), nullable=True),
        sa.Column("minutes_size", sa.Integer(), nullable=True),
        sa.Column("minutes_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["body_id"], ["review_bodies.id"], name=op.f("fk_review_sessions_body_id_review_bodies")
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_review_sessions_created_by_id_users")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["assessment_versions.id"], name=op.f("fk_review_sessions_version_id_assessment_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_sessions")),
    )
    with op.batch_alter_table("review_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_sessions_version_id"), ["version_id"], unique=False)

    op.create_table(
        "consultation_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f("fk_consultation_groups_consultation_id_consultations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_groups")),
    )
    with op.batch_alter_table("consultation_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consultation_groups_consultation_id"), ["consultation_id"], unique=False)

    op.create_table(
        "review_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("item_path", sa.String(length=300), nullable=False),
        sa.Column("item_label", sa.String(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("responded_at", common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("responder_id", sa.Integer(), nullable=True),
        sa.Column("draft_changed", sa.Boolean(), nullable=False),
        sa.Column("change_version_id", sa.Integer(), nullable=True),
        sa.Column("change_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_review_findings_author_id_users")),
        sa.ForeignKeyConstraint(
            ["change_version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_review_findings_change_version_id_assessment_versions"),
        ),
        sa.ForeignKeyConstraint(["responder_id"], ["users.id"], name=op.f("fk_review_findings_responder_id_users")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["review_sessions.id"], name=op.f("fk_review_findings_session_id_review_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["assessment_versions.id"], name=op.f("fk_review_findings_version_id_assessment_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_findings")),
    )
    with op.batch_alter_table("review_findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_findings_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_findings_version_id"), ["version_id"], unique=False)

    op.create_table(
        "consultation_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("receipt_number", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("submitter_kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=300), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("similarity", sa.Double(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f("fk_consultation_submissions_consultation_id_consultations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_consultation_submissions_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["consultation_groups.id"],
            name=op.f("fk_consultation_submissions_group_id_consultation_groups"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_submissions")),
        sa.UniqueConstraint("consultation_id", "fingerprint", name=op.f("uq_consultation_submissions_consultation_id")),
        sa.UniqueConstraint("receipt_number", name=op.f("uq_consultation_submissions_receipt_number")),
    )
    with op.batch_alter_table("consultation_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consultation_submissions_consultation_id"), ["consultation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consultation_submissions_group_id"), ["group_id"], unique=False)

    op.create_table(
        "consultation_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["consultation_submissions.id"],
            name=op.f("fk_consultation_files_submission_id_consultation_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_files")),
    )
    with op.batch_alter_table("consultation_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consultation_files_submission_id"), ["submission_id"], unique=False)

    op.create_table(
        "consultation_opinions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("target_path", sa.String(length=300), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("change_version_id", sa.Integer(), nullable=True),
        sa.Column("change_path", sa.String(length=300), nullable=False),
        sa.Column("represented_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_version_id"],
            ["assessment_versions.id"],
            name=op.f("fk_consultation_opinions_change_version_id_assessment_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f("fk_consultation_opinions_consultation_id_consultations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["represented_by_id"],
            ["consultation_opinions.id"],
            name=op.f("fk_consultation_opinions_represented_by_id_consultation_opinions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["consultation_submissions.id"],
            name=op.f("fk_consultation_opinions_submission_id_consultation_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_opinions")),
    )
    with op.batch_alter_table("consultation_opinions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consultation_opinions_consultation_id"), ["consultation_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_consultation_opinions_represented_by_id"), ["represented_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consultation_opinions_submission_id"), ["submission_id"], unique=False)

    # ### end Alembic commands ###
    for stmt in GUARD_SQL.get(op.get_bind().dialect.name, []):
        op.execute(stmt)


def downgrade():
    bind = op.get_bind()
    for table, name, sqlite_triggers in reversed(GUARD_DROPS):
        if bind.dialect.name == "sqlite":
            for trigger in sqlite_triggers:
                op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        elif bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_fn()")
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("consultation_opinions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultation_opinions_submission_id"))
        batch_op.drop_index(batch_op.f("ix_consultation_opinions_represented_by_id"))
        batch_op.drop_index(batch_op.f("ix_consultation_opinions_consultation_id"))

    op.drop_table("consultation_opinions")
    with op.batch_alter_table("consultation_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultation_files_submission_id"))

    op.drop_table("consultation_files")
    with op.batch_alter_table("consultation_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultation_submissions_group_id"))
        batch_op.drop_index(batch_op.f("ix_consultation_submissions_consultation_id"))

    op.drop_table("consultation_submissions")
    with op.batch_alter_table("review_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_findings_version_id"))
        batch_op.drop_index(batch_op.f("ix_review_findings_session_id"))

    op.drop_table("review_findings")
    with op.batch_alter_table("consultation_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultation_groups_consultation_id"))

    op.drop_table("consultation_groups")
    with op.batch_alter_table("review_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_sessions_version_id"))

    op.drop_table("review_sessions")
    with op.batch_alter_table("published_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_published_documents_version_id"))

    op.drop_table("published_documents")
    with op.batch_alter_table("inventory_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_snapshots_version_id"))
        batch_op.drop_index(batch_op.f("ix_inventory_snapshots_object_id"))

    op.drop_table("inventory_snapshots")
    with op.batch_alter_table("inventory_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_links_version_id"))

    op.drop_table("inventory_links")
    with op.batch_alter_table("consultations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultations_version_id"))
        batch_op.drop_index(batch_op.f("ix_consultations_status"))

    op.drop_table("consultations")
    with op.batch_alter_table("assessment_search_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessment_search_texts_assessment_id"))

    op.drop_table("assessment_search_texts")
    with op.batch_alter_table("assessment_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessment_reviews_assessment_id"))

    op.drop_table("assessment_reviews")
    with op.batch_alter_table("assessment_change_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessment_change_notes_version_id"))

    op.drop_table("assessment_change_notes")
    with op.batch_alter_table("assessment_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessment_actions_status"))
        batch_op.drop_index(batch_op.f("ix_assessment_actions_assessment_id"))

    op.drop_table("assessment_actions")
    with op.batch_alter_table("assessment_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessment_versions_status"))
        batch_op.drop_index(batch_op.f("ix_assessment_versions_assessment_id"))

    op.drop_table("assessment_versions")
    with op.batch_alter_table("threshold_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threshold_records_affair_id"))

    op.drop_table("threshold_records")
    with op.batch_alter_table("system_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_revisions_system_id"))

    op.drop_table("system_revisions")
    op.drop_table("system_departments")
    with op.batch_alter_table("system_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_connections_target_id"))
        batch_op.drop_index(batch_op.f("ix_system_connections_source_id"))

    op.drop_table("system_connections")
    op.drop_table("pi_file_systems")
    with op.batch_alter_table("pi_file_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pi_file_revisions_pi_file_id"))

    op.drop_table("pi_file_revisions")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessments_affair_id"))

    op.drop_table("assessments")
    op.drop_table("systems")
    op.drop_table("pi_files")
    with op.batch_alter_table("evidence_relations", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_relations_user_subject")

    op.drop_table("evidence_relations")
    with op.batch_alter_table("evidence_provisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_provisions_occurred_at"))

    op.drop_table("evidence_provisions")
    with op.batch_alter_table("evidence_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_grants_key")

    op.drop_table("evidence_grants")
    with op.batch_alter_table("evidence_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_decisions_finding_id"))

    op.drop_table("evidence_decisions")
    with op.batch_alter_table("evidence_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_assignments_user")

    op.drop_table("evidence_assignments")
    with op.batch_alter_table("evidence_access", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_access_user_time")
        batch_op.drop_index("ix_evidence_access_user_subject")

    op.drop_table("evidence_access")
    op.drop_table("affairs")
    op.drop_table("review_bodies")
    with op.batch_alter_table("evidence_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_findings_user_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_findings_system"))
        batch_op.drop_index(batch_op.f("ix_evidence_findings_decision"))
        batch_op.drop_index(batch_op.f("ix_evidence_findings_day"))
        batch_op.drop_index("ix_evidence_findings_check_day")

    op.drop_table("evidence_findings")
    op.drop_table("evidence_check_configs")
    with op.batch_alter_table("evidence_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_batches_received_at"))
        batch_op.drop_index(batch_op.f("ix_evidence_batches_kind"))

    op.drop_table("evidence_batches")
    with op.batch_alter_table("evidence_access_days", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_access_days_day")

    op.drop_table("evidence_access_days")
    with op.batch_alter_table("consultation_rate_hits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultation_rate_hits_client_hash"))
        batch_op.drop_index(batch_op.f("ix_consultation_rate_hits_at"))

    op.drop_table("consultation_rate_hits")
    # ### end Alembic commands ###
