"""``flask tick``: everything time-driven, run every minute by a timer (systemd or cron).

Packages register their jobs in their ``init_app`` (:func:`register_job`): the consultations
open and close by their dates, the evidence log's daily checkpoint and check run, the
notifications. A job is ``func(today) -> str | None`` (``today`` in Japan time); it commits
its own work and must be idempotent: a second tick on the same day does nothing twice. A job
that runs once a day claims the day first (:func:`claim_day`, a row of ``scheduled_runs``
committed with its work). Changes are audited as made by ``tick``.

One tick at a time: a tick that finds another one running (a lock on the file
``HYOKA_TICK_LOCK``, default ``instance/tick.lock``) leaves at once. A job that fails is rolled back and reported; the others still run,
and the command exits with status 1.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from common import audit
from common.db import db, dialect_insert, utcnow
from common.jpdate import format_date
from common.models import ScheduledRun
from common.timeutil import today_jst

log = logging.getLogger(__name__)

#: the actor the audit trail names for what the tick changes
ACTOR = "tick"


@dataclass(frozen=True)
class Job:
    name: str
    #: what it does, as the command prints it (通知メール, 意見募集の開始・終了 …)
    label: str
    func: Callable[[date], str | None]
    order: int = 100


def register_job(app, name: str, label: str, func: Callable[[date], str | None], *, order: int = 100) -> None:
    """Add a job to ``flask tick`` (run in ``order``, then by name)."""
    app.extensions.setdefault("hyoka_jobs", {})[name] = Job(name, label, func, order)


def jobs() -> list[Job]:
    return sorted(current_app.extensions.get("hyoka_jobs", {}).values(), key=lambda j: (j.order, j.name))


def claim_day(job: str, day: date) -> bool:
    """True the first time ``job`` asks for ``day`` (the claim is kept with the caller's
    transaction: rolled back with it, the day is free again)."""
    table = ScheduledRun.__table__
    stmt = (
        dialect_insert(table)
        .values(job=job, day=day, at=utcnow())
        .on_conflict_do_nothing(index_elements=[table.c.job, table.c.day])
        .returning(table.c.job)
    )
    return db.session.execute(stmt).first() is not None


def forget_day(job: str, day: date) -> None:
    """Free ``day`` for ``job`` again (its work did not happen after all)."""
    db.session.execute(sa.delete(ScheduledRun).where(ScheduledRun.job == job, ScheduledRun.day == day))


@dataclass
class Outcome:
    job: Job
    message: str | None
    failed: bool = False


@contextlib.contextmanager
def _one_at_a_time() -> Iterator[bool]:
    """Hold the tick's lock file; yields False when another tick holds it."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield True
        return
    path = Path(current_app.config.get("HYOKA_TICK_LOCK") or Path(current_app.instance_path) / "tick.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def tick(today: date | None = None) -> list[Outcome] | None:
    """Run every job once; None when another tick is running."""
    today = today or today_jst()
    with _one_at_a_time() as mine:
        if not mine:
            return None
        outcomes = []
        for job in jobs():
            with audit.acting_as(ACTOR):
                try:
                    message = job.func(today)
                    db.session.commit()
                except Exception as error:
                    db.session.rollback()
                    log.exception("tick: the job %s failed", job.name)
                    text = str(error) if isinstance(error, RuntimeError | ValueError) else ""
                    outcomes.append(Outcome(job, text or f"予期しないエラー({type(error).__name__})", failed=True))
                else:
                    outcomes.append(Outcome(job, message))
        return outcomes


@click.command("tick")
@click.option("--quiet", is_flag=True, help="問題があったときだけ表示する")
@with_appcontext
def tick_command(quiet):
    """Do everything time-driven that is due now (run it every minute from a timer)."""
    today = today_jst()
    outcomes = tick(today)
    if outcomes is None:
        if not quiet:
            click.echo("別の tick が実行中のため、何もせずに終了します。")
        return
    failed = [o for o in outcomes if o.failed]
    if not quiet:
        click.echo(f"{format_date(today)}の定時処理")
    for outcome in outcomes:
        if outcome.failed:
            click.echo(f"[失敗] {outcome.job.label}: {outcome.message}", err=True)
        elif not quiet:
            click.echo(f"[完了] {outcome.job.label}: {outcome.message or '対象はありません。'}")
    if failed:
        raise SystemExit(1)


def init_app(app) -> None:
    app.cli.add_command(tick_command)
