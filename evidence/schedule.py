"""What the evidence does by itself (``flask tick``), its notifications and its doctor check.

Jobs, once a day each (Japan time), as configured:

* the daily checkpoint of the evidence log (``HYOKA_TICK_EVIDENCE_CHECKPOINT``, on by default):
  the same signing as ``flask evidence checkpoint`` (:func:`evidence.transparency.make_checkpoint`
  and its copy to ``HYOKA_EVIDENCE_CHECKPOINT_DIR``), once there is a batch to sign;
* the check run (``HYOKA_TICK_EVIDENCE_CHECKS``, off by default) over the last
  ``HYOKA_TICK_EVIDENCE_CHECK_DAYS`` days (7), as ``flask evidence check --from … --to …``.

Notifications (:mod:`common.notify`): a new finding of severity 高 (to the auditors) and a
system whose access log has not arrived for ``HYOKA_EVIDENCE_FEED_OVERDUE_DAYS`` days (2; to
the system's owner department). They name the check, the system and the day, never the staff
or the residents a finding is about: those are read on the page behind the link.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from common import audit
from common.db import db, utcnow
from common.doctor import Result, private_file_problem
from common.jpdate import format_date, format_range
from common.notify import Kind, Notice, page_url, users_of_departments, users_with_roles
from common.schedule import claim_day
from evidence import transparency
from evidence.models import SEVERITIES, AccessDay, FeedBatch, Finding, LogCheckpoint

#: a finding found this long ago or less counts as new
NEW_FINDING_HOURS = 24
#: who may open the system page the feed notice links to (pia.inventory's readers)
SYSTEM_READERS = ("officer", "editor", "admin", "auditor")


def _flag(value, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("0", "off", "false", "no")


def init_config(app) -> None:
    """Defaults of the tick's evidence settings, from the environment."""
    env = os.environ
    app.config.setdefault("HYOKA_TICK_EVIDENCE_CHECKPOINT", _flag(env.get("HYOKA_TICK_EVIDENCE_CHECKPOINT"), True))
    app.config.setdefault("HYOKA_TICK_EVIDENCE_CHECKS", _flag(env.get("HYOKA_TICK_EVIDENCE_CHECKS"), False))
    app.config.setdefault("HYOKA_TICK_EVIDENCE_CHECK_DAYS", int(env.get("HYOKA_TICK_EVIDENCE_CHECK_DAYS") or 7))
    app.config.setdefault("HYOKA_EVIDENCE_FEED_OVERDUE_DAYS", int(env.get("HYOKA_EVIDENCE_FEED_OVERDUE_DAYS") or 2))


# --------------------------------------------------------------------------- jobs


def daily_checkpoint(today: date) -> str | None:
    """Sign the day's checkpoint of the evidence log (once a day, once there are batches)."""
    if not current_app.config.get("HYOKA_TICK_EVIDENCE_CHECKPOINT"):
        return "設定により行いません。"
    sealed = db.session.execute(
        sa.select(sa.func.count()).select_from(FeedBatch).where(FeedBatch.chain_hash.is_not(None))
    ).scalar_one()
    if not sealed or not claim_day("evidence_checkpoint", today):
        return None
    try:
        row = transparency.make_checkpoint()
    except (transparency.LogKeyError, transparency.CheckpointRefused) as error:
        raise RuntimeError(str(error)) from error
    db.session.commit()
    path = transparency.write_copy(row)
    copy = f"写しを {path} に書き出しました。" if path else ""
    return f"チェックポイント {row.id} に署名しました(バッチ {row.tree_size} 件)。{copy}"


def daily_checks(today: date) -> str | None:
    """Run the evidence checks over the last days (once a day, when configured)."""
    if not current_app.config.get("HYOKA_TICK_EVIDENCE_CHECKS"):
        return "設定により行いません(HYOKA_TICK_EVIDENCE_CHECKS=1 で毎日実行します)。"
    if not claim_day("evidence_checks", today):
        return None
    from evidence.checks import Period, run_checks

    days = int(current_app.config["HYOKA_TICK_EVIDENCE_CHECK_DAYS"])
    period = Period(today - timedelta(days=days - 1), today)
    run = run_checks(period)
    new = sum(run.new.values())
    audit.record(
        "create",
        "evidence_check_run",
        None,
        f"証跡の点検を実行しました({format_range(period.start, period.end)}、検出 {run.found} 件、うち新規 {new} 件、"
        f"解消 {sum(run.cleared.values())} 件、再検出 {sum(run.restored.values())} 件)",
    )
    db.session.commit()
    return f"{format_date(period.start)}から{format_date(period.end)}までを点検しました(検出 {run.found} 件、うち新規 {new} 件)。"


# --------------------------------------------------------------------------- notifications


def high_finding_notices(today: date) -> Iterator[Notice]:
    """Open findings of severity 高 found in the last day, one each, to the auditors."""
    from evidence.checks import CHECKS
    from pia.inventory.models import System

    since = utcnow() - timedelta(hours=NEW_FINDING_HOURS)
    findings = list(
        db.session.execute(
            sa.select(Finding)
            .where(Finding.severity == "high", Finding.found_at >= since, Finding.open_clause())
            .order_by(Finding.id)
        ).scalars()
    )
    if not findings:
        return
    auditors = users_with_roles("auditor")
    names = dict(db.session.execute(sa.select(System.code, System.name)).all())
    for finding in findings:
        check = CHECKS.get(finding.check)
        title = check.title if check else finding.check
        systems = "、".join(names.get(code, code) for code in (finding.system or "").split(",") if code)
        facts = [f"点検: {title}", f"重要度: {SEVERITIES['high']}"]
        if systems:
            facts.append(f"システム: {systems}")
        if finding.day:
            facts.append(f"対象日: {format_date(finding.day)}")
        yield Notice(
            key=f"evidence_high:{finding.id}",
            subject=f"重要度「高」の検知があります: {title}",
            paragraphs=[
                "証跡の点検で、重要度「高」の検知がありました。",
                "\n".join(facts),
                "該当する操作の内容は、次のページで確認し、判断を記録してください。",
            ],
            link=page_url("evidence.finding", finding_id=finding.id),
            recipients=auditors,
        )


def feed_overdue_notices(today: date) -> Iterator[Notice]:
    """Systems that sent access logs before and none since the overdue limit, to their owner
    department (once per last day received)."""
    from pia.inventory.models import System

    limit = int(current_app.config["HYOKA_EVIDENCE_FEED_OVERDUE_DAYS"])
    d = AccessDay.__table__
    last_days = dict(db.session.execute(sa.select(d.c.system, sa.func.max(d.c.day)).group_by(d.c.system)).all())
    systems = db.session.execute(
        sa.select(System).where(System.code.in_(list(last_days)), System.owner_department_id.is_not(None))
    ).scalars()
    for system in systems:
        last = last_days[system.code]
        if (today - last).days <= limit:
            continue
        yield Notice(
            key=f"feed_overdue:{system.code}:{last.isoformat()}",
            subject=f"操作履歴が届いていません: {system.name}",
            paragraphs=[
                f"システム「{system.name}」({system.code})の操作履歴は、{format_date(last)}の分までしか届いていません"
                f"({(today - last).days}日間届いていません)。",
                "操作履歴の連携が止まっていないか、システムの保守担当者に確認してください。",
            ],
            link=page_url("inventory.system", system_id=system.id),
            recipients=users_of_departments([system.owner_department_id], *SYSTEM_READERS),
        )


KINDS = (
    Kind(
        name="evidence_high_finding",
        label="証跡の点検で重要度「高」の検知",
        audience="証跡の確認(監査)",
        roles=frozenset({"auditor"}),
        produce=high_finding_notices,
        order=50,
    ),
    Kind(
        name="evidence_feed_overdue",
        label="システムからの操作履歴の遅れ",
        audience="そのシステムを所管する課",
        roles=frozenset(SYSTEM_READERS),
        produce=feed_overdue_notices,
        order=51,
    ),
)


# --------------------------------------------------------------------------- doctor


def check_log_key() -> Result:
    """The evidence log's signing key: private, present once checkpoints exist."""
    path = transparency.key_path()
    problems = []
    problem = private_file_problem(path, "証跡ログの署名鍵")
    if problem:
        problems.append(problem)
    if not path.exists():
        signed = db.session.execute(sa.select(sa.func.count()).select_from(LogCheckpoint)).scalar_one()
        if signed:
            problems.append(
                f"証跡ログの署名鍵 {path} が見つかりません。これまでのチェックポイントはこの鍵で署名されています。"
                "バックアップから鍵のファイルを戻してください。"
            )
        else:
            return Result(summary=f"{path} はまだありません(最初のチェックポイントの署名時に作成されます)。")
    directory = current_app.config.get("HYOKA_EVIDENCE_CHECKPOINT_DIR")
    if directory and not (Path(directory).is_dir() and os.access(directory, os.W_OK)):
        problems.append(
            f"チェックポイントの写しを書き出すフォルダ {directory} に書き込めません(HYOKA_EVIDENCE_CHECKPOINT_DIR)。"
        )
    return Result(summary=f"{path} は所有者だけが読めます。", problems=problems)
