"""Accesses explained by business transactions, and the three checks built on them.

An access (照会・印刷・出力・更新) of subject S by user U at time t on system X is
*explained* when a transaction for S was handled on X by a department U was assigned to on
t's day (JST), within a window from ``before`` operating days before that day to ``after``
operating days after it (whole JST days; defaults 2 and 1; per system in the settings of
``unexplained_access``). Operating days are the system's business calendar
(:func:`evidence.checks.operating_days`: weekdays but holidays and 12/29–1/3, or every day).

The checks (``protected_subject``, ``coworker_record``, ``unexplained_access``) are
set-based SQL like the others: the window of every (system, JST day) of the period is put in
a small temporary table, and "explained" is an EXISTS over the transactions and
assignments through their indexes.

This module sits beside :mod:`evidence.checks` rather than below it (the checks' table of
runners calls into it): what it needs of the checks — the calendar, the settings of the
window, the SQL of versioned rows — comes in a :class:`Rules` that the checks build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from common.db import UTCDateTime, db, utcnow
from common.jpdate import format_date
from evidence.ingest import local_date
from evidence.models import AccessDay, AccessEvent, Assignment, Protection, Relation, Transaction
from evidence.sql import json_object

TOKYO = ZoneInfo("Asia/Tokyo")

#: the operations an explanation is asked for (a search or a login touches no record)
EXPLAINABLE_ACTIONS = ("view", "print", "export", "update")
#: the check whose settings hold the window (before / after, and per system)
WINDOW_CHECK = "unexplained_access"
DEFAULT_BEFORE, DEFAULT_AFTER = 2, 1
PROTECTION_KEY = ("subject_id", "measure", "start_date")
RELATION_KEY = ("user_id", "subject_id")
ASSIGNMENT_KEY = ("user_id", "department", "start_date")
MEASURE_LABELS = {"dv_support": "DV・ストーカー・児童虐待等の支援措置", "other": "その他の支援措置"}
#: what a system without transactions says instead of findings
NOT_MATCHED = "説明の突合は対象外"


@dataclass(frozen=True)
class Rules:
    """What the explanations take from :mod:`evidence.checks`."""

    #: ``closed_days(start, end)``: weekends, holidays and 12/29–1/3 between the two days
    closed_days: Callable[[date, date], list[date]]
    #: codes of the systems that operate every day
    every_day: frozenset[str]
    #: the parameters of :data:`WINDOW_CHECK` (``before``, ``after``, ``windows``, …)
    params: dict
    #: ``effective(table, key_cols)``: SQL, the row is the latest version of its key
    effective: Callable[..., Any]

    def window(self, system: str) -> tuple[int, int]:
        """Operating days before and after an access's day that a transaction may lie in."""
        own = (self.params.get("windows") or {}).get(system) or {}
        before = own.get("before", self.params.get("before", DEFAULT_BEFORE))
        after = own.get("after", self.params.get("after", DEFAULT_AFTER))
        return int(before), int(after)


class Calendar:
    """Operating days of the systems over a span, and the window of a day."""

    def __init__(self, rules: Rules, first: date, last: date):
        self.rules = rules
        widest = max(max(rules.window(code)) for code in ["", *(rules.params.get("windows") or {})])
        # two closed days a week at most, and the longest holidays: three times the width is enough
        reach = 3 * widest + 20
        self.closed = set(rules.closed_days(first - timedelta(days=reach), last + timedelta(days=reach)))

    def operates(self, system: str, day: date) -> bool:
        return system in self.rules.every_day or day not in self.closed

    def _step(self, system: str, day: date, count: int, direction: int) -> date:
        while count > 0:
            day += timedelta(days=direction)
            if self.operates(system, day):
                count -= 1
        return day

    def window(self, system: str, day: date) -> tuple[date, date]:
        """First and last JST day of the window of an access on ``day``."""
        before, after = self.rules.window(system)
        return self._step(system, day, before, -1), self._step(system, day, after, 1)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), TOKYO).astimezone(UTC)


# ---------------------------------------------------------------------------
# One access, as a finding shows it
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    #: True: explained; False: not; None: not matched (no transactions for the system, or
    #: an operation that needs none)
    explained: bool | None
    #: 「あり(2025年4月3日 中央区戸籍住民課の「転入届」、受付番号 T1)」, 「なし(…)」, 「説明の突合は対象外(…)」
    text: str
    transaction: Transaction | None = None

    @property
    def sentence(self) -> str:
        return f"業務上の説明: {self.text}"


def explain_access(rules: Rules, system: str, user_id: str, subject_id: str | None, occurred_at: datetime, action: str):
    """Whether the access is explained, and by which transaction (the nearest in time)."""
    if action not in EXPLAINABLE_ACTIONS or not subject_id:
        return Explanation(None, "対象外(住民の記録の照会・印刷・出力・更新ではありません)")
    t, a = Transaction.__table__, Assignment.__table__
    if db.session.execute(sa.select(t.c.id).where(t.c.system == system).limit(1)).first() is None:
        return Explanation(None, f"{NOT_MATCHED}(このシステムの受付記録が届いていません)")
    day = occurred_at.astimezone(TOKYO).date()
    first, last = Calendar(rules, day, day).window(system, day)
    rows = db.session.execute(
        sa.select(Transaction)
        .join(a, a.c.department == Transaction.department)
        .where(
            Transaction.system == system,
            Transaction.subject_id == subject_id,
            Transaction.occurred_at >= _utc(first),
            Transaction.occurred_at < _utc(last + timedelta(days=1)),
            a.c.user_id == user_id,
            _assigned_on(a, day),
            rules.effective(a, ASSIGNMENT_KEY),
        )
    ).scalars()
    best = min(rows, key=lambda x: abs(x.occurred_at - occurred_at), default=None)
    before, after = rules.window(system)
    span = f"{before}開庁日前〜{after}開庁日後"
    if best is None:
        return Explanation(
            False,
            f"なし(この住民について、利用者の所属が前後の期間({span})に扱った受付記録がありません)",
        )
    when = format_date(best.occurred_at.astimezone(TOKYO).date())
    return Explanation(True, f"あり({when} {best.department}の「{best.kind}」、受付番号 {best.transaction_id})", best)


def explain_finding(rules: Rules, finding) -> Explanation | None:
    """The explanation of an event finding's access (None for other findings)."""
    event = getattr(finding, "event", None)
    if event is None:
        return None
    return explain_access(rules, event.system, event.user_id, event.subject_id, event.occurred_at, event.action)


# ---------------------------------------------------------------------------
# The window table and the "explained" SQL
# ---------------------------------------------------------------------------


def _assigned_on(a, day):
    return sa.and_(a.c.start_date <= day, sa.or_(a.c.end_date.is_(None), a.c.end_date >= day))


def _windows_table() -> sa.Table:
    return sa.Table(
        "hyoka_windows",
        sa.MetaData(),
        sa.Column("system", sa.String(32)),
        sa.Column("day", sa.Date),
        sa.Column("day_start", UTCDateTime()),
        sa.Column("day_end", UTCDateTime()),
        sa.Column("lo", UTCDateTime()),
        sa.Column("hi", UTCDateTime()),
        sa.Index("ix_hyoka_windows_day", "system", "day", unique=True),
        prefixes=["TEMPORARY"],
    )


@contextmanager
def windows(rules: Rules, first: date, last: date, systems: list[str]) -> Iterator[sa.Table]:
    """A temporary table of the window of every (system, JST day) of ``first``..``last``."""
    table = _windows_table()
    conn = db.session.connection()
    table.create(conn)
    try:
        cal = Calendar(rules, first, last)
        rows = []
        for system in systems:
            day = first
            while day <= last:
                lo, hi = cal.window(system, day)
                rows.append(
                    {
                        "system": system,
                        "day": day,
                        "day_start": _utc(day),
                        "day_end": _utc(day + timedelta(days=1)),
                        "lo": _utc(lo),
                        "hi": _utc(hi + timedelta(days=1)),
                    }
                )
                day += timedelta(days=1)
        for i in range(0, len(rows), 1000):
            conn.execute(sa.insert(table), rows[i : i + 1000])
        yield table
    finally:
        table.drop(conn)


def explained(rules: Rules, e, w):
    """SQL: the access ``e`` (joined to its window row ``w``) is explained."""
    t, a = Transaction.__table__.alias("xt"), Assignment.__table__.alias("xa")
    return (
        sa.exists()
        .where(
            t.c.system == e.c.system,
            t.c.subject_id == e.c.subject_id,
            t.c.occurred_at >= w.c.lo,
            t.c.occurred_at < w.c.hi,
            a.c.user_id == e.c.user_id,
            a.c.department == t.c.department,
            _assigned_on(a, w.c.day),
            rules.effective(a, ASSIGNMENT_KEY),
        )
        .correlate_except(t, a)
    )


def _in_window(e, w):
    """The window row of the event's system and JST day (one index probe per event)."""
    return sa.and_(w.c.system == e.c.system, w.c.day == local_date(db.session.connection(), e.c.occurred_at))


def _event_findings(check: str, cfg, e, w, where: list, **details) -> sa.Select:
    """SELECT of event findings in the columns of ``evidence.checks.FINDING_COLUMNS``."""
    return sa.select(
        sa.literal(check).label("check"),
        (e.c.system + sa.literal("/") + e.c.event_id).label("key"),
        e.c.system,
        e.c.user_id,
        e.c.event_id,
        sa.null().label("record_id"),
        w.c.day.label("day"),
        e.c.occurred_at,
        sa.literal(cfg.severity).label("severity"),
        json_object(details).label("details"),
        sa.literal(utcnow(), UTCDateTime()).label("found_at"),
    ).where(*where)


def _span(period) -> tuple[date, date] | None:
    return period.bounds()


def _access_systems(period) -> list[str]:
    e = AccessEvent.__table__
    return list(
        db.session.execute(sa.select(e.c.system).distinct().where(period.event_filter(e.c.occurred_at))).scalars()
    )


def _considered(e, period) -> list:
    return [
        period.event_filter(e.c.occurred_at),
        e.c.action.in_(EXPLAINABLE_ACTIONS),
        e.c.result == "success",
        e.c.subject_id.is_not(None),
    ]


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------


def check_protected_subject(period, cfg, store, rules: Rules) -> int:
    """An unexplained access to a protected resident during the protection (its first and
    last day included): one finding per event."""
    e, p = AccessEvent.__table__, Protection.__table__.alias("p")
    span = _span(period)
    if span is None or db.session.execute(sa.select(p.c.id).limit(1)).first() is None:
        return 0
    with windows(rules, *span, _access_systems(period)) as w:
        protected = sa.exists().where(
            p.c.subject_id == e.c.subject_id,
            p.c.start_date <= w.c.day,
            sa.or_(p.c.end_date.is_(None), p.c.end_date >= w.c.day),
            rules.effective(p, PROTECTION_KEY),
        )
        q = _event_findings(
            "protected_subject",
            cfg,
            e,
            w,
            [
                *_considered(e, period),
                e.c.subject_id.in_(sa.select(p.c.subject_id)),
                protected,
                ~explained(rules, e, w),
            ],
        ).select_from(e.join(w, _in_window(e, w)))
        return store.select(q)


def check_coworker_record(period, cfg, store, rules: Rules) -> int:
    """An unexplained access by U to the record ``relations`` lists as the ``self`` of
    another staff member V; one finding per event (V in its details, shown to auditors)."""
    e, r = AccessEvent.__table__, Relation.__table__.alias("r")
    span = _span(period)
    if span is None:
        return 0
    selves = sa.select(r.c.subject_id).where(r.c.relation == "self", rules.effective(r, RELATION_KEY))
    other = r.alias("v")
    coworker = (
        sa.select(other.c.user_id)
        .where(
            other.c.subject_id == e.c.subject_id,
            other.c.relation == "self",
            other.c.user_id != e.c.user_id,
            rules.effective(other, RELATION_KEY),
        )
        .order_by(other.c.user_id)
        .limit(1)
        .scalar_subquery()
    )
    with windows(rules, *span, _access_systems(period)) as w:
        q = _event_findings(
            "coworker_record",
            cfg,
            e,
            w,
            [*_considered(e, period), e.c.subject_id.in_(selves), coworker.is_not(None), ~explained(rules, e, w)],
            coworker=coworker,
        ).select_from(e.join(w, _in_window(e, w)))
        return store.select(q)


def systems_without_transactions(period) -> list[str]:
    """Systems with accesses in ``period`` but no transaction in it: 「説明の突合は対象外」."""
    t = Transaction.__table__
    out = []
    for system in _access_systems(period):
        found = db.session.execute(
            sa.select(t.c.id).where(t.c.system == system, period.event_filter(t.c.occurred_at)).limit(1)
        ).first()
        if found is None:
            out.append(system)
    return sorted(out)


def check_unexplained_access(period, cfg, store, rules: Rules) -> int:
    """A user-day (JST) on a system with at least one transaction that day, with at least
    ``subjects`` distinct subjects accessed of which more than ``percent`` % unexplained."""
    e, t = AccessEvent.__table__, Transaction.__table__
    limit = int(cfg.params.get("subjects", 20))
    percent = float(cfg.params.get("percent", 50))
    span = _span(period)
    if span is None:
        return 0
    skipped = set(systems_without_transactions(period))
    systems = [s for s in _access_systems(period) if s not in skipped]
    if not systems:
        return 0
    d = AccessDay.__table__
    with windows(rules, *span, systems) as w:
        # the user-days with enough subjects (from the summary) on a day with a transaction
        cand = (
            sa.select(d.c.system, d.c.user_id, d.c.day, d.c.day_start, d.c.day_end)
            .where(
                period.day_filter(d.c.day),
                d.c.system.in_(systems),
                d.c.subjects >= limit,
                sa.exists().where(
                    t.c.system == d.c.system, t.c.occurred_at >= d.c.day_start, t.c.occurred_at < d.c.day_end
                ),
            )
            .subquery("cand")
        )
        joined = (
            e.join(
                cand,
                sa.and_(
                    e.c.system == cand.c.system,
                    e.c.user_id == cand.c.user_id,
                    e.c.occurred_at >= cand.c.day_start,
                    e.c.occurred_at < cand.c.day_end,
                ),
            )
        ).join(w, sa.and_(w.c.system == cand.c.system, w.c.day == cand.c.day))
        is_explained = explained(rules, e, w)
        q = (
            sa.select(
                cand.c.system,
                cand.c.user_id,
                cand.c.day,
                sa.func.count(sa.distinct(e.c.subject_id)).label("subjects"),
                sa.func.count(sa.distinct(sa.case((is_explained, e.c.subject_id)))).label("explained"),
            )
            .select_from(joined)
            .where(*_considered(e, period))
            .group_by(cand.c.system, cand.c.user_id, cand.c.day)
            .having(sa.func.count(sa.distinct(e.c.subject_id)) >= limit)
        )
        rows = []
        for row in db.session.execute(q):
            unexplained = row.subjects - row.explained
            if unexplained * 100 <= percent * row.subjects:
                continue
            rows.append(
                {
                    "check": "unexplained_access",
                    "key": f"{row.user_id}/{row.system}/{row.day.isoformat()}",
                    "system": row.system,
                    "user_id": row.user_id,
                    "day": row.day,
                    "severity": cfg.severity,
                    "details": {
                        "subjects": row.subjects,
                        "unexplained": unexplained,
                        "limit": limit,
                        "percent": cfg.params.get("percent", 50),
                    },
                }
            )
    return store.rows(rows)
