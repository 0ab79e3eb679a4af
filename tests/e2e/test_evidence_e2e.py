"""Browser journey of the auditor: from the evidence dashboard to a triage decision.

The demo's evidence (about 100,000 access events) yields findings of every check; the
journey filters them by the check 本人・家族の記録の参照 (``self_or_family``), opens one and
records a decision with a unique reason, so it does not depend on what other tests decided.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

CHECK_TITLE = "本人・家族の記録の参照"


def test_auditor_triages_a_finding(page, live_server, login_as):
    login_as("auditor")
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="証跡").click()
    expect(page.get_by_role("heading", name="証跡の概要", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^フィードの受信状況"))).to_be_visible()
    open_panel = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="件数"))
    expect(open_panel.get_by_role("link", name=CHECK_TITLE)).to_be_visible()

    # filter the findings by check
    page.get_by_role("navigation", name="証跡メニュー").get_by_role("link", name="点検結果").click()
    expect(page.get_by_role("heading", name="点検結果", level=1)).to_be_visible()
    filters = page.get_by_role("search")
    filters.get_by_label("点検").select_option(label=CHECK_TITLE)
    filters.get_by_label("対応状況").select_option(label="すべて")
    filters.get_by_role("button", name="絞り込む").click()
    expect(page).to_have_url(re.compile(r"check=self_or_family"))
    expect(filters.get_by_label("点検")).to_have_value("self_or_family")
    results = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="判断"))
    rows = results.get_by_role("row").filter(has=page.get_by_role("link"))
    expect(rows.first).to_be_visible()
    # columns: 選択, 日付, 点検, 重要度, システム, 利用者, 内容, 判断
    for result in rows.all()[:10]:
        expect(result.get_by_role("cell").nth(2)).to_have_text(CHECK_TITLE)
    total = int(re.search(r"(\d+) 件", page.get_by_text(re.compile(r"^\d+ 件$")).inner_text()).group(1))
    assert total >= 1

    # open one: its context (assignments, grants, nearby events)
    row = rows.first
    # the staff member as id and name (u0095(札幌 太郎)), perhaps with 繰り返し
    staff = row.get_by_role("cell").nth(5).inner_text().strip()
    user_id = re.match(r"u\d+", staff).group()
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name=CHECK_TITLE, level=1)).to_be_visible()
    expect(page.get_by_text("self_or_family", exact=True)).to_have_count(0)  # the check by its name only
    expect(page.get_by_role("link", name=re.compile(rf"^{user_id}(\(|$)"))).to_be_visible()
    for heading, header in (("人事配置", "所属"), ("権限", "権限"), ("前後の操作", "操作")):
        expect(page.get_by_role("heading", name=heading, level=2)).to_be_visible()
        table = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name=header, exact=True))
        expect(table.get_by_role("row").nth(1)).to_be_visible()
        expect(table.get_by_text("記録がありません。")).to_have_count(0)
    events = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="端末"))
    expect(events.get_by_role("row")).not_to_have_count(1)  # more than the header row

    expect(page.get_by_role("heading", name="判断の記録")).to_be_visible()
    history = page.get_by_role("listitem").filter(has_text="監査 四郎")
    before = history.count()

    # an empty reason is refused and the chosen decision is kept
    page.get_by_role("radio", name="要調査").check()
    page.get_by_role("button", name="判断を記録する").click()
    expect(page.get_by_role("alert").filter(has_text="判断の理由を記入してください。")).to_be_visible()
    expect(page.get_by_role("radio", name="要調査")).to_be_checked()
    expect(page.get_by_role("heading", name=CHECK_TITLE, level=1)).to_be_visible()

    # with a written reason the decision is recorded and shown in the history
    reason = f"窓口での本人確認の記録と照合した。本人の申請に基づく照会であった。({uuid.uuid4().hex[:8]})"
    page.get_by_role("radio", name="正当な業務").check()
    page.get_by_label("理由").fill(reason)
    page.get_by_role("button", name="判断を記録する").click()
    expect(page.get_by_role("status").filter(has_text="判断「正当な業務」を記録しました。")).to_be_visible()
    entry = page.get_by_role("listitem").filter(has_text=reason)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("正当な業務")
    expect(entry).to_contain_text("監査 四郎")  # who decided
    # the refused attempt left nothing behind: one more entry of the auditor, not two
    expect(history).to_have_count(before + 1)
    expect(page.get_by_text("まだ判断は記録されていません。")).to_have_count(0)
    expect(page.get_by_role("definition").filter(has_text="正当な業務")).to_be_visible()
