"""Ingestion: all or nothing, nothing twice, 個人番号 never stored, the chain verifies."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from evidence.chain import verify
from evidence.models import AccessDay, AccessEvent, FeedBatch, Grant
from tests.evidence.conftest import access_csv

GOOD = (
    "e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,",
    "e2,2025-04-01T10:00:00+09:00,JUKI,u1,view,S2,T1,,",
    "e3,2025-04-02T10:00:00+09:00,JUKI,u2,print,S3,T2,denied,",
)
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
    text = access_csv(
        GOOD[0], "e9,not-a-time,JUKI,u1,view,S1,,,", GOOD[1], "e10,2025-04-01T09:00:00+09:00,NOPE,u1,view,S1,,,"
    )
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

    rows = [
        {
            "event_id": "j1",
            "occurred_at": "2025-04-01T09:00:00+09:00",
            "system": "JUKI",
            "user_id": "u1",
            "action": "view",
            "subject_id": "S1",
            "ward": "中央",
        }
    ]
    result = feed("access", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows), filename="a.jsonl")
    assert result.stored and result.rows_stored == 1
    event = db.session.execute(sa.select(AccessEvent)).scalar_one()
    assert event.extra == {"ward": "中央"}
    assert verify().ok


def test_append_only_guard_refuses_update_and_delete(feed):
    feed("access", access_csv(*GOOD))
    for stmt in (
        "UPDATE evidence_access SET user_id = 'x'",
        "DELETE FROM evidence_access",
        "DELETE FROM evidence_batches",
    ):
        with pytest.raises(sa.exc.DBAPIError):
            with db.engine.begin() as conn:
                conn.exec_driver_sql(stmt)


def planner_statistics() -> dict[str, float]:
    """Rows the planner believes each feed table holds (absent: never analysed)."""
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        if not conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
            return {}
        rows = conn.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1").all()
        return {tbl: float(stat.split()[0]) for tbl, stat in rows}
    rows = conn.exec_driver_sql(
        "SELECT relname, reltuples FROM pg_class WHERE relname IN "
        "('evidence_access', 'evidence_access_days') AND reltuples >= 0"
    ).all()
    return dict(rows)


def test_a_large_batch_leaves_planner_statistics(feed, monkeypatch):
    # without them the planner scans every event for each user-day a check looks at
    # (8.8 s instead of 90 ms for no_grant on a million events)
    from evidence import ingest

    feed("access", access_csv(GOOD[0]))
    assert "evidence_access" not in planner_statistics()
    monkeypatch.setattr(ingest, "ANALYZE_THRESHOLD", 3)
    feed("access", access_csv(*GOOD[1:], "e4,2025-04-03T10:00:00+09:00,JUKI,u1,view,S4,,,"))
    stats = planner_statistics()
    assert stats["evidence_access"] == 4 and stats["evidence_access_days"] == 3
    if db.session.get_bind().dialect.name == "sqlite":
        assert db.session.connection().exec_driver_sql("PRAGMA analysis_limit").scalar() == 0


class BrokenStream:
    """A feed whose connection drops after ``good`` bytes."""

    def __init__(self, data: bytes, good: int):
        self.data, self.good, self.pos = data, good, 0

    def read(self, n=-1):
        if self.pos >= self.good:
            raise OSError("connection reset")
        n = min(n, self.good - self.pos)
        self.pos += n
        return self.data[self.pos - n : self.pos]


def many_events(n: int) -> bytes:
    return access_csv(
        *(f"e{i},2025-04-01T09:{i % 60:02d}:00+09:00,JUKI,u{i % 7},view,S{i},,," for i in range(n))
    ).encode()


def reader_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "evidence-feed-reader"]


def test_a_stream_that_fails_midway_stores_nothing(app, juki, count_rows):
    from evidence.ingest import import_feed

    data = many_events(3000)
    with pytest.raises(OSError):
        import_feed("access", BrokenStream(data, len(data) // 2), source="test", chunk_rows=100)
    assert count_rows(AccessEvent) == 0 and count_rows(FeedBatch) == 0
    assert reader_threads() == []


def test_a_failing_store_stops_the_import(app, juki, count_rows, monkeypatch):
    import io

    from evidence import ingest

    stored = []

    def fail_on_third(self, cols):
        stored.append(len(cols))
        if len(stored) == 3:
            raise RuntimeError("disk full")
        original(self, cols)

    original = ingest.OpenBatch.add
    monkeypatch.setattr(ingest.OpenBatch, "add", fail_on_third)
    stream = io.BytesIO(many_events(3000))
    with pytest.raises(RuntimeError):
        ingest.import_feed("access", stream, source="test", chunk_rows=100)
    assert stored == [100, 100, 100]
    assert count_rows(AccessEvent) == 0 and count_rows(FeedBatch) == 0
    assert reader_threads() == []


def access_days() -> list[tuple]:
    return [
        (d.system, d.user_id, d.day, d.day_start, d.day_end, d.events, d.subjects, d.denied, d.first_at, d.last_at)
        for d in db.session.execute(
            sa.select(AccessDay).order_by(AccessDay.system, AccessDay.user_id, AccessDay.day)
        ).scalars()
    ]


def day_feeds() -> list[str]:
    """Two batches in time order: days that cross chunks, midnight inside a chunk, two
    systems in a chunk, fractions of seconds, denied rows, rows without a subject, a
    subject seen twice, and a day both batches touch."""
    first, second = [], []
    for i in range(60):
        hour = ("23:10", "23:50", "00:05", "09:00")[i % 4]
        day = 1 + i // 8
        fraction = ("", ".250", ".000", ".123456")[i % 4 if i % 3 else 0]
        stamp = f"2025-04-{day + (hour < '12'):02d}T{hour}:{i % 60:02d}{fraction}+09:00"
        subject = "" if i % 7 == 0 else f"S{i % 5}"
        result = "denied" if i % 6 == 0 else ""
        system = "ZEI" if i % 5 == 0 else "JUKI"
        first.append((stamp, f"a{i},{stamp},{system},u{i % 3},view,{subject},,{result},"))
    for i in range(10):
        stamp = f"2025-04-08T{10 + i}:00:00+09:00"
        second.append((stamp, f"b{i},{stamp},JUKI,u{i % 4},view,S{i % 2},,,"))
    return [access_csv(*(row for _, row in sorted(first))), access_csv(*(row for _, row in sorted(second)))]


def test_the_day_summary_counted_on_the_way_equals_the_one_counted_from_the_events(feed, monkeypatch):
    from evidence import ingest
    from pia.inventory.models import System

    db.session.add(System(code="ZEI", name="税務システム"))
    db.session.commit()

    given = []
    original = ingest.refresh_access_days
    monkeypatch.setattr(
        ingest,
        "refresh_access_days",
        lambda conn, id_before, days=None: (given.append(days), original(conn, id_before, days)),
    )
    for text in day_feeds():
        assert feed("access", text, chunk_rows=7).stored
    on_the_way = access_days()
    assert None not in given and len(on_the_way) > 10
    assert all(len({d[:3] for d in days}) == len(days) for days in given)  # each once
    assert {d[7] for d in on_the_way} > {0} and {d[6] for d in on_the_way} > {1}
    assert {d[0] for d in on_the_way} == {"JUKI", "ZEI"}

    db.session.execute(sa.delete(AccessDay))  # derived: rebuilt from the events
    db.session.commit()
    original(db.session.connection(), 0)
    db.session.commit()
    assert access_days() == on_the_way


@pytest.mark.parametrize(
    "rows, limit",
    [
        (
            [
                "e1,2025-04-02T09:00:00+09:00,JUKI,u1,view,S1,,,",  # out of time order
                "e2,2025-04-01T09:00:00+09:00,JUKI,u1,view,S2,,denied,",
                "e3,2025-04-02T10:00:00+09:00,JUKI,u1,view,S1,,,",
            ],
            None,
        ),
        (
            [
                "e2,2025-04-01T09:00:00+09:00,JUKI,u1,view,S2,,denied,",  # more open subjects than held
                "e1,2025-04-02T09:00:00+09:00,JUKI,u1,view,S1,,,",
                "e3,2025-04-02T10:00:00+09:00,JUKI,u1,view,S3,,,",
                "e4,2025-04-02T11:00:00+09:00,JUKI,u1,view,S1,,,",
            ],
            1,
        ),
    ],
)
def test_when_the_summary_cannot_be_counted_on_the_way_it_is_counted_from_the_events(feed, monkeypatch, rows, limit):
    from evidence import ingest

    if limit:
        monkeypatch.setattr(ingest.DaySummary, "MAX_OPEN_SUBJECTS", limit)
    given = []
    original = ingest.refresh_access_days
    monkeypatch.setattr(
        ingest,
        "refresh_access_days",
        lambda conn, id_before, days=None: (given.append(days), original(conn, id_before, days)),
    )
    assert feed("access", access_csv(*rows), chunk_rows=2).stored
    assert given == [None]
    days = {(d[2].isoformat(), d[5], d[6], d[7]) for d in access_days()}
    assert days == {("2025-04-01", 1, 1, 1), ("2025-04-02", len(rows) - 1, len(rows) - 2, 0)}


def test_tabs_and_line_breaks_inside_values_are_stored_as_sent(feed):
    rows = [
        'e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,"T\t1","","line one\nline two"',
        "e2,2025-04-01T10:00:00+09:00,JUKI,u1,view,S2,T2,,",
    ]
    result = feed("access", access_csv(*rows))
    assert result.stored and result.rows_stored == 2
    stored = db.session.execute(
        sa.select(AccessEvent.terminal, AccessEvent.purpose).order_by(AccessEvent.event_id)
    ).all()
    assert stored == [("T\t1", "line one\nline two"), ("T2", None)]
    assert verify().ok


def test_fractions_of_seconds_are_stored_to_the_microsecond(feed):
    from datetime import datetime

    rows = [
        "e1,2025-04-01T09:00:00.123+09:00,JUKI,u1,view,S1,,,",
        "e2,2025-04-01T09:00:01.000+09:00,JUKI,u1,view,S2,,,",
        "e3,2025-04-01T00:00:02.5Z,JUKI,u1,view,S3,,,",
    ]
    assert feed("access", access_csv(*rows)).stored
    stored = db.session.execute(sa.select(AccessEvent.occurred_at).order_by(AccessEvent.event_id)).scalars().all()
    utc = UTC
    assert stored == [
        datetime(2025, 4, 1, 0, 0, 0, 123000, utc),
        datetime(2025, 4, 1, 0, 0, 1, tzinfo=utc),
        datetime(2025, 4, 1, 0, 0, 2, 500000, utc),
    ]
    (day,) = db.session.execute(sa.select(AccessDay)).scalars()
    assert (day.first_at, day.last_at) == (stored[0], stored[2])
    assert verify().ok


def test_the_service_only_flushes_and_the_door_commits(app, juki, count_rows):
    import io

    from common.db import unit_of_work
    from evidence.ingest import import_feed

    data = access_csv(*GOOD).encode()
    assert import_feed("access", io.BytesIO(data), source="test").stored
    assert count_rows(AccessEvent) == 3
    db.session.rollback()  # no door committed: nothing of the batch stays
    assert count_rows(AccessEvent) == 0 and count_rows(FeedBatch) == 0 and count_rows(AccessDay) == 0

    with pytest.raises(RuntimeError), unit_of_work():
        assert import_feed("access", io.BytesIO(data), source="test").stored
        raise RuntimeError("the door fails after the import")
    assert count_rows(AccessEvent) == 0 and count_rows(FeedBatch) == 0

    with unit_of_work():
        import_feed("access", io.BytesIO(data), source="test")
    db.session.rollback()
    assert count_rows(AccessEvent) == 3 and count_rows(FeedBatch) == 1
    assert verify().ok


def test_the_postgresql_lock_is_held_until_the_door_commits(app, juki, engine_name):
    import io

    from evidence.ingest import PG_LOCK_KEY, import_feed

    if engine_name != "postgresql":
        pytest.skip("an advisory lock of PostgreSQL")

    def lock_is_free() -> bool:
        with db.engine.connect() as other:
            return other.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY}).scalar()

    assert lock_is_free()
    assert import_feed("access", io.BytesIO(access_csv(*GOOD).encode()), source="test").stored
    assert not lock_is_free()  # another batch waits until this one is committed
    db.session.commit()
    assert lock_is_free()


def test_rows_given_one_by_one_are_summed_up_on_the_way_too(feed, monkeypatch):
    # rows with an extra field come row by row (not as columns); their day summary is
    # counted as they go in all the same, and equals the one counted from the events
    import csv
    import io
    import json

    from evidence import ingest
    from pia.inventory.models import System

    db.session.add(System(code="ZEI", name="税務システム"))
    db.session.commit()
    given = []
    original = ingest.refresh_access_days
    monkeypatch.setattr(
        ingest,
        "refresh_access_days",
        lambda conn, id_before, days=None: (given.append(days), original(conn, id_before, days)),
    )
    for text in day_feeds():
        lines = [
            json.dumps({**{k: v for k, v in row.items() if v}, "ward": "中央"}, ensure_ascii=False)
            for row in csv.DictReader(io.StringIO(text))
        ]
        assert feed("access", "\n".join(lines), filename="access.jsonl", chunk_rows=7).stored
    on_the_way = access_days()
    assert None not in given and len(on_the_way) > 10
    db.session.execute(sa.delete(AccessDay))
    db.session.commit()
    original(db.session.connection(), 0)
    db.session.commit()
    assert access_days() == on_the_way
