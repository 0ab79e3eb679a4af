"""Browser journeys through the assessments: edit a draft, start a version, read the diff.

The demo's 住民基本台帳に関する事務 全項目評価書 (affair code ``juki``, 住民情報課) has a published
第1版 and a draft 第2版. Every journey here types unique texts, so the tests neither depend on
each other nor on the order they run in.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

JUKI = "住民基本台帳に関する事務 全項目評価書"


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def expect_flash(page: Page, text: str) -> None:
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def open_assessment(page: Page, affair_code: str = "juki") -> None:
    """From the main menu to the assessment of the 事務 ``affair_code`` (row of the list)."""
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="評価書").click()
    expect(page.get_by_role("heading", name="特定個人情報保護評価書", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=re.compile(rf"\s{re.escape(affair_code)}$")))
    row.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("評価書")


def versions_table(page: Page):
    return page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="変更の種類"))


def open_draft(page: Page) -> None:
    """From an assessment page to its version in 作成中."""
    versions_table(page).get_by_role("row").filter(has_text="作成中").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("作成中")


def test_editor_saves_a_section_of_the_draft(page, live_server, login_as):
    login_as("editor")
    open_assessment(page)
    expect(page.get_by_role("heading", name=JUKI, level=1)).to_be_visible()
    open_draft(page)
    page.get_by_role("link", name="章ごとに編集する").click()
    expect(page.get_by_role("heading", name=re.compile(r"^表紙の編集"), level=1)).to_be_visible()

    remark = page.get_by_label("特記事項", exact=True)
    added = _unique("画面試験で追記した特記事項")
    remark.fill(remark.input_value() + "\n\n" + added)
    page.get_by_role("button", name="保存する", exact=True).click()

    expect_flash(page, "表紙を保存しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("第2版")
    expect(page.get_by_text(added, exact=True)).to_be_visible()
    # the draft's 変更箇所 against 第1版 lists it (before 提出時期 is chosen)
    changes = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="提出時期", exact=True))
    expect(changes.get_by_role("row").filter(has_text=added).first).to_be_visible()

    # and a second visit of the editor shows the saved text
    page.get_by_role("link", name="章ごとに編集する").click()
    expect(page.get_by_label("特記事項", exact=True)).to_have_value(re.compile(re.escape(added)))


def test_rejected_save_keeps_what_the_editor_typed(page, live_server, login_as):
    login_as("editor")
    open_assessment(page)
    open_draft(page)
    page.get_by_role("link", name="章ごとに編集する").click()
    page.get_by_role("navigation", name="目次").get_by_role("link", name="I 基本情報").click()
    expect(page.get_by_role("heading", name=re.compile(r"^I 基本情報の編集"), level=1)).to_be_visible()

    system = page.get_by_role("group", name="システム1", exact=True)
    functions = system.get_by_label(re.compile("②システムの機能"))
    typed = _unique("保存されないはずの機能説明")
    functions.fill(typed)
    connections = system.get_by_role("group", name="③他のシステムとの接続")
    # the 「その他」 content stays, its box is unchecked: the schema refuses that combination
    connections.get_by_role("checkbox", name="その他", exact=True).uncheck()
    page.get_by_role("button", name="保存する", exact=True).click()

    expect(page.get_by_role("alert").filter(has_text="入力内容に誤りがあります")).to_be_visible()
    expect(system.get_by_text("内容を入力した場合は、「その他」を選んでください")).to_be_visible()
    expect(system.get_by_label(re.compile("②システムの機能"))).to_have_value(typed)
    expect(connections.get_by_role("checkbox", name="その他", exact=True)).not_to_be_checked()
    expect(system.get_by_label("「その他」の内容")).not_to_have_value("")

    # nothing was saved
    page.get_by_role("link", name="キャンセル").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("第2版")
    expect(page.get_by_text(typed)).to_have_count(0)


def test_officer_compares_published_version_and_draft(page, live_server, login_as):
    login_as("officer")
    open_assessment(page)
    page.get_by_label("比較元").select_option(label="第1版(公表済み)")
    page.get_by_label("比較先").select_option(label="第2版(作成中)")
    page.get_by_role("button", name="版を比較する").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("版の比較: 第1版(公表済み) → 第2版(作成中)")
    summary = page.get_by_text(re.compile(r"項目が異なります"))
    expect(summary).to_contain_text("分類: 重要な変更")

    # character-level highlighting: only the changed characters are marked
    item = page.locator("section").filter(
        has=page.get_by_role("heading", name=re.compile(r"システム1 ①システムの名称"))
    )
    expect(item.get_by_role("deletion")).to_have_text("・印鑑オンライン")
    expect(item.get_by_role("insertion")).to_have_text("標準準拠システム。")
    # the highlighting is visible (the stylesheet colours del/ins), not only in the markup
    for mark in (item.get_by_role("deletion"), item.get_by_role("insertion")):
        expect(mark).to_be_visible()
        assert mark.evaluate("e => getComputedStyle(e).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")

    # items subject to 重要な変更 (※) can be shown alone
    page.get_by_label("※の項目だけ").check()
    page.get_by_role("button", name="比較する", exact=True).click()
    expect(page.get_by_label("※の項目だけ")).to_be_checked()
    headings = page.get_by_role("heading", level=2)
    expect(headings.first).to_be_visible()
    for text in headings.all_inner_texts():
        assert "※" in text, text
    expect(page.get_by_role("heading", name=re.compile(r"システム1 ①システムの名称"))).to_have_count(0)


def test_officer_starts_a_new_version_from_the_published_one(page, live_server, login_as, tmp_path):
    """Export the assessment, import it as another 事務, discard its draft and start a new version."""
    login_as("officer")
    open_assessment(page)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="JSONで出力").click()
    exported = tmp_path / "assessment.json"
    download_info.value.save_as(exported)

    code = _unique("e2e-")
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="評価書").click()
    page.get_by_role("link", name="JSONから取り込む").click()
    page.get_by_label("ファイル").set_input_files(exported)
    page.get_by_label("事務コードを変える(任意)").fill(code)
    page.get_by_role("button", name="取り込む").click()
    expect_flash(page, "評価書を取り込みました。")
    expect(page.get_by_text(f"({code})")).to_be_visible()

    # the copy has a draft: while it exists no new version can be started
    expect(page.get_by_role("button", name="現在の版から新しい版を作成")).to_have_count(0)
    open_draft(page)
    page.get_by_role("button", name="この版を削除").click()
    # the confirmation page says what goes; nothing is deleted until it is confirmed
    expect(page.get_by_role("heading", name="第2版を削除します", level=1)).to_be_visible()
    expect(page.get_by_text("この操作は取り消せません。")).to_be_visible()
    page.get_by_role("button", name="削除する", exact=True).click()
    expect_flash(page, "作成中の版を削除しました。")

    page.get_by_role("button", name="現在の版から新しい版を作成").click()
    expect_flash(page, "第2版(作成中)を作成しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("第2版")
    expect(page.get_by_role("heading", level=1)).to_contain_text("作成中")
    expect(page.get_by_text("現在の版から変更はありません。")).to_be_visible()

    # the new draft is editable and a change shows against 第1版
    page.get_by_role("link", name="章ごとに編集する").click()
    remark = page.get_by_label("特記事項", exact=True)
    added = _unique("新しい版の追記")
    remark.fill(remark.input_value() + "\n\n" + added)
    page.get_by_role("button", name="保存する", exact=True).click()
    expect_flash(page, "表紙を保存しました。")
    page.get_by_role("link", name="第1版との比較").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("版の比較: 第1版(公表済み) → 第2版(作成中)")
    expect(page.get_by_role("insertion").filter(has_text=added)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^1項目が異なります"))).to_contain_text("評価書の修正")


def test_editor_of_another_department_cannot_open_the_draft(page, live_server, login_as):
    login_as("editor")
    open_assessment(page)
    open_draft(page)
    draft_url = page.url
    page.get_by_role("link", name="章ごとに編集する").click()
    edit_url = page.url
    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_text("ログアウトしました。")).to_be_visible()

    login_as("editor-zei")
    open_assessment(page)
    # the published version is public to staff, the draft is not listed
    versions = versions_table(page)
    expect(versions.get_by_role("link", name="第1版")).to_be_visible()
    expect(versions.get_by_role("link", name="第2版")).to_have_count(0)
    expect(page.get_by_text("作業中の版があります(担当課と保護評価担当のみ閲覧できます)。")).to_be_visible()

    for url in (draft_url, edit_url):
        response = page.goto(url)
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("このページを表示する権限がありません。")
        expect(
            page.get_by_text("必要な権限をお持ちでない場合は、システム管理者にお問い合わせください。")
        ).to_be_visible()
        expect(page.get_by_text("住民記録システム(標準準拠システム")).to_have_count(0)
