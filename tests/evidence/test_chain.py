"""verify notices direct edits of the database, even with the triggers dropped."""

from __future__ import annotations

import pytest

from common.db import db, drop_guard_sql
from evidence.chain import verify
from tests.evidence.conftest import access_csv

ROWS = ("e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,", "e2,2025-04-01T10:00:00+09:00,JUKI,u1,view,S2,T1,,")


@pytest.fixture
def three_batches(feed):
    ids = [
        feed("access", access_csv(*ROWS)).batch_id,
        feed("grants", "user_id,system,role,granted_at\nu1,JUKI,参照,2025-04-01\n").batch_id,
        feed("access", access_csv("e3,2025-04-02T09:00:00+09:00,JUKI,u2,view,S3,,,")).batch_id,
    ]
    assert verify().ok
    return ids


def _tamper(*statements):
    db.session.remove()
    with db.engine.begin() as conn:
        for table, name in (
            ("evidence_access", "evidence_access_append_only"),
            ("evidence_grants", "evidence_grants_append_only"),
            ("evidence_batches", "evidence_batches_sealed"),
            ("evidence_batches", "evidence_batches_kept"),
        ):
            drop_guard_sql(conn, table, name)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        for stmt in statements:
            conn.exec_driver_sql(stmt)


def _failing_batches():
    report = verify()
    assert not report.ok
    return {p.batch_id for p in report.problems}


def test_changed_field_is_found(three_batches):
    _tamper("UPDATE evidence_access SET subject_id = 'S9' WHERE event_id = 'e2'")
    assert three_batches[0] in _failing_batches()


def test_deleted_row_is_found(three_batches):
    _tamper("DELETE FROM evidence_grants")
    assert three_batches[1] in _failing_batches()


def test_deleted_batch_is_found(three_batches):
    first = three_batches[0]
    _tamper(f"DELETE FROM evidence_access WHERE batch_id = {first}", f"DELETE FROM evidence_batches WHERE id = {first}")
    failing = _failing_batches()
    assert first in failing or three_batches[1] in failing


def test_changed_batch_record_is_found(three_batches):
    _tamper(f"UPDATE evidence_batches SET rows_stored = 5 WHERE id = {three_batches[2]}")
    assert three_batches[2] in _failing_batches()


def test_verify_command_exits_non_zero_naming_the_batch(app, three_batches):
    _tamper("UPDATE evidence_access SET user_id = 'zz' WHERE event_id = 'e3'")
    result = app.test_cli_runner().invoke(args=["evidence", "verify"])
    assert result.exit_code != 0
    assert f"バッチ {three_batches[2]}" in result.output


# -- the per-user-day summary the checks read is derived: verify recounts it --------------------


def _day_problems():
    report = verify()
    assert not report.ok
    return [p.message for p in report.problems if p.batch_id is None]


@pytest.mark.parametrize(
    "statement, named",
    [
        ("DELETE FROM evidence_access_days WHERE user_id = 'u1'", "集計の行がありません"),
        ("UPDATE evidence_access_days SET subjects = 1 WHERE user_id = 'u1'", "対象者数 記録 1 再計算 2"),
        ("UPDATE evidence_access_days SET events = 0, denied = 5", "件数 記録 0 再計算"),
        ("UPDATE evidence_access_days SET last_at = first_at WHERE user_id = 'u1'", "操作日時の範囲"),
        (
            "INSERT INTO evidence_access_days SELECT system, 'ghost', day, day_start, day_end, events,"
            " subjects, denied, first_at, last_at FROM evidence_access_days WHERE user_id = 'u1'",
            "ghost",
        ),
    ],
)
def test_a_changed_day_summary_is_found(three_batches, statement, named):
    _tamper(statement)
    (message,) = _day_problems()
    assert "日別集計" in message and named in message


def test_deleting_a_summary_row_hides_a_finding_but_not_from_verify(app, feed):
    """The bulk-access check reads the summary: removing a row removes the finding, so the
    removal must not pass verify."""
    from evidence.checks import Period, run_checks
    from evidence.models import CheckConfig, Finding

    rows = [f"b{i},2025-04-01T09:{i:02d}:00+09:00,JUKI,heavy,view,S{i},,," for i in range(5)]
    assert feed("access", access_csv(*rows)).stored
    db.session.add(CheckConfig(check="bulk_access", params={"subjects": 3}))
    db.session.commit()

    def bulk_findings():
        run_checks(Period(None, None), ["bulk_access"])
        db.session.commit()
        return (
            db.session.execute(db.select(Finding).where(Finding.check == "bulk_access", Finding.cleared_at.is_(None)))
            .scalars()
            .all()
        )

    assert [f.user_id for f in bulk_findings()] == ["heavy"]
    assert verify().ok
    _tamper("DELETE FROM evidence_access_days WHERE user_id = 'heavy'")
    assert bulk_findings() == []
    result = app.test_cli_runner().invoke(args=["evidence", "verify"])
    assert result.exit_code == 2
    assert "NG 日別集計" in result.output and "heavy" in result.output
