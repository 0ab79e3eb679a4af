"""The audit trail of a web submission goes in with the submission, in one INSERT."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from common import audit
from common.db import db
from common.models import AuditEvent
from common.timeutil import today_jst
from consultation.models import Submission


@pytest.fixture
def open_consultation(make_consultation):
    today = today_jst()
    return make_consultation(status="open", start_date=today - timedelta(days=5), end_date=today + timedelta(days=25))


def _submission(consultation, body="意見です。", **extra) -> Submission:
    return Submission(consultation=consultation, channel="web", received_on=today_jst(), body=body, **extra)


def _trail(object_type):
    return (
        db.session.execute(db.select(AuditEvent).filter_by(object_type=object_type).order_by(AuditEvent.id))
        .scalars()
        .all()
    )


def test_rows_of_a_flush_go_in_one_insert(app, open_consultation):
    inserts = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            inserts.append(statement)

    submission = _submission(open_consultation)
    db.session.add(submission)
    audit.record_with_flush(
        submission, "create", "consultation_submission", lambda s: f"受付番号 {s.receipt_number}", actor="public"
    )
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        db.session.flush()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    db.session.commit()
    assert len(inserts) == 1
    [created] = _trail("Submission")
    [note] = _trail("consultation_submission")
    assert created.object_id == note.object_id == str(submission.id) and created.id < note.id
    assert note.summary == f"受付番号 {submission.receipt_number}" and note.actor_name == "public"
    assert note.before is None and note.after is None


def test_an_event_about_a_stored_object_is_recorded_at_once(app, open_consultation):
    submission = _submission(open_consultation)
    db.session.add(submission)
    db.session.commit()
    audit.record_with_flush(submission, "update", "consultation_submission", lambda s: f"No. {s.id}")
    db.session.commit()
    [note] = _trail("consultation_submission")
    assert note.summary == f"No. {submission.id}"


def test_a_flush_that_failed_leaves_no_rows_for_the_next(app, open_consultation):
    taken = _submission(open_consultation, receipt_number="PC-SAME-0000-0000")
    db.session.add(taken)
    db.session.commit()
    duplicate = _submission(open_consultation, body="二通目", receipt_number="PC-SAME-0000-0000")
    db.session.add(duplicate)
    audit.record_with_flush(duplicate, "create", "consultation_submission", lambda s: "二通目")
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    db.session.add(_submission(open_consultation, body="三通目"))
    db.session.commit()
    assert [r.summary for r in _trail("consultation_submission")] == []
    assert len(_trail("Submission")) == 2  # the first and the third
