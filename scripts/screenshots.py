"""The README's screenshots, taken from the demo in Chromium so that they stay current.

    .venv/bin/python scripts/screenshots.py            # writes docs/screen-*.png

It loads the demo into a temporary SQLite database, serves it on a free port, signs in as
the officer and the auditor and photographs the dashboard, a version's 提出前の確認, the
comparison of two versions and the evidence overview. Needs Chromium (`make test` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FLASK = [sys.executable, "-m", "flask", "--app", "app"]
PASSWORD = "hyoka-demo"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("ユーザーID").fill(username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_load_state("networkidle")


def _shot(page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    path = DOCS / f"screen-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    print(f"{path.relative_to(ROOT)}: {page.title()}")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(
            os.environ,
            HYOKA_DATABASE_URL=f"sqlite:///{tmp}/demo.sqlite3",
            HYOKA_ENV="development",
            HYOKA_EVIDENCE_LOG_KEY=f"{tmp}/evidence-log.key",
        )
        subprocess.run([*FLASK, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run([*FLASK, "demo", "load"], cwd=ROOT, env=env, check=True, capture_output=True)
        port = _free_port()
        server = subprocess.Popen(
            [*FLASK, "run", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
                _sign_in(page, base, "officer")
                _shot(page, f"{base}/", "dashboard")
                page.goto(f"{base}/assessments")
                page.get_by_role("link", name="住民基本台帳に関する事務 全項目評価書").first.click()
                assessment_url = page.url.split("?")[0].rstrip("/")
                _shot(page, f"{assessment_url}/compare?a=1&b=2", "compare")
                page.goto(assessment_url)
                page.get_by_role("link", name="第2版").first.click()
                page.wait_for_load_state("networkidle")
                _shot(page, page.url.split("#")[0].rstrip("/") + "/checklist", "checklist")
                page.context.clear_cookies()
                _sign_in(page, base, "auditor")
                _shot(page, f"{base}/evidence/", "evidence")
                _shot(page, f"{base}/evidence/findings?check=protected_subject", "protected")
                page.goto(f"{base}/evidence/cases")
                page.locator("a[href*='/evidence/cases/']").first.click()
                page.wait_for_load_state("networkidle")
                _shot(page, page.url, "case")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
