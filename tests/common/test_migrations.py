"""Migrations: one head, an empty database upgrades to head, no drift from the models."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from common.db import TRIGGERS, db


def _script(app):
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def test_single_head(app):
    assert len(_script(app).get_heads()) == 1


@pytest.fixture
def empty_app(app, engine_name):
    """The same app on an empty database (all tables dropped)."""
    with db.engine.begin() as conn:
        if engine_name == "postgresql":
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        else:
            names = [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for name in names:
                conn.exec_driver_sql(f'DROP TABLE "{name}"')
    yield app
    if engine_name == "postgresql":  # leave the schema as the other tests expect it
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        db.create_all()


def test_upgrade_empty_database_to_head_without_drift(empty_app, engine_name):
    upgrade()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        assert context.get_current_revision() == _script(empty_app).get_current_head()
        if engine_name == "sqlite":
            triggers = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")}
        else:
            triggers = {r[0] for r in conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    for _table, name, _stmts in TRIGGERS:
        assert any(t.startswith(name) for t in triggers), f"trigger {name} missing after upgrade"


def insert_row(conn, table_name: str, **values) -> int:
    """Insert a row into ``table_name`` as the database stands now (an older schema), filling the
    required columns the test does not care about; returns the new id."""
    from datetime import date, datetime

    reflected = {c["name"]: c for c in sa.inspect(conn).get_columns(table_name)}
    model = db.metadata.tables[table_name]
    # the model's column where it still has one (its type binds JSON and dates), else the old one
    columns = [
        model.columns[name]
        if name in model.columns
        else sa.Column(name, info["type"], nullable=info["nullable"], default=None)
        for name, info in reflected.items()
    ]
    row = dict(values)
    for column in columns:
        if column.name in row or column.primary_key or column.nullable:
            continue
        default = column.default.arg if column.default is not None and not callable(column.default.arg) else None
        if default is None:
            kind = column.type.impl if isinstance(column.type, sa.types.TypeDecorator) else column.type
            for type_, value in (
                (sa.JSON, {}),
                (sa.DateTime, datetime(2025, 1, 1, tzinfo=UTC)),
                (sa.Date, date(2025, 1, 1)),
                (sa.Boolean, False),
                (sa.Integer, 0),
                (sa.Float, 0.0),
                (sa.String, ""),
            ):
                if isinstance(kind, type_):
                    default = value
                    break
        row[column.name] = default
    table = sa.table(table_name, *[sa.column(c.name, c.type) for c in columns])
    return conn.execute(table.insert().values(**row).returning(table.c.id)).scalar_one()


def test_existing_review_sessions_get_the_text_they_reviewed(empty_app):
    """Sessions recorded before review rounds existed are linked to their version's text."""
    from flask_migrate import upgrade as upgrade_to

    upgrade_to(revision="00eea44c9be2")
    document = {"basic": {"other_bodies": "審議された記載"}}
    with db.engine.begin() as conn:
        dept = insert_row(conn, "departments", code="d1", name="住民情報課")
        affair = insert_row(conn, "affairs", code="juki", name="住民基本台帳に関する事務", department_id=dept)
        assessment = insert_row(conn, "assessments", affair_id=affair, form="zenkoumoku", title="評価書")
        version = insert_row(
            conn,
            "assessment_versions",
            assessment_id=assessment,
            number=1,
            edition="2024",
            status="draft",
            document=document,
        )
        body = insert_row(conn, "review_bodies", name="審議会")
        session = insert_row(conn, "review_sessions", version_id=version, body_id=body, result="可")
    upgrade()
    with db.engine.connect() as conn:
        rounds = conn.execute(sa.text("SELECT id, version_id, reconstructed, document_sha256 FROM review_rounds")).all()
        linked = conn.execute(
            sa.text("SELECT round_id FROM review_sessions WHERE id = :id"), {"id": session}
        ).scalar_one()
    from pia.review.services import document_digest

    assert [(r.version_id, bool(r.reconstructed), r.document_sha256) for r in rounds] == [
        (version, True, document_digest(document))
    ]
    assert linked == rounds[0].id


def test_consultations_opened_before_get_a_reconstructed_snapshot(empty_app, engine_name):
    """20261203 (consultations keep their draft): an opened consultation gets its version's
    document as a snapshot, flagged reconstructed; one closed before its end date is marked
    closed early (without a reason); a scheduled one gets none; published versions stay."""
    from datetime import date, datetime

    from consultation.models import snapshot_digest, snapshot_text

    upgrade(revision="00eea44c9be2")
    published_doc = {"cover": {"name": "公表済みの評価書"}, "procedure": {"consultation": {"method": "公表時の記載"}}}
    draft_doc = {"cover": {"name": "作成中の評価書"}, "basic": {"affair": {"description": "現在の案"}}}
    with db.engine.begin() as conn:
        department = insert_row(conn, "departments", code="juminjoho", name="住民情報課")
        affair = insert_row(conn, "affairs", code="juki", name="住民基本台帳に関する事務", department_id=department)
        assessment = insert_row(conn, "assessments", affair_id=affair, form="zenkoumoku", title="評価書")
        published = insert_row(
            conn,
            "assessment_versions",
            assessment_id=assessment,
            number=1,
            edition="2024",
            status="published",
            document=published_doc,
            submitted_on=date(2026, 11, 30),
            published_on=date(2026, 12, 1),
        )
        draft = insert_row(
            conn,
            "assessment_versions",
            assessment_id=assessment,
            number=2,
            edition="2024",
            status="draft",
            document=draft_doc,
        )
        # closed on its first day (2026-12-03 09:00 JST), period to 2027-01-01: closed early
        early = insert_row(
            conn,
            "consultations",
            version_id=published,
            title="早く締め切った募集",
            status="reported",
            start_date=date(2026, 12, 3),
            end_date=date(2027, 1, 1),
            closed_at=datetime(2026, 12, 3, 0, 0, tzinfo=UTC),
        )
        # closed the day after its period (2025-12-12 00:30 JST = 2025-12-11 15:30 UTC)
        normal = insert_row(
            conn,
            "consultations",
            version_id=draft,
            title="期間どおりの募集",
            status="closed",
            start_date=date(2025, 11, 12),
            end_date=date(2025, 12, 11),
            closed_at=datetime(2025, 12, 11, 15, 30, tzinfo=UTC),
        )
        opened = insert_row(
            conn,
            "consultations",
            version_id=draft,
            title="募集中",
            status="open",
            start_date=date(2026, 12, 1),
            end_date=date(2026, 12, 30),
        )
        scheduled = insert_row(
            conn,
            "consultations",
            version_id=draft,
            title="募集前",
            status="scheduled",
            start_date=date(2027, 1, 1),
            end_date=date(2027, 1, 30),
        )
        versions_before = conn.execute(
            sa.text("SELECT id, status, document FROM assessment_versions ORDER BY id")
        ).all()
    upgrade()
    from consultation.models import Consultation

    rows = {c.id: c for c in db.session.execute(db.select(Consultation)).scalars()}
    for cid, doc in ((early, published_doc), (normal, draft_doc), (opened, draft_doc)):
        assert rows[cid].draft_snapshot == snapshot_text(doc)
        assert rows[cid].draft_sha256 == snapshot_digest(snapshot_text(doc))
        assert rows[cid].snapshot_reconstructed
    assert rows[early].closed_early and rows[early].early_close_reason == ""
    assert not rows[normal].closed_early and not rows[opened].closed_early
    assert rows[scheduled].draft_snapshot is None and not rows[scheduled].snapshot_reconstructed
    with db.engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT id, status, document FROM assessment_versions ORDER BY id")).all()
            == versions_before
        )
    with pytest.raises(sa.exc.DBAPIError), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE consultations SET draft_snapshot = 'x' WHERE id = :id"), {"id": early})
    db.session.remove()


def test_upgrading_keeps_every_row_of_the_tables_the_migrations_copy(empty_app, engine_name):
    """SQLite batch migrations copy a table and drop the old one: with foreign keys on, that
    deleted the children of consultations (ON DELETE CASCADE) or failed on review sessions.
    Upgrading a database holding opinions, findings and users keeps every row."""
    from datetime import date

    from flask_migrate import upgrade as upgrade_to

    upgrade_to(revision="00eea44c9be2")
    with db.engine.begin() as conn:
        dept = insert_row(conn, "departments", code="d1", name="住民情報課")
        user = insert_row(conn, "users", username="officer", display_name="担当", password_hash="x", failed_logins=0)
        conn.execute(sa.text("INSERT INTO user_roles (user_id, role) VALUES (:u, 'officer')"), {"u": user})
        affair = insert_row(conn, "affairs", code="juki", name="住民基本台帳に関する事務", department_id=dept)
        assessment = insert_row(conn, "assessments", affair_id=affair, form="zenkoumoku", title="評価書")
        version = insert_row(
            conn,
            "assessment_versions",
            assessment_id=assessment,
            number=1,
            edition="2024",
            status="draft",
            document={"basic": {}},
        )
        body = insert_row(conn, "review_bodies", name="審議会")
        session = insert_row(conn, "review_sessions", version_id=version, body_id=body, result="可")
        insert_row(conn, "review_findings", version_id=version, session_id=session, text="指摘")
        consultation = insert_row(
            conn,
            "consultations",
            version_id=version,
            title="意見募集",
            status="open",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 30),
            places=[],
            channels=[],
            channel_info={},
            form_fields={},
            categories=[],
        )
        submission = insert_row(
            conn,
            "consultation_submissions",
            consultation_id=consultation,
            channel="web",
            received_on=date(2026, 1, 5),
            receipt_number="R1",
        )
        insert_row(
            conn,
            "consultation_opinions",
            consultation_id=consultation,
            submission_id=submission,
            summary="意見",
            position=1,
            number=1,
        )
    tables = (
        "users",
        "user_roles",
        "review_sessions",
        "review_findings",
        "consultations",
        "consultation_submissions",
        "consultation_opinions",
        "assessment_versions",
    )

    def counts():
        with db.engine.connect() as conn:
            return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}

    before = counts()
    assert all(before.values()), before
    db.engine.dispose()  # fresh connections, with foreign keys on as common.db sets them
    upgrade()
    assert counts() == before
