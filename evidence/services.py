"""Operations on findings and the views' queries (the request commits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from common import audit
from common.db import db
from common.mynumber import REFUSED as MY_NUMBER_REFUSED
from common.mynumber import contains_my_number
from common.timeutil import today_jst
from evidence.checks import CHECKS, day_start_utc, explanation_rules, operating_days
from evidence.explanations import Explanation, explain_finding
from evidence.models import (
    DECISIONS,
    MANUAL_DECISIONS,
    AccessDay,
    AccessEvent,
    Assignment,
    FeedBatch,
    Finding,
    Grant,
    TriageDecision,
)


class TriageError(ValueError):
    """A decision that cannot be recorded (unknown decision, empty reason)."""


def decide(finding: Finding, decision: str, reason: str, actor, *, by_case: bool = False) -> TriageDecision:
    """Record a triage decision (append-only) and make it the finding's current state.

    :param decision: one of :data:`evidence.models.MANUAL_DECISIONS` (any of
        :data:`evidence.models.DECISIONS` when ``by_case``: a case's conclusion decides its findings)
    :param reason: the written reason (required)
    :param actor: the deciding user
    """
    reason = (reason or "").strip()
    if decision not in (DECISIONS if by_case else MANUAL_DECISIONS):
        raise TriageError("判断を選んでください。")
    if not reason:
        raise TriageError("判断の理由を記入してください。")
    if contains_my_number(reason):
        raise TriageError(MY_NUMBER_REFUSED)
    before = finding.decision
    row = TriageDecision(
        finding=finding, decision=decision, reason=reason, decided_by_id=actor.id, decided_by_name=actor.display_name
    )
    db.session.add(row)
    finding.decision = decision
    db.session.flush()
    audit.record(
        "decision",
        "evidence_finding",
        finding.id,
        f"点検結果 {finding.id}({CHECKS[finding.check].title})を「{DECISIONS[decision]}」と判断しました",
        before={"decision": before},
        after={"decision": decision, "reason": reason},
        actor=actor,
    )
    return row


@dataclass
class FindingFilter:
    check: str | None = None
    system: str | None = None
    user_id: str | None = None
    start: date | None = None
    end: date | None = None
    #: ``open`` | ``closed`` | ``undecided`` | ``cleared`` | a decision code | None
    state: str | None = None

    def apply(self, query):
        f = Finding
        if self.check:
            query = query.where(f.check == self.check)
        if self.system:
            query = query.where(f.system.contains(self.system, autoescape=True))
        if self.user_id:
            query = query.where(f.user_id == self.user_id)
        if self.start:
            query = query.where(f.day >= self.start)
        if self.end:
            query = query.where(f.day <= self.end)
        if self.state == "open":
            query = query.where(f.open_clause())
        elif self.state == "closed":
            query = query.where(~f.open_clause())
        elif self.state == "undecided":
            query = query.where(f.decision.is_(None), f.cleared_at.is_(None))
        elif self.state == "cleared":
            query = query.where(f.cleared_at.is_not(None))
        elif self.state in DECISIONS:
            query = query.where(f.decision == self.state)
        return query


def access_explanation(finding: Finding) -> Explanation | None:
    """Whether an event finding's access is explained by a transaction, and by which
    (:mod:`evidence.explanations`); None for findings about something else. The settings of
    the window are read once per request."""
    from flask import g, has_request_context

    rules = g.get("hyoka_explanation_rules") if has_request_context() else None
    if rules is None:
        rules = explanation_rules()
        if has_request_context():
            g.hyoka_explanation_rules = rules
    return explain_finding(rules, finding)


def finding_context(finding: Finding, *, window_minutes: int = 60, limit: int = 40) -> dict:
    """The user's assignments and grants, and events near the finding."""
    ctx: dict = {"assignments": [], "grants": [], "events": [], "event": None}
    if finding.user_id:
        ctx["assignments"] = (
            db.session.execute(
                sa.select(Assignment)
                .where(Assignment.user_id == finding.user_id)
                .order_by(Assignment.start_date, Assignment.id)
            )
            .scalars()
            .all()
        )
        ctx["grants"] = (
            db.session.execute(
                sa.select(Grant)
                .where(Grant.user_id == finding.user_id)
                .order_by(Grant.system, Grant.granted_at, Grant.id)
            )
            .scalars()
            .all()
        )
    if finding.event_id and finding.system:
        ctx["event"] = db.session.execute(
            sa.select(AccessEvent).where(AccessEvent.system == finding.system, AccessEvent.event_id == finding.event_id)
        ).scalar_one_or_none()
    if finding.user_id:
        if finding.occurred_at is not None:
            lo = finding.occurred_at - timedelta(minutes=window_minutes)
            hi = finding.occurred_at + timedelta(minutes=window_minutes)
        elif finding.day is not None:
            lo, hi = day_start_utc(finding.day), day_start_utc(finding.day + timedelta(days=1))
        else:
            lo = hi = None
        if lo is not None:
            q = sa.select(AccessEvent).where(
                AccessEvent.user_id == finding.user_id, AccessEvent.occurred_at >= lo, AccessEvent.occurred_at < hi
            )
            systems = [s for s in (finding.system or "").split(",") if s]
            if systems:
                q = q.where(AccessEvent.system.in_(systems))
            ctx["events"] = db.session.execute(q.order_by(AccessEvent.occurred_at).limit(limit)).scalars().all()
    return ctx


def feed_status(days: int = 14) -> dict:
    """Last batch per system and kind, and the days without access logs (gaps)."""
    from pia.inventory.models import System

    today = today_jst()
    start = today - timedelta(days=days - 1)
    systems = db.session.execute(sa.select(System.code, System.name).order_by(System.code)).all()
    b = FeedBatch.__table__
    last = {}
    # a literal, not a bound parameter: PostgreSQL must see the same expression in GROUP BY
    code = sa.func.coalesce(b.c.system_code, sa.literal_column("''"))
    for row in db.session.execute(
        sa.select(code, b.c.kind, sa.func.max(b.c.received_at), sa.func.max(b.c.id))
        .where(b.c.chain_hash.is_not(None))
        .group_by(code, b.c.kind)
    ):
        last[(row[0], row[1])] = (row[2], row[3])
    d = AccessDay.__table__
    seen = {}
    for system, day, events in db.session.execute(
        sa.select(d.c.system, d.c.day, sa.func.sum(d.c.events))
        .where(d.c.day >= start, d.c.day <= today)
        .group_by(d.c.system, d.c.day)
    ):
        seen[(system, day)] = int(events)
    last_day = dict(db.session.execute(sa.select(d.c.system, sa.func.max(d.c.day)).group_by(d.c.system)).all())
    rows = []
    day_list = [start + timedelta(days=i) for i in range(days)]
    for code, name in systems:
        counts = [seen.get((code, day), 0) for day in day_list]
        open_days = set(operating_days(code, day_list))
        rows.append(
            {
                "code": code,
                "name": name,
                "last_day": last_day.get(code),
                "days": [(day, n, day in open_days) for day, n in zip(day_list, counts)],
                "gaps": [day for day, n in zip(day_list, counts) if n == 0 and day in open_days],
                "has_feed": code in last_day,
            }
        )
    batches = db.session.execute(sa.select(FeedBatch).order_by(FeedBatch.id.desc()).limit(10)).scalars().all()
    return {"systems": rows, "days": day_list, "last": last, "recent": batches}


def open_counts() -> dict[str, int]:
    f = Finding
    rows = db.session.execute(sa.select(f.check, sa.func.count()).where(f.open_clause()).group_by(f.check)).all()
    return {check: n for check, n in rows}


def trend(weeks: int = 12) -> list[tuple[date, dict[str, int]]]:
    """Findings per week (by the day they are about), per check, for the last ``weeks``."""
    f = Finding
    today = db.session.execute(sa.select(sa.func.max(f.day))).scalar() or today_jst()
    start = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    rows = db.session.execute(
        sa.select(f.check, f.day, sa.func.count())
        .where(f.day >= start, f.day <= today, f.cleared_at.is_(None))
        .group_by(f.check, f.day)
    ).all()
    buckets = [(start + timedelta(weeks=i), {}) for i in range(weeks)]
    for check, day, n in rows:
        idx = (day - start).days // 7
        if 0 <= idx < weeks:
            buckets[idx][1][check] = buckets[idx][1].get(check, 0) + n
    return buckets
