"""Storing feeds: one service every door (CLI, HTTP API, drop folder, demo) goes through.

:func:`import_feed` takes a binary stream, parses it with :class:`evidence.feeds.FeedParser`
as it arrives and stores the valid rows in ONE transaction, which it commits when the
batch is accepted and rolls back when it is not (a file with a bad row stores nothing,
unless ``skip_invalid``). The batch record carries the SHA-256 of the raw bytes, the digest
of the rows it stored and the chain hash linking it to the previous batch.

The access feed (the large one) comes from the parser column by column
(:class:`evidence.feeds.AccessColumns`) and is stored with raw DB-API calls: ``executemany``
on SQLite, one text ``COPY`` per chunk on PostgreSQL (inside a savepoint; a chunk with a
duplicate goes through a staging table and ``INSERT … ON CONFLICT DO NOTHING``), while a
thread parses the next chunks. :class:`DaySummary` counts the per-user-day figures on the
way. The other kinds are small and go through SQLAlchemy Core.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import queue
import re
import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress, islice, repeat
from operator import eq, itemgetter, le
from pathlib import Path
from typing import BinaryIO, NamedTuple

import sqlalchemy as sa

from common import audit
from common.db import db, utcnow
from common.mynumber_guard import mask_my_numbers
from evidence.feeds import FIELDS, KINDS, TOKYO, AccessColumns, FeedParser, RowError
from evidence.models import GENESIS_HASH, ROW_MODELS, FeedBatch

log = logging.getLogger(__name__)

#: rows handed to the database at a time (PostgreSQL pays a round trip, a savepoint and
#: a hand-over between threads per chunk; SQLite holds its chunks in this process)
CHUNK_ROWS = {"postgresql": 20_000}
DEFAULT_CHUNK_ROWS = 5000
#: SQLite page cache (KiB) during an access import (counts towards the 300 MB budget)
SQLITE_CACHE_KIB = 65536
#: PostgreSQL advisory lock that serialises batches (the chain has one head)
PG_LOCK_KEY = 7_246_001
_CONTROLS = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
EMPTY_REASON = "データ行がありません(空のファイル、またはヘッダ行だけのファイルは取り込みません)"


@dataclass
class ImportResult:
    kind: str
    source: str
    stored: bool = False
    batch_id: int | None = None
    fmt: str | None = None
    rows_total: int = 0
    rows_stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    raw_sha256: str | None = None
    chain_hash: str | None = None
    bytes_read: int = 0

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "stored": self.stored,
            "batch_id": self.batch_id,
            "format": self.fmt,
            "rows": self.rows_total,
            "accepted": self.rows_stored,
            "duplicate": self.duplicates,
            "rejected": self.rejected,
            "errors": [{"line": e.line, "field": e.field, "reason": e.reason} for e in self.errors],
            "errors_total": self.errors_total,
            "sha256": self.raw_sha256,
            "chain_hash": self.chain_hash,
        }


class CountingStream:
    """Wraps a binary stream; ``position`` is the bytes read so far (for progress bars)."""

    def __init__(self, stream: BinaryIO, callback: Callable[[int], None] | None = None):
        self._stream = stream
        self.position = 0
        self._callback = callback

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self.position += len(data)
            if self._callback:
                self._callback(len(data))
        return data


def known_systems() -> set[str]:
    """Codes of the systems in the inventory (rows for other systems are rejected)."""
    from pia.inventory.models import System

    return set(db.session.execute(sa.select(System.code)).scalars())


def rows_digest_update(hasher, digests: Iterable[str]) -> None:
    for digest in digests:
        hasher.update(digest.encode("ascii"))


def chain_hash(batch: dict) -> str:
    """The chain hash of a batch from its recorded fields (also used by verify)."""
    received = batch["received_at"]
    if received.tzinfo is None:  # pragma: no cover - UTCDateTime gives aware values
        received = received.replace(tzinfo=UTC)
    parts = [
        batch["prev_hash"] or "",
        str(batch["id"]),
        batch["kind"],
        batch["source"],
        received.astimezone(UTC).isoformat(),
        batch["raw_sha256"],
        str(batch["rows_total"]),
        str(batch["rows_stored"]),
        str(batch["duplicates"]),
        str(batch["rejected"]),
        batch["rows_digest"] or "",
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def import_path(
    kind: str, path: Path, *, source: str, skip_invalid: bool = False, on_read: Callable[[int], None] | None = None
) -> ImportResult:
    """Import one file through :func:`import_feed`; ``on_read(n)`` is told the bytes read
    (a progress bar)."""
    with path.open("rb") as raw:
        stream = CountingStream(raw, on_read) if on_read else raw
        return import_feed(kind, stream, source=source, filename=path.name, skip_invalid=skip_invalid)


def write_reject_file(path: Path, result: ImportResult) -> Path:
    """Write the rows left out (line, field, reason) next to the source as ``*.rejected.csv``."""
    from common import csvsafe

    out = path.with_name(path.name + ".rejected.csv")
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csvsafe.writer(fh)
        writer.writerow(["line", "field", "reason"])
        for e in result.errors:
            writer.writerow([e.line, e.field or "", e.reason])
    return out


def import_feed(
    kind: str,
    stream: BinaryIO,
    *,
    source: str,
    filename: str | None = None,
    fmt: str | None = None,
    skip_invalid: bool = False,
    system_code: str | None = None,
    actor=None,
    chunk_rows: int | None = None,
) -> ImportResult:
    """Parse ``stream`` as a ``kind`` feed and store it as one batch (commits or rolls back).

    :param source: where it came from, recorded on the batch (``cli:access.csv``, …)
    :param filename: used to tell CSV from JSON Lines by extension (else the content decides)
    :param skip_invalid: store the valid rows even when some are bad (the bad ones are
        listed in ``errors``; the caller writes them to a reject file)
    :param system_code: the API token's system: rows of any other system are rejected
    :param actor: recorded in the audit trail (default: the current user or CLI actor)
    :param chunk_rows: rows stored at a time (default: :data:`CHUNK_ROWS` of the database)
    :returns: an :class:`ImportResult`; ``stored`` tells whether the batch was committed
    """
    if kind not in KINDS:
        raise ValueError(f"unknown feed kind {kind!r}")
    with _collector_paused():
        return _import_feed(
            kind,
            stream,
            source=source,
            filename=filename,
            fmt=fmt,
            skip_invalid=skip_invalid,
            system_code=system_code,
            actor=actor,
            chunk_rows=chunk_rows,
        )


def _import_feed(kind, stream, *, source, filename, fmt, skip_invalid, system_code, actor, chunk_rows) -> ImportResult:
    db.session.rollback()  # start from a clean transaction: the batch is all of it
    systems = known_systems()
    parser = FeedParser(kind, known_systems=systems, fmt=fmt, filename=filename)
    result = ImportResult(kind=kind, source=source)
    extra_errors: list[RowError] = []
    store = _Store(kind, source=source, system_code=system_code)
    chunks = parser.iter_batches(stream, size=chunk_rows or CHUNK_ROWS.get(store.dialect, DEFAULT_CHUNK_ROWS))
    if store.dialect == "postgresql" and READ_AHEAD:
        chunks = _read_ahead(chunks)
    try:
        for chunk in chunks:
            if isinstance(chunk, AccessColumns) and system_code is not None and set(chunk.system) != {system_code}:
                chunk = chunk.rows()  # rows of another system: each is listed below
            if isinstance(chunk, list) and system_code is not None and "system" in parser.names:
                chunk = _rows_of_system(chunk, system_code, extra_errors)
            if (parser.errors_total or extra_errors) and not skip_invalid:
                continue  # keep reading to list every bad line; nothing will be stored
            if isinstance(chunk, AccessColumns):
                store.add_columns(chunk)
            elif chunk:
                store.add(chunk)
    except Exception:
        db.session.rollback()
        raise
    finally:
        chunks.close()
    result.fmt = parser.fmt
    result.raw_sha256 = parser.sha256
    result.bytes_read = parser.bytes_read
    result.rows_total = parser.rows_total
    errors = sorted(list(parser.errors) + extra_errors, key=lambda e: e.line)
    result.errors = errors
    result.errors_total = parser.errors_total + len(extra_errors)
    bad_rows = parser.rows_invalid + len(extra_errors)
    if result.errors_total and not skip_invalid:
        db.session.rollback()
        result.rejected = bad_rows
        _audit_rejected(result, actor)
        return result
    if parser.rows_total == 0 and not result.errors_total:
        db.session.rollback()  # an empty file, or a header alone: not an (empty) batch
        result.errors = [RowError(1, None, EMPTY_REASON)]
        result.errors_total = 1
        _audit_rejected(result, actor)
        return result
    batch = store.seal(
        raw_sha256=parser.sha256 or "", fmt=parser.fmt or "csv", rows_total=parser.rows_total, rejected=bad_rows
    )
    result.batch_id = batch["id"]
    result.rows_stored = batch["rows_stored"]
    result.duplicates = batch["duplicates"]
    result.rejected = bad_rows
    result.chain_hash = batch["chain_hash"]
    result.stored = True
    audit.record(
        "import",
        "evidence_batch",
        batch["id"],
        f"証跡フィード({kind})を取り込みました: {source} 保存 {result.rows_stored} 件、"
        f"重複 {result.duplicates} 件、除外 {bad_rows} 件",
        after={
            "kind": kind,
            "source": source,
            "rows_stored": result.rows_stored,
            "duplicates": result.duplicates,
            "rejected": bad_rows,
            "sha256": parser.sha256,
            "chain_hash": batch["chain_hash"],
        },
        actor=actor,
    )
    db.session.commit()
    _refresh_statistics(kind, result.rows_stored)
    log.info(
        "evidence batch %s stored: kind=%s rows=%d duplicates=%d rejected=%d",
        batch["id"],
        kind,
        result.rows_stored,
        result.duplicates,
        bad_rows,
    )
    return result


#: parse ahead in a thread on PostgreSQL (see :func:`_read_ahead`)
READ_AHEAD = True


class _Failed(NamedTuple):
    error: BaseException


def _read_ahead(items: Iterator, depth: int = 2) -> Generator:
    """``items``, produced by a thread up to ``depth`` items ahead of the caller.

    On PostgreSQL the server stores a chunk in its own process while the caller waits with
    the GIL released: the next chunks are parsed meanwhile, on the other core. (Not on
    SQLite: its writes run in this process and take the GIL back row by row.) An exception
    of ``items`` is raised to the caller; closing the generator stops the thread."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    end = object()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(end)
        except BaseException as exc:  # handed to the caller, raised there
            hand_over(_Failed(exc))

    thread = threading.Thread(target=produce, name="evidence-feed-reader", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not end:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def _rows_of_system(rows: list[dict], system_code: str, errors: list[RowError]) -> list[dict]:
    """The rows of ``system_code``; each other row is added to ``errors``."""
    kept = []
    for row in rows:
        if row["system"] == system_code:
            kept.append(row)
        else:
            errors.append(
                RowError(
                    row["line"],
                    "system",
                    f"このトークンはシステム「{system_code}」の送信用です(この行のシステム: {row['system']})",
                )
            )
    return kept


@contextmanager
def _collector_paused():
    """Pause the cyclic garbage collector (it resumes as it was).

    An import allocates millions of short-lived containers (CSV records, row tuples) that
    hold no reference cycles; the collector would traverse them, and every object of the
    application with them, again and again: about a quarter of the import's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: tables whose planner statistics a large batch makes stale, per feed kind
_ANALYZE_TABLES = {
    "access": ("evidence_access", "evidence_access_days"),
    "grants": ("evidence_grants",),
    "assignments": ("evidence_assignments",),
    "relations": ("evidence_relations",),
    "provisions": ("evidence_provisions",),
}
ANALYZE_THRESHOLD = 1000
#: rows of each index SQLite's ANALYZE reads after an import (0 would read them all: about
#: 0.5 s per million events; a sample gives the planner the same choices)
SQLITE_ANALYSIS_LIMIT = 10_000


def _refresh_statistics(kind: str, rows: int) -> None:
    """After a large batch, let the planner see the new rows at once. With the statistics of
    an empty table (PostgreSQL, until autovacuum comes by) or none at all (SQLite, where
    nothing ever runs ANALYZE) it picks nested loops over the whole batch: seconds or
    minutes instead of milliseconds for a check."""
    tables = _ANALYZE_TABLES.get(kind, ())
    if rows < ANALYZE_THRESHOLD or not tables:
        return
    conn = db.session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        limit = conn.exec_driver_sql("PRAGMA analysis_limit").scalar()
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
        try:
            for table in tables:
                conn.exec_driver_sql(f"ANALYZE {table}")
        finally:
            conn.exec_driver_sql(f"PRAGMA analysis_limit = {int(limit)}")
    elif dialect == "postgresql":
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {table}")
    db.session.commit()


def _audit_rejected(result: ImportResult, actor) -> None:
    reasons = sorted({e.reason for e in result.errors[:50]})[:5]
    audit.record(
        "import",
        "evidence_feed",
        None,
        f"証跡フィード({result.kind})を受け付けませんでした: {result.source} 不備 {result.errors_total} 件",
        after={
            "kind": result.kind,
            "source": result.source,
            "errors_total": result.errors_total,
            "sha256": result.raw_sha256,
            "reasons": reasons,
        },
        actor=actor,
    )
    db.session.commit()


# ---------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------


def _sqlite_ts(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it on SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    return value.isoformat(" ", "microseconds")[:26]


def _sqlite_ts_sql(param: int) -> str:
    """SQL writing parameter ``param``, canonical UTC text (``YYYY-MM-DDTHH:MM:SS+00:00`` or
    ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``), as :func:`_sqlite_ts` would."""
    p = f"?{param}"
    return (
        f"CASE WHEN length({p}) = 25 THEN replace(substr({p}, 1, 19), 'T', ' ') "
        f"|| '.000000' ELSE replace(substr({p}, 1, 26), 'T', ' ') END"
    )


def _json(value):
    return json.dumps(value, ensure_ascii=False) if value else None


class _Store:
    """Writes the rows of one batch inside the session's transaction, then seals it."""

    def __init__(self, kind: str, *, source: str, system_code: str | None):
        self.kind = kind
        self.model = ROW_MODELS[kind]
        self.table = self.model.__table__
        self.names = [spec.name for spec in FIELDS[kind]]
        self.conn = db.session.connection()
        self.dialect = self.conn.dialect.name
        if self.dialect == "postgresql":
            self.conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
        elif self.dialect == "sqlite" and kind == "access":
            # a larger page cache keeps the index pages hot while a big batch goes in
            self.conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        # written with Core, past the ORM guard: a file or token name never carries a
        # 個人番号 or a control character into the store
        self.source = _CONTROLS.sub("\ufffd", mask_my_numbers(source))[:400]
        self.received_at = utcnow()
        self.batch_id = self.conn.execute(
            sa.insert(FeedBatch.__table__).values(
                kind=kind,
                source=self.source,
                system_code=system_code,
                fmt="",
                received_at=self.received_at,
                raw_sha256="",
            )
        ).inserted_primary_key[0]
        self.id_before = self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(self.table.c.id), 0))).scalar_one()
        self.hasher = hashlib.sha256()
        self.stored = 0
        self.attempted = 0
        self.first_at = None
        self.last_at = None
        self.days = None
        if kind == "access":
            self.days = DaySummary(local_day_pg if self.dialect == "postgresql" else local_day_sqlite)

    # -- adding rows ----------------------------------------------------------

    def add(self, rows: list[dict]) -> None:
        self.attempted += len(rows)
        if self.days is not None:
            self.days.give_up()  # rows of the row-by-row way: counted by SQL afterwards
        if "occurred_at" in self.names:
            times = [r["occurred_at"] for r in rows]
            lo, hi = min(times), max(times)
            self.first_at = lo if self.first_at is None else min(lo, self.first_at)
            self.last_at = hi if self.last_at is None else max(hi, self.last_at)
        if self.kind == "access":
            if self.dialect == "sqlite":
                self._add_access_sqlite(rows)
            elif self.dialect == "postgresql":
                self._copy_access_pg(rows)
            else:  # pragma: no cover
                self._add_generic(rows, ("system", "event_id"))
        elif self.kind == "provisions":
            self._add_generic(rows, ("record_id",))
        else:
            self._add_generic(rows, ("row_hash",))

    def add_columns(self, cols: AccessColumns) -> None:
        """Store a chunk of plain access rows given column by column (the usual case)."""
        if self.dialect not in ("sqlite", "postgresql"):  # pragma: no cover
            self.add(cols.rows())
            return
        self.attempted += len(cols)
        lo = datetime.fromisoformat(min(cols.occurred_at))  # canonical UTC text sorts in time
        hi = datetime.fromisoformat(max(cols.occurred_at))
        self.first_at = lo if self.first_at is None else min(lo, self.first_at)
        self.last_at = hi if self.last_at is None else max(hi, self.last_at)
        if self.dialect == "sqlite":
            self._add_columns_sqlite(cols)
        else:
            self._add_columns_pg(cols)

    def _add_columns_sqlite(self, cols: AccessColumns) -> None:
        cur = self.conn.connection.driver_connection.cursor()
        cur.executemany(
            "INSERT INTO evidence_access (batch_id, event_id, occurred_at, system, user_id, "
            "action, subject_id, terminal, result, purpose) "
            f"VALUES (?1, ?2, {_sqlite_ts_sql(3)}, ?4, ?5, ?6, nullif(?7, ''), nullif(?8, ''), "
            "?9, nullif(?10, '')) ON CONFLICT DO NOTHING",
            zip(
                repeat(self.batch_id),
                cols.event_id,
                cols.occurred_at,
                cols.system,
                cols.user_id,
                cols.action,
                cols.subject_id,
                cols.terminal,
                cols.result,
                cols.purpose,
            ),
        )
        inserted = cur.rowcount
        if inserted == len(cols):
            self.hasher.update("".join(cols.row_hash).encode("ascii"))
            self.days.add(cols)
        else:
            self.days.give_up()
            cur.execute(
                "SELECT system, event_id FROM evidence_access WHERE id > ? ORDER BY id", (self.id_before + self.stored,)
            )
            self._digest_stored_keys(zip(cols.system, cols.event_id), cols.row_hash, set(cur.fetchall()))
        cur.close()
        self.stored += inserted

    def _add_columns_pg(self, cols: AccessColumns) -> None:
        """COPY the chunk as text straight into the table inside a savepoint (no value holds
        a backslash; empty optional fields go as NULL); on a duplicate key, or a tab or line
        break inside a value, take the row-by-row way."""
        import psycopg

        n = len(cols)
        data = (
            "\n".join(
                map(
                    "\t".join,
                    zip(
                        repeat(str(self.batch_id)),
                        cols.event_id,
                        cols.occurred_at,
                        cols.system,
                        cols.user_id,
                        cols.action,
                        cols.subject_id,
                        cols.terminal,
                        cols.result,
                        cols.purpose,
                    ),
                )
            )
            + "\n"
        )
        if data.count("\t") != 9 * n or data.count("\n") != n or "\r" in data:
            self.days.give_up()
            self._copy_access_pg(cols.rows())
            return
        raw = self.conn.connection.driver_connection
        try:
            with raw.transaction():
                with raw.cursor().copy(
                    f"COPY evidence_access (batch_id, {', '.join(self._PG_COLS[:-1])}) FROM STDIN WITH (NULL '')"
                ) as copy:
                    copy.write(data)
                    self.days.add(cols)  # while the server stores the chunk
        except psycopg.errors.UniqueViolation:
            self.days.give_up()
            self._stage_chunk_pg(raw, cols.rows())
            return
        self.hasher.update("".join(cols.row_hash).encode("ascii"))
        self.stored += n

    def _digest_stored_keys(self, keys, hashes, stored_keys: set) -> None:
        """Add to the digest the hashes of the rows that were stored (in input order)."""
        for key, row_hash in zip(keys, hashes):
            if key in stored_keys:
                stored_keys.discard(key)
                self.hasher.update(row_hash.encode("ascii"))

    def _add_access_sqlite(self, rows: list[dict]) -> None:
        cur = self.conn.connection.driver_connection.cursor()
        batch_id = self.batch_id
        ts = _sqlite_ts
        params = [
            (
                batch_id,
                r["event_id"],
                ts(r["occurred_at"]),
                r["system"],
                r["user_id"],
                r["action"],
                r["subject_id"],
                r["terminal"],
                r["result"],
                r["purpose"],
                _json(r["extra"]),
            )
            for r in rows
        ]
        cur.executemany(
            "INSERT INTO evidence_access (batch_id, event_id, occurred_at, system, user_id, "
            "action, subject_id, terminal, result, purpose, extra) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            params,
        )
        inserted = cur.rowcount
        if inserted == len(rows):
            rows_digest_update(self.hasher, (r["row_hash"] for r in rows))
        else:
            cur.execute(
                "SELECT system, event_id FROM evidence_access WHERE id > ? ORDER BY id", (self.id_before + self.stored,)
            )
            self._digest_stored(rows, set(cur.fetchall()), ("system", "event_id"))
        cur.close()
        self.stored += inserted

    def _digest_stored(self, rows, stored_keys: set, key_fields) -> None:
        self._digest_stored_keys(
            (tuple(r[f] for f in key_fields) for r in rows), (r["row_hash"] for r in rows), stored_keys
        )

    _PG_COLS = (
        "event_id",
        "occurred_at",
        "system",
        "user_id",
        "action",
        "subject_id",
        "terminal",
        "result",
        "purpose",
        "extra",
    )

    def _copy_access_pg(self, rows: list[dict]) -> None:
        """COPY the chunk straight into the table inside a savepoint; on a duplicate key,
        roll the savepoint back and go through a staging table with ON CONFLICT DO NOTHING."""
        import psycopg

        raw = self.conn.connection.driver_connection
        cols = ", ".join(self._PG_COLS)
        batch_id = self.batch_id
        try:
            with raw.transaction():
                with raw.cursor().copy(f"COPY evidence_access (batch_id, {cols}) FROM STDIN") as copy:
                    write = copy.write_row
                    for r in rows:
                        write(
                            (
                                batch_id,
                                r["event_id"],
                                r["occurred_at"],
                                r["system"],
                                r["user_id"],
                                r["action"],
                                r["subject_id"],
                                r["terminal"],
                                r["result"],
                                r["purpose"],
                                _json(r["extra"]),
                            )
                        )
        except psycopg.errors.UniqueViolation:
            self._stage_chunk_pg(raw, rows)
            return
        rows_digest_update(self.hasher, (r["row_hash"] for r in rows))
        self.stored += len(rows)

    def _stage_chunk_pg(self, raw, rows: list[dict]) -> None:
        cols = ", ".join(self._PG_COLS)
        raw.execute(
            "CREATE TEMP TABLE IF NOT EXISTS evidence_access_stage ("
            "seq bigint, event_id text, occurred_at timestamptz, system text, "
            "user_id text, action text, subject_id text, terminal text, result text, "
            "purpose text, extra jsonb) ON COMMIT DROP"
        )
        raw.execute("TRUNCATE evidence_access_stage")
        with raw.cursor().copy(f"COPY evidence_access_stage (seq, {cols}) FROM STDIN") as copy:
            for i, r in enumerate(rows):
                copy.write_row(
                    (
                        i,
                        r["event_id"],
                        r["occurred_at"],
                        r["system"],
                        r["user_id"],
                        r["action"],
                        r["subject_id"],
                        r["terminal"],
                        r["result"],
                        r["purpose"],
                        _json(r["extra"]),
                    )
                )
        stored = raw.execute(
            f"INSERT INTO evidence_access (batch_id, {cols})"
            f" SELECT %s, {cols} FROM evidence_access_stage ORDER BY seq"
            " ON CONFLICT DO NOTHING RETURNING system, event_id",
            (self.batch_id,),
        ).fetchall()
        self._digest_stored(rows, set(stored), ("system", "event_id"))
        self.stored += len(stored)

    def _add_generic(self, rows: list[dict], key_fields: tuple[str, ...]) -> None:
        table = self.table
        keys = [tuple(r[f] for f in key_fields) for r in rows]
        if key_fields == ("system", "event_id"):  # pragma: no cover - other dialects
            cond = sa.tuple_(table.c.system, table.c.event_id).in_(keys)
        else:
            cond = table.c[key_fields[0]].in_([k[0] for k in keys])
        existing = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            if len(key_fields) == 1:
                q = sa.select(table.c[key_fields[0]]).where(table.c[key_fields[0]].in_([k[0] for k in part]))
                existing.update((v,) for v in self.conn.execute(q).scalars())
            else:  # pragma: no cover
                q = sa.select(*[table.c[f] for f in key_fields]).where(cond)
                existing.update(tuple(x) for x in self.conn.execute(q))
        values = []
        for row, key in zip(rows, keys):
            if key in existing:
                continue
            existing.add(key)
            record = {name: row[name] for name in self.names}
            record["extra"] = row["extra"] or None
            record["batch_id"] = self.batch_id
            if "row_hash" in table.c:
                record["row_hash"] = row["row_hash"]
            values.append(record)
            self.hasher.update(row["row_hash"].encode("ascii"))
        if values:
            self.conn.execute(sa.insert(table), values)
        self.stored += len(values)

    # -- sealing ----------------------------------------------------------------

    def seal(self, *, raw_sha256: str, fmt: str, rows_total: int, rejected: int) -> dict:
        if self.kind == "access" and self.stored:
            refresh_access_days(self.conn, self.id_before, self.days.rows() if self.days.usable else None)
        batches = FeedBatch.__table__
        prev = (
            self.conn.execute(
                sa.select(batches.c.chain_hash)
                .where(batches.c.chain_hash.is_not(None))
                .order_by(batches.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            or GENESIS_HASH
        )
        record = {
            "id": self.batch_id,
            "kind": self.kind,
            "source": self.source,
            "received_at": self.received_at,
            "raw_sha256": raw_sha256,
            "rows_total": rows_total,
            "rows_stored": self.stored,
            "duplicates": self.attempted - self.stored,
            "rejected": rejected,
            "rows_digest": self.hasher.hexdigest(),
            "prev_hash": prev,
        }
        record["chain_hash"] = chain_hash(record)
        self.conn.execute(
            batches.update()
            .where(batches.c.id == self.batch_id)
            .values(
                fmt=fmt,
                raw_sha256=raw_sha256,
                rows_total=rows_total,
                rows_stored=self.stored,
                duplicates=record["duplicates"],
                rejected=rejected,
                rows_digest=record["rows_digest"],
                prev_hash=prev,
                chain_hash=record["chain_hash"],
                first_at=self.first_at,
                last_at=self.last_at,
            )
        )
        return record


# ---------------------------------------------------------------------------
# The per-user-day summary of access events
# ---------------------------------------------------------------------------


def local_date(conn, column):
    """SQL expression: the Asia/Tokyo calendar date of a UTC timestamp column."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("Asia/Tokyo", column), sa.Date)
    return sa.func.date(column, "+9 hours")


def refresh_access_days(conn, id_before: int, days: list[tuple] | None = None) -> None:
    """Bring :class:`AccessDay` up to date for the user-days of events with id > id_before.

    :param days: the figures of those events per user-day, when the caller has them
        (:class:`DaySummary`), as (system, user_id, day, events, subjects, denied, first,
        last) with canonical UTC text times; else they are computed from the events.
        A user-day that already has a row is recounted from all of its events.
    """
    pg = conn.dialect.name == "postgresql"
    if days is not None:
        _load_days(conn, days)
        source = "evidence_access_days_new"
    elif pg:
        source = f"""(SELECT system, user_id, (occurred_at AT TIME ZONE 'Asia/Tokyo')::date AS day,
                         count(*) AS n, count(DISTINCT subject_id) AS s,
                         sum(CASE WHEN result = 'denied' THEN 1 ELSE 0 END) AS dn,
                         min(occurred_at) AS f, max(occurred_at) AS l
                  FROM evidence_access WHERE id > {int(id_before)}
                  GROUP BY 1, 2, 3) agg"""
    else:
        source = f"""(SELECT system, user_id, date(occurred_at, '+9 hours') AS day,
                         count(*) AS n, count(DISTINCT subject_id) AS s,
                         sum(result = 'denied') AS dn,
                         min(occurred_at) AS f, max(occurred_at) AS l
                  FROM evidence_access WHERE id > {int(id_before)}
                  GROUP BY 1, 2, 3) agg"""
    if pg:
        conn.exec_driver_sql(f"""
            INSERT INTO evidence_access_days
              (system, user_id, day, day_start, day_end, events, subjects, denied, first_at, last_at)
            SELECT system, user_id, day,
                   day::timestamp AT TIME ZONE 'Asia/Tokyo',
                   (day + 1)::timestamp AT TIME ZONE 'Asia/Tokyo',
                   n, s, dn, f, l
            FROM {source}
            ON CONFLICT (system, user_id, day) DO UPDATE SET
              events = (SELECT count(*) FROM evidence_access a {_SAME_DAY}),
              subjects = (SELECT count(DISTINCT subject_id) FROM evidence_access a {_SAME_DAY}),
              denied = (SELECT count(*) FROM evidence_access a {_SAME_DAY} AND a.result = 'denied'),
              first_at = LEAST(evidence_access_days.first_at, excluded.first_at),
              last_at = GREATEST(evidence_access_days.last_at, excluded.last_at)
        """)
    else:
        conn.exec_driver_sql(f"""
            INSERT INTO evidence_access_days
              (system, user_id, day, day_start, day_end, events, subjects, denied, first_at, last_at)
            SELECT system, user_id, day,
                   datetime(day, '-9 hours') || '.000000',
                   datetime(day, '+15 hours') || '.000000',
                   n, s, dn, f, l
            FROM {source}
            WHERE true
            ON CONFLICT (system, user_id, day) DO UPDATE SET
              events = (SELECT count(*) FROM evidence_access a {_SAME_DAY}),
              subjects = (SELECT count(DISTINCT subject_id) FROM evidence_access a {_SAME_DAY}),
              denied = (SELECT count(*) FROM evidence_access a {_SAME_DAY} AND a.result = 'denied'),
              first_at = min(evidence_access_days.first_at, excluded.first_at),
              last_at = max(evidence_access_days.last_at, excluded.last_at)
        """)
    if days is not None:
        conn.exec_driver_sql("DROP TABLE evidence_access_days_new")


def _load_days(conn, days: list[tuple]) -> None:
    """Put per-user-day figures in a temporary table ``evidence_access_days_new``."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        raw.execute(
            "CREATE TEMP TABLE evidence_access_days_new (system text, user_id text, "
            "day date, n bigint, s bigint, dn bigint, f timestamptz, l timestamptz)"
            " ON COMMIT DROP"
        )
        with raw.cursor().copy("COPY evidence_access_days_new FROM STDIN") as copy:
            for row in days:
                copy.write_row(row)
    else:
        cur = raw.cursor()
        cur.execute(
            "CREATE TEMP TABLE evidence_access_days_new (system TEXT, user_id TEXT, "
            "day TEXT, n INTEGER, s INTEGER, dn INTEGER, f TEXT, l TEXT)"
        )
        cur.executemany(
            "INSERT INTO evidence_access_days_new VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
            f"{_sqlite_ts_sql(7)}, {_sqlite_ts_sql(8)})",
            days,
        )
        cur.close()


class DaySummary:
    """The :class:`AccessDay` figures of the access rows a batch stores, computed column by
    column as its chunks go in (instead of a GROUP BY over the stored events afterwards).

    It relies on rows in time order, as access logs are written: a JST day is complete
    once a later one has begun, so only the open days' subjects are held. Rows out of
    order, a chunk the store did not take whole, or too many subjects in the open days
    make it give up (``usable`` false): the summary is then computed from the events.
    """

    #: distinct (user, subject) pairs held at most for the open days (~40 MB)
    MAX_OPEN_SUBJECTS = 200_000

    def __init__(self, local_day: Callable[[str], str]):
        self.usable = True
        self._local_day = local_day  # UTC 'YYYY-MM-DDTHH' -> JST 'YYYY-MM-DD' (ValueError)
        self._day_of: dict[str, str] = {}
        self._latest = ""
        self._last_day = ""
        self._open: dict[tuple[str, str], _UserFigures] = {}  # (day, system) -> its users
        self._closed: list[tuple] = []

    def give_up(self) -> None:
        self.usable = False
        self._open, self._closed = {}, []

    def add(self, cols: AccessColumns) -> None:
        if not self.usable:
            return
        times = cols.occurred_at
        if times[0] < self._latest or not all(map(le, times, islice(times, 1, None))):
            self.give_up()
            return
        self._latest = times[-1]
        try:
            spans, start = [], 0
            while start < len(times):  # one span but at midnight
                day = self._day(times[start])
                end = bisect_right(times, day, start, key=self._day)
                spans.append((day, start, end))
                start = end
            last_day = spans[-1][0]
        except (ValueError, OverflowError):
            self.give_up()
            return
        systems = cols.system
        for day, start, end in spans:
            columns = [c[start:end] for c in (cols.user_id, times, cols.result, cols.subject_id)]
            part = systems[start:end]
            if part.count(part[0]) == len(part):
                self._figures(day, part[0]).add(*columns)
            else:
                for system in set(part):
                    chosen = list(map(eq, part, repeat(system)))
                    self._figures(day, system).add(*(list(compress(c, chosen)) for c in columns))
        if last_day != self._last_day:
            self._last_day = last_day
            self._close_before(last_day)
        if sum(len(f.subjects) for f in self._open.values()) > self.MAX_OPEN_SUBJECTS:
            self.give_up()

    def _day(self, time: str) -> str:
        """The JST day of a canonical UTC time (cached by the hour)."""
        hour = time[:13]
        day = self._day_of.get(hour)
        if day is None:
            day = self._day_of[hour] = self._local_day(hour)
        return day

    def _figures(self, day: str, system: str) -> _UserFigures:
        figures = self._open.get((day, system))
        if figures is None:
            figures = self._open[(day, system)] = _UserFigures()
        return figures

    def _close_before(self, day: str) -> None:
        """Move the figures of the days before ``day`` (all complete) to ``_closed``."""
        for key in [k for k in self._open if k[0] < day]:
            self._closed.extend(self._open.pop(key).rows(*key))

    def rows(self) -> list[tuple]:
        """(system, user_id, day, events, subjects, denied, first, last) of every user-day."""
        self._close_before("~")
        return self._closed


class _UserFigures:
    """Per user, the figures of one system's rows on one JST day (rows arrive in time
    order; every operation runs over whole columns)."""

    __slots__ = ("events", "denied", "first", "last", "subjects")

    def __init__(self):
        self.events: Counter = Counter()
        self.denied: Counter = Counter()
        self.first: dict[str, str] = {}
        self.last: dict[str, str] = {}
        self.subjects: set[tuple[str, str]] = set()

    def add(self, users, times, results, subjects) -> None:
        self.events.update(users)
        if "denied" in results:
            self.denied.update(compress(users, map(eq, results, repeat("denied"))))
        self.last.update(zip(users, times))
        first = dict(zip(reversed(users), reversed(times)))
        first.update(self.first)
        self.first = first
        pairs = zip(users, subjects)
        self.subjects.update(compress(pairs, subjects) if "" in subjects else pairs)

    def rows(self, day: str, system: str) -> list[tuple]:
        subjects = Counter(map(_FIRST, self.subjects))
        return [
            (system, user, day, n, subjects[user], self.denied[user], self.first[user], self.last[user])
            for user, n in self.events.items()
        ]


def local_day_sqlite(utc_hour: str) -> str:
    """The JST day of a UTC hour as SQLite's ``date(t, '+9 hours')`` gives it."""
    return (datetime.fromisoformat(utc_hour + ":00:00") + timedelta(hours=9)).date().isoformat()


def local_day_pg(utc_hour: str) -> str:
    """The Asia/Tokyo day of a UTC hour (PostgreSQL's ``AT TIME ZONE 'Asia/Tokyo'``)."""
    local = datetime.fromisoformat(utc_hour + ":00:00+00:00").astimezone(TOKYO)
    if local.minute or local.second:  # local mean time before 1888: not by the hour
        raise ValueError("offset with minutes")
    return local.date().isoformat()


_FIRST = itemgetter(0)


_SAME_DAY = (
    "WHERE a.system = evidence_access_days.system "
    "AND a.user_id = evidence_access_days.user_id "
    "AND a.occurred_at >= evidence_access_days.day_start "
    "AND a.occurred_at < evidence_access_days.day_end"
)
