"""The checks find every planted violation of the demo quarter, and nothing else."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from common.db import db
from evidence import demo_gen
from evidence.checks import CHECKS, Period, run_checks, save_settings, stored_findings


class FakeDeclaration:
    def __init__(self, items, inquires):
        self.provision_items = frozenset(items)
        self.inquires = inquires
        self.assessment_id = 1
        self.version_id = 1


@pytest.fixture
def demo_feeds(app, juki, department, tmp_path, monkeypatch):
    from evidence.ingest import import_path

    depts = [department(name) for name in demo_gen.AUTHORISED_DEPARTMENTS]
    juki.authorised_departments = depts
    db.session.commit()
    monkeypatch.setattr(
        "evidence.checks.declared_basis",
        lambda code: FakeDeclaration(demo_gen.DECLARED_TABLE_ITEMS, False) if code == "juki" else None,
    )
    paths = demo_gen.write_feeds(tmp_path, events=20_000)
    for kind in ("assignments", "grants", "relations", "protections", "provisions", "transactions", "access"):
        assert import_path(kind, paths[kind], source=f"test:{kind}").stored
    return paths


QUARTER = Period(demo_gen.QUARTER_START, demo_gen.QUARTER_END)


def _keys(found):
    out = set()
    for f in found:
        kind = CHECKS[f["check"]].key_kind
        if kind == "event":
            out.add((f["check"], f["event_id"]))
        elif kind == "record":
            out.add((f["check"], f["record_id"]))
        elif kind == "user_day":
            out.add((f["check"], f["user_id"], f["day"].isoformat()))
        else:
            out.add((f["check"], f["user_id"]))
    return out


def _expected(end=None):
    out = set()
    for p in demo_gen.planted(end=end):
        if p["check"] in ("bulk_access", "denied_spike", "unexplained_access"):
            out.add((p["check"], p["user_id"], p["date"]))
        elif "event_ids" in p:
            out.update((p["check"], e) for e in p["event_ids"])
        elif "record_id" in p:
            out.add((p["check"], p["record_id"]))
        else:
            out.add((p["check"], p["user_id"]))
    return out


def test_every_planted_violation_is_found_and_nothing_else(demo_feeds):
    run = run_checks(QUARTER)
    found = stored_findings(QUARTER)
    assert _keys(found) == _expected()
    assert {f["check"] for f in found} == set(CHECKS)
    assert run.found == len(found) and sum(run.new.values()) == len(found)
    assert all(f["explanation"] and f["severity"] in ("high", "medium", "low") for f in found)


def test_explanations_are_written_from_the_facts(demo_feeds):
    run_checks(QUARTER)
    found = {(f["check"], f["event_id"] or f["record_id"] or f["user_id"]): f for f in stored_findings(QUARTER)}
    night = found[
        (
            "after_hours",
            next(p["event_ids"][0] for p in demo_gen.planted() if p["check"] == "after_hours" and p["why"] == "night"),
        )
    ]
    assert night["explanation"] == (
        f"利用者 u0005({demo_gen.display_name(5)}) は 2025年4月8日 22:10 に JUKI で「照会」を行いました。"
        "業務時間(08:00〜19:00)外の操作です。"
    )
    holiday = next(f for (c, _k), f in found.items() if c == "after_hours" and f["user_id"] == "u0031")
    assert "閉庁日(土日・祝日・年末年始)の操作です" in holiday["explanation"]
    family = next(f for (c, _k), f in found.items() if c == "self_or_family" and f["user_id"] == "u0060")
    assert family["details"]["relation"] == "household"
    assert "同一世帯の記録" in family["explanation"] and "「印刷」" in family["explanation"]
    stale = found[("stale_grant", "u0050")]
    assert "2025年4月30日" in stale["explanation"] and "(47日後)" in stale["explanation"]
    assert "現在も有効です" in found[("stale_grant", "u0011")]["explanation"]
    bulk = next(f for (c, _k), f in found.items() if c == "bulk_access")
    assert bulk["details"]["subjects"] >= demo_gen.BULK_SUBJECTS
    assert f"{bulk['details']['subjects']} 人分" in bulk["explanation"]
    assert "基準: 200 人" in bulk["explanation"]
    outside = found[("provision_outside_basis", "JP-OUT-0002")]
    assert "第200項" in outside["explanation"] and "日本年金機構" in outside["explanation"]


def test_event_findings_read_their_events_facts_the_same_way_everywhere(demo_feeds):
    """An event finding's action, subject and result come from its event, in the list the
    CLI prints and on the finding's page (ORM) alike."""
    from evidence.models import AccessEvent, Finding

    run_checks(QUARTER)
    listed = {f["id"]: f for f in stored_findings(QUARTER) if CHECKS[f["check"]].key_kind == "event"}
    assert {f["check"] for f in listed.values()} == {
        "no_grant",
        "after_transfer",
        "self_or_family",
        "after_hours",
        "protected_subject",
        "coworker_record",
    }
    db.session.expire_all()
    for finding in db.session.scalars(db.select(Finding).where(Finding.id.in_(listed))):
        event = db.session.scalars(
            db.select(AccessEvent).where(AccessEvent.system == finding.system, AccessEvent.event_id == finding.event_id)
        ).one()
        item = listed[finding.id]
        assert finding.explanation == item["explanation"]
        assert finding.facts == item["details"]
        assert (item["details"]["action"], item["details"]["subject_id"], item["details"]["result"]) == (
            event.action,
            event.subject_id,
            event.result,
        )


def test_rerun_keeps_findings_and_triage(demo_feeds, make_user):
    from common.mynumber import REFUSED
    from evidence.models import Finding
    from evidence.services import TriageError, decide

    run_checks(QUARTER)
    db.session.commit()
    first = stored_findings(QUARTER)
    finding = db.session.get(Finding, first[0]["id"])
    auditor = make_user("auditor")
    with pytest.raises(TriageError, match=REFUSED):  # a reason never carries a 個人番号
        decide(finding, "legitimate", "本人の番号 5371\t6430\t7917 を確認", auditor)
    decide(finding, "legitimate", "窓口での本人確認の記録あり", auditor)
    db.session.commit()
    again = run_checks(QUARTER)
    assert sum(again.new.values()) == 0 and again.found == len(first)
    second = stored_findings(QUARTER)
    assert [(f["id"], f["key"]) for f in second] == [(f["id"], f["key"]) for f in first]
    assert next(f for f in second if f["id"] == finding.id)["decision"] == "legitimate"


def test_a_late_grant_clears_the_findings_it_disproves_and_keeps_the_triage(demo_feeds, make_user, tmp_path):
    """Findings a later feed disproves are marked 解消, not deleted; an auditor's decision to
    look into one keeps it open; a further run changes nothing."""
    from evidence.ingest import import_path
    from evidence.models import Finding
    from evidence.services import FindingFilter, decide, open_counts

    run_checks(QUARTER)
    db.session.commit()
    mine = [f for f in stored_findings(QUARTER) if f["check"] == "no_grant"]
    user = mine[0]["user_id"]
    theirs = [f for f in mine if f["user_id"] == user]
    others = [f for f in stored_findings(QUARTER) if f["user_id"] != user or f["check"] != "no_grant"]
    assert theirs and others
    watched = db.session.get(Finding, theirs[0]["id"])
    decide(watched, "investigate", "本人に確認する", make_user("auditor"))
    db.session.commit()
    open_before = open_counts()["no_grant"]

    late = tmp_path / "late_grants.csv"
    late.write_text(
        "user_id,system,role,granted_at,revoked_at,granted_by\n"
        f"{user},JUKI,照会,{QUARTER.start.isoformat()},,情報政策課\n",
        encoding="utf-8",
    )
    assert import_path("grants", late, source="test:late").stored
    run = run_checks(QUARTER)
    db.session.commit()

    assert run.cleared["no_grant"] == len(theirs) and run.restored["no_grant"] == 0
    assert sum(run.cleared.values()) == len(theirs) and sum(run.new.values()) == 0
    assert run.found == len(others)
    assert sorted(f["id"] for f in stored_findings(QUARTER)) == sorted(f["id"] for f in others)
    kept = {f["id"]: f for f in stored_findings(QUARTER, include_cleared=True)}
    assert all(kept[f["id"]]["cleared_at"] is not None for f in theirs)
    db.session.expire_all()
    watched = db.session.get(Finding, watched.id)
    assert watched.decision == "investigate" and watched.is_open  # the auditor's call stands
    assert all(not db.session.get(Finding, f["id"]).is_open for f in theirs[1:])
    assert open_counts()["no_grant"] == open_before - (len(theirs) - 1)
    listed = db.session.scalars(FindingFilter(state="cleared").apply(db.select(Finding))).all()
    assert sorted(x.id for x in listed) == sorted(f["id"] for f in theirs)

    again = run_checks(QUARTER)
    assert sum(again.cleared.values()) == sum(again.restored.values()) == 0


def test_a_finding_cleared_by_changed_settings_comes_back_with_its_id(demo_feeds):
    night = next(p["event_ids"][0] for p in demo_gen.planted() if p["check"] == "after_hours" and p["why"] == "night")

    def night_finding(**kw):
        return next(f for f in stored_findings(QUARTER, **kw) if f["event_id"] == night)

    run_checks(QUARTER)
    first = night_finding()
    save_settings("after_hours", enabled=True, severity=None, params={"start": "08:00", "end": "23:00"})
    run = run_checks(QUARTER, only=["after_hours"])
    assert run.cleared["after_hours"] >= 1
    assert night not in {f["event_id"] for f in stored_findings(QUARTER)}
    assert night_finding(include_cleared=True)["cleared_at"] is not None
    save_settings("after_hours", enabled=True, severity=None, params={})
    run = run_checks(QUARTER, only=["after_hours"])
    assert run.restored["after_hours"] >= 1 and run.cleared["after_hours"] == 0
    back = night_finding()
    assert back["id"] == first["id"] and back["cleared_at"] is None


def test_parameters_are_data(demo_feeds):
    save_settings("bulk_access", enabled=True, severity="high", params={"subjects": 300})
    save_settings("denied_spike", enabled=False, severity=None, params={})
    run = run_checks(QUARTER, only=["bulk_access", "denied_spike"])
    assert run.checks == ["bulk_access"] and run.found == 0
    assert stored_findings(QUARTER) == []
    save_settings("bulk_access", enabled=True, severity="high", params={"subjects": 100})
    run = run_checks(QUARTER, only=["bulk_access"])
    found = stored_findings(QUARTER)
    assert run.found == len(found) > 0 and all(f["severity"] == "high" for f in found)


def test_after_hours_uses_per_system_hours(demo_feeds):
    save_settings(
        "after_hours",
        enabled=True,
        severity=None,
        params={"start": "08:00", "end": "19:00", "systems": {"JUKI": {"start": "09:00"}}},
    )
    first_day = Period(demo_gen.QUARTER_START, demo_gen.QUARTER_START)
    run_checks(first_day, only=["after_hours"])
    found = stored_findings(first_day)
    # the normal day starts at 08:30, so 09:00 makes early events of 4/1 after-hours
    assert found and all(f["occurred_at"].astimezone(demo_gen_tz()).hour < 9 for f in found)
    assert all("業務時間(09:00〜19:00)外" in f["explanation"] for f in found)


def demo_gen_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Tokyo")


def test_check_command_prints_json(app, demo_feeds):
    result = app.test_cli_runner().invoke(
        args=["evidence", "check", "--from", "2025-04-01", "--to", "2025-06-30", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_check = {}
    for f in data["findings"]:
        by_check.setdefault(f["check"], []).append(f)
    assert set(by_check) == set(CHECKS)
    assert all("event_id" in f and "system" in f for f in by_check["no_grant"])
    assert all("record_id" in f for f in by_check["provision_outside_basis"])
    assert all("user_id" in f and "date" in f for f in by_check["bulk_access"])
    assert all("user_id" in f and "system" in f for f in by_check["stale_grant"])


def test_check_command_text_table_is_aligned_on_a_terminal(app, demo_feeds):
    import unicodedata

    result = app.test_cli_runner().invoke(args=["evidence", "check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 + len(CHECKS)

    def column_of(line, text):
        head = line[: line.index(text)]
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in head)

    # every title starts, and every count ends, in the same terminal column as the header's
    title_at = column_of(lines[0], "名称")
    assert {column_of(line, CHECKS[line.split()[0]].title) for line in lines[1:]} == {title_at}
    found_end = column_of(lines[0], "検出") + 4
    assert {column_of(line, " 件") + 3 for line in lines[1:]} == {found_end}


def test_items_exist_in_the_schema():
    from pia.schema import load_schema

    schema = load_schema("zenkoumoku")
    for check in CHECKS.values():
        assert check.items
        for path, _label in check.items:
            schema.item(path)


def test_closed_days_use_the_holiday_library():
    from datetime import date

    from evidence.checks import closed_days

    days = set(closed_days(date(2025, 4, 28), date(2025, 5, 7)))
    assert date(2025, 4, 29) in days and date(2025, 5, 6) in days and date(2025, 5, 3) in days
    assert date(2025, 4, 30) not in days and date(2025, 5, 7) not in days
    year_end = set(closed_days(date(2025, 12, 26), date(2026, 1, 5)))
    assert {date(2025, 12, 29), date(2026, 1, 2)} <= year_end and date(2026, 1, 5) not in year_end


def test_every_check_has_its_own_sentence():
    """evidence.explain writes a sentence for each check (it falls back to the bare name)."""
    from datetime import date, datetime
    from types import SimpleNamespace

    from evidence.explain import explain

    facts = {
        "action": "view",
        "relation": "self",
        "subject_id": "S1",
        "closed": True,
        "left_on": "2026-04-01",
        "revoked_at": None,
        "as_of": None,
        "roles": ["照会"],
        "days": 14,
        "last_use": None,
        "subjects": 300,
        "denied": 12,
        "limit": 10,
        "counterpart": "A市",
        "info_item": "住民票関係情報",
        "table_item": 1,
        "affair": "住民基本台帳",
    }
    for name in CHECKS:
        finding = SimpleNamespace(
            check=name,
            user_id="U1",
            system="juki",
            record_id=1,
            day=date(2026, 5, 1),
            occurred_at=datetime(2026, 5, 1, 1, 0, tzinfo=UTC),
        )
        sentence = explain(finding, facts)
        assert sentence != name and sentence.endswith("。"), name


def test_the_demo_moved_to_a_load_day_plants_the_same_violations(app, juki, department, tmp_path, monkeypatch):
    """The demo loads the quarter ending on the load day: every planted violation is still found."""
    from datetime import date

    from evidence.ingest import import_path

    end = date(2027, 1, 6)  # a quarter across the year end (12/29–1/3 closed)
    juki.authorised_departments = [department(name) for name in demo_gen.AUTHORISED_DEPARTMENTS]
    db.session.commit()
    monkeypatch.setattr(
        "evidence.checks.declared_basis",
        lambda code: FakeDeclaration(demo_gen.DECLARED_TABLE_ITEMS, False) if code == "juki" else None,
    )
    paths = demo_gen.write_feeds(tmp_path, events=5_000, end=end)
    for kind in ("assignments", "grants", "relations", "protections", "provisions", "transactions", "access"):
        assert import_path(kind, paths[kind], source=f"test:{kind}").stored
    quarter = Period(*demo_gen.quarter(end))
    run_checks(quarter)
    assert _keys(stored_findings(quarter)) == _expected(end)


def test_user_day_findings_are_one_per_user_day_over_the_limit(demo_feeds):
    """bulk_access stores its findings set-based: one per user-day over the limit, keyed
    ``user/YYYY-MM-DD``, with the most subjects of that user-day's systems."""
    from evidence.models import AccessDay

    save_settings("bulk_access", enabled=True, severity=None, params={"subjects": 1})
    run_checks(QUARTER, only=["bulk_access"])
    expected: dict[str, int] = {}
    for row in db.session.query(AccessDay):
        key = f"{row.user_id}/{row.day.isoformat()}"
        expected[key] = max(expected.get(key, 0), row.subjects)
    expected = {key: n for key, n in expected.items() if n > 1}
    found = {f["key"]: f for f in stored_findings(QUARTER, only=["bulk_access"])}
    assert len(expected) > 100 and set(found) == set(expected)
    assert all(found[key]["details"]["subjects"] == n for key, n in expected.items())
    assert all(f["system"] == "JUKI" and f["details"]["limit"] == 1 for f in found.values())
