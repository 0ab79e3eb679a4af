"""Demo step (order 40): the demo quarter of JUKI feeds, through the same import service."""

from __future__ import annotations

import tempfile
from pathlib import Path

import sqlalchemy as sa

from common.db import db
from evidence.models import FeedBatch

#: import order: the state feeds first, then the events
DEMO_KINDS = ("assignments", "grants", "relations", "protections", "provisions", "transactions", "access")


def load_demo(options) -> str | None:
    """Import demo_gen's feeds (about 100k events, the quarter ending today) and run the checks.
    Idempotent; commits, then signs one checkpoint over the demo's batches."""
    from common.timeutil import today_jst
    from evidence import demo_gen, transparency
    from evidence.checks import Period, run_checks
    from evidence.ingest import import_path
    from pia.inventory.models import System

    if db.session.execute(sa.select(FeedBatch.id).where(FeedBatch.source.like("demo:%")).limit(1)).first():
        return "証跡のデモデータは読み込み済みです"
    if db.session.execute(sa.select(System.id).where(System.code == demo_gen.SYSTEM)).first() is None:
        return (
            f"システム {demo_gen.SYSTEM} がシステム台帳にないため、証跡のデモデータを"
            f"読み込みませんでした(先にシステム台帳のデモを読み込んでください)"
        )
    stored = 0
    end = today_jst()  # the quarter ends on the load day: a fresh demo shows every system alive
    with tempfile.TemporaryDirectory() as tmp:
        paths = demo_gen.write_feeds(Path(tmp), end=end)
        for kind in DEMO_KINDS:
            result = import_path(kind, paths[kind], source=f"demo:{kind}.csv")
            if not result.stored:
                reasons = "; ".join(f"{e.line}行目 {e.reason}" for e in result.errors[:3])
                return f"デモの {kind} フィードを取り込めませんでした: {reasons}"
            stored += result.rows_stored
    run = run_checks(Period(*demo_gen.quarter(end)))
    _open_demo_case(demo_gen.AFTER_TRANSFER_EVENTS[0][0])
    db.session.commit()
    transparency.after_import(result)  # one checkpoint over the demo's batches
    return f"証跡フィード {stored:,} 件を取り込み、点検で {run.found:,} 件を検出しました"


def _open_demo_case(user_id: str) -> None:
    """The demo's 調査案件: the demo auditor looks into ``user_id`` (accesses after a transfer,
    in three weeks: marked 繰り返し), from its first finding; the others are suggested."""
    from common.models import User
    from evidence import cases
    from evidence.models import Finding

    auditor = db.session.execute(sa.select(User).where(User.username == "auditor")).scalar_one_or_none()
    first = db.session.execute(
        sa.select(Finding.id)
        .where(Finding.user_id == user_id, Finding.check == "after_transfer")
        .order_by(Finding.day, Finding.id)
        .limit(1)
    ).scalar()
    if auditor is None or first is None:
        return
    case = cases.open_case([first], auditor)
    cases.add_note(case, "異動後も照会を続けていた理由を、異動前後の所属長に確認している。", auditor)
