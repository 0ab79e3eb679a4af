"""Browser tests: real Chromium (Debian's package) driven by Playwright against a live server.

The live server runs the app with the full demo data, once per engine and worker. On
failure, pytest-playwright keeps a screenshot (``--screenshot only-on-failure``) and this
module keeps the page's HTML, both under ``test-results/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app, database_url
from common.db import db
from tests.conftest import BASE_CONFIG, PG_URL, _admin_pg_execute, _pg_db_name, _pg_url_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RESULTS = Path(__file__).resolve().parents[2] / "test-results"

pytestmark = pytest.mark.e2e


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: run `make test` as root or `sudo apt-get install -y chromium`")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "locale": "ja-JP",
        "timezone_id": "Asia/Tokyo",
        "viewport": {"width": 1280, "height": 900},
    }


#: base URL of each running live server -> its app (for :func:`live_app`)
_LIVE_APPS: dict[str, object] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", params=["sqlite"] + (["postgresql"] if PG_URL else []))
def live_server(request, tmp_path_factory):
    """Base URL of a running Hyoka with the demo data (one per engine)."""
    config = {
        **BASE_CONFIG,
        "SERVER_NAME": None,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "WTF_CSRF_ENABLED": True,
        "HYOKA_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
        "HYOKA_EVIDENCE_LOG_KEY": str(tmp_path_factory.mktemp("log-key") / "evidence-log.key"),
    }
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("e2e") / "e2e.sqlite3"
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    else:
        name = _pg_db_name("hyoka_e2e")
        _admin_pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        _admin_pg_execute(f"CREATE DATABASE {name}")
        url = _pg_url_for(name)
        config["SQLALCHEMY_DATABASE_URI"] = database_url(url, "/tmp")
    app = create_app(config)
    with app.app_context():
        db.create_all()
        from common import audit, demo

        with audit.acting_as("demo"):
            demo.load(evidence=True)
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    _LIVE_APPS[url] = app
    yield url
    _LIVE_APPS.pop(url, None)
    server.shutdown()
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        _admin_pg_execute(f"DROP DATABASE IF EXISTS {_pg_db_name('hyoka_e2e')} WITH (FORCE)")


@pytest.fixture
def live_app(live_server):
    """The app object :func:`live_server` serves: set up data server-side with
    ``with live_app.app_context(): ...`` (commit it; the server reads the same database)."""
    return _LIVE_APPS[live_server]


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "page" in item.funcargs:
        page = item.funcargs["page"]
        RESULTS.mkdir(exist_ok=True)
        safe = "".join(ch if ch.isalnum() else "_" for ch in item.nodeid)[-150:]
        try:
            (RESULTS / f"{safe}.html").write_text(page.content(), encoding="utf-8")
            page.screenshot(path=str(RESULTS / f"{safe}.png"), full_page=True)
        except Exception as exc:  # the page may be gone; the report still stands
            (RESULTS / f"{safe}.txt").write_text(f"could not capture page: {exc}")


@pytest.fixture
def login_as(page, live_server):
    """``login_as("officer")`` signs a demo account in through the login form."""

    def do(username: str, password: str = "hyoka-demo"):
        page.goto(f"{live_server}/login")
        page.get_by_label("ユーザーID").fill(username)
        page.get_by_label("パスワード").fill(password)
        page.get_by_role("button", name="ログイン").click()
        page.wait_for_url(f"{live_server}/")
        return page

    return do


@pytest.fixture(autouse=True)
def _no_dialogs(page):
    """Any JavaScript dialog (alert from an injected script) fails the test."""
    fired = []
    page.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    yield
    assert not fired, f"a dialog fired: {fired}"
