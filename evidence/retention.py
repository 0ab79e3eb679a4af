"""保存期間 (retention): archiving old evidence to a file, then deleting it from the store.

``flask evidence archive --before DATE`` is the only way stored evidence ever leaves. In one
transaction it

1. selects the sealed batches of the timed feeds (access, provisions, transactions) whose rows
   all lie before DATE (JST; whole batches only) and refuses a DATE within a feed's retention
   (``HYOKA_EVIDENCE_RETENTION``, default :data:`DEFAULT_YEARS` years) unless forced;
2. signs a checkpoint when the latest one does not cover those batches, lists the batches in
   ``evidence_retention_open`` (the append-only triggers' one bypass,
   :data:`evidence.models.ARCHIVE_BYPASS`) and writes the archive file (JSON Lines,
   :data:`FORMAT`) atomically: a header with the signed checkpoint and the chain links from the
   first archived batch to the last, then each batch's record, leaf hash and inclusion proof,
   then every row in storage order (so each ``rows_digest`` recomputes). A batch whose rows,
   record or leaf no longer agree is refused: altered evidence is never written away;
3. deletes the listed batches' rows, empties the list, and rebuilds the per-user-day summary of
   the archived days from the events that remain;
4. records an append-only :class:`evidence.models.RetentionDecision` (who, why, the range, the
   batches, the head ``chain_hash``, the file's SHA-256) and an audit event.

The batch records stay, so the hash chain and the evidence log (leaves, checkpoints) verify as
before; ``verify`` accepts an archived batch without rows and :func:`verify_archive` checks a
file. The grants, assignments, relations and protections feeds are state, not events: the
checks need them for every event still stored, so they are not archived.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from common import audit
from common.canonical import canonical_json
from common.db import UTCDateTime, db, utcnow
from common.jpdate import wareki
from common.labels import FEED_KIND, label
from common.mynumber import contains_my_number, find_in_structure, other_digit_characters
from common.timeutil import JST, today_jst
from evidence import merkle, transparency
from evidence.feeds import FIELDS, row_digest
from evidence.ingest import chain_hash, writer_class
from evidence.models import (
    ROW_MODELS,
    AccessDay,
    FeedBatch,
    LogCheckpoint,
    RetentionBatch,
    RetentionDecision,
    RetentionOpen,
)
from evidence.note import NoteError, VerifierKey, open_checkpoint

RETENTION_KEY = "HYOKA_EVIDENCE_RETENTION"
DEFAULT_YEARS = 5
#: the feeds whose rows are events in time: the only ones archived
TIMED_KINDS = tuple(kind for kind in ROW_MODELS if any(spec.name == "occurred_at" for spec in FIELDS[kind]))
FORMAT = "hyoka-evidence-archive/1"
#: problems named one by one (the rest are counted)
MAX_NAMED = 20


class RetentionError(ValueError):
    """The retention setting cannot be read, or an archive is refused (the message says why)."""


# --------------------------------------------------------------------------- the setting


def init_config(app) -> None:
    """``HYOKA_EVIDENCE_RETENTION`` from the environment unless the config sets it."""
    app.config.setdefault(RETENTION_KEY, os.environ.get(RETENTION_KEY, ""))


def retention_years() -> dict[str, int]:
    """Years each timed feed is kept (``{"access": 7}`` or ``"access=7,provisions=10"``; others 5)."""
    value = current_app.config.get(RETENTION_KEY) or {}
    if isinstance(value, str):
        pairs = {}
        for part in value.split(","):
            if not part.strip():
                continue
            kind, sep, number = part.partition("=")
            if not sep:
                raise RetentionError(f"{RETENTION_KEY}: 「{part.strip()}」は「フィード=年数」の形で書いてください")
            pairs[kind.strip()] = number.strip()
        value = pairs
    years = dict.fromkeys(TIMED_KINDS, DEFAULT_YEARS)
    for kind, number in dict(value).items():
        if kind not in TIMED_KINDS:
            raise RetentionError(
                f"{RETENTION_KEY}: 「{kind}」は保存期間を設定できるフィードではありません({', '.join(TIMED_KINDS)})"
            )
        try:
            years[kind] = int(number)
        except (TypeError, ValueError):
            raise RetentionError(f"{RETENTION_KEY}: {kind} の年数「{number}」が整数ではありません") from None
        if years[kind] < 1:
            raise RetentionError(f"{RETENTION_KEY}: {kind} の年数は1以上にしてください")
    return years


def years_before(day: date, years: int) -> date:
    """``day`` ``years`` years earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def earliest_kept(years: int, today: date | None = None) -> date:
    """The first JST day a feed kept ``years`` years must still hold: an archive may reach up to it."""
    return years_before(today or today_jst(), years)


def describe() -> list[tuple[str, int]]:
    """(feed label, years) for the pages that describe the feeds (empty when unreadable)."""
    try:
        years = retention_years()
    except RetentionError:
        current_app.logger.exception("evidence retention setting")
        return []
    return [(label(kind, FEED_KIND), n) for kind, n in years.items()]


def doctor_check():
    """``flask doctor``: the retention setting can be read; says what is kept and what is due."""
    from common.doctor import Result

    try:
        years = retention_years()
    except RetentionError as exc:
        return Result(problems=[str(exc)])
    kept = "、".join(f"{label(kind, FEED_KIND)} {n}年" for kind, n in years.items())
    b = FeedBatch.__table__
    due = []
    for kind, n in years.items():
        limit = earliest_kept(n)
        waiting = db.session.execute(
            sa.select(sa.func.count())
            .select_from(b)
            .where(
                b.c.kind == kind,
                b.c.rows_stored > 0,
                b.c.last_at < sa.bindparam("cut", day_start(limit), type_=UTCDateTime()),
                ~sa.exists().where(RetentionBatch.__table__.c.batch_id == b.c.id),
            )
        ).scalar_one()
        if waiting:
            due.append(f"{label(kind, FEED_KIND)} {waiting} バッチ({wareki(limit)}より前)")
    summary = f"保存期間: {kept}。"
    if due:
        summary += f" 保存期間を過ぎたバッチがあります: {'、'.join(due)}(flask --app app evidence archive で書き出して削除できます)。"
    return Result(summary=summary)


# --------------------------------------------------------------------------- choosing batches


def day_start(day: date) -> datetime:
    """The UTC instant a JST day starts."""
    return datetime.combine(day, time(), JST).astimezone(UTC)


@dataclass
class Plan:
    """What an archive before ``before`` takes: the batches (row mappings, id order) and the
    kinds whose retention ``before`` would cut into."""

    before: date
    kinds: tuple[str, ...]
    years: dict[str, int]
    batches: list[dict]
    #: kind -> the last day before which the kind's retention allows archiving
    within_retention: dict[str, date] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(b["rows_stored"] for b in self.batches)

    def rows_by_kind(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for b in self.batches:
            n, r = out.get(b["kind"], (0, 0))
            out[b["kind"]] = (n + 1, r + b["rows_stored"])
        return out

    def refusal(self) -> str | None:
        if not self.within_retention:
            return None
        parts = [
            f"{label(kind, FEED_KIND)}(保存期間 {self.years[kind]} 年: {wareki(limit)}より前まで)"
            for kind, limit in self.within_retention.items()
        ]
        return (
            f"{wareki(self.before)}より前の証跡は、まだ保存期間内のものを含みます: {'、'.join(parts)}。"
            "日付を改めるか --kind で対象を絞ってください(保存期間を過ぎる前に削除する必要があるときは "
            "--force-retention を付けます。そのことは判断の記録に残ります)。"
        )


def plan(before: date, kinds: tuple[str, ...] | None = None, *, today: date | None = None) -> Plan:
    """The sealed batches of ``kinds`` (all timed feeds by default) not archived yet whose rows all
    lie before the JST day ``before``."""
    kinds = tuple(kinds or TIMED_KINDS)
    years = retention_years()
    b, archived = FeedBatch.__table__, RetentionBatch.__table__
    rows = db.session.execute(
        sa.select(b)
        .where(
            b.c.chain_hash.is_not(None),
            b.c.kind.in_(kinds),
            b.c.rows_stored > 0,
            b.c.last_at < sa.bindparam("cut", day_start(before), type_=UTCDateTime()),
            ~sa.exists().where(archived.c.batch_id == b.c.id),
        )
        .order_by(b.c.id)
    ).all()
    result = Plan(before, kinds, {k: years[k] for k in kinds}, [dict(r._mapping) for r in rows])
    for kind in kinds:
        limit = earliest_kept(years[kind], today)
        if before > limit and any(x["kind"] == kind for x in result.batches):
            result.within_retention[kind] = limit
    return result


# --------------------------------------------------------------------------- the file


def _file_value(value):
    """A row value as the archive writes it: what :func:`evidence.feeds.canonical_row` makes of it."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


#: a date or a UTC time as the archive writes them (from the typed columns: no room for a number)
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00)?\Z")


#: twelve ASCII digits within one value (values joined by NUL)
_TWELVE_DIGITS = re.compile(r"(?:[^\x00\d]*\d){12}", re.ASCII)


@functools.cache
def _other_digit() -> re.Pattern:
    return re.compile(f"[{re.escape(other_digit_characters())}]")


def _may_hold_my_number(row: dict) -> bool:
    """False when no value of ``row`` has the twelve digits a 個人番号 needs (the usual row:
    then :func:`common.mynumber.find_in_structure` need not look)."""
    for value in row.values():
        if value is None:
            continue
        text = value if isinstance(value, str) else canonical_json(value)
        if len(text) < 12 or _ISO_TIME.match(text):
            continue
        if (not text.isascii() and _other_digit().search(text)) or _TWELVE_DIGITS.search(text):
            return True
    return False


def _line(obj: dict) -> bytes:
    return (canonical_json(obj) + "\n").encode("utf-8")


def _stored_rows(kind: str) -> Iterator[tuple[int, dict]]:
    """(batch id, row) of the batches listed in ``evidence_retention_open``, in storage order
    (as :func:`evidence.chain.verify` reads them): one pass over the table."""
    table, marker = ROW_MODELS[kind].__table__, RetentionOpen.__table__
    names = [spec.name for spec in FIELDS[kind]]
    cols = [table.c.batch_id] + [table.c[n] for n in names] + [table.c.extra]
    result = db.session.execute(
        sa.select(*cols)
        .where(table.c.batch_id.in_(sa.select(marker.c.batch_id)))
        .order_by(table.c.id)
        .execution_options(yield_per=10000, stream_results=True)
    )
    try:
        for row in result:
            mapping = row._mapping
            yield mapping["batch_id"], {n: _file_value(mapping[n]) for n in [*names, "extra"]}
    finally:
        result.close()  # a server-side cursor on PostgreSQL, also when the reader stops early


def _chain_links(first: int, last: int) -> list[dict]:
    b = FeedBatch.__table__
    return [
        {"id": r.id, "prev_hash": r.prev_hash, "chain_hash": r.chain_hash}
        for r in db.session.execute(
            sa.select(b.c.id, b.c.prev_hash, b.c.chain_hash)
            .where(b.c.id.between(first, last), b.c.chain_hash.is_not(None))
            .order_by(b.c.id)
        )
    ]


def covering_checkpoint(batches: list[dict]) -> tuple[LogCheckpoint, bool]:
    """The latest checkpoint if it covers every batch (and the log still extends it), else a new
    one signed now (flushed, not committed). Second value: whether it is new."""
    latest = transparency.latest_checkpoint()
    current = transparency.current_log()
    indexes = [current.index_of(b["id"]) for b in batches]
    if (
        latest is not None
        and latest.tree_size <= current.size
        and all(i is not None and i < latest.tree_size for i in indexes)
    ):
        return latest, False
    return transparency.make_checkpoint(), True


def write_archive(out: Path, plan: Plan, checkpoint: LogCheckpoint, *, reason: str, by: str) -> tuple[str, int]:
    """Write the archive file atomically (a temporary file renamed onto ``out``); its SHA-256 and
    the rows written. Raises :class:`RetentionError` when a row holds a 個人番号."""
    current = transparency.current_log()
    ids = [b["id"] for b in plan.batches]
    header = {
        "type": "archive",
        "format": FORMAT,
        "before": plan.before.isoformat(),
        "kinds": list(plan.kinds),
        "retention_years": plan.years,
        "reason": reason,
        "by": by,
        "written_at": utcnow().isoformat(),
        "batches": len(ids),
        "rows": plan.rows,
        "checkpoint": {
            "id": checkpoint.id,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "key_fingerprint": checkpoint.key_fingerprint,
            "note": checkpoint.note,
        },
        "chain": _chain_links(ids[0], ids[-1]),
    }
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    written = 0
    try:
        with tmp.open("xb") as fh:

            def put(obj: dict) -> None:
                data = _line(obj)
                digest.update(data)
                fh.write(data)

            put(header)
            for batch in plan.batches:
                index = current.index_of(batch["id"])
                assert index is not None and index < checkpoint.tree_size
                put(
                    {
                        "type": "batch",
                        "record": transparency.leaf_record(batch),
                        "leaf_index": index,
                        "leaf_hash": current.tree.leaf(index).hex(),
                        "inclusion_proof": [h.hex() for h in current.tree.inclusion_proof(index, checkpoint.tree_size)],
                    }
                )
            sums: dict[int, list] = {}
            for kind in plan.kinds:
                with contextlib.closing(_stored_rows(kind)) as stored:
                    for batch_id, row in stored:
                        # rows were screened at import; a 個人番号 here means the store was altered
                        if _may_hold_my_number(row) and any(find_in_structure(row)):
                            raise RetentionError(
                                f"バッチ {batch_id} の行に個人番号とみられる値があります。書き出しを中止しました(何も削除していません)。"
                            )
                        put({"type": "row", "kind": kind, "batch": batch_id, "row": row})
                        entry = sums.setdefault(batch_id, [0, hashlib.sha256()])
                        entry[0] += 1
                        entry[1].update(row_digest(kind, row).encode("ascii"))
                        written += 1
            _refuse_altered(plan, current, sums)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest(), written


def _refuse_altered(plan: Plan, current: transparency.Log, sums: dict[int, list]) -> None:
    """Refuse to archive (and so to delete) a batch whose rows, record or leaf no longer agree:
    what ``flask evidence verify`` would report is never written away."""
    altered = []
    for batch in plan.batches:
        count, h = sums.get(batch["id"], (0, hashlib.sha256()))
        index = current.index_of(batch["id"])
        leaf = merkle.leaf_hash(transparency.leaf_bytes(transparency.leaf_record(batch)))
        if (
            count != batch["rows_stored"]
            or h.hexdigest() != batch["rows_digest"]
            or chain_hash(batch) != batch["chain_hash"]
            or index is None
            or current.tree.leaf(index) != leaf
        ):
            altered.append(str(batch["id"]))
    if altered:
        raise RetentionError(
            f"バッチ {', '.join(altered[:MAX_NAMED])} の行または記録が封印時と一致しません。"
            "書き出しも削除もしていません。flask --app app evidence verify で確認してください。"
        )


# --------------------------------------------------------------------------- deleting


def _open(plan: Plan) -> None:
    """List the plan's batches in ``evidence_retention_open``: the rows to write and to delete."""
    conn = db.session.connection()
    conn.execute(sa.insert(RetentionOpen.__table__), [{"batch_id": b["id"]} for b in plan.batches])


def _delete_rows(plan: Plan) -> int:
    """Delete the rows of the batches listed (the triggers let these through), then close the
    list. Returns the rows deleted."""
    conn = db.session.connection()
    marker = RetentionOpen.__table__
    deleted = 0
    for kind in plan.kinds:
        table = ROW_MODELS[kind].__table__
        result = conn.execute(table.delete().where(table.c.batch_id.in_(sa.select(marker.c.batch_id))))
        deleted += result.rowcount
    conn.execute(marker.delete())
    if "access" in plan.kinds:
        rebuild_access_days(plan.before)
    return deleted


def rebuild_access_days(before: date) -> None:
    """Recount the per-user-day summary of every JST day before ``before`` from the events left."""
    conn = db.session.connection()
    engine = writer_class(conn)
    days = AccessDay.__table__
    conn.execute(days.delete().where(days.c.day < before))
    conn.execute(
        sa.text(f"""
        INSERT INTO evidence_access_days
          (system, user_id, day, day_start, day_end, events, subjects, denied, first_at, last_at)
        SELECT system, user_id, day, {engine.DAY_START_SQL}, {engine.DAY_END_SQL}, n, s, dn, f, l
        FROM (SELECT system, user_id, {engine.LOCAL_DAY_SQL} AS day,
                     count(*) AS n, count(DISTINCT subject_id) AS s,
                     sum(CASE WHEN result = 'denied' THEN 1 ELSE 0 END) AS dn,
                     min(occurred_at) AS f, max(occurred_at) AS l
              FROM evidence_access WHERE occurred_at < :cut
              GROUP BY 1, 2, 3) agg
        """).bindparams(sa.bindparam("cut", day_start(before), type_=UTCDateTime()))
    )


@dataclass
class Archived:
    decision: RetentionDecision
    checkpoint: LogCheckpoint
    new_checkpoint: bool
    rows: int


def archive(
    plan: Plan,
    out: Path,
    *,
    reason: str,
    by: str,
    force: bool = False,
) -> Archived:
    """Archive the plan's batches to ``out`` and delete their rows (flushed; the caller commits, or
    rolls back and removes ``out`` when anything raises)."""
    if not plan.batches:
        raise RetentionError("対象のバッチはありません。")
    refusal = plan.refusal()
    if refusal and not force:
        raise RetentionError(refusal)
    if not reason.strip() or not by.strip():
        raise RetentionError("削除の理由(--reason)と実施者(--by)を書いてください。")
    if contains_my_number(reason) or contains_my_number(by):
        raise RetentionError("理由または実施者に個人番号とみられる値があります。個人番号は記録できません。")
    if out.exists():
        raise RetentionError(
            f"{out} は既にあります。別のファイル名を指定してください(書き出したファイルは上書きしません)。"
        )
    checkpoint, new = covering_checkpoint(plan.batches)
    _open(plan)
    sha256, written = write_archive(out, plan, checkpoint, reason=reason, by=by)
    if written != plan.rows:
        raise RetentionError(
            f"書き出した行 {written} 件がバッチの記録 {plan.rows} 件と一致しません。何も削除していません。"
        )
    deleted = _delete_rows(plan)
    if deleted != written:
        raise RetentionError(f"削除する行 {deleted} 件が書き出した {written} 件と一致しません。何も削除していません。")
    decision = RetentionDecision(
        decided_by=by.strip(),
        reason=reason.strip(),
        before=plan.before,
        retention=plan.years,
        forced=bool(refusal),
        batches=len(plan.batches),
        rows=written,
        head_hash=plan.batches[-1]["chain_hash"],
        checkpoint_id=checkpoint.id,
        archive_name=out.name,
        archive_sha256=sha256,
    )
    db.session.add(decision)
    db.session.flush()
    db.session.execute(
        sa.insert(RetentionBatch.__table__), [{"batch_id": b["id"], "decision_id": decision.id} for b in plan.batches]
    )
    audit.record(
        "delete",
        "evidence_retention",
        decision.id,
        f"保存期間の満了により証跡を書き出して削除しました({wareki(plan.before)}より前、"
        f"バッチ {len(plan.batches)} 件、行 {written} 件{'、保存期間内を含む' if refusal else ''})。"
        f"理由: {reason.strip()}",
        after={
            "before": plan.before.isoformat(),
            "by": by.strip(),
            "batches": [b["id"] for b in plan.batches],
            "rows": written,
            "head_hash": decision.head_hash,
            "archive": out.name,
            "sha256": sha256,
            "forced": bool(refusal),
        },
    )
    return Archived(decision, checkpoint, new, written)


# --------------------------------------------------------------------------- checking a file


@dataclass
class ArchiveReport:
    batches: int = 0
    rows: int = 0
    sha256: str = ""
    checkpoint: str = ""
    decision: RetentionDecision | None = None
    problems: list[tuple[int | None, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_BATCH_OF_LINE = re.compile(rb'"batch":(\d+)')


def _as_batch(record: dict) -> dict:
    out = dict(record)
    out["received_at"] = datetime.fromisoformat(record["received_at"])
    return out


def verify_archive(path: Path, key: VerifierKey | None = None) -> ArchiveReport:
    """Check an archive file: the checkpoint's signature, each batch's chain hash, leaf and inclusion
    proof, the chain links between the archived batches, and each batch's rows against its
    ``rows_digest``; a problem names its batch where it has one."""
    report = ArchiveReport()
    problems = report.problems
    digest = hashlib.sha256()
    header: dict | None = None
    root = b""
    size = 0
    records: dict[int, dict] = {}
    sums: dict[int, list] = {}
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            digest.update(raw)
            try:
                obj = json.loads(raw)
                kind = obj["type"]
                if not isinstance(obj, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError, IndexError):
                m = _BATCH_OF_LINE.search(raw)
                bid = int(m.group(1)) if m else None
                problems.append((bid, f"{number}行目を読めません" + (f"(バッチ {bid} の行)" if bid else "")))
                continue
            if number == 1:
                if kind != "archive" or obj.get("format") != FORMAT:
                    problems.append((None, "証跡の書き出しファイルではありません(1行目が見出しではありません)"))
                    return report
                header = obj
                root, size = _open_header(obj, key, report)
                continue
            if kind == "batch":
                _check_batch(obj, root, size, records, report)
            elif kind == "row":
                bid = obj.get("batch")
                if bid not in records:
                    problems.append((None, f"{number}行目: 書き出されていないバッチ {bid} の行です"))
                    continue
                try:
                    digest_of_row = row_digest(obj["kind"], obj["row"])
                except (KeyError, TypeError, AttributeError):
                    problems.append((bid, f"{number}行目を読めません(バッチ {bid} の行)"))
                    continue
                entry = sums.setdefault(bid, [0, hashlib.sha256()])
                entry[0] += 1
                entry[1].update(digest_of_row.encode("ascii"))
                report.rows += 1
            else:
                problems.append((None, f"{number}行目: 種類「{kind}」の行は書き出しファイルにはありません"))
    report.sha256 = digest.hexdigest()
    if header is None:
        problems.append((None, "ファイルが空です"))
        return report
    empty = hashlib.sha256().hexdigest()
    for bid, record in records.items():
        count, h = sums.get(bid, (0, None))
        if count != record["rows_stored"] or (h.hexdigest() if h else empty) != record["rows_digest"]:
            problems.append(
                (
                    bid,
                    f"バッチ {bid} の行が記録と一致しません(記録 {record['rows_stored']} 件、ファイル {count} 件。行が改変または削除されています)",
                )
            )
    try:
        _check_links(header.get("chain") or [], records, report)
    except (KeyError, TypeError, AttributeError):
        problems.append((None, "見出しのチェーンの記録を読めません"))
    if header.get("batches") != len(records):
        problems.append(
            (None, f"見出しのバッチ数 {header.get('batches')} とファイルのバッチ {len(records)} 件が一致しません")
        )
    report.decision = db.session.execute(
        sa.select(RetentionDecision).where(RetentionDecision.archive_sha256 == report.sha256)
    ).scalar_one_or_none()
    if report.decision is None:
        problems.append(
            (None, f"このファイル(SHA-256 {report.sha256})は、記録されたどの削除の判断のファイルとも一致しません")
        )
    return report


def _open_header(header: dict, key: VerifierKey | None, report: ArchiveReport) -> tuple[bytes, int]:
    if key is None:
        try:
            key = transparency.load_signer().verifier
        except transparency.LogKeyError as exc:
            report.problems.append((None, str(exc)))
            return b"", 0
    try:
        checkpoint = open_checkpoint(header["checkpoint"]["note"], key)
    except (NoteError, KeyError, TypeError) as exc:
        report.problems.append((None, f"ファイルのチェックポイントを確認できません: {exc}"))
        return b"", 0
    report.checkpoint = transparency.checkpoint_label(checkpoint)
    return checkpoint.root, checkpoint.size


def _check_batch(obj: dict, root: bytes, size: int, records: dict[int, dict], report: ArchiveReport) -> None:
    problems = report.problems
    try:
        record = obj["record"]
        bid = record["id"]
        batch = _as_batch(record)
        ok_chain = chain_hash(batch) == record["chain_hash"]
        leaf = merkle.leaf_hash(transparency.leaf_bytes(record))
        proof = [bytes.fromhex(h) for h in obj["inclusion_proof"]]
        index = obj["leaf_index"]
    except (KeyError, TypeError, ValueError) as exc:
        problems.append((None, f"バッチの記録を読めません: {exc}"))
        return
    report.batches += 1
    records[bid] = record
    if not ok_chain:
        problems.append((bid, f"バッチ {bid} の記録(件数・ハッシュ等)がチェーンハッシュと一致しません"))
    if leaf.hex() != obj.get("leaf_hash"):
        problems.append((bid, f"バッチ {bid} の記録が、ログに記録された葉のハッシュと一致しません"))
    if not root or not merkle.verify_inclusion(index, size, leaf, proof, root):
        problems.append((bid, f"バッチ {bid} が署名されたチェックポイントに含まれることを証明できません"))


def _check_links(chain: list[dict], records: dict[int, dict], report: ArchiveReport) -> None:
    by_id = {c["id"]: c for c in chain}
    for bid, record in records.items():
        link = by_id.get(bid)
        if link is None or link["chain_hash"] != record["chain_hash"] or link["prev_hash"] != record["prev_hash"]:
            report.problems.append((bid, f"バッチ {bid} がファイルのチェーンの記録と一致しません"))
    for before, after in zip(chain, chain[1:], strict=False):
        if after["prev_hash"] != before["chain_hash"]:
            report.problems.append(
                (
                    after["id"],
                    f"バッチ {after['id']} の直前のハッシュがバッチ {before['id']} のチェーンハッシュと一致しません",
                )
            )


def archived_batches() -> dict[int, int]:
    """{batch id: decision id} of every archived batch."""
    t = RetentionBatch.__table__
    return dict(db.session.execute(sa.select(t.c.batch_id, t.c.decision_id)).all())


def verify_decisions(batches_by_id: dict[int, dict]) -> list[tuple[int | None, str]]:
    """For :func:`evidence.chain.verify`: each decision's head is its last batch's chain hash, and
    the bypass is closed (``evidence_retention_open`` empty)."""
    problems: list[tuple[int | None, str]] = []
    t = RetentionBatch.__table__
    last = dict(
        db.session.execute(sa.select(t.c.decision_id, sa.func.max(t.c.batch_id)).group_by(t.c.decision_id)).all()
    )
    for decision in db.session.execute(sa.select(RetentionDecision).order_by(RetentionDecision.id)).scalars():
        bid = last.get(decision.id)
        batch = batches_by_id.get(bid) if bid is not None else None
        if batch is None or batch["chain_hash"] != decision.head_hash:
            problems.append(
                (
                    bid,
                    f"保存期間の判断 {decision.id} の先頭ハッシュが、最後に書き出したバッチ {bid} のチェーンハッシュと一致しません",
                )
            )
    open_ids = list(db.session.execute(sa.select(RetentionOpen.batch_id)).scalars())
    if open_ids:
        problems.append(
            (
                None,
                f"削除の許可(evidence_retention_open)が開いたままです: バッチ {', '.join(map(str, open_ids[:MAX_NAMED]))}"
                "(書き出しの途中以外で行があってはなりません。直接の操作を確認してください)",
            )
        )
    return problems


@dataclass(frozen=True)
class ArchivedSpan:
    """Days of one feed whose rows a retention decision archived and deleted."""

    kind: str
    first_day: date
    last_day: date
    decision_id: int
    decided_on: date


def archived_spans(start: date, end: date, kinds: tuple[str, ...] = TIMED_KINDS) -> list[ArchivedSpan]:
    """The archived days of ``kinds`` within the JST days ``start``..``end`` (per kind and
    decision, clipped to the period): what a report or a 本人開示 over the period no longer holds."""
    b, rb, dec = FeedBatch.__table__, RetentionBatch.__table__, RetentionDecision.__table__
    rows = db.session.execute(
        sa.select(b.c.kind, b.c.first_at, b.c.last_at, rb.c.decision_id, dec.c.decided_at)
        .join(rb, rb.c.batch_id == b.c.id)
        .join(dec, dec.c.id == rb.c.decision_id)
        .where(
            b.c.kind.in_(kinds),
            b.c.first_at < day_start(end + timedelta(days=1)),
            b.c.last_at >= day_start(start),
        )
    ).all()
    spans: dict[tuple[str, int], list] = {}
    for kind, first_at, last_at, decision_id, decided_at in rows:
        first = max(first_at.astimezone(JST).date(), start)
        last = min(last_at.astimezone(JST).date(), end)
        key = (kind, decision_id)
        if key in spans:
            spans[key][0] = min(spans[key][0], first)
            spans[key][1] = max(spans[key][1], last)
        else:
            spans[key] = [first, last, decided_at.astimezone(JST).date()]
    return [
        ArchivedSpan(kind, first, last, decision_id, decided_on)
        for (kind, decision_id), (first, last, decided_on) in sorted(spans.items(), key=lambda kv: (kv[1][0], kv[0]))
    ]
