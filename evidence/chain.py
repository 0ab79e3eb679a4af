"""Verifying the tamper-evident chain of stored evidence.

:func:`verify` recomputes, from the stored rows alone, the digest of every batch's rows
(``evidence.feeds.row_digest`` of each row, in storage order) and every batch's chain
hash, and compares them with what the batches recorded. It also checks that every batch
the audit trail saw being stored still exists. It relies on nothing a trigger protects,
so it notices changes made by someone who dropped the append-only triggers.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from evidence.feeds import FIELDS, row_digest
from evidence.ingest import chain_hash
from evidence.models import GENESIS_HASH, ROW_MODELS, FeedBatch


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

    @property
    def ok(self) -> bool:
        return not self.problems


def _row_digests(kind: str, batch_ids: set[int], report: VerifyReport):
    """{batch_id: (count, sha256)} over the stored rows of ``kind``, streamed in id order."""
    table = ROW_MODELS[kind].__table__
    names = [spec.name for spec in FIELDS[kind]]
    cols = [table.c.batch_id] + [table.c[n] for n in names] + [table.c.extra]
    acc: dict[int, list] = {}
    result = db.session.execute(sa.select(*cols).order_by(table.c.id).execution_options(
        yield_per=10000, stream_results=True))
    for row in result:
        mapping = row._mapping
        bid = mapping["batch_id"]
        entry = acc.get(bid)
        if entry is None:
            entry = acc[bid] = [0, hashlib.sha256()]
            if bid not in batch_ids:
                report.problems.append(Problem(bid, f"{kind} の行が存在しないバッチ {bid} を参照しています"
                                                    f"(バッチの記録が削除された可能性があります)"))
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
    prev = GENESIS_HASH
    for batch in batches:
        bid = batch["id"]
        if batch["chain_hash"] is None:
            report.problems.append(Problem(bid, f"バッチ {bid} は封印されていません"))
            continue
        if batch["prev_hash"] != prev:
            report.problems.append(Problem(
                bid, f"バッチ {bid} の直前のハッシュが一致しません"
                     f"(それより前のバッチが削除または改変された可能性があります)"))
        if chain_hash(batch) != batch["chain_hash"]:
            report.problems.append(Problem(bid, f"バッチ {bid} の記録(件数・ハッシュ等)が改変されています"))
        count, digest = digests.get((batch["kind"], bid), (0, empty))
        if count != batch["rows_stored"] or digest != batch["rows_digest"]:
            report.problems.append(Problem(
                bid, f"バッチ {bid}({batch['kind']})の保存行が改変または削除されています"
                     f"(記録 {batch['rows_stored']} 件、現在 {count} 件)"))
        for (kind, other), _v in digests.items():
            if other == bid and kind != batch["kind"]:
                report.problems.append(Problem(bid, f"バッチ {bid} に別の種類({kind})の行があります"))
        prev = batch["chain_hash"]
    report.head = prev
    # every batch the audit trail recorded as stored must still be there, unchanged
    a = AuditEvent.__table__
    by_id = {x["id"]: x for x in batches}
    for object_id, after in db.session.execute(sa.select(a.c.object_id, a.c.after).where(
            a.c.action == "import", a.c.object_type == "evidence_batch")):
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
