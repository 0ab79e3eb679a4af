"""Storing feeds: one service every door (CLI, HTTP API, drop folder, demo) goes through.

:func:`import_feed` takes a binary stream, parses it with :class:`evidence.feeds.FeedParser`
as it arrives and stores the valid rows as one batch, all or nothing, inside a savepoint of
the caller's transaction: a file with a bad row stores nothing (unless ``skip_invalid``), and
an error leaves nothing of the batch. The service only flushes; the door commits, through
:func:`common.db.unit_of_work` (a process killed before that leaves nothing either). On
PostgreSQL an advisory lock, held until that commit, serialises the batches: the chain has
one head. The batch record carries the SHA-256 of the raw bytes, the digest of the rows it
stored and the chain hash linking it to the previous batch.

Rows go in through one interface, :class:`Writer`, of which :func:`writer_class` picks the
engine's implementation. The base class writes any kind through SQLAlchemy Core (the small
kinds take that way on every engine); :class:`SQLiteWriter` and :class:`PostgresWriter`
write the access feed (the large one, which comes from the parser column by column as
:class:`evidence.feeds.AccessColumns`) with raw DB-API calls: ``executemany`` on SQLite, one
text ``COPY`` per chunk on PostgreSQL (inside a savepoint; a chunk with a duplicate goes
through a staging table and ``INSERT … ON CONFLICT DO NOTHING``), while a thread parses the
next chunks. :class:`OpenBatch` keeps what every engine shares: the batch record, the digest,
the time span and the per-user-day figures (:class:`DaySummary`, counted on the way for every
engine and format), which :func:`refresh_access_days` writes.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import queue
import re
import threading
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress, count, islice, repeat
from operator import eq, itemgetter, le
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import sqlalchemy as sa

from common import audit
from common.db import db, utcnow
from common.mynumber_guard import mask_my_numbers
from evidence.feeds import FIELDS, KINDS, TOKYO, AccessColumns, FeedParser, RowError, feed_source
from evidence.models import GENESIS_HASH, ROW_MODELS, FeedBatch

log = logging.getLogger(__name__)

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
    """Parse ``stream`` as a ``kind`` feed and store it as one batch (flushed; the caller
    commits, e.g. through :func:`common.db.unit_of_work`).

    All or nothing: when the file is rejected, or anything raises, nothing of the batch
    stays in the session (a rejected file leaves its audit event, to be committed too).

    :param source: where it came from, recorded on the batch (``cli:access.csv``, …)
    :param filename: used to tell CSV from JSON Lines by extension (else the content decides)
    :param skip_invalid: store the valid rows even when some are bad (the bad ones are
        listed in ``errors``; the caller writes them to a reject file)
    :param system_code: the API token's system: rows of any other system are rejected
    :param actor: recorded in the audit trail (default: the current user or CLI actor)
    :param chunk_rows: rows stored at a time (default: the engine's :attr:`Writer.chunk_rows`)
    :returns: an :class:`ImportResult`; ``stored`` tells whether the batch was stored
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
    parser = FeedParser(kind, known_systems=known_systems(), fmt=fmt, filename=filename)
    result = ImportResult(kind=kind, source=source)
    extra_errors: list[RowError] = []
    conn = db.session.connection()
    engine = writer_class(conn)
    engine.begin_batch(conn, kind)  # in the caller's transaction: a PostgreSQL lock lasts until its commit
    with db.session.begin_nested() as savepoint:  # the batch: all of it or nothing (rolled back if anything raises)
        conn = db.session.connection()  # the session emits the SAVEPOINT as it hands the connection out
        batch = OpenBatch(conn, kind, source=source, system_code=system_code, engine=engine)
        chunks = parser.iter_batches(stream, size=chunk_rows or engine.chunk_rows)
        if engine.read_ahead:
            chunks = _read_ahead(chunks)
        try:
            for chunk in chunks:
                if isinstance(chunk, AccessColumns) and system_code is not None and set(chunk.system) != {system_code}:
                    chunk = chunk.rows()  # rows of another system: each is listed below
                if isinstance(chunk, list) and system_code is not None and "system" in parser.names:
                    chunk = _rows_of_system(chunk, system_code, extra_errors)
                if (parser.errors_total or extra_errors) and not skip_invalid:
                    continue  # keep reading to list every bad line; nothing will be stored
                if len(chunk):
                    batch.add(chunk)
        finally:
            chunks.close()
        result.fmt = parser.fmt
        result.raw_sha256 = parser.sha256
        result.bytes_read = parser.bytes_read
        result.rows_total = parser.rows_total
        result.errors = sorted(list(parser.errors) + extra_errors, key=lambda e: e.line)
        result.errors_total = parser.errors_total + len(extra_errors)
        bad_rows = parser.rows_invalid + len(extra_errors)
        refused = bool(result.errors_total and not skip_invalid)
        empty = parser.rows_total == 0 and not result.errors_total  # a header alone: not an (empty) batch
        if refused or empty:
            savepoint.rollback()
        else:
            sealed = batch.seal(
                raw_sha256=parser.sha256 or "", fmt=parser.fmt or "csv", rows_total=parser.rows_total, rejected=bad_rows
            )
    if refused or empty:
        if refused:
            result.rejected = bad_rows
        else:
            result.errors = [RowError(1, None, EMPTY_REASON)]
            result.errors_total = 1
        _audit_rejected(result, actor)
        return result
    result.batch_id = sealed["id"]
    result.rows_stored = sealed["rows_stored"]
    result.duplicates = sealed["duplicates"]
    result.rejected = bad_rows
    result.chain_hash = sealed["chain_hash"]
    result.stored = True
    audit.record(
        "import",
        "evidence_batch",
        sealed["id"],
        f"{_feed_words(kind, source)}を取り込みました: 保存 {result.rows_stored} 件、"
        f"重複 {result.duplicates} 件、除外 {bad_rows} 件",
        after={
            "kind": kind,
            "source": source,
            "rows_stored": result.rows_stored,
            "duplicates": result.duplicates,
            "rejected": bad_rows,
            "sha256": parser.sha256,
            "chain_hash": sealed["chain_hash"],
        },
        actor=actor,
    )
    db.session.flush()
    _refresh_statistics(conn, engine, kind, result.rows_stored)
    log.info(
        "evidence batch %s stored: kind=%s rows=%d duplicates=%d rejected=%d",
        sealed["id"],
        kind,
        result.rows_stored,
        result.duplicates,
        bad_rows,
    )
    return result


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
    "transactions": ("evidence_transactions",),
    "protections": ("evidence_protections",),
}
ANALYZE_THRESHOLD = 1000


def _refresh_statistics(conn, engine: type[Writer], kind: str, rows: int) -> None:
    """After a large batch, let the planner see the new rows at once. With the statistics of
    an empty table (PostgreSQL, until autovacuum comes by) or none at all (SQLite, where
    nothing ever runs ANALYZE) it picks nested loops over the whole batch: seconds or
    minutes instead of milliseconds for a check."""
    tables = _ANALYZE_TABLES.get(kind, ())
    if rows >= ANALYZE_THRESHOLD and tables:
        engine.analyze(conn, tables)


def _feed_words(kind: str, source: str) -> str:
    """「証跡フィード「操作履歴」(取込コマンド(access.csv))」: the audit summary names the feed
    and its source as people read them, never by their codes."""
    from common import labels

    return f"証跡フィード「{labels.label(kind, labels.FEED_KIND)}」({feed_source(source)})"


def _audit_rejected(result: ImportResult, actor) -> None:
    reasons = sorted({e.reason for e in result.errors[:50]})[:5]
    audit.record(
        "import",
        "evidence_feed",
        None,
        f"{_feed_words(result.kind, result.source)}を受け付けませんでした: 不備 {result.errors_total} 件",
        after={
            "kind": result.kind,
            "source": result.source,
            "errors_total": result.errors_total,
            "sha256": result.raw_sha256,
            "reasons": reasons,
        },
        actor=actor,
    )
    db.session.flush()


# ---------------------------------------------------------------------------
# Storage: the batch, and one writer per engine behind one interface
# ---------------------------------------------------------------------------

#: what makes a row a duplicate of a stored one, per feed kind (other kinds: its content)
KEY_FIELDS = {
    "access": ("system", "event_id"),
    "provisions": ("record_id",),
    "transactions": ("system", "transaction_id"),
}
#: the columns of ``evidence_access`` a writer fills after ``batch_id``, in this order
ACCESS_COLUMNS = (
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
Chunk = AccessColumns | list[dict]


def key_fields(kind: str) -> tuple[str, ...]:
    return KEY_FIELDS.get(kind, ("row_hash",))


class OpenBatch:
    """One batch being stored, the same on every engine: its record (written first, sealed
    last), the digest of the rows it stored, their time span and the per-user-day figures.
    The engine's :class:`Writer` puts the rows in."""

    def __init__(self, conn, kind: str, *, source: str, system_code: str | None, engine: type[Writer]):
        self.conn = conn
        self.kind = kind
        self.key_fields = key_fields(kind)
        self.timed = any(spec.name == "occurred_at" for spec in FIELDS[kind])
        # written with Core, past the ORM guard: a file or token name never carries a
        # 個人番号 or a control character into the store
        self.source = _CONTROLS.sub("\ufffd", mask_my_numbers(source))[:400]
        self.received_at = utcnow()
        self.batch_id = conn.execute(
            sa.insert(FeedBatch.__table__).values(
                kind=kind,
                source=self.source,
                system_code=system_code,
                fmt="",
                received_at=self.received_at,
                raw_sha256="",
            )
        ).inserted_primary_key[0]
        table = ROW_MODELS[kind].__table__
        self.id_before = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
        self.writer = engine(conn, kind, self.batch_id, self.id_before)
        self.hasher = hashlib.sha256()
        self.stored = 0
        self.attempted = 0
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None
        self.days = DaySummary(engine.local_day) if kind == "access" else None

    def add(self, chunk: Chunk) -> None:
        """Store a chunk of valid rows (column by column or row by row)."""
        n = len(chunk)
        self.attempted += n
        self._extend_span(chunk)
        count_days = _Once(self._count_days, chunk)
        stored_keys = self.writer.write(chunk, count_days)
        if isinstance(chunk, AccessColumns):
            hashes: Sequence[str] = chunk.row_hash
        else:
            hashes = [r["row_hash"] for r in chunk]
        if stored_keys is None:  # the usual case: every row went in
            count_days()
            self.hasher.update("".join(hashes).encode("ascii"))
            self.stored += n
            return
        if self.days is not None:
            self.days.give_up()  # a chunk not taken whole: counted from the events afterwards
        self.stored += len(stored_keys)
        for key, row_hash in zip(self._keys(chunk), hashes):  # the stored ones, in input order
            if key in stored_keys:
                stored_keys.discard(key)
                self.hasher.update(row_hash.encode("ascii"))

    def _keys(self, chunk: Chunk) -> Iterator[tuple]:
        if isinstance(chunk, AccessColumns):
            return zip(chunk.system, chunk.event_id)
        return (tuple(r[f] for f in self.key_fields) for r in chunk)

    def _extend_span(self, chunk: Chunk) -> None:
        if isinstance(chunk, AccessColumns):  # canonical UTC text sorts in time
            lo = datetime.fromisoformat(min(chunk.occurred_at))
            hi = datetime.fromisoformat(max(chunk.occurred_at))
        elif self.timed:
            times = [r["occurred_at"] for r in chunk]
            lo, hi = min(times), max(times)
        else:
            return
        self.first_at = lo if self.first_at is None else min(lo, self.first_at)
        self.last_at = hi if self.last_at is None else max(hi, self.last_at)

    def _count_days(self, chunk: Chunk) -> None:
        if self.days is not None and self.days.usable:
            self.days.add(chunk if isinstance(chunk, AccessColumns) else _DayColumns.of(chunk))

    def seal(self, *, raw_sha256: str, fmt: str, rows_total: int, rejected: int) -> dict:
        """Bring the day summary up to date and write the batch's figures and chain hash."""
        if self.days is not None and self.stored:
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


class _Once:
    """``func(arg)``, run by the first call only."""

    __slots__ = ("func", "arg", "done")

    def __init__(self, func: Callable[[Any], None], arg: Any):
        self.func, self.arg, self.done = func, arg, False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self.func(self.arg)


class Writer(ABC):
    """Writes the rows of one batch on the session's connection: the interface, and the
    generic way (SQLAlchemy Core, any kind, any engine), which the small kinds take on
    every engine. One subclass per engine writes the access feed its fastest way and holds
    the engine's SQL (the batch's lock, the local date, the day summary, the statistics);
    :func:`writer_class` picks it."""

    #: rows handed to the database at a time
    chunk_rows = 5000
    #: parse the next chunks in a thread while the database stores one (:func:`_read_ahead`)
    read_ahead = False

    def __init__(self, conn, kind: str, batch_id: int, id_before: int):
        self.conn = conn
        self.kind = kind
        self.batch_id = batch_id
        #: the table's highest id before the batch
        self.id_before = id_before
        #: rows this writer has stored so far
        self.written = 0

    def write(self, chunk: Chunk, meanwhile: Callable[[], None]) -> set[tuple] | None:
        """Store the rows of ``chunk`` whose key (:func:`key_fields`) is not stored yet, in an
        earlier batch or earlier in this one; ``meanwhile`` may be called once while the
        database works on them.

        :returns: None when every row went in, else the keys of the rows that did
        """
        rows = chunk.rows() if isinstance(chunk, AccessColumns) else chunk
        table = ROW_MODELS[self.kind].__table__
        fields = key_fields(self.kind)
        names = [spec.name for spec in FIELDS[self.kind]]
        keys = [tuple(r[f] for f in fields) for r in rows]
        stored = self._stored_keys(table, fields, keys)
        added: set[tuple] = set()
        values = []
        for row, key in zip(rows, keys):
            if key in stored or key in added:
                continue
            added.add(key)
            record = {name: row[name] for name in names}
            record["extra"] = row["extra"] or None
            record["batch_id"] = self.batch_id
            if "row_hash" in table.c:
                record["row_hash"] = row["row_hash"]
            values.append(record)
        if values:
            self.conn.execute(sa.insert(table), values)
        self.written += len(values)
        return None if len(values) == len(rows) else added

    def _stored_keys(self, table, fields: tuple[str, ...], keys: list[tuple]) -> set[tuple]:
        """Those of ``keys`` the table holds already (asked 500 at a time)."""
        columns = [table.c[f] for f in fields]
        found: set[tuple] = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            if len(fields) == 1:
                cond = columns[0].in_([k[0] for k in part])
            else:
                cond = sa.tuple_(*columns).in_(part)
            found.update(tuple(r) for r in self.conn.execute(sa.select(*columns).where(cond)))
        return found

    # -- the engine's part ------------------------------------------------------

    @classmethod
    @abstractmethod
    def begin_batch(cls, conn, kind: str) -> None:
        """Prepare the caller's transaction for a batch (before the batch's savepoint)."""

    @staticmethod
    @abstractmethod
    def local_date(column):
        """SQL expression: the Asia/Tokyo calendar date of a UTC timestamp column."""

    @staticmethod
    @abstractmethod
    def local_day(utc_hour: str) -> str:
        """The JST day (``YYYY-MM-DD``) of a UTC hour (``YYYY-MM-DDTHH``) as :meth:`local_date`
        gives it (ValueError when it cannot tell it by the hour)."""

    #: SQL of :func:`refresh_access_days`: the JST day of ``occurred_at``; the UTC instants
    #: ``day`` starts and ends, as stored; the earlier and the later of two times
    LOCAL_DAY_SQL = DAY_START_SQL = DAY_END_SQL = EARLIER = LATER = ""

    @classmethod
    @abstractmethod
    def load_days(cls, conn, days: list[tuple]) -> None:
        """Put per-user-day figures (see :func:`refresh_access_days`) in a temporary table
        ``evidence_access_days_new`` (system, user_id, day, n, s, dn, f, l)."""

    @classmethod
    @abstractmethod
    def analyze(cls, conn, tables: Sequence[str]) -> None:
        """Refresh the planner statistics of ``tables``."""


def plain_columns(cols: AccessColumns) -> tuple[Sequence[str], ...]:
    """The columns of a chunk of plain access rows as the parser gives them, in
    :data:`ACCESS_COLUMNS` order but ``extra`` (they have none): times as canonical UTC text,
    "" for an empty optional field (the fast ways write it as NULL)."""
    return (
        cols.event_id,
        cols.occurred_at,
        cols.system,
        cols.user_id,
        cols.action,
        cols.subject_id,
        cols.terminal,
        cols.result,
        cols.purpose,
    )


def access_values(chunk: Chunk) -> list[Sequence]:
    """The access rows of ``chunk`` column by column, in :data:`ACCESS_COLUMNS` order, as a
    row-by-row way takes them: times as canonical UTC text, None for an empty optional
    field, ``extra`` as JSON text or None."""
    if isinstance(chunk, AccessColumns):
        columns: list[Sequence] = list(plain_columns(chunk))
        for i in (5, 6, 8):  # subject_id, terminal, purpose
            columns[i] = [v or None for v in columns[i]]
        return [*columns, [None] * len(chunk)]
    columns = [list(c) for c in zip(*map(itemgetter(*ACCESS_COLUMNS), chunk))]
    columns[1] = [_utc_text(t) for t in columns[1]]
    columns[9] = [json.dumps(e, ensure_ascii=False) if e else None for e in columns[9]]
    return columns


def _utc_text(value: datetime) -> str:
    """A time as canonical UTC text (``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00``)."""
    return value.astimezone(UTC).isoformat()


def _sqlite_ts_sql(param: int) -> str:
    """SQL writing parameter ``param``, canonical UTC text (``YYYY-MM-DDTHH:MM:SS+00:00`` or
    ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``), as SQLAlchemy stores a UTC datetime on SQLite
    (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    p = f"?{param}"
    return (
        f"CASE WHEN length({p}) = 25 THEN replace(substr({p}, 1, 19), 'T', ' ') "
        f"|| '.000000' ELSE replace(substr({p}, 1, 26), 'T', ' ') END"
    )


class SQLiteWriter(Writer):
    """SQLite: the access rows through ``executemany`` (``ON CONFLICT DO NOTHING``); a chunk
    of plain rows goes column by column as the parser gives it, through a statement without
    ``extra`` that turns "" into NULL itself (measured 5–10 % faster than one with ``extra``
    or one given None)."""

    LOCAL_DAY_SQL = "date(occurred_at, '+9 hours')"
    DAY_START_SQL = "datetime(day, '-9 hours') || '.000000'"
    DAY_END_SQL = "datetime(day, '+15 hours') || '.000000'"
    EARLIER, LATER = "min", "max"
    #: rows of each index ANALYZE reads (0 would read them all: about 0.5 s per million
    #: events; a sample gives the planner the same choices)
    ANALYSIS_LIMIT = 10_000

    _INSERT_PLAIN = (
        f"INSERT INTO evidence_access (batch_id, {', '.join(ACCESS_COLUMNS[:-1])}) "
        f"VALUES (?1, ?2, {_sqlite_ts_sql(3)}, ?4, ?5, ?6, nullif(?7, ''), nullif(?8, ''), ?9, nullif(?10, '')) "
        "ON CONFLICT DO NOTHING"
    )
    _INSERT_ROWS = (
        f"INSERT INTO evidence_access (batch_id, {', '.join(ACCESS_COLUMNS)}) "
        f"VALUES (?1, ?2, {_sqlite_ts_sql(3)}, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING"
    )

    @classmethod
    def begin_batch(cls, conn, kind: str) -> None:
        raw = conn.connection.driver_connection
        if not raw.in_transaction:
            # sqlite3 opens a transaction only before a write: a savepoint opened outside one
            # would open it, and releasing the savepoint would commit before the door does
            raw.execute("BEGIN")
        if kind == "access":
            # a larger page cache keeps the index pages hot while a big batch goes in
            conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")

    def write(self, chunk: Chunk, meanwhile: Callable[[], None]) -> set[tuple] | None:
        if self.kind != "access":
            return super().write(chunk, meanwhile)
        cur = self.conn.connection.driver_connection.cursor()
        try:
            if isinstance(chunk, AccessColumns):
                cur.executemany(self._INSERT_PLAIN, zip(repeat(self.batch_id), *plain_columns(chunk)))
            else:
                cur.executemany(self._INSERT_ROWS, zip(repeat(self.batch_id), *access_values(chunk)))
            inserted = cur.rowcount
            stored = None
            if inserted != len(chunk):
                cur.execute(
                    "SELECT system, event_id FROM evidence_access WHERE id > ? ORDER BY id",
                    (self.id_before + self.written,),
                )
                stored = set(cur.fetchall())
        finally:
            cur.close()
        self.written += inserted
        return stored

    @staticmethod
    def local_date(column):
        return sa.func.date(column, "+9 hours")

    @staticmethod
    def local_day(utc_hour: str) -> str:
        """As SQLite's ``date(t, '+9 hours')`` gives it."""
        return (datetime.fromisoformat(utc_hour + ":00:00") + timedelta(hours=9)).date().isoformat()

    @classmethod
    def load_days(cls, conn, days: list[tuple]) -> None:
        cur = conn.connection.driver_connection.cursor()
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

    @classmethod
    def analyze(cls, conn, tables: Sequence[str]) -> None:
        limit = conn.exec_driver_sql("PRAGMA analysis_limit").scalar()
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {cls.ANALYSIS_LIMIT}")
        try:
            for table in tables:
                conn.exec_driver_sql(f"ANALYZE {table}")
        finally:
            conn.exec_driver_sql(f"PRAGMA analysis_limit = {int(limit)}")


class PostgresWriter(Writer):
    """PostgreSQL: the access rows through ``COPY`` inside a savepoint; a chunk with a
    duplicate key goes through a staging table and ``INSERT … ON CONFLICT DO NOTHING``."""

    # the server pays a round trip, a savepoint and a hand-over between threads per chunk
    chunk_rows = 20_000
    read_ahead = True
    LOCAL_DAY_SQL = "(occurred_at AT TIME ZONE 'Asia/Tokyo')::date"
    DAY_START_SQL = "day::timestamp AT TIME ZONE 'Asia/Tokyo'"
    DAY_END_SQL = "(day + 1)::timestamp AT TIME ZONE 'Asia/Tokyo'"
    EARLIER, LATER = "LEAST", "GREATEST"

    _COPY_TEXT = f"COPY evidence_access (batch_id, {', '.join(ACCESS_COLUMNS[:-1])}) FROM STDIN WITH (NULL '')"
    _COPY_ROWS = f"COPY evidence_access (batch_id, {', '.join(ACCESS_COLUMNS)}) FROM STDIN"

    @classmethod
    def begin_batch(cls, conn, kind: str) -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})

    def write(self, chunk: Chunk, meanwhile: Callable[[], None]) -> set[tuple] | None:
        if self.kind != "access":
            return super().write(chunk, meanwhile)
        import psycopg

        raw = self.conn.connection.driver_connection
        text = self._copy_text(chunk) if isinstance(chunk, AccessColumns) else None
        try:
            with raw.transaction():
                if text is not None:
                    with raw.cursor().copy(self._COPY_TEXT) as copy:
                        copy.write(text)
                        meanwhile()  # while the server stores the chunk
                else:
                    with raw.cursor().copy(self._COPY_ROWS) as copy:
                        for row in zip(repeat(self.batch_id), *access_values(chunk)):
                            copy.write_row(row)
                        meanwhile()
        except psycopg.errors.UniqueViolation:
            return self._stage(raw, chunk)
        self.written += len(chunk)
        return None

    def _copy_text(self, cols: AccessColumns) -> str | None:
        """The chunk as ``COPY`` text (no value holds a backslash; an empty optional field
        goes as NULL), or None when a value holds a tab or a line break."""
        n = len(cols)
        data = "\n".join(map("\t".join, zip(repeat(str(self.batch_id)), *plain_columns(cols)))) + "\n"
        if data.count("\t") != 9 * n or data.count("\n") != n or "\r" in data:
            return None
        return data

    def _stage(self, raw, chunk: Chunk) -> set[tuple]:
        """Store the rows of a chunk with a duplicate key through a staging table, the first
        of each key in input order; returns the keys of the rows stored."""
        cols = ", ".join(ACCESS_COLUMNS)
        raw.execute(
            "CREATE TEMP TABLE IF NOT EXISTS evidence_access_stage ("
            "seq bigint, event_id text, occurred_at timestamptz, system text, "
            "user_id text, action text, subject_id text, terminal text, result text, "
            "purpose text, extra jsonb) ON COMMIT DROP"
        )
        raw.execute("TRUNCATE evidence_access_stage")
        with raw.cursor().copy(f"COPY evidence_access_stage (seq, {cols}) FROM STDIN") as copy:
            for row in zip(count(), *access_values(chunk)):
                copy.write_row(row)
        stored = raw.execute(
            f"INSERT INTO evidence_access (batch_id, {cols})"
            f" SELECT %s, {cols} FROM evidence_access_stage ORDER BY seq"
            " ON CONFLICT DO NOTHING RETURNING system, event_id",
            (self.batch_id,),
        ).fetchall()
        self.written += len(stored)
        return set(stored)

    @staticmethod
    def local_date(column):
        return sa.cast(sa.func.timezone("Asia/Tokyo", column), sa.Date)

    @staticmethod
    def local_day(utc_hour: str) -> str:
        """As PostgreSQL's ``AT TIME ZONE 'Asia/Tokyo'`` gives it."""
        local = datetime.fromisoformat(utc_hour + ":00:00+00:00").astimezone(TOKYO)
        if local.minute or local.second:  # local mean time before 1888: not by the hour
            raise ValueError("offset with minutes")
        return local.date().isoformat()

    @classmethod
    def load_days(cls, conn, days: list[tuple]) -> None:
        raw = conn.connection.driver_connection
        raw.execute(
            "CREATE TEMP TABLE evidence_access_days_new (system text, user_id text, "
            "day date, n bigint, s bigint, dn bigint, f timestamptz, l timestamptz)"
            " ON COMMIT DROP"
        )
        with raw.cursor().copy("COPY evidence_access_days_new FROM STDIN") as copy:
            for row in days:
                copy.write_row(row)

    @classmethod
    def analyze(cls, conn, tables: Sequence[str]) -> None:
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {table}")


#: the writer of each engine
WRITERS: dict[str, type[Writer]] = {"sqlite": SQLiteWriter, "postgresql": PostgresWriter}


def writer_class(conn) -> type[Writer]:
    """The :class:`Writer` of the connection's engine (the one place an engine is chosen)."""
    try:
        return WRITERS[conn.dialect.name]
    except KeyError:
        raise ValueError(f"no evidence writer for the {conn.dialect.name!r} engine") from None


def local_date(conn, column):
    """SQL expression: the Asia/Tokyo calendar date of a UTC timestamp column."""
    return writer_class(conn).local_date(column)


# ---------------------------------------------------------------------------
# The per-user-day summary of access events
# ---------------------------------------------------------------------------


def refresh_access_days(conn, id_before: int, days: list[tuple] | None = None) -> None:
    """Bring :class:`evidence.models.AccessDay` up to date for the user-days of events with
    id > id_before.

    :param days: the figures of those events per user-day, when the caller has them
        (:class:`DaySummary`), as (system, user_id, day, events, subjects, denied, first,
        last) with canonical UTC text times; else they are computed from the events.
        A user-day that already has a row is recounted from all of its events.
    """
    engine = writer_class(conn)
    if days is not None:
        engine.load_days(conn, days)
        source = "evidence_access_days_new"
    else:
        source = f"""(SELECT system, user_id, {engine.LOCAL_DAY_SQL} AS day,
                         count(*) AS n, count(DISTINCT subject_id) AS s,
                         sum(CASE WHEN result = 'denied' THEN 1 ELSE 0 END) AS dn,
                         min(occurred_at) AS f, max(occurred_at) AS l
                  FROM evidence_access WHERE id > {int(id_before)}
                  GROUP BY 1, 2, 3) agg"""
    conn.exec_driver_sql(f"""
        INSERT INTO evidence_access_days
          (system, user_id, day, day_start, day_end, events, subjects, denied, first_at, last_at)
        SELECT system, user_id, day, {engine.DAY_START_SQL}, {engine.DAY_END_SQL}, n, s, dn, f, l
        FROM {source}
        WHERE true
        ON CONFLICT (system, user_id, day) DO UPDATE SET
          events = (SELECT count(*) FROM evidence_access a {_SAME_DAY}),
          subjects = (SELECT count(DISTINCT subject_id) FROM evidence_access a {_SAME_DAY}),
          denied = (SELECT count(*) FROM evidence_access a {_SAME_DAY} AND a.result = 'denied'),
          first_at = {engine.EARLIER}(evidence_access_days.first_at, excluded.first_at),
          last_at = {engine.LATER}(evidence_access_days.last_at, excluded.last_at)
    """)
    if days is not None:
        conn.exec_driver_sql("DROP TABLE evidence_access_days_new")


_SAME_DAY = (
    "WHERE a.system = evidence_access_days.system "
    "AND a.user_id = evidence_access_days.user_id "
    "AND a.occurred_at >= evidence_access_days.day_start "
    "AND a.occurred_at < evidence_access_days.day_end"
)


class _DayColumns(NamedTuple):
    """The columns :class:`DaySummary` reads, of access rows given one by one."""

    system: list[str]
    user_id: list[str]
    occurred_at: list[str]
    result: list[str]
    subject_id: list[str]

    @classmethod
    def of(cls, rows: list[dict]) -> _DayColumns:
        return cls(
            [r["system"] for r in rows],
            [r["user_id"] for r in rows],
            [_utc_text(r["occurred_at"]) for r in rows],
            [r["result"] for r in rows],
            [r["subject_id"] or "" for r in rows],
        )


class DaySummary:
    """The :class:`evidence.models.AccessDay` figures of the access rows a batch stores,
    computed column by column as its chunks go in, whatever their engine and format
    (instead of a GROUP BY over the stored events afterwards).

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

    def add(self, cols: AccessColumns | _DayColumns) -> None:
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


_FIRST = itemgetter(0)
