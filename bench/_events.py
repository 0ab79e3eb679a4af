"""Access events for the benchmarks, loaded the fastest way each engine has (not through the
import service, whose own cost bench/evidence_import.py measures): psycopg ``COPY`` on
PostgreSQL, ``executemany`` in batches of 10,000 on SQLite, then the per-user-day summary
from the events as an import builds it (``evidence.ingest.refresh_access_days``)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta


def year_days(start: date = date(2025, 4, 1), end: date = date(2026, 3, 31)) -> list[date]:
    """The business days of a fiscal year (no weekend, holiday or 12/29-1/3)."""
    from evidence.checks import closed_days

    closed = set(closed_days(start, end))
    out, day = [], start
    while day <= end:
        if day not in closed:
            out.append(day)
        day += timedelta(days=1)
    return out


def iter_rows(n_rows: int, days: list[date], first_id: int = 0, seed: int = 20250401) -> Iterator[tuple]:
    """``n_rows`` plain access rows spread evenly over ``days`` (business hours, 150 staff),
    as (event_id, occurred_at UTC datetime, system, user_id, action, subject_id, terminal,
    result, purpose); event ids from ``first_id + 1``."""
    from evidence import demo_gen

    rng = random.Random(seed + first_id)
    staff = [demo_gen.user_id(n) for n in range(1, demo_gen.STAFF_COUNT + 1)]
    actions = demo_gen._weighted(rng, demo_gen.ACTIONS)
    first_s, last_s = demo_gen.NORMAL_FIRST_SECOND, demo_gen.NORMAL_LAST_SECOND
    per_day = max(1, -(-n_rows // len(days)))
    starts = [datetime(d.year, d.month, d.day, tzinfo=UTC) - timedelta(hours=9) for d in days]
    for i in range(n_rows):
        start = starts[min(i // per_day, len(days) - 1)]
        s = first_s + (i % per_day) * (last_s - first_s) // per_day
        action = rng.choice(actions)
        yield (
            f"JUKI-{first_id + i + 1:09d}",
            start + timedelta(seconds=s),
            demo_gen.SYSTEM,
            rng.choice(staff),
            action,
            None if action in ("login", "logout") else f"S{rng.getrandbits(40):010x}",
            f"T-{rng.randrange(demo_gen.TERMINALS) + 1:02d}",
            "success",
            demo_gen.AFFAIR,
        )


COLUMNS = "event_id, occurred_at, system, user_id, action, subject_id, terminal, result, purpose"


def load(rows: Iterator[tuple]) -> tuple[int, float]:
    """Store ``rows`` in one new batch of the app's database (inside an app context) and
    refresh the summary of their user-days; returns (rows, seconds)."""
    import sqlalchemy as sa

    from common.db import db
    from evidence.ingest import SQLITE_CACHE_KIB, refresh_access_days
    from evidence.models import FeedBatch

    t = time.perf_counter()
    conn = db.session.connection()
    id_before = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM evidence_access")).scalar_one()
    batch = FeedBatch(kind="access", source="bench:fast", fmt="csv", raw_sha256="0" * 64)
    db.session.add(batch)
    db.session.flush()
    raw = conn.connection.driver_connection
    n = 0
    if conn.dialect.name == "postgresql":
        with raw.cursor().copy(f"COPY evidence_access (batch_id, {COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((batch.id, *row))
                n += 1
    else:
        # the page cache an access import sets (evidence.ingest): the index pages stay hot
        cur = raw.cursor()
        cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        sql = f"INSERT INTO evidence_access (batch_id, {COLUMNS}) VALUES ({', '.join(['?'] * 10)})"
        chunk: list[tuple] = []
        for row in rows:
            chunk.append((batch.id, row[0], row[1].strftime("%Y-%m-%d %H:%M:%S.000000"), *row[2:]))
            if len(chunk) >= 10_000:
                cur.executemany(sql, chunk)
                n += len(chunk)
                chunk.clear()
        cur.executemany(sql, chunk)
        n += len(chunk)
        cur.close()
    refresh_access_days(conn, id_before)
    db.session.commit()
    return n, time.perf_counter() - t
