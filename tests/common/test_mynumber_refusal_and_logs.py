"""Where a 個人番号 must never go: text fields that need none refuse it (one validator on
every form), the audit trail masks every value of every row, and the access logs of
gunicorn and of the development server redact it in every shape a URL can carry it."""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from wtforms import HiddenField, PasswordField, StringField
from wtforms.fields.core import UnboundField

from common import audit
from common.db import db
from common.forms import NoMyNumber
from common.models import AuditEvent, User
from common.mynumber import REFUSED, find_in_structure, find_my_numbers

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "570291311807"
#: a path segment or query value holding NUMBER, as a client may send it
URL_SHAPES = [
    "5702-9131-1807",
    "5702%209131%201807",
    "5702%09%099131%0A1807",
    "5702%E3%83%BB9131%E3%83%BB1807",
    "5702%E2%88%929131%E2%88%921807",
    "5702.9131.1807",
    "5702%252D9131%252D1807",
    "%EF%BC%95%EF%BC%97%EF%BC%90%EF%BC%92%E3%80%809131%E3%80%801807",
]

#: text fields that are published free text: masked when stored, not refused
MASKED_FIELDS = {
    ("PublicOpinionForm", "body"),
    ("PaperSubmissionForm", "body"),
    ("OpinionForm", "summary"),
    ("OpinionForm", "reply"),
    ("OpinionForm", "topic"),
    ("SplitForm", "text"),
    ("PublicOpinionForm", "website"),  # the honeypot: a filled one is refused as a whole
    ("LoginForm", "username"),  # not stored; the audit trail masks what is typed (test below)
}


def _form_classes():
    from flask_wtf import FlaskForm

    for package in ("common", "pia", "consultation", "evidence"):
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
            importlib.import_module(info.name)
    seen, todo = set(), [FlaskForm]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return [cls for cls in seen if cls.__module__.split(".")[0] in ("common", "pia", "consultation", "evidence")]


def test_every_text_field_refuses_a_my_number_or_is_published_text_that_is_masked(app):
    missing = []
    for cls in _form_classes():
        for name in dir(cls):
            unbound = getattr(cls, name, None)
            if not isinstance(unbound, UnboundField) or not issubclass(unbound.field_class, StringField):
                continue
            if issubclass(unbound.field_class, (PasswordField, HiddenField)) or (cls.__name__, name) in MASKED_FIELDS:
                continue
            if getattr(unbound.field_class, "refuses_my_number", False):  # a date field, say: it refuses by itself
                continue
            validators = unbound.kwargs.get("validators") or (unbound.args[1] if len(unbound.args) > 1 else [])
            if not any(isinstance(v, NoMyNumber) for v in validators):
                missing.append(f"{cls.__module__}.{cls.__name__}.{name}")
    assert len(_form_classes()) > 20
    assert not missing, "text fields without NoMyNumber: " + ", ".join(sorted(missing))


def test_user_form_refuses_a_number_in_the_login_name_and_keeps_the_rest(app, as_role, count_rows):
    admin = as_role("admin")
    before = count_rows(User)
    response = admin.post(
        "/admin/users/new",
        data={
            "username": "5702.9131.1807",
            "display_name": "入力 保持",
            "roles": ["auditor"],
            "password": "Kensa-pass-2025",
        },
    )
    assert response.status_code == 200
    assert REFUSED in response.text and 'value="入力 保持"' in response.text
    assert count_rows(User) == before


def test_login_with_a_number_as_user_id_leaves_no_number_in_the_audit_trail(app, client):
    for typed in ("5702 9131 1807", "5702\t9131\t1807", "５７０２－９１３１－１８０７", "個人番号:5702・9131・1807"):
        response = client.post("/login", data={"username": typed, "password": "x"})
        assert response.status_code == 200
    rows = db.session.execute(sa.select(AuditEvent).filter_by(action="login_failed")).scalars().all()
    assert len(rows) == 4
    for row in rows:
        assert not list(find_in_structure([row.actor_name, row.object_id, row.summary, row.before, row.after]))
        # the typed name is not recorded at all (the number is not even masked into the trail)
        assert "個人番号を含むため記録しません" in row.summary


def test_every_value_of_an_audit_row_is_masked_also_on_the_bulk_path(app, make_user):
    user = make_user("officer")
    audit.record(
        "login_failed", "User", "5702 9131 1807", "試行", actor="5702-9131-1807", after={"typed": ["5702\n9131\n1807"]}
    )
    db.session.commit()
    # a note written by the flush that inserts its object goes in with one INSERT, beside the ORM
    user2 = User(username="audit-bulk", display_name="監査 一括", password_hash="x")
    db.session.add(user2)
    audit.record_with_flush(user2, "create", "User", lambda u: f"作成 {NUMBER}", actor="5702\t9131\t1807")
    db.session.commit()
    rows = db.session.execute(sa.select(AuditEvent)).scalars().all()
    assert any(r.object_type == "User" and r.summary.startswith("作成") for r in rows)
    for row in rows:
        values = [row.actor_name, row.object_type, row.object_id, row.summary, row.before, row.after]
        assert not list(find_in_structure(values)), values
    assert user.id


# --- logs ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> None:
    try:
        urllib.request.urlopen(url, timeout=20).read()
    except urllib.error.HTTPError as error:
        error.read()
        error.close()


def test_development_server_log_redacts_every_shape(app, caplog):
    from werkzeug.serving import make_server

    caplog.set_level(logging.INFO, logger="werkzeug")
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for shape in URL_SHAPES:
            _get(f"http://127.0.0.1:{server.port}/public/x/{shape}")
            _get(f"http://127.0.0.1:{server.port}/public/search?q={shape}")
        _get(f"http://127.0.0.1:{server.port}/public/search?q=5702+9131+1807")
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug" and "GET" in r.getMessage()]
    assert len(lines) == 2 * len(URL_SHAPES) + 1
    for line in lines:
        assert "[個人番号を伏せました]" in line, line
        assert "9131" not in line and "１８０７" not in line, line


def test_gunicorn_access_log_redacts_every_shape(tmp_path):
    port = _free_port()
    access = tmp_path / "access.log"
    env = {
        **os.environ,
        "HYOKA_DATABASE_URL": f"sqlite:///{tmp_path / 'hyoka.sqlite3'}",
        "HYOKA_SECRET_KEY": "x" * 32,
        "HYOKA_ENV": "development",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--workers",
            "1",
            "--threads",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(access),
            "--error-logfile",
            str(tmp_path / "error.log"),
            # the raw request line, the decoded path, the query string and the Referer: more than the default
            "--access-logformat",
            '%(h)s "%(r)s" %(U)s ?%(q)s %(s)s "%(f)s"',
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode(errors="replace")[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        for shape in URL_SHAPES:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/public/x/{shape}?q={shape}", headers={"Referer": f"http://example.jp/{shape}"}
            )
            try:
                urllib.request.urlopen(request, timeout=20).read()
            except urllib.error.HTTPError as error:
                error.read()
                error.close()
        deadline = time.monotonic() + 10
        while len(access.read_text(encoding="utf-8", errors="replace").splitlines()) < len(URL_SHAPES):
            assert time.monotonic() < deadline, access.read_text()
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
    lines = access.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(URL_SHAPES)
    for line in lines:
        assert line.count("[個人番号を伏せました]") == 5, line  # request line (path, query), path, query, referer
        assert "9131" not in line and not find_my_numbers(line), line
    assert "logger_class" in (ROOT / "gunicorn.conf.py").read_text()


def test_records_of_any_logger_are_redacted_for_handlers_added_later(app, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("hyoka.anything.new").warning("value %s", "5702\t9131\t1807")
    assert "[個人番号を伏せました]" in caplog.text and not find_my_numbers(caplog.text)


@pytest.mark.parametrize(
    "text",
    [
        "GET /static/app.css HTTP/1.1 200 1234 0.001234",
        "GET /public/search?q=%E4%BD%8F%E6%B0%91 HTTP/1.1",
        "received 123456789012 (check digit wrong)",
    ],
)
def test_log_redaction_leaves_other_text_alone(text):
    from common.logs import redact

    assert redact(text) == text
