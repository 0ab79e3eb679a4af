"""Feed freshness: has each system's access log arrived as often as it should?

A system's cadence is the number of its operating days (:func:`evidence.checks.operating_days`:
no weekend, holiday or 12/29–1/3 unless the system is open every day) its access log may lag
behind: with the default of 1, on any day the log must reach the previous operating day (the
day's log usually comes the next morning), so Monday expects Friday's and a weekend or a holiday
is never overdue. ``HYOKA_EVIDENCE_FEED_CADENCE`` sets it per system (``{"ZEI": 5}`` or
``"ZEI=5,JUKI=1"``; 0 = not watched). A system that has never sent a log is only reported
overdue when its cadence is set explicitly (many systems of the inventory send none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app

from common.db import db
from common.jpdate import format_date
from common.timeutil import today_jst
from evidence.checks import operating_days
from evidence.models import AccessDay

CADENCE_KEY = "HYOKA_EVIDENCE_FEED_CADENCE"
DEFAULT_CADENCE = 1
#: status -> (token for monitoring, label for people)
STATUSES = {
    "ok": ("OK", "期限内"),
    "overdue": ("OVERDUE", "遅延"),
    "unwatched": ("SKIP", "監視対象外"),
}


def init_config(app) -> None:
    """``HYOKA_EVIDENCE_FEED_CADENCE`` from the environment unless the config sets it."""
    import os

    app.config.setdefault(CADENCE_KEY, os.environ.get(CADENCE_KEY, ""))


class CadenceError(ValueError):
    """``HYOKA_EVIDENCE_FEED_CADENCE`` cannot be read."""


def cadences() -> dict[str, int]:
    """The configured cadences by system code (operating days; 0 = not watched)."""
    value = current_app.config.get(CADENCE_KEY) or {}
    if isinstance(value, str):
        pairs = {}
        for part in value.split(","):
            if not part.strip():
                continue
            code, sep, number = part.partition("=")
            if not sep:
                raise CadenceError(f"{CADENCE_KEY}: 「{part.strip()}」は「システム=日数」の形で書いてください")
            pairs[code.strip()] = number.strip()
        value = pairs
    out = {}
    for code, number in dict(value).items():
        try:
            out[str(code)] = int(number)
        except (TypeError, ValueError):
            raise CadenceError(f"{CADENCE_KEY}: {code} の日数「{number}」が整数ではありません") from None
        if out[str(code)] < 0:
            raise CadenceError(f"{CADENCE_KEY}: {code} の日数は0以上にしてください")
    return out


def due_day(system: str, today: date, cadence: int) -> date:
    """The day the log of ``system`` must reach on ``today``: its ``cadence``-th operating day
    before today."""
    span = 14 + cadence * 7
    while True:
        days = [today - timedelta(days=i) for i in range(span, 0, -1)]
        open_days = operating_days(system, days)
        if len(open_days) >= cadence:
            return open_days[-cadence]
        span *= 2


@dataclass(frozen=True)
class Freshness:
    code: str
    name: str
    #: the latest JST day of its access log (None: never received)
    last_day: date | None
    #: the day the log must reach (None when not watched)
    due: date | None
    cadence: int
    status: str

    @property
    def overdue(self) -> bool:
        return self.status == "overdue"

    @property
    def label(self) -> str:
        return STATUSES[self.status][1]

    def line(self) -> str:
        """One line for people and monitoring: the token first (OK / OVERDUE / SKIP)."""
        token = STATUSES[self.status][0]
        last = f"最終記録 {format_date(self.last_day)}" if self.last_day else "記録を受信したことがありません"
        if self.status == "unwatched":
            return f"{token} {self.code} {self.name}: {last}(監視対象外)"
        due = f"{format_date(self.due)}までの記録が必要"
        if self.status == "overdue":
            return f"{token} {self.code} {self.name}: 遅延 {last}、{due}(稼働日{self.cadence}日ごと)"
        return f"{token} {self.code} {self.name}: {last}、{due}(稼働日{self.cadence}日ごと)"

    def plain(self) -> str:
        """``JUKI status=ok last=2026-12-02 due=2026-12-02 cadence=1`` (ISO dates, for scripts)."""
        last = self.last_day.isoformat() if self.last_day else "-"
        due = self.due.isoformat() if self.due else "-"
        return f"{self.code} status={self.status} last={last} due={due} cadence={self.cadence}"


def status(today: date | None = None) -> list[Freshness]:
    """Every system of the inventory and every system with access logs, by code."""
    from pia.inventory.models import System

    today = today or today_jst()
    configured = cadences()
    names = dict(db.session.execute(sa.select(System.code, System.name)).all())
    d = AccessDay.__table__
    last: dict[str, date] = dict(
        db.session.execute(sa.select(d.c.system, sa.func.max(d.c.day)).group_by(d.c.system)).all()
    )
    out = []
    for code in sorted(set(names) | set(last)):
        cadence = configured.get(code, DEFAULT_CADENCE)
        last_day = last.get(code)
        watched = cadence > 0 and (last_day is not None or code in configured)
        if not watched:
            out.append(Freshness(code, names.get(code, ""), last_day, None, cadence, "unwatched"))
            continue
        due = due_day(code, today, cadence)
        state = "ok" if last_day is not None and last_day >= due else "overdue"
        out.append(Freshness(code, names.get(code, ""), last_day, due, cadence, state))
    return out


def doctor_check():
    """``flask doctor``: the cadence setting can be read, and no watched feed is overdue."""
    from common.doctor import Result

    try:
        rows = status()
    except CadenceError as exc:
        return Result(problems=[str(exc)])
    late = [row.line() for row in rows if row.overdue]
    watched = sum(row.due is not None for row in rows)
    return Result(summary=f"監視している {watched} システムの操作履歴は期限内に届いています。", problems=late)
