"""The demo feed generator: deterministic, valid, and with exactly the planted violations."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import holidays
import pytest

from common.mynumber import is_my_number
from evidence import demo_gen
from evidence.feeds import FeedParser, parse_feed

CHECKS = {
    "no_grant",
    "after_transfer",
    "stale_grant",
    "self_or_family",
    "after_hours",
    "bulk_access",
    "denied_spike",
    "dormant_grant",
    "provision_outside_basis",
    "inquiry_declared_none",
    "protected_subject",
    "coworker_record",
    "unexplained_access",
}


@pytest.fixture(scope="module")
def feeds():
    return demo_gen.generate()


@pytest.fixture(scope="module")
def planted():
    return demo_gen.planted()


def planted_events(planted, check):
    return {eid for p in planted if p["check"] == check for eid in p["event_ids"]}


def jst(row):
    return datetime.fromisoformat(row["occurred_at"])


def test_deterministic_and_seeded():
    small = demo_gen.generate(events=3_000)
    assert small == demo_gen.generate(events=3_000)
    other = demo_gen.generate(seed=7, events=3_000)
    assert other["access"] != small["access"]
    assert demo_gen.planted() == demo_gen.planted(seed=7)


def test_sizes_and_shape(feeds):
    assert len(feeds["access"]) == 100_000
    assert set(feeds) == {"access", "grants", "assignments", "relations", "provisions", "transactions", "protections"}
    users = {row["user_id"] for row in feeds["access"]}
    assert 145 <= len(users) <= 155
    departments = {row["department"] for row in feeds["assignments"]}
    assert set(demo_gen.DEPARTMENTS) | {"市民税課"} == departments
    stamps = [row["occurred_at"] for row in feeds["access"]]
    assert stamps == sorted(stamps)
    assert stamps[0] >= "2025-04-01" and stamps[-1] < "2025-07-01"
    assert len({row["event_id"] for row in feeds["access"]}) == 100_000


def test_every_check_is_planted_a_few_times(planted):
    counts = defaultdict(int)
    for p in planted:
        counts[p["check"]] += 1
    assert set(counts) == CHECKS
    assert all(1 <= n <= 6 for n in counts.values())
    assert counts["after_hours"] >= 3 and counts["stale_grant"] >= 2


def test_holidays_match_the_calendar():
    jp = holidays.Japan(years=2025)
    in_quarter = {d for d in jp if demo_gen.QUARTER_START <= d <= demo_gen.QUARTER_END}
    assert in_quarter == set(demo_gen.HOLIDAYS_2025_Q1)


def test_no_value_is_a_my_number_and_subjects_are_keys(feeds):
    for kind, rows in feeds.items():
        for row in rows:
            assert not any(is_my_number(v) for v in row.values()), kind
            subject = row.get("subject_id")
            if subject:
                assert len(subject) == 11 and subject[0] == "S"
                int(subject[1:], 16)


def test_feeds_parse_without_errors(tmp_path):
    paths = demo_gen.write_feeds(tmp_path, events=5_000)
    assert set(paths) == {"access", "grants", "assignments", "relations", "provisions", "transactions", "protections"}
    for kind, path in paths.items():
        with path.open("rb") as fh:
            result = parse_feed(kind, fh, filename=path.name, known_systems={"JUKI"})
        assert result.errors == [], (kind, result.errors[:3])
        assert result.rows_valid > 0


# -- reference checks: each finds exactly what was planted --------------------------------


def active_grant(grants, user, day):
    for g in grants:
        if (
            g["user_id"] == user
            and g["granted_at"] <= day.isoformat()
            and (not g["revoked_at"] or day.isoformat() <= g["revoked_at"])
        ):
            return True
    return False


def authorised_on(assignments, user, day):
    return any(
        a["user_id"] == user
        and a["department"] in demo_gen.AUTHORISED_DEPARTMENTS
        and a["start_date"] <= day.isoformat()
        and (not a["end_date"] or day.isoformat() <= a["end_date"])
        for a in assignments
    )


def test_no_grant_and_after_transfer(feeds, planted):
    granted = {g["user_id"] for g in feeds["grants"]}
    no_grant = {r["event_id"] for r in feeds["access"] if r["user_id"] not in granted}
    assert no_grant == planted_events(planted, "no_grant")
    by_user = defaultdict(list)
    for a in feeds["assignments"]:
        by_user[a["user_id"]].append(a)
    after = {
        r["event_id"]
        for r in feeds["access"]
        if r["user_id"] in granted
        and active_grant(feeds["grants"], r["user_id"], jst(r).date())
        and not authorised_on(by_user[r["user_id"]], r["user_id"], jst(r).date())
    }
    assert after == planted_events(planted, "after_transfer")


def test_stale_grants(feeds, planted):
    stale = set()
    for user in {a["user_id"] for a in feeds["assignments"]}:
        spans = [
            a
            for a in feeds["assignments"]
            if a["user_id"] == user and a["department"] in demo_gen.AUTHORISED_DEPARTMENTS
        ]
        if not spans or any(not a["end_date"] for a in spans):
            continue
        left = max(date.fromisoformat(a["end_date"]) for a in spans)
        for g in feeds["grants"]:
            if g["user_id"] == user:
                until = date.fromisoformat(g["revoked_at"]) if g["revoked_at"] else demo_gen.QUARTER_END
                if (until - left).days > 14:
                    stale.add(user)
    assert stale == {p["user_id"] for p in planted if p["check"] == "stale_grant"}


def test_self_or_family(feeds, planted):
    related = {(r["user_id"], r["subject_id"]) for r in feeds["relations"]}
    assert {r["relation"] for r in feeds["relations"]} == {"self", "household", "relative"}
    hits = {r["event_id"] for r in feeds["access"] if (r["user_id"], r["subject_id"]) in related}
    assert hits == planted_events(planted, "self_or_family")


def test_after_hours(feeds, planted):
    def outside(row):
        t = jst(row)
        return t.weekday() >= 5 or t.date() in demo_gen.HOLIDAYS_2025_Q1 or not (8 <= t.hour < 19)

    found = {r["event_id"] for r in feeds["access"] if outside(r)}
    assert found == planted_events(planted, "after_hours")
    assert {p["why"] for p in planted if p["check"] == "after_hours"} == {"night", "early", "weekend", "holiday"}


def test_bulk_access_and_denied_spike(feeds, planted):
    subjects, denied = defaultdict(set), defaultdict(int)
    for r in feeds["access"]:
        key = (r["user_id"], jst(r).date().isoformat())
        if r["subject_id"]:
            subjects[key].add(r["subject_id"])
        if r["result"] == "denied":
            denied[key] += 1
    bulk = {key for key, s in subjects.items() if len(s) > 200}
    spikes = {key for key, n in denied.items() if n > 10}
    assert bulk == {(p["user_id"], p["date"]) for p in planted if p["check"] == "bulk_access"}
    assert spikes == {(p["user_id"], p["date"]) for p in planted if p["check"] == "denied_spike"}


def test_dormant_grants(feeds, planted):
    end = demo_gen.QUARTER_END
    last_use = {}
    for r in feeds["access"]:
        last_use[r["user_id"]] = max(last_use.get(r["user_id"], ""), r["occurred_at"])
    dormant = set()
    for g in feeds["grants"]:
        if g["revoked_at"]:
            continue
        since = max(
            date.fromisoformat(g["granted_at"]),
            date.fromisoformat(last_use[g["user_id"]][:10]) if g["user_id"] in last_use else date.min,
        )
        if end - since >= timedelta(days=90):
            dormant.add(g["user_id"])
    assert dormant == {p["user_id"] for p in planted if p["check"] == "dormant_grant"}


def test_provisions(feeds, planted):
    declared = set(demo_gen.DECLARED_TABLE_ITEMS)
    outside = {
        r["record_id"]
        for r in feeds["provisions"]
        if r["direction"] == "provide" and int(r["table_item"]) not in declared
    }
    inquiries = {r["record_id"] for r in feeds["provisions"] if r["direction"] == "inquire"}
    assert outside == {p["record_id"] for p in planted if p["check"] == "provision_outside_basis"}
    assert inquiries == {p["record_id"] for p in planted if p["check"] == "inquiry_declared_none"}
    assert all(r["info_item"] == "住民票関係情報" and r["affair"] == "juki" for r in feeds["provisions"])


def test_write_access_csv_streams_valid_rows(tmp_path):
    path = demo_gen.write_access_csv(tmp_path / "access.csv", 25_000, seed=3)
    with path.open("rb") as fh:
        parser = FeedParser("access", known_systems={"JUKI"})
        total = sum(len(chunk) for chunk in parser.iter_chunks(fh))
    assert total == 25_000 and parser.ok
    assert path.read_bytes() == demo_gen.write_access_csv(tmp_path / "again.csv", 25_000, seed=3).read_bytes()


def test_most_accesses_are_explained_and_staff_have_names(feeds, planted):
    dept = {}
    for row in feeds["assignments"]:
        assert row.get("display_name") or row["user_id"] == demo_gen.NO_GRANT_USER
        dept.setdefault(row["user_id"], row["department"])
    by_subject = defaultdict(list)
    for t in feeds["transactions"]:
        by_subject[(t["subject_id"], t["occurred_at"][:10])].append(t["department"])
    wanted = [
        r
        for r in feeds["access"]
        if r["action"] in ("view", "print", "update", "export") and r["subject_id"] and r["result"] == "success"
    ]
    same_day = sum(
        dept.get(r["user_id"]) in by_subject.get((r["subject_id"], r["occurred_at"][:10]), ()) for r in wanted
    )
    assert 0.80 <= same_day / len(wanted) <= 0.90


def test_protected_residents_and_coworker_lookups(feeds, planted):
    protected = {p["subject_id"] for p in feeds["protections"]}
    found = [p for p in planted if p["check"] == "protected_subject"]
    assert 2 <= len(found) < len(protected) and all(p["subject_id"] in protected for p in found)
    selves = {(r["subject_id"], r["user_id"]) for r in feeds["relations"] if r["relation"] == "self"}
    lookups = [p for p in planted if p["check"] == "coworker_record"]
    assert len(lookups) == 2
    for p in lookups:
        (owner,) = [user for subject, user in selves if subject == p["subject_id"]]
        assert owner != p["user_id"]
