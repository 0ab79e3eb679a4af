"""Ingestion: all or nothing, nothing twice, 個人番号 never stored, the chain verifies."""
from __future__ import annotations

import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from evidence.chain import verify
from evidence.models import AccessDay, AccessEvent, FeedBatch, Grant
from tests.evidence.conftest import access_csv

GOOD = ("e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,",
        "e2,2025-04-01T10:00:00+09:00,JUKI,u1,view,S2,T1,,",
        "e3,2025-04-02T10:00:00+09:00,JUKI,u2,print,S3,T2,denied,")
MY_NUMBER = "123456789018"


def test_good_file_is_stored_as_one_batch(feed, count_rows):
    result = feed("access", access_csv(*GOOD))
    assert result.stored and result.rows_stored == 3 and result.duplicates == 0
    assert count_rows(AccessEvent) == 3
    batch = db.session.get(FeedBatch, result.batch_id)
    assert batch.rows_stored == 3 and len(batch.raw_sha256) == 64 and batch.chain_hash
    days = {(d.user_id, d.day.isoformat()): d for d in db.session.execute(sa.select(AccessDay)).scalars()}
    assert days[("u1", "2025-04-01")].events == 2 and days[("u2", "2025-04-02")].denied == 1
    assert verify().ok


def test_one_bad_row_stores_nothing_and_lists_every_bad_line(feed, count_rows):
    text = access_csv(GOOD[0], "e9,not-a-time,JUKI,u1,view,S1,,,", GOOD[1],
                      "e10,2025-04-01T09:00:00+09:00,NOPE,u1,view,S1,,,")
    result = feed("access", text)
    assert not result.stored
    assert {(e.line, e.field) for e in result.errors} == {(3, "occurred_at"), (5, "system")}
    assert count_rows(AccessEvent) == 0 and count_rows(FeedBatch) == 0


def test_skip_invalid_keeps_good_rows(feed, count_rows):
    result = feed("access", access_csv(GOOD[0], "e9,not-a-time,JUKI,u1,view,S1,,,"), skip_invalid=True)
    assert result.stored and result.rows_stored == 1 and result.rejected == 1
    assert [e.line for e in result.errors] == [3]


def test_resending_stores_nothing_twice(feed, count_rows):
    feed("access", access_csv(*GOOD))
    again = feed("access", access_csv(*GOOD, "e4,2025-04-03T10:00:00+09:00,JUKI,u1,view,S4,,,"))
    assert again.stored and again.rows_stored == 1 and again.duplicates == 3
    assert count_rows(AccessEvent) == 4
    # rows without an event_id get a derived one, so they are deduplicated too
    no_id = access_csv(",2025-04-05T10:00:00+09:00,JUKI,u1,view,S5,,,")
    assert feed("access", no_id).rows_stored == 1
    assert feed("access", no_id).duplicates == 1
    assert count_rows(AccessEvent) == 5
    assert verify().ok


def test_grants_keep_versions_by_content(feed, count_rows):
    header = "user_id,system,role,granted_at,revoked_at,granted_by\n"
    feed("grants", header + "u1,JUKI,参照,2025-04-01,,課長\n")
    assert feed("grants", header + "u1,JUKI,参照,2025-04-01,,課長\n").duplicates == 1
    assert feed("grants", header + "u1,JUKI,参照,2025-04-01,2025-05-01,課長\n").rows_stored == 1
    assert count_rows(Grant) == 2


def test_my_number_is_rejected_and_never_stored_or_logged(feed, count_rows, caplog):
    text = access_csv(f"e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,{MY_NUMBER},T1,,")
    with caplog.at_level("DEBUG"):
        result = feed("access", text)
    assert not result.stored and result.errors[0].field == "subject_id"
    assert MY_NUMBER not in str(result.as_dict())
    assert MY_NUMBER not in caplog.text
    assert count_rows(AccessEvent) == 0
    trail = " ".join(f"{a.summary} {a.after}" for a in db.session.execute(sa.select(AuditEvent)).scalars())
    assert "受け付けませんでした" in trail and MY_NUMBER not in trail


def test_jsonl_imports_the_same_as_csv(feed):
    import json

    rows = [{"event_id": "j1", "occurred_at": "2025-04-01T09:00:00+09:00", "system": "JUKI",
             "user_id": "u1", "action": "view", "subject_id": "S1", "ward": "中央"}]
    result = feed("access", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                  filename="a.jsonl")
    assert result.stored and result.rows_stored == 1
    event = db.session.execute(sa.select(AccessEvent)).scalar_one()
    assert event.extra == {"ward": "中央"}
    assert verify().ok


def test_append_only_guard_refuses_update_and_delete(feed):
    import pytest

    feed("access", access_csv(*GOOD))
    for stmt in ("UPDATE evidence_access SET user_id = 'x'", "DELETE FROM evidence_access",
                 "DELETE FROM evidence_batches"):
        with pytest.raises(sa.exc.DBAPIError):
            with db.engine.begin() as conn:
                conn.exec_driver_sql(stmt)
