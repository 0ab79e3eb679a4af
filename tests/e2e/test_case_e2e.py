"""Browser journey of an auditor's 調査案件: opened from a finding, a suggested finding
accepted, assigned, a note written, concluded after the confirmation page.

The demo's user is chosen server-side: one with at least two open findings and no case yet,
so the journey does not depend on what other tests did."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from playwright.sync_api import expect


def _user_without_case(live_app) -> str:
    from common.db import db
    from evidence.cases import Case
    from evidence.models import Finding

    with live_app.app_context():
        taken = sa.select(Case.user_id)
        return db.session.execute(
            sa.select(Finding.user_id)
            .where(Finding.user_id.is_not(None), Finding.open_clause(), Finding.user_id.not_in(taken))
            .group_by(Finding.user_id)
            .having(sa.func.count() >= 2)
            .order_by(Finding.user_id)
            .limit(1)
        ).scalar_one()


def test_the_demo_has_an_open_case_of_a_repeated_user(page, live_server, login_as):
    from evidence.demo_gen import AFTER_TRANSFER_EVENTS

    user_id = AFTER_TRANSFER_EVENTS[0][0]
    login_as("auditor")
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="証跡").click()
    repeated = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="理由"))
    expect(repeated.get_by_role("row").filter(has_text=user_id)).to_contain_text("繰り返し")
    page.get_by_role("navigation", name="証跡メニュー").get_by_role("link", name="調査案件").click()
    row = page.get_by_role("row").filter(has_text=user_id).filter(has_text="調査中").first
    expect(row).to_contain_text("繰り返し")
    expect(row).to_contain_text("監査 四郎")
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="この職員の他の未対応の点検結果")).to_be_visible()
    expect(page.get_by_role("checkbox").first).to_be_visible()  # its other findings are suggested


def test_auditor_opens_fills_and_concludes_a_case(page, live_server, live_app, login_as):
    user_id = _user_without_case(live_app)
    login_as("auditor")
    page.goto(f"{live_server}/evidence/findings?user={user_id}&state=open")
    expect(page.get_by_role("heading", name="点検結果", level=1)).to_be_visible()
    results = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="判断"))
    results.get_by_role("row").filter(has=page.get_by_role("link")).first.get_by_role("link").click()

    # open the case from the finding
    page.get_by_role("button", name="この職員の調査案件を開く").click()
    expect(page.get_by_role("status").filter(has_text=re.compile(r"調査案件 第\d+号を開きました。"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^調査案件 第\d+号$"), level=1)).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text=re.compile(r"^調査中$"))).to_be_visible()
    case_findings = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="重要度"))
    expect(case_findings.get_by_role("row")).to_have_count(2)  # the header and the finding

    # accept a suggested finding of the same user
    expect(page.get_by_role("heading", name="この職員の他の未対応の点検結果")).to_be_visible()
    page.get_by_role("checkbox").first.check()
    page.get_by_role("button", name="選んだ点検結果を案件に加える").click()
    expect(page.get_by_role("status").filter(has_text="点検結果 1 件を案件に加えました。")).to_be_visible()
    expect(case_findings.get_by_role("row")).to_have_count(3)

    # a note, then the conclusion through its confirmation page
    note = f"所属長と本人に聞き取りを行った。({uuid.uuid4().hex[:8]})"
    page.get_by_label("経過の記録").fill(note)
    page.get_by_role("button", name="経過を記録する").click()
    expect(page.get_by_role("status").filter(has_text="経過を記録しました。")).to_be_visible()
    page.get_by_role("radio", name="指導").check()
    conclusion = f"業務上の必要がない照会と認め、本人を指導した。({uuid.uuid4().hex[:8]})"
    page.get_by_label("結論", exact=True).fill(conclusion)
    page.get_by_role("button", name="結論を記録する").click()
    expect(page.get_by_role("heading", name="調査案件を結論済みにします")).to_be_visible()
    page.get_by_role("button", name="結論済みにする").click()
    expect(page.get_by_role("status").filter(has_text="結論済みにしました。")).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text=re.compile(r"^結論済み$"))).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text=conclusion)).to_be_visible()
    history = page.get_by_role("list").filter(has=page.get_by_text("案件の開始"))
    for text in ("点検結果の追加", note, "結論", "監査 四郎"):
        expect(history.get_by_text(text).first).to_be_visible()
    expect(page.get_by_role("button", name="結論を記録する")).to_have_count(0)

    # the user is now marked 繰り返し on the findings list
    page.goto(f"{live_server}/evidence/findings?user={user_id}")
    expect(page.get_by_text("繰り返し").first).to_be_visible()
    page.goto(f"{live_server}/evidence/cases?status=concluded")
    expect(page.get_by_role("cell", name=re.compile(user_id)).first).to_be_visible()
