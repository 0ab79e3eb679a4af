"""Verifying the tamper-evident chain of stored evidence.

:func:`verify` recomputes, from the stored rows alone, the digest of every batch's rows
(``evidence.feeds.row_digest`` of each row, in storage order) and every batch's chain
hash, and compares them with what the batches recorded (a batch archived under a retention
decision, :mod:`evidence.retention`, keeps its record and must have no rows left). It also checks that every batch
the audit trail saw being stored still exists. It relies on nothing a trigger protects,
so it notices changes made by someone who dropped the append-only triggers.

The checks and the report also read a derived table, the per-user-day summary of the access
events (:class:`evidence.models.AccessDay`); :func:`verify` recounts it from the chained
events and names every user-day that differs (a row removed, added or altered), so that no
check rests on anything the chain does not cover.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from common.db import UTCDateTime, db
from common.jpdate import wareki
from common.models import AuditEvent
from evidence.feeds import FIELDS, TOKYO, row_digest
from evidence.ingest import chain_hash, local_date
from evidence.models import GENESIS_HASH, ROW_MODELS, AccessDay, AccessEvent, FeedBatch
from evidence.retention import archived_batches, verify_decisions

#: user-days named one by one in a failing report (the rest are counted)
MAX_DAYS_NAMED = 20
_DAY_FIGURES = ("events", "subjects", "denied", "first_at", "last_at", "day_start", "day_end")
_FIGURE_LABELS = {
    "events": "件数",
    "subjects": "対象者数",
    "denied": "拒否件数",
    "first_at": "最初の操作日時",
    "last_at": "最後の操作日時",
    "day_start": "日の開始",
    "day_end": "日の終了",
}


@dataclass
class Problem:
    batch_id: int | None
    message: str


@dataclass
class VerifyReport:
    batches: int = 0
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    head: str = GENESIS_HASH
    #: batches whose rows a retention decision archived and deleted (their records stay)
    archived: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _row_digests(kind: str, batch_ids: set[int], report: VerifyReport):
    """{batch_id: (count, sha256)} over the stored rows of ``kind``, streamed in id order."""
    table = ROW_MODELS[kind].__table__
    names = [spec.name for spec in FIELDS[kind]]
    cols = [table.c.batch_id] + [table.c[n] for n in names] + [table.c.extra]
    acc: dict[int, list] = {}
    result = db.session.execute(
        sa.select(*cols).order_by(table.c.id).execution_options(yield_per=10000, stream_results=True)
    )
    for row in result:
        mapping = row._mapping
        bid = mapping["batch_id"]
        entry = acc.get(bid)
        if entry is None:
            entry = acc[bid] = [0, hashlib.sha256()]
            if bid not in batch_ids:
                report.problems.append(
                    Problem(
                        bid,
                        f"{kind} の行が存在しないバッチ {bid} を参照しています"
                        f"(バッチの記録が削除された可能性があります)",
                    )
                )
        entry[0] += 1
        entry[1].update(row_digest(kind, mapping).encode("ascii"))
        report.rows += 1
    return {bid: (n, h.hexdigest()) for bid, (n, h) in acc.items()}


def verify() -> VerifyReport:
    """Recompute the chain from the stored rows; the report lists every problem found."""
    report = VerifyReport()
    b = FeedBatch.__table__
    batches = [dict(r._mapping) for r in db.session.execute(sa.select(b).order_by(b.c.id))]
    report.batches = len(batches)
    ids = {x["id"] for x in batches}
    digests = {}
    for kind in ROW_MODELS:
        for bid, value in _row_digests(kind, ids, report).items():
            digests[(kind, bid)] = value
    empty = hashlib.sha256().hexdigest()
    archived = archived_batches()
    report.archived = len(archived)
    prev = GENESIS_HASH
    for batch in batches:
        bid = batch["id"]
        if batch["chain_hash"] is None:
            report.problems.append(Problem(bid, f"バッチ {bid} は封印されていません"))
            continue
        if batch["prev_hash"] != prev:
            report.problems.append(
                Problem(
                    bid,
                    f"バッチ {bid} の直前のハッシュが一致しません"
                    f"(それより前のバッチが削除または改変された可能性があります)",
                )
            )
        if chain_hash(batch) != batch["chain_hash"]:
            report.problems.append(Problem(bid, f"バッチ {bid} の記録(件数・ハッシュ等)が改変されています"))
        count, digest = digests.get((batch["kind"], bid), (0, empty))
        if bid in archived:
            if count:
                report.problems.append(
                    Problem(
                        bid,
                        f"バッチ {bid} は保存期間の判断 {archived[bid]} で書き出して削除したはずですが、"
                        f"行が {count} 件あります",
                    )
                )
        elif count != batch["rows_stored"] or digest != batch["rows_digest"]:
            report.problems.append(
                Problem(
                    bid,
                    f"バッチ {bid}({batch['kind']})の保存行が改変または削除されています"
                    f"(記録 {batch['rows_stored']} 件、現在 {count} 件)",
                )
            )
        for (kind, other), _v in digests.items():
            if other == bid and kind != batch["kind"]:
                report.problems.append(Problem(bid, f"バッチ {bid} に別の種類({kind})の行があります"))
        prev = batch["chain_hash"]
    report.head = prev
    by_id = {x["id"]: x for x in batches}
    report.problems.extend(Problem(bid, message) for bid, message in verify_decisions(by_id))
    _check_access_days(report)
    # every batch the audit trail recorded as stored must still be there, unchanged
    a = AuditEvent.__table__
    for object_id, after in db.session.execute(
        sa.select(a.c.object_id, a.c.after).where(a.c.action == "import", a.c.object_type == "evidence_batch")
    ):
        try:
            bid = int(object_id)
        except (TypeError, ValueError):
            continue
        batch = by_id.get(bid)
        if batch is None:
            report.problems.append(Problem(bid, f"監査ログにあるバッチ {bid} が削除されています"))
        elif after and after.get("chain_hash") and after["chain_hash"] != batch["chain_hash"]:
            report.problems.append(Problem(bid, f"バッチ {bid} のチェーンハッシュが監査ログの記録と異なります"))
    return report


def _day_bounds(day: date, dialect: str) -> tuple[datetime, datetime]:
    """The UTC instants a JST day starts and ends, as :func:`evidence.ingest.refresh_access_days`
    writes them (PostgreSQL: the Asia/Tokyo zone; SQLite: nine hours)."""
    zone = TOKYO if dialect == "postgresql" else timezone(timedelta(hours=9))
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


def recount_access_days() -> dict[tuple, tuple]:
    """The per-user-day summary as the stored access events give it:
    {(system, user_id, day): (events, subjects, denied, first_at, last_at, day_start, day_end)}."""
    e = AccessEvent.__table__
    conn = db.session.connection()
    day = sa.type_coerce(local_date(conn, e.c.occurred_at), sa.Date)
    when = UTCDateTime()
    query = sa.select(
        e.c.system,
        e.c.user_id,
        day,
        sa.func.count(),
        sa.func.count(sa.distinct(e.c.subject_id)),
        sa.func.sum(sa.case((e.c.result == "denied", 1), else_=0)),
        sa.type_coerce(sa.func.min(e.c.occurred_at), when),
        sa.type_coerce(sa.func.max(e.c.occurred_at), when),
    ).group_by(e.c.system, e.c.user_id, day)
    dialect = conn.dialect.name
    return {
        (system, user, d): (int(n), int(subjects), int(denied or 0), first, last, *_day_bounds(d, dialect))
        for system, user, d, n, subjects, denied, first, last in db.session.execute(query)
    }


def _check_access_days(report: VerifyReport) -> None:
    """Compare the stored per-user-day summary with the one the events give."""
    d = AccessDay.__table__
    stored = {
        (r.system, r.user_id, r.day): tuple(getattr(r, name) for name in _DAY_FIGURES)
        for r in db.session.execute(sa.select(d))
    }
    expected = recount_access_days()
    differing = []
    for key in sorted(stored.keys() | expected.keys()):
        have, want = stored.get(key), expected.get(key)
        if have == want:
            continue
        system, user, day = key
        where = f"{system} / {user} / {wareki(day)}"
        if have is None:
            differing.append(f"{where}: 集計の行がありません(削除された可能性があります)")
        elif want is None:
            differing.append(f"{where}: 操作履歴にない集計の行があります")
        else:
            changed = "、".join(
                f"{_FIGURE_LABELS[name]} 記録 {a} 再計算 {b}"
                for name, a, b in zip(_DAY_FIGURES, have, want)
                if a != b and name not in ("first_at", "last_at", "day_start", "day_end")
            )
            changed = changed or "操作日時の範囲が異なります"
            differing.append(f"{where}: {changed}")
    if not differing:
        return
    named = "; ".join(differing[:MAX_DAYS_NAMED])
    more = f" ほか {len(differing) - MAX_DAYS_NAMED} 件" if len(differing) > MAX_DAYS_NAMED else ""
    report.problems.append(
        Problem(
            None,
            f"操作履歴の日別集計が保存された操作履歴と一致しません({len(differing)} 件。"
            f"点検はこの集計を読むため、集計が改変または削除された可能性があります): {named}{more}",
        )
    )
