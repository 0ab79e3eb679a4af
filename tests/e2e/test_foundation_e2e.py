from __future__ import annotations

import re

from playwright.sync_api import expect


def test_login_navigation_and_logout(page, live_server, login_as):
    login_as("officer")
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
    nav = page.get_by_role("navigation", name="メインメニュー")
    expect(nav.get_by_role("link", name="評価書")).to_be_visible()
    expect(nav.get_by_role("link", name="管理")).to_have_count(0)
    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("ログアウトしました。")).to_be_visible()


def test_wrong_password_keeps_user_id(page, live_server):
    page.goto(f"{live_server}/login")
    page.get_by_label("ユーザーID").fill("admin")
    page.get_by_label("パスワード").fill("wrong-password")
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_text("ユーザーIDまたはパスワードが正しくありません。")).to_be_visible()
    expect(page.get_by_label("ユーザーID")).to_have_value("admin")


def test_admin_creates_a_user(page, live_server, login_as):
    login_as("admin")
    page.goto(f"{live_server}/admin/users/new")
    page.get_by_label("ユーザーID").fill("e2e-user")
    page.get_by_label("氏名").fill("画面 試験")
    page.get_by_label("第三者点検").check()
    page.get_by_label("初期パスワード").fill("Browser-test-2025")
    page.get_by_role("button", name="保存する").click()
    expect(page.get_by_text("ユーザー「画面 試験」を作成しました。")).to_be_visible()
