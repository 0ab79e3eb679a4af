"""調査案件: opened from findings, filled, concluded; append-only and audited; 繰り返し."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from evidence import cases
from evidence.cases import Case, CaseEntry
from evidence.checks import Period, run_checks
from evidence.models import Finding
from tests.evidence.conftest import access_csv


@pytest.fixture
def findings(feed):
    """u9 (no grant): e1, e2 by day and e3 by night; u7: e4. Findings by event id and check."""
    feed(
        "access",
        access_csv(
            "e1,2025-04-01T10:00:00+09:00,JUKI,u9,view,S1,T1,,",
            "e2,2025-04-02T10:00:00+09:00,JUKI,u9,view,S2,T1,,",
            "e3,2025-04-03T23:00:00+09:00,JUKI,u9,view,S3,T1,,",
            "e4,2025-04-01T11:00:00+09:00,JUKI,u7,view,S4,T1,,",
        ),
    )
    run_checks(Period())
    db.session.commit()
    rows = db.session.execute(sa.select(Finding)).scalars().all()
    return {(f.event_id, f.check): f.id for f in rows}


def _entries(case_id):
    return (
        db.session.execute(sa.select(CaseEntry).where(CaseEntry.case_id == case_id).order_by(CaseEntry.id))
        .scalars()
        .all()
    )


def test_an_auditor_opens_fills_and_concludes_a_case(as_role, findings, make_user):
    auditor = as_role("auditor")
    colleague = make_user("auditor", username="kansa2")
    e1, e2 = findings[("e1", "no_grant")], findings[("e2", "no_grant")]
    page = auditor.get(f"/evidence/findings/{e1}").text
    assert "この職員の調査案件を開く" in page

    r = auditor.post("/evidence/cases", data={"finding_id": [str(e1)], "back": f"/evidence/findings/{e1}"})
    assert r.status_code == 302
    case = db.session.execute(sa.select(Case)).scalar_one()
    assert r.headers["Location"].endswith(f"/evidence/cases/{case.id}")
    assert case.user_id == "u9" and case.finding_ids == [e1] and case.status_label == "調査中"
    assert case.assignee.assignee_id == auditor.user.id

    # the page suggests u9's other open findings (not u7's), and the auditor accepts one
    page = auditor.get(f"/evidence/cases/{case.id}").text
    suggested = {fid for (ev, _), fid in findings.items() if ev in ("e2", "e3")}
    for fid in suggested:
        assert f'name="finding_id" value="{fid}"' in page
    assert f'name="finding_id" value="{findings[("e4", "no_grant")]}"' not in page
    assert auditor.post(f"/evidence/cases/{case.id}/findings", data={"finding_id": [str(e2)]}).status_code == 302
    assert f'name="finding_id" value="{e2}"' not in auditor.get(f"/evidence/cases/{case.id}").text
    # the finding's page now points to its case
    assert f"調査案件 第{case.id}号</a>に含まれています" in auditor.get(f"/evidence/findings/{e2}").text

    assert auditor.post(f"/evidence/cases/{case.id}/assignee", data={"assignee": str(colleague.id)}).status_code == 302
    r = auditor.post(f"/evidence/cases/{case.id}/notes", data={"text": ""})
    assert r.status_code == 400 and "記録する内容を入力してください" in r.text
    assert auditor.post(f"/evidence/cases/{case.id}/notes", data={"text": "所属長に聞き取り"}).status_code == 302

    # concluding asks first; the first POST records nothing
    data = {"outcome": "guidance", "conclusion": "業務外の照会と認めた。本人を指導した。"}
    r = auditor.post(f"/evidence/cases/{case.id}/conclusion", data=data)
    assert r.status_code == 200 and "調査案件を結論済みにします" in r.text and "結論済みにする" in r.text
    db.session.expire_all()
    assert db.session.get(Case, case.id).is_open
    r = auditor.post(f"/evidence/cases/{case.id}/conclusion", data={**data, "confirm": "yes"})
    assert r.status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status_label == "結論済み" and case.conclusion.outcome_label == "指導"
    assert case.assignee.assignee_name == colleague.display_name
    assert [e.kind for e in _entries(case.id)] == ["finding", "assignee", "finding", "assignee", "note", "conclusion"]

    page = auditor.get(f"/evidence/cases/{case.id}").text
    for text in ("結論済み", "指導", "所属長に聞き取り", "業務外の照会と認めた", "案件の履歴", colleague.display_name):
        assert text in page
    assert "結論を記録する" not in page  # nothing more to write

    # a concluded case takes nothing more
    for what, data in (
        ("notes", {"text": "追記"}),
        ("findings", {"finding_id": [str(findings[("e3", "after_hours")])]}),
    ):
        r = auditor.post(f"/evidence/cases/{case.id}/{what}", data=data, follow_redirects=True)
        assert "結論済みの案件は変更できません" in r.text
    assert len(_entries(case.id)) == 6

    trail = db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.summary)
        .where(AuditEvent.object_type == "evidence_case")
        .order_by(AuditEvent.id)
    ).all()
    assert [a for a, _ in trail] == ["create", "update", "update", "update", "transition"]
    assert "区分: 指導" in trail[-1][1]


def test_cases_cannot_change_in_the_database(as_role, findings):
    auditor = as_role("auditor")
    auditor.post("/evidence/cases", data={"finding_id": [str(findings[("e1", "no_grant")])]})
    for stmt in (
        "UPDATE evidence_cases SET user_id = 'x'",
        "DELETE FROM evidence_cases",
        "UPDATE evidence_case_entries SET text = 'x'",
        "DELETE FROM evidence_case_entries",
    ):
        with pytest.raises(sa.exc.DBAPIError):
            with db.engine.begin() as conn:
                conn.exec_driver_sql(stmt)


def test_one_user_per_case_and_one_open_case_per_user(as_role, findings, count_rows):
    auditor = as_role("auditor")
    mixed = [str(findings[("e1", "no_grant")]), str(findings[("e4", "no_grant")])]
    r = auditor.post("/evidence/cases", data={"finding_id": mixed}, follow_redirects=True)
    assert "一人の職員の点検結果だけを選んでください" in r.text and count_rows(Case) == 0
    r = auditor.post("/evidence/cases", data={"finding_id": ["abc"]}, follow_redirects=True)
    assert "点検結果を選んでください" in r.text and count_rows(Case) == 0
    assert auditor.post("/evidence/cases", data={"finding_id": [mixed[0]]}).status_code == 302
    other = str(findings[("e2", "no_grant")])
    r = auditor.post("/evidence/cases", data={"finding_id": [other]}, follow_redirects=True)
    assert "調査中の案件(第1号)があります" in r.text and count_rows(Case) == 1
    # a finding already in the case is not taken twice, nor another user's finding
    for fid in (mixed[0], mixed[1]):
        r = auditor.post("/evidence/cases/1/findings", data={"finding_id": [fid]}, follow_redirects=True)
        assert "加えられません" in r.text or "すでに調査案件に含まれている" in r.text
    assert count_rows(CaseEntry, kind="finding") == 1
    # the finding page of u9's other finding offers to add it to the open case
    assert "この点検結果を案件 第1号に加える" in auditor.get(f"/evidence/findings/{other}").text


def test_conclusion_needs_outcome_and_text(as_role, findings):
    auditor = as_role("auditor")
    auditor.post("/evidence/cases", data={"finding_id": [str(findings[("e1", "no_grant")])]})
    r = auditor.post("/evidence/cases/1/conclusion", data={"outcome": "", "conclusion": "", "confirm": "yes"})
    assert r.status_code == 400 and "処分等の区分を選んでください" in r.text and "結論を記入してください" in r.text
    r = auditor.post(
        "/evidence/cases/1/conclusion",
        data={"outcome": "no_issue", "conclusion": "番号 123456789018", "confirm": "yes"},
    )
    assert r.status_code == 400
    assert db.session.get(Case, 1).is_open


def test_officers_read_cases_but_cannot_change_them(as_role, findings):
    as_role("auditor").post("/evidence/cases", data={"finding_id": [str(findings[("e1", "no_grant")])]})
    officer = as_role("officer")
    assert "第1号" in officer.get("/evidence/cases").text
    page = officer.get("/evidence/cases/1").text
    assert "案件の履歴" in page and "結論を記録する" not in page and 'name="finding_id"' not in page
    assert "調査案件を開く" not in officer.get(f"/evidence/findings/{findings[('e2', 'no_grant')]}").text
    for url, data in (
        ("/evidence/cases", {"finding_id": ["2"]}),
        ("/evidence/cases/1/findings", {"finding_id": ["2"]}),
        ("/evidence/cases/1/assignee", {"assignee": "1"}),
        ("/evidence/cases/1/notes", {"text": "x"}),
        ("/evidence/cases/1/conclusion", {"outcome": "no_issue", "conclusion": "x", "confirm": "yes"}),
    ):
        assert officer.post(url, data=data).status_code == 403, url


@pytest.mark.parametrize("role", ["admin", "editor", "reviewer"])
def test_other_roles_and_anonymous_are_refused(as_role, client, findings, role):
    as_role("auditor").post("/evidence/cases", data={"finding_id": [str(findings[("e1", "no_grant")])]})
    c = as_role(role)
    for url in ("/evidence/cases", "/evidence/cases/1"):
        assert c.get(url).status_code == 403, url
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    for url in ("/evidence/cases", "/evidence/cases/1/notes", "/evidence/cases/1/conclusion"):
        assert c.post(url, data={"text": "x"}).status_code == 403, url
        assert client.post(url, data={"text": "x"}).status_code == 302
    assert db.session.execute(sa.select(sa.func.count()).select_from(CaseEntry)).scalar_one() == 2


def _finding(user, day, n):
    db.session.add(Finding(check="no_grant", key=f"{user}/{n}", user_id=user, day=day, severity="high", details={}))


def test_repeated_users(app, make_user):
    monday = date(2025, 6, 30)
    # u1: three ISO weeks within 90 days; u2: three findings in two weeks; u3: weeks too far apart
    for n, offset in enumerate((0, 7, 14)):
        _finding("u1", monday - timedelta(days=offset), n)
    for n, offset in enumerate((0, 1, 7)):
        _finding("u2", monday - timedelta(days=offset), n)
    for n, offset in enumerate((0, 7, 95)):
        _finding("u3", monday - timedelta(days=offset), n)
    # u4: three weeks, but one finding judged 正当な業務
    for n, offset in enumerate((0, 7, 14)):
        _finding("u4", monday - timedelta(days=offset), n)
    db.session.flush()
    db.session.execute(sa.update(Finding).where(Finding.key == "u4/2").values(decision="legitimate"))
    db.session.commit()
    assert set(cases.repeated_users()) == {"u1"}
    assert "3週" in cases.repeated_users()["u1"]

    # an earlier concluded case marks its user too
    auditor = make_user("auditor", username="kansa")
    fid = db.session.execute(sa.select(Finding.id).where(Finding.key == "u2/0")).scalar_one()
    case = cases.open_case([fid], auditor)
    assert set(cases.repeated_users()) == {"u1"}
    cases.conclude(case, "問題のない照会だった。", "no_issue", auditor)
    db.session.commit()
    assert set(cases.repeated_users()) == {"u1", "u2"}
    assert "結論済みの調査案件(第1号)" in cases.repeated_users()["u2"]


def test_findings_list_and_dashboard_mark_repeated_users(as_role, findings, make_user):
    auditor_user = make_user("auditor", username="kansa")
    case = cases.open_case([findings[("e4", "no_grant")]], auditor_user)
    cases.conclude(case, "問題なし", "no_issue", auditor_user)
    db.session.commit()
    c = as_role("auditor")
    page = c.get("/evidence/findings").text
    # u7 (concluded case) is marked in its rows; u9 (findings in one week) is not
    rows = [row for row in page.split("<tr>") if "<td>u" in row]
    assert rows and all(("繰り返し" in row) == ("<td>u7" in row) for row in rows)
    assert "選んだ点検結果で調査案件を開く" in page
    dash = c.get("/evidence/").text
    assert "繰り返しの見られる職員" in dash and "u7" in dash and "結論済みの調査案件(第1号)" in dash
    assert "選んだ点検結果で調査案件を開く" not in as_role("officer").get("/evidence/findings").text


def test_the_way_back_stays_on_this_site(as_role, findings):
    auditor = as_role("auditor")
    for back in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = auditor.post("/evidence/cases", data={"finding_id": ["abc"], "back": back})
        assert r.status_code == 302 and r.headers["Location"].endswith("/evidence/findings"), back
    r = auditor.post("/evidence/cases", data={"finding_id": ["abc"], "back": "/evidence/findings?user=u9"})
    assert r.headers["Location"].endswith("/evidence/findings?user=u9")


@pytest.mark.parametrize(("outcome", "decision"), [("guidance", "case_concluded"), ("no_issue", "legitimate")])
def test_concluding_a_case_decides_its_open_findings(as_role, findings, make_user, outcome, decision):
    auditor = make_user("auditor", username="kansa")
    e1, e2, e3 = findings[("e1", "no_grant")], findings[("e2", "no_grant")], findings[("e3", "no_grant")]
    case = cases.open_case([e1, e2, e3], auditor)
    # e2 already judged 誤検知 keeps its decision; e3 judged 要調査 is decided by the case
    from evidence.services import decide

    decide(db.session.get(Finding, e2), "false_positive", "端末の時刻ずれ", auditor)
    decide(db.session.get(Finding, e3), "investigate", "確認する", auditor)
    cases.conclude(case, "業務外の照会と認めた。", outcome, auditor)
    db.session.commit()
    db.session.expire_all()
    got = {fid: db.session.get(Finding, fid) for fid in (e1, e2, e3)}
    assert got[e1].decision == decision and got[e3].decision == decision and got[e2].decision == "false_positive"
    assert not any(f.is_open for f in got.values())
    reason = got[e1].decisions[-1].reason
    assert f"調査案件 第{case.id}号" in reason and cases.OUTCOMES[outcome] in reason
    # the finding page shows the decision in words; the other user's finding is untouched
    page = as_role("auditor").get(f"/evidence/findings/{e1}").text
    assert ("調査案件で結論済み" if decision == "case_concluded" else "正当な業務") in page
    assert db.session.get(Finding, findings[("e4", "no_grant")]).decision is None
    trail = db.session.execute(
        sa.select(AuditEvent.object_id).where(
            AuditEvent.object_type == "evidence_finding", AuditEvent.action == "decision"
        )
    ).scalars()
    assert sorted(int(i) for i in trail) == sorted([e1, e2, e3, e3])


def test_case_concluded_is_not_a_decision_a_person_can_choose(as_role, findings):
    auditor = as_role("auditor")
    fid = findings[("e1", "no_grant")]
    page = auditor.get(f"/evidence/findings/{fid}").text
    assert 'value="case_concluded"' not in page
    r = auditor.post(f"/evidence/findings/{fid}/decisions", data={"decision": "case_concluded", "reason": "x"})
    assert r.status_code in (200, 400)
    db.session.expire_all()
    assert db.session.get(Finding, fid).decision is None


def test_a_case_page_does_not_give_its_own_conclusion_as_the_reason(as_role, findings, make_user):
    auditor_user = make_user("auditor", username="kansa")
    first = cases.open_case([findings[("e1", "no_grant")]], auditor_user)
    cases.conclude(first, "問題なし", "no_issue", auditor_user)
    second = cases.open_case([findings[("e2", "no_grant")]], auditor_user)
    db.session.commit()
    c = as_role("auditor")

    def staff_line(case_id):
        page = c.get(f"/evidence/cases/{case_id}").text
        return page.split("<dt>職員")[1].split("</dd>")[0]

    assert "繰り返し" not in staff_line(first.id)
    assert "繰り返し" in staff_line(second.id) and f"結論済みの調査案件(第{first.id}号)" in staff_line(second.id)
