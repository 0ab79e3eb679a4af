"""The set-based checks agree with a plain reading of the issue's definitions.

Random small worlds (fixed seeds): grants, assignments, relations and access events of a
few users over three weeks that straddle a national holiday and weekends. Each event-based
check is computed again here, one event at a time, straight from the definitions, and the
stored findings must be exactly those events.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from common.db import db
from evidence.checks import Period, closed_days, run_checks, stored_findings
from tests.evidence.conftest import access_csv

JST = ZoneInfo("Asia/Tokyo")
START = date(2025, 4, 21)  # Monday; 4/29 昭和の日 and two weekends follow
DAYS = 21
AUTHORISED = ("中央区戸籍住民課", "住民情報課")
OTHER = "市民税課"
USERS = [f"u{n}" for n in range(1, 8)]
HOURS = (time(8), time(19))


def _day(n: int) -> date:
    return START + timedelta(days=n)


def _span(rng):
    """A random closed interval of days, open-ended now and then."""
    a = rng.randrange(-5, DAYS)
    b = None if rng.random() < 0.3 else a + rng.randrange(0, DAYS)
    return _day(a), (_day(b) if b is not None else None)


def world(seed: int) -> dict:
    rng = random.Random(seed)
    grants, assignments, relations, events = [], [], [], []
    for user in USERS:
        for _ in range(rng.randrange(0, 3)):
            start, end = _span(rng)
            grants.append((user, start, end))
        for _ in range(rng.randrange(0, 3)):
            start, end = _span(rng)
            assignments.append((user, rng.choice(AUTHORISED + (OTHER,)), start, end))
        if rng.random() < 0.5:
            relations.append((user, f"S{user}", rng.choice(("self", "household", "relative"))))
    subjects = [f"S{u}" for u in USERS] + [f"T{n}" for n in range(10)]
    for n in range(400):
        day = _day(rng.randrange(DAYS))
        at = datetime.combine(
            day, time(rng.choice((6, 7, 8, 9, 12, 17, 18, 19, 22)), rng.randrange(60), rng.randrange(60)), JST
        )
        events.append(
            (
                f"e{n}",
                at,
                rng.choice(USERS),
                rng.choice(("view", "print", "update")),
                rng.choice(subjects),
                "denied" if rng.random() < 0.1 else "success",
            )
        )
    return {"grants": grants, "assignments": assignments, "relations": relations, "events": events}


def _within(day, start, end):
    return start <= day and (end is None or day <= end)


def expected(w: dict) -> dict[str, set[str]]:
    closed = set(closed_days(_day(0), _day(DAYS)))
    out = {"no_grant": set(), "after_transfer": set(), "after_hours": set(), "self_or_family": set()}
    related = {(u, s) for u, s, _r in w["relations"]}
    for event_id, at, user, _action, subject, result in w["events"]:
        day = at.date()
        if (user, subject) in related:
            out["self_or_family"].add(event_id)
        if day in closed or not HOURS[0] <= at.time() < HOURS[1]:
            out["after_hours"].add(event_id)
        if result != "success":
            continue
        granted = any(u == user and _within(day, s, e) for u, s, e in w["grants"])
        placed = any(u == user and dept in AUTHORISED and _within(day, s, e) for u, dept, s, e in w["assignments"])
        if not granted:
            out["no_grant"].add(event_id)
        elif not placed:
            out["after_transfer"].add(event_id)
    return out


def _csv(header: str, rows) -> str:
    return header + "\n" + "".join(",".join("" if v is None else str(v) for v in r) + "\n" for r in rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_event_checks_match_the_definitions(feed, juki, department, seed):
    juki.authorised_departments = [department(name) for name in AUTHORISED]
    db.session.commit()
    w = world(seed)
    assert feed(
        "grants",
        _csv(
            "user_id,system,role,granted_at,revoked_at",
            [(u, "JUKI", f"照会{i}", s, e) for i, (u, s, e) in enumerate(w["grants"])],
        ),
    ).stored
    assert feed("assignments", _csv("user_id,department,start_date,end_date", w["assignments"])).stored
    if w["relations"]:
        assert feed("relations", _csv("user_id,subject_id,relation", w["relations"])).stored
    assert feed(
        "access",
        access_csv(
            *[
                f"{eid},{at.isoformat()},JUKI,{user},{action},{subject},T1,{result},"
                for eid, at, user, action, subject, result in w["events"]
            ]
        ),
    ).stored

    period = Period(_day(0), _day(DAYS))
    only = ["no_grant", "after_transfer", "after_hours", "self_or_family"]
    run_checks(period, only)
    found: dict[str, set[str]] = {name: set() for name in only}
    for f in stored_findings(period, only):
        found[f["check"]].add(f["event_id"])
    want = expected(w)
    assert found == want
    assert any(want.values())  # the world is not trivially clean
