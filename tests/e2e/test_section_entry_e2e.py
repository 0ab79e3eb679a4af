"""Browser journeys through section editing: several systems added without a save in between,
台帳 records added several at once from a filtered list, and a deletion that asks first.

Each test makes its own 事務 (a published 第1版 and a 第2版 draft without the last three of the
demo's nine systems), so the tests neither depend on each other nor on the demo's draft.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

from playwright.sync_api import Page, expect


@dataclass(frozen=True)
class Draft:
    title: str
    assessment_id: int
    version_id: int
    systems: int


def make_draft(live_app, drop: int = 3) -> Draft:
    """A fresh 事務 of 住民情報課 whose draft names all but the last ``drop`` systems of 001."""
    import sqlalchemy as sa

    from common import audit
    from common.db import db
    from common.models import Department
    from pia.assessments import services
    from pia.assessments.demo_data import load_demo_documents

    tag = uuid.uuid4().hex[:8]
    v1, _ = load_demo_documents()
    title = f"画面試験{tag}の住民基本台帳に関する事務 全項目評価書"
    kept = v1["basic"]["systems"][:-drop]
    with live_app.app_context(), audit.acting_as("画面試験の準備"):
        department = db.session.execute(sa.select(Department).filter_by(name="住民情報課")).scalar_one()
        affair = services.create_affair(
            code=f"e2e{tag}", name=f"画面試験{tag}の事務", department=department, actor=None
        )
        assessment = services.create_assessment(affair, form="zenkoumoku", actor=None, with_draft=False, title=title)
        services.add_published_version(
            assessment, v1, actor=None, submitted_on=date(2025, 1, 24), published_on=date(2025, 1, 31)
        )
        draft = services.start_draft(assessment, actor=None, changes={"basic/systems": kept})
        db.session.commit()
        return Draft(title, assessment.id, draft.id, len(kept))


def saved_systems(live_app, draft: Draft) -> list[dict]:
    from common.db import db
    from pia.assessments.models import AssessmentVersion

    with live_app.app_context():
        return db.session.get(AssessmentVersion, draft.version_id).document["basic"]["systems"]


def expect_flash(page: Page, text: str) -> None:
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def open_basic_section(page: Page, live_server: str, draft: Draft) -> None:
    page.goto(f"{live_server}/versions/{draft.version_id}/sections/basic")
    expect(page.get_by_role("heading", name=re.compile(r"^I 基本情報の編集"), level=1)).to_be_visible()


def test_editor_adds_three_systems_without_saving_in_between(page, live_server, live_app, login_as):
    draft = make_draft(live_app)
    login_as("editor")
    open_basic_section(page, live_server, draft)
    # a mark on the page's window: it survives only while the page is not reloaded
    page.evaluate("window.__notReloaded = true")
    n = draft.systems
    names = [f"画面試験システム{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for offset, name in enumerate(names):
        number = n + 1 + offset
        page.get_by_role("button", name=f"システム{number}を追加する").click()
        entry = page.get_by_role("group", name=f"システム{number}", exact=True)
        expect(entry).to_be_visible()
        # the first field of the new entry has the focus
        expect(entry.get_by_label("システム台帳の記録")).to_be_focused()
        entry.get_by_label(re.compile("①システムの名称")).fill(name + ("\n※画面試験の注記" if offset == 1 else ""))
        entry.get_by_label(re.compile("②システムの機能")).fill(f"{name}の機能")
    # a fourth entry: a 台帳 record picked names it at once; then it is taken back, and the
    # button counts again from there
    page.get_by_role("button", name=f"システム{n + 4}を追加する").click()
    fourth = page.get_by_role("group", name=f"システム{n + 4}", exact=True)
    fourth.get_by_label("システム台帳の記録").select_option(label="住基ネット(JUKINET)")
    expect(fourth.get_by_label(re.compile("①システムの名称"))).to_have_value("住基ネット")
    page.get_by_role("button", name=f"このシステム{n + 4}の追加を取り消す").click()
    expect(page.get_by_role("group", name=f"システム{n + 4}", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name=f"システム{n + 4}を追加する")).to_be_focused()
    assert page.evaluate("window.__notReloaded") is True

    page.get_by_role("button", name="保存する", exact=True).click()
    expect_flash(page, "I 基本情報を保存しました。")
    for name in names:
        expect(page.get_by_role("cell", name=re.compile(re.escape(name))).first).to_be_visible()
    saved = saved_systems(live_app, draft)
    assert [s["name"] for s in saved[n:]] == [names[0], names[1] + "\n※画面試験の注記", names[2]]


def test_editor_adds_ledger_records_at_once_and_a_deletion_asks_first(page, live_server, live_app, login_as):
    draft = make_draft(live_app)
    login_as("editor")
    open_basic_section(page, live_server, draft)
    page.get_by_text("台帳からシステムをまとめて追加する").click()
    ledger = page.get_by_role("list", name="台帳のシステム")
    page.get_by_role("checkbox", name="サービス検索・電子申請機能(SERVICE_SEARCH)").check()
    page.get_by_role("checkbox", name="システム基盤(標準準拠システム連携基盤)(KIBAN_RENKEI)").check()
    expect(ledger.get_by_role("checkbox", name=re.compile(r"^住基ネット\(JUKINET\)"))).to_be_disabled()
    page.get_by_role("button", name="選んだ記録を追加する").click()
    expect(page.get_by_role("status").filter(has_text="2件を追加しました。")).to_be_visible()
    n = draft.systems
    first = page.get_by_role("group", name=f"システム{n + 1}", exact=True)
    expect(first.get_by_label(re.compile("①システムの名称"))).to_have_value("サービス検索・電子申請機能")
    expect(first.get_by_label("システム台帳の記録")).to_have_value(re.compile(r"^\d+$"))
    second = page.get_by_role("group", name=f"システム{n + 2}", exact=True)
    expect(second.get_by_label(re.compile("①システムの名称"))).to_have_value("システム基盤(標準準拠システム連携基盤)")

    page.get_by_role("button", name="保存する", exact=True).click()
    expect_flash(page, "I 基本情報を保存しました。")
    saved = saved_systems(live_app, draft)
    assert [s["name"] for s in saved[n:]] == ["サービス検索・電子申請機能", "システム基盤(標準準拠システム連携基盤)"]
    assert all(s["functions"] and s.get("inventory_id") for s in saved[n:])  # filled from the 台帳 on saving

    # この版を削除: the page says what goes; 「やめて戻る」 keeps it, 「削除する」 deletes it
    page.get_by_role("button", name="この版を削除").click()
    expect(page.get_by_role("heading", name="第2版を削除します", level=1)).to_be_visible()
    expect(page.get_by_text("この版に入力した内容と変更箇所の記載は、すべて削除されます。")).to_be_visible()
    page.get_by_role("link", name="やめて戻る").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("第2版")
    assert len(saved_systems(live_app, draft)) == n + 2
    page.get_by_role("button", name="この版を削除").click()
    page.get_by_role("button", name="削除する", exact=True).click()
    expect_flash(page, "作成中の版を削除しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text(draft.title)


def test_preview_shows_a_formatted_text_as_the_document_will(page, live_server, live_app, login_as):
    draft = make_draft(live_app)
    login_as("editor")
    open_basic_section(page, live_server, draft)
    entry = page.get_by_role("group", name="システム1", exact=True)
    entry.get_by_text("書き方と表示の確認(見出し・箇条書き・表)").click()
    help_text = entry.get_by_text("見出し: 行頭に「###」と空白")
    expect(help_text).to_be_visible()
    functions = entry.get_by_label(re.compile("②システムの機能"))
    functions.fill("### 画面試験の見出し\n- 一つ目の機能\n- 二つ目の機能\n\n<b>生のHTML</b>")
    preview = entry.locator("[data-pia-preview-body]")
    expect(preview.get_by_role("heading", name="画面試験の見出し", level=3)).to_be_visible()
    expect(preview.get_by_role("listitem")).to_have_count(2)
    expect(preview).to_contain_text("<b>生のHTML</b>")  # shown as typed, never as markup
    expect(page.get_by_text("Markdown")).to_have_count(0)


def test_long_lists_get_a_filter_box(page, live_server, live_app, login_as):
    draft = make_draft(live_app)
    login_as("officer")
    # 指摘の対象の項目: every item of the form, several hundred
    page.goto(f"{live_server}/reviews/versions/{draft.version_id}")
    select = page.get_by_label("対象の項目", exact=True)
    total = select.locator("option").count()
    assert total > 30
    box = page.get_by_role("searchbox", name="候補の絞り込み")
    expect(box).to_have_attribute("title", "対象の項目の候補を、入力した語を含むものに絞り込みます")
    box.fill("システム1 機能")
    expect(select.locator("option")).not_to_have_count(total)
    # left: the choice of no item (value "") and the items with every word typed
    values = select.locator("option").evaluate_all("options => options.map(o => [o.value, o.text])")
    assert values[0][0] == "" and len(values) >= 2
    assert all("システム1" in text and "機能" in text for value, text in values[1:]), values
    # Enter in the box never sends the form; with one match left it chooses it
    page.evaluate("window.__notReloaded = true")
    box.fill("システム1 ②システムの機能")
    box.press("Enter")
    expect(select).to_have_value(re.compile(r"systems\[0\]/functions$"))
    assert page.evaluate("window.__notReloaded") is True
