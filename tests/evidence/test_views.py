"""Triage pages, the dashboard and the evidence report."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from evidence.checks import Period, run_checks, stored_findings
from evidence.models import Finding, TriageDecision
from tests.evidence.conftest import access_csv


@pytest.fixture
def findings(feed):
    # u9 has no grant: both events are no_grant findings; 23:00 is after hours
    feed(
        "access",
        access_csv(
            "e1,2025-04-01T10:00:00+09:00,JUKI,u9,view,S1,T1,,", "e2,2025-04-01T23:00:00+09:00,JUKI,u9,view,S2,T1,,"
        ),
    )
    run_checks(Period())
    db.session.commit()
    found = stored_findings(Period())
    assert {f["check"] for f in found} == {"no_grant", "after_hours"}
    return found


@pytest.fixture
def assessment(app, department):
    from pia.assessments.models import Affair, Assessment

    affair = Affair(code="juki", name="住民基本台帳に関する事務", department=department("住民情報課"))
    a = Assessment(affair=affair, form="zenkoumoku", title="住民基本台帳に関する事務 全項目評価書")
    db.session.add(a)
    db.session.commit()
    return a


@pytest.mark.parametrize("role", ["auditor", "officer"])
def test_findings_list_filters(as_role, findings, role):
    c = as_role(role)
    page = c.get("/evidence/findings?check=no_grant").text
    assert "権限のない操作" in page and page.count("/evidence/findings/") == 2
    assert "u9" in c.get("/evidence/findings?user=u9").text
    assert "該当する点検結果はありません" in c.get("/evidence/findings?user=nobody").text
    assert "該当する点検結果はありません" in c.get("/evidence/findings?from=2025-05-01").text


def test_decision_needs_a_reason_and_is_append_only(as_role, findings, count_rows):
    c = as_role("auditor")
    fid = next(f["id"] for f in findings if f["event_id"] == "e1" and f["check"] == "no_grant")
    page = c.get(f"/evidence/findings/{fid}").text
    assert "人事配置" in page and "前後の操作" in page and "e1" in page
    r = c.post(f"/evidence/findings/{fid}/decisions", data={"decision": "legitimate", "reason": ""})
    assert r.status_code == 400 and "理由を記入してください" in r.text
    assert count_rows(TriageDecision) == 0
    r = c.post(
        f"/evidence/findings/{fid}/decisions", data={"decision": "suspicious", "reason": "業務と関係のない照会の可能性"}
    )
    assert r.status_code == 302
    assert db.session.get(Finding, fid).decision == "suspicious"
    trail = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "decision")).scalars().all()
    assert trail and "不正の疑い" in trail[0].summary
    with pytest.raises(sa.exc.DBAPIError):
        with db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE evidence_decisions SET reason = 'x'")


def test_dashboard_shows_feeds_gaps_and_trend(as_role, findings):
    page = as_role("auditor").get("/evidence/").text
    assert "JUKI" in page and "<svg" in page and "権限のない操作" in page
    # no inline style or script: the only scripts are the site's own files (static/js)
    assert "style=" not in page and not re.search(r'<script(?! src="/static/js/[a-z]+\.js" defer></script>)', page)


def test_home_panel(as_role, findings):
    assert "未対応の点検結果が" in as_role("officer").get("/").text


@pytest.mark.parametrize("fmt", ["json", "csv", "html", "pdf"])
def test_report_formats(app, as_role, findings, assessment, fmt, tmp_path):
    result = app.test_cli_runner().invoke(
        args=[
            "evidence",
            "report",
            str(assessment.id),
            "--from",
            "2025-04-01",
            "--to",
            "2025-04-03",
            "--format",
            fmt,
            "--out",
            str(tmp_path / f"r.{fmt}"),
        ]
    )
    assert result.exit_code == 0, result.output
    body = (tmp_path / f"r.{fmt}").read_bytes()
    if fmt == "json":
        data = json.loads(body)
        cov = data["coverage"][0]
        assert cov["system"] == "JUKI" and cov["gaps"] == ["2025-04-02", "2025-04-03"]
        assert {c["check"]: c["total"] for c in data["checks"]}["no_grant"] == 2
        assert len(data["open_findings"]) == 3
        assert data["manifest"]["batches"][0]["sha256"]
        from evidence.report import content_sha256

        assert content_sha256(data) == data["manifest"]["report_sha256"]
    elif fmt == "pdf":
        assert body.startswith(b"%PDF")
    elif fmt == "csv":
        assert "2025-04-02" in body.decode("utf-8")  # a machine format: ISO dates
    else:
        text = body.decode("utf-8")
        assert "2025年4月2日、2025年4月3日" in text and "2025-04-02" not in text  # the gaps, for people
    web = as_role("auditor").get(f"/evidence/reports/{assessment.id}?from=2025-04-01&to=2025-04-03&format={fmt}")
    assert web.status_code == 200


def test_report_url_fetcher_refuses_files_and_remote():
    from evidence.report import _url_fetcher

    for url in ("file:///etc/passwd", "https://example.com/x.css", "file:///tmp/ipaexg.ttf"):
        with pytest.raises(ValueError):
            _url_fetcher(url)


def test_cleared_findings_in_the_list_the_page_and_the_report(app, as_role, findings, assessment, feed):
    """A late grant for u9 clears both no_grant findings: the list shows them as 解消 under
    their own filter, the report counts them apart and no longer lists them as open."""
    feed("grants", "user_id,system,role,granted_at,revoked_at,granted_by\nu9,JUKI,照会,2025-03-01,,情報政策課\n")
    run = run_checks(Period())
    db.session.commit()
    assert run.cleared == {**run.cleared, "no_grant": 2}
    cleared = [f for f in stored_findings(Period(), include_cleared=True) if f["cleared_at"]]
    assert sorted(f["check"] for f in cleared) == ["no_grant", "no_grant"]
    client = as_role("auditor")
    listed = client.get("/evidence/findings?state=cleared").text
    assert listed.count("権限のない操作") >= 2 and "解消" in listed
    open_list = client.get("/evidence/findings?state=open").text
    assert f'/evidence/findings/{cleared[0]["id"]}"' not in open_list
    page = client.get(f"/evidence/findings/{cleared[0]['id']}").text
    assert "の点検で該当しなくなりました" in page
    data = json.loads(client.get(f"/evidence/reports/{assessment.id}?from=2025-04-01&to=2025-04-03&format=json").text)
    no_grant = next(c for c in data["checks"] if c["check"] == "no_grant")
    assert (no_grant["total"], no_grant["cleared"], no_grant["undecided"]) == (2, 2, 0)
    # with a grant but no assignment to a department authorised for JUKI, u9's accesses
    # are now after_transfer findings
    assert sorted(x["check"] for x in data["open_findings"]) == ["after_hours", "after_transfer", "after_transfer"]


def test_date_filters_take_typed_dates_and_say_what_is_wrong(as_role, findings, assessment):
    c = as_role("auditor")
    # the findings are of 2025-04-01: 令和7年4月1日 and its other shapes find them
    for typed in ("令和7年4月1日", "R7.4.1", "２０２５／４／１"):
        assert c.get(f"/evidence/findings?from={typed}&to={typed}").text.count("/evidence/findings/") == 3, typed
    page = c.get("/evidence/findings?from=R7.4.31")
    assert page.status_code == 400
    assert "日付(から): 2025年4月31日という日はありません。" in page.text and 'value="R7.4.31"' in page.text
    assert 'type="date"' not in page.text
    # the report: a period typed in 和暦; a wrong one is said beside the assessment's row, as typed
    ok = c.get(f"/evidence/reports/{assessment.id}?from=令和7年4月1日&to=R7.4.3&format=html")
    assert ok.status_code == 200 and "2025年4月1日 〜 2025年4月3日" in ok.text
    bad = c.get(f"/evidence/reports/{assessment.id}?from=令和7年4月1日&to=4月3日&format=html")
    assert bad.status_code == 400 and "終了日: 日付として読み取れませんでした。" in bad.text
    assert 'value="4月3日"' in bad.text and 'value="令和7年4月1日"' in bad.text
    backwards = c.get(f"/evidence/reports/{assessment.id}?from=R7.4.3&to=R7.4.1&format=pdf")
    assert backwards.status_code == 400 and "終了日が開始日より前になっています。" in backwards.text
