"""Browser journeys through a consultation (住民等からの意見聴取).

An officer sets up and opens a consultation; a resident (no login, a browser context of
their own) sends an opinion on the public page, with and without JavaScript; the officer
splits it, writes 市の考え方, closes the consultation and publishes the result report.

Each test creates its own consultation with a unique title, so counts in the report are the
test's own. The public form allows a few posts per address and 10 minutes (rate limit):
the tests here send three in all.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from common.jpdate import wareki

FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")

VERSION_LABEL = "個人住民税に関する事務 重点項目評価書 第2版（作成中）"


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def expect_flash(page: Page, text: str) -> None:
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def create_open_consultation(page: Page) -> tuple[str, str]:
    """As a signed-in officer: create a consultation running today and open it.

    Returns (title, public page URL); the page is left on the consultation's staff page.
    """
    title = _unique("画面試験の意見募集 ")
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="意見募集").click()
    page.get_by_role("link", name="意見募集を作成する").click()
    expect(page.get_by_role("heading", name="意見募集の作成", level=1)).to_be_visible()
    page.get_by_label("意見を募集する評価書（版）").select_option(label=VERSION_LABEL)
    page.get_by_label("件名（意見を募集する評価書の名称）").fill(title)
    page.get_by_label("募集の趣旨・概要").fill("個人住民税に関する事務の評価書を見直しました。ご意見をお寄せください。")
    # typed as people write dates: 和暦, and 西暦 in full-width digits (common.jpdate.parse_date)
    page.get_by_label("募集開始日").fill(wareki(today - timedelta(days=1)))
    end = today + timedelta(days=29)
    page.get_by_label("募集終了日").fill(f"{end.year}年{end.month}月{end.day}日".translate(FULL_WIDTH_DIGITS))
    page.get_by_role("button", name="保存する").click()
    expect_flash(page, "意見募集を作成しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    expect(page.get_by_role("heading", level=1)).to_contain_text("募集前")
    expect(page.get_by_text(VERSION_LABEL)).to_be_visible()

    page.get_by_role("button", name="募集を開始する").click()
    expect(page.get_by_role("heading", name="意見募集を開始します", level=1)).to_be_visible()
    page.get_by_role("button", name="募集を開始する").click()
    expect_flash(page, "意見募集を「募集中」にしました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("募集中")
    href = page.get_by_role("link", name="公開ページを見る").get_attribute("href")
    assert href
    return title, page.url.split("/consultations/")[0] + href


def resident_page(browser: Browser, browser_context_args: dict, *, javascript: bool = True):
    """A fresh browser context (no staff session) that fails on dialogs and script errors."""
    context = browser.new_context(**browser_context_args, java_script_enabled=javascript)
    page = context.new_page()
    problems: list[str] = []
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    return context, page, problems


def submit_opinion(page: Page, public_url: str, title: str, body: str, *, reload: bool = True) -> str:
    """As a resident: send ``body`` through the web form; returns the receipt number.

    ``reload=False`` continues on the form as it is (e.g. after a refused post).
    """
    if reload:
        page.goto(public_url)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{title}（案）に対する意見募集")
    form_heading = page.get_by_role("heading", name="Webフォームによる提出")
    expect(form_heading).to_be_visible()
    page.get_by_label("個人", exact=True).check()
    page.get_by_label("ご意見").fill(body)
    page.get_by_label("上記の取扱いに同意します").check()
    page.get_by_role("button", name="意見を送信する").click()
    expect(page.get_by_role("heading", name="ご意見を受け付けました", level=1)).to_be_visible()
    receipt = page.get_by_role("status").filter(has_text="受付番号")
    expect(receipt).to_be_visible()
    number = receipt.get_by_role("paragraph").nth(1).inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z-]{4,}", number), number
    expect(receipt).to_contain_text(number)
    return number


def test_resident_opinion_is_split_answered_and_reported(page, live_server, login_as, browser, browser_context_args):
    login_as("officer")
    title, public_url = create_open_consultation(page)

    # --- the resident, on the public page (JavaScript on) ----------------------------
    context, resident, problems = resident_page(browser, browser_context_args)
    try:
        resident.goto(public_url)
        # a form sent without an opinion is refused and keeps what was typed
        resident.get_by_label(re.compile("^氏名")).fill("札幌 花子")
        resident.get_by_role("button", name="意見を送信する").click()
        errors = resident.get_by_role("alert").filter(has_text="入力内容に誤りがあります")
        expect(errors).to_be_visible()
        expect(errors).to_contain_text("ご意見を入力してください。")
        expect(errors).to_contain_text("同意事項をご確認のうえ、チェックを入れてください。")
        expect(resident.get_by_label(re.compile("^氏名"))).to_have_value("札幌 花子")
        expect(resident.get_by_label("ご意見")).to_have_attribute("aria-invalid", "true")

        first = _unique("クラウドへの移行時の安全管理措置を具体的に示してほしい。")
        second = _unique("委託先の監督方法を評価書に記載してほしい。")
        receipt = submit_opinion(resident, public_url, title, f"{first}\n\n{second}", reload=False)
        assert not problems, problems
    finally:
        context.close()

    # --- the officer finds the submission and splits it ------------------------------
    page.reload()
    expect(page.get_by_role("heading", name=re.compile(r"提出された意見（1件・意見1件"))).to_be_visible()
    page.get_by_role("link", name=receipt, exact=True).click()
    expect(page.get_by_role("heading", name=f"受付番号 {receipt}", level=1)).to_be_visible()
    expect(page.get_by_text("札幌 花子")).to_be_visible()
    expect(page.get_by_text(first).first).to_be_visible()
    expect(page.get_by_role("heading", name="この提出から分けた意見（1件）")).to_be_visible()
    page.get_by_role("link", name="分割", exact=True).click()
    expect(page.get_by_role("heading", name="意見の分割", level=1)).to_be_visible()
    text = page.get_by_label(re.compile("^分割する内容"))
    expect(text).to_have_value(re.compile(re.escape(first)))
    text.fill(f"{first}\n----\n{second}")
    page.get_by_role("button", name="分割する").click()
    expect_flash(page, "意見を2件に分割しました。")

    # --- 市の考え方 for each opinion ----------------------------------------------------
    replies = {
        first: _unique("安全管理措置は評価書III 7.に記載しています。"),
        second: _unique("委託先の監督については評価書III 4.に追記します。"),
    }
    for summary, reply in replies.items():
        row = page.get_by_role("row").filter(has_text=summary)
        expect(row).to_have_count(1)
        expect(row.get_by_text("未入力")).to_be_visible()
        row.get_by_role("link", name="編集").click()
        expect(page.get_by_role("heading", name=re.compile("^意見の編集"), level=1)).to_be_visible()
        expect(page.get_by_label("寄せられたご意見（意見の概要）")).to_have_value(summary)
        page.get_by_label("市の考え方").fill(reply)
        page.get_by_role("button", name="保存する").click()
        expect_flash(page, "意見を保存しました。")
        expect(page.get_by_role("row").filter(has_text=summary)).to_contain_text(reply)

    # --- close, confirm the masking, publish ------------------------------------------
    menu = page.get_by_role("navigation", name="意見募集のメニュー")
    menu.get_by_role("link", name="概要").click()
    expect(page.get_by_role("heading", name=re.compile(r"意見2件・市の考え方未入力0件"))).to_be_visible()
    page.get_by_role("button", name="募集を終了する").click()
    # before the end of its period: the confirmation page asks for the 特段の理由
    expect(page.get_by_role("heading", name=re.compile("意見募集を締め切る"), level=1)).to_be_visible()
    page.get_by_label("締め切る特段の理由").fill("画面試験のため、募集期間の終了前に締め切る。")
    page.get_by_role("button", name="期間の終了前に締め切る").click()
    expect_flash(page, "意見募集を「募集終了」にしました。")
    expect(page.get_by_text("公表する文面の個人情報の確認")).to_be_visible()
    expect(page.get_by_role("button", name="結果を公表する")).to_have_count(0)

    menu.get_by_role("link", name="公表前の確認").click()
    page.get_by_role("button", name="伏せ字の結果を確認した").click()
    expect_flash(page, "公表する文面の確認を記録しました")
    page.get_by_role("button", name="結果を公表する").click()
    expect(page.get_by_role("heading", name="意見募集の結果を公表します", level=1)).to_be_visible()
    page.get_by_role("button", name="結果を公表する").click()
    expect_flash(page, "結果を公表しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("結果公表済み")

    page.get_by_role("link", name="公表した結果を見る").click()
    total = page.get_by_role("heading", name="(3) 意見総数")
    expect(total).to_be_visible()
    expect(page.get_by_text("2件", exact=True)).to_be_visible()
    opinions = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="寄せられたご意見"))
    for summary, reply in replies.items():
        row = opinions.get_by_role("row").filter(has_text=summary)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(reply)
    # the submitter's name is never published
    expect(page.get_by_text("札幌 花子")).to_have_count(0)

    pdf_href = page.get_by_role("link", name="PDF版").get_attribute("href")
    assert pdf_href
    response = page.request.get(public_url.split("/public/")[0] + pdf_href)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")


def test_public_form_works_without_javascript(page, live_server, login_as, browser, browser_context_args):
    login_as("officer")
    title, public_url = create_open_consultation(page)

    context, resident, problems = resident_page(browser, browser_context_args, javascript=False)
    try:
        opinion = _unique("JavaScriptを使わずに送った意見です。")
        receipt = submit_opinion(resident, public_url, title, opinion)
        # the receipt stays in the resident's session only: back on the form, no number shown
        resident.get_by_role("link", name="意見募集のページへ戻る").click()
        expect(resident.get_by_role("heading", name="Webフォームによる提出")).to_be_visible()
        expect(resident.get_by_text(receipt)).to_have_count(0)
        assert not problems, problems
    finally:
        context.close()

    page.reload()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=receipt, exact=True))
    expect(row).to_contain_text("Webフォーム")
    row.get_by_role("link", name=receipt, exact=True).click()
    expect(page.get_by_role("heading", name=f"受付番号 {receipt}", level=1)).to_be_visible()
    expect(page.get_by_role("cell", name=opinion)).to_be_visible()
