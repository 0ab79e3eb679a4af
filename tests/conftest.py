"""Fixtures: an app per database engine, clients, users and login.

Every test that uses ``app`` (or anything built on it) runs once on SQLite and, when
``HYOKA_TEST_POSTGRES_URL`` is set, once more on PostgreSQL (test ids end in
``[sqlite]`` / ``[postgresql]``). SQLite tests get a fresh copy of a database file created
once per session; PostgreSQL tests get a per-worker database emptied before each test.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from datetime import date, datetime, time
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from app import create_app, database_url
from common.db import db
from common.models import Department, User
from common.timeutil import JST
from pia import procedure
from pia.assessments import services
from pia.assessments.demo_data import load_demo_documents
from pia.assessments.models import Affair

# The suite shares two CPUs with the browser and the databases: generating examples may be
# slow for a while, which says nothing about the code under test (the properties still run
# their full number of examples).
settings.register_profile("hyoka", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hyoka")

#: the ten wards of the demo city (each has a 戸籍住民課 that uses the 住基 systems)
WARDS = ["中央区", "北区", "東区", "白石区", "厚別区", "豊平区", "清田区", "南区", "西区", "手稲区"]

PG_URL = os.environ.get("HYOKA_TEST_POSTGRES_URL")
ENGINES = ["sqlite"] + (["postgresql"] if PG_URL else [])
TEST_PASSWORD = "test-password-1"

BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "WTF_CSRF_ENABLED": False,
    "HYOKA_PASSWORD_METHOD": "pbkdf2:sha256:1000",
    "SERVER_NAME": "localhost",
    # the portal index is cached a few seconds per process; tests see every change at once
    "HYOKA_PORTAL_CACHE_SECONDS": 0,
}


def _pg_db_name(prefix: str = "hyoka_test") -> str:
    """A database name of this process: test runs side by side never share a database."""
    return f"{prefix}_{os.getpid()}"


def _pg_url_for(name: str) -> str:
    parts = urlsplit(PG_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop_stale_pg_databases() -> None:
    """Drop test databases left behind by runs whose process is gone."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute("SELECT datname FROM pg_database WHERE datname ~ '^hyoka_(test|e2e|restore)_[0-9]+$'")
        ]
        for name in names:
            pid = name.rsplit("_", 1)[1]
            if not os.path.exists(f"/proc/{pid}"):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin_pg_execute(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database():
    if not PG_URL:
        pytest.skip("HYOKA_TEST_POSTGRES_URL is not set")
    _drop_stale_pg_databases()
    name = _pg_db_name()
    _admin_pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _admin_pg_execute(f"CREATE DATABASE {name}")
    url = _pg_url_for(name)
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url(url, "/tmp")})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    yield url
    _admin_pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _truncate_all(app):
    """Empty every table, and put back any trigger a tampering test dropped."""
    from common.db import TRIGGERS

    with app.app_context():
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            present = {r[0] for r in conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
            for _table, name, statements in TRIGGERS:
                if name not in present:
                    for stmt in statements["postgresql"]:
                        conn.exec_driver_sql(stmt)


@pytest.fixture(params=ENGINES)
def engine_name(request):
    return request.param


@pytest.fixture
def app_config():
    """Override in a test module to change the app's configuration."""
    return {}


@pytest.fixture
def app(engine_name, request, tmp_path, app_config):
    config = {
        **BASE_CONFIG,
        "HYOKA_UPLOAD_DIR": str(tmp_path / "uploads"),
        "HYOKA_PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        "HYOKA_EVIDENCE_LOG_KEY": str(tmp_path / "evidence-log.key"),
        "HYOKA_TICK_LOCK": str(tmp_path / "tick.lock"),
        **app_config,
    }
    if engine_name == "sqlite":
        path = tmp_path / "hyoka.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        config["SQLALCHEMY_DATABASE_URI"] = database_url(url, "/tmp")
    application = create_app(config)

    @application.before_request
    def _fresh_login_user():
        # the test keeps one app context pushed, so ``g`` outlives a request: forget the
        # user Flask-Login cached there, as a real request (with its own context) would
        from flask import g

        g.pop("_login_user", None)

    if engine_name == "postgresql":
        _truncate_all(application)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def department(app):
    """Factory: ``department(name="中央区戸籍住民課", code=None)`` returns a Department."""

    def make(name="住民情報課", code=None):
        existing = db.session.execute(db.select(Department).filter_by(name=name)).scalar_one_or_none()
        if existing:
            return existing
        dept = Department(name=name, code=code or f"d{abs(hash(name)) % 10**8}")
        db.session.add(dept)
        db.session.commit()
        return dept

    return make


@pytest.fixture
def make_user(app, department):
    """Factory: ``make_user("officer")`` or ``make_user("editor", departments=["市民税課"])``."""
    from common.auth import hash_password

    counter = {"n": 0}

    def make(*roles, username=None, departments=(), active=True, password=TEST_PASSWORD):
        counter["n"] += 1
        username = username or f"{'-'.join(roles) or 'nobody'}{counter['n']}"
        user = User(
            username=username, display_name=f"テスト {username}", active=active, password_hash=hash_password(password)
        )
        user.set_roles(roles)
        user.departments = [department(name) for name in departments]
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client):
    """``login(user)`` signs ``user`` in on ``client``; returns the client."""

    def do(user, password=TEST_PASSWORD, c=None):
        c = c or client
        response = c.post("/login", data={"username": user.username, "password": password})
        assert response.status_code == 302, response.text[:500]
        return c

    return do


@pytest.fixture
def as_role(app, make_user, login):
    """``as_role("officer", departments=[...])`` → a client signed in with a fresh user of that role."""

    def do(*roles, departments=()):
        user = make_user(*roles, departments=departments)
        c = app.test_client()
        login(user, c=c)
        c.user = user
        return c

    return do


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no CSRF token in page"
    return match.group(1)


@pytest.fixture
def count_rows(app):
    def count(model, **filters):
        return db.session.execute(sa.select(sa.func.count()).select_from(model).filter_by(**filters)).scalar_one()

    return count


# --------------------------------------------------------------------------- factories of the domain tests
# Shared by several test packages (pia, consultation, evidence, security, common), so they live here
# rather than being imported into test modules.


@pytest.fixture
def inventory(app, department):
    """The demo システム台帳 (001's nine systems and three files): code -> System."""
    import sqlalchemy as sa

    from pia.inventory.demo import DEMO_FILE
    from pia.inventory.importer import import_file
    from pia.inventory.models import System

    for ward in WARDS:
        department(f"{ward}戸籍住民課")
    department("住民情報課")
    department("情報システム課")
    import_file(DEMO_FILE.read_bytes(), DEMO_FILE.name, actor="test")
    db.session.commit()
    return {s.code: s for s in db.session.execute(sa.select(System).order_by(System.id)).scalars()}


@pytest.fixture
def demo_docs():
    return load_demo_documents()


@pytest.fixture
def make_assessment(app, department, demo_docs):
    """``make_assessment(code="juki", department="住民情報課", form="zenkoumoku", published=True,
    draft=False)`` → Assessment; with ``published`` version 1 is the demo document, published;
    with ``draft`` a draft version 2 carries the demo's 重要な変更."""
    v1, v2 = demo_docs
    counter = {"n": 0}

    def make(
        code=None,
        *,
        department_name="住民情報課",
        form="zenkoumoku",
        published=True,
        draft=False,
        name="住民基本台帳に関する事務",
    ):
        counter["n"] += 1
        dept = department(department_name)
        affair = Affair(code=code or f"affair{counter['n']}", name=name, department=dept)
        db.session.add(affair)
        db.session.flush()
        if form == "zenkoumoku" and published:
            assessment = services.create_assessment(affair, form=form, actor=None, with_draft=False)
            services.add_published_version(
                assessment, v1, actor=None, submitted_on=date(2025, 1, 24), published_on=date(2025, 1, 31)
            )
            if draft:
                services.start_draft(
                    assessment, actor=None, changes={path: value for path, value in _changes(v1, v2).items()}
                )
        else:
            assessment = services.create_assessment(affair, form=form, actor=None)
        db.session.commit()
        return assessment

    return make


def _changes(v1, v2):
    """The v2 sections that differ from v1, as {section_key: section} (set_value paths)."""
    return {key: value for key, value in v2.items() if v1.get(key) != value}


@pytest.fixture
def steps_done(monkeypatch):
    """Register consultation and review checks; ``steps_done.problem[step]`` says what they answer."""
    state = {"consultation": "意見聴取が終わっていません。", "review": "第三者点検が終わっていません。"}
    monkeypatch.setattr(
        procedure,
        "_CHECKS",
        {
            "consultation": [lambda v: state["consultation"]],
            "review": [lambda v: state["review"]],
        },
    )

    class Steps:
        problem = state

        def finish(self, step):
            state[step] = None

    return Steps()


@pytest.fixture
def version(app, department):
    """A draft version of a 全項目評価書 for affair ``juki``."""
    from pia.assessments.models import Affair, Assessment, AssessmentVersion

    affair = Affair(code="juki", name="住民基本台帳に関する事務", department=department("住民情報課"))
    assessment = Assessment(affair=affair, form="zenkoumoku", title="住民基本台帳に関する事務 全項目評価書")
    v = AssessmentVersion(assessment=assessment, number=1, edition="2024", status="draft", document={})
    db.session.add_all([affair, assessment, v])
    db.session.commit()
    return v


@pytest.fixture
def make_consultation(app, version):
    """``make_consultation(**overrides)`` → a Consultation (募集前 unless ``status`` given)."""
    from consultation import services

    def make(status="scheduled", **overrides):
        values = dict(
            title="住民基本台帳事務に関する特定個人情報保護評価書",
            start_date=date(2025, 11, 12),
            end_date=date(2025, 12, 11),
            places=["住民情報課（本庁舎2階）", "市政刊行物コーナー（本庁舎2階）"],
            web_url="http://www.city.sapporo.jp/shimin/koseki/mynumber/pia.html",
            channels=["post", "hand", "fax", "email", "web"],
            consent_text="氏名等は公表しません。",
            form_fields={"name": "required", "address": "optional", "contact": "hidden"},
        )
        values.update(overrides)
        c = services.create_consultation(version, actor="test", **values)
        if status in ("open", "closed", "reported"):
            # opened on its start date, as it would have been (the step counts from the opening)
            c.transition("open", actor="test", today=c.start_date)
            c.opened_at = datetime.combine(c.start_date, time(9), tzinfo=JST)
        if status in ("closed", "reported"):
            c.transition("closed", actor="test")
        if status == "reported":
            services.mark_reviewed(c, actor="test")
            services.publish_result(c, actor="test")
        db.session.commit()
        return c

    return make


@pytest.fixture
def juki(app, department):
    """System JUKI, usable by 中央区戸籍住民課."""
    from pia.inventory.models import System

    system = System(code="JUKI", name="既存住基システム")
    system.authorised_departments = [department("中央区戸籍住民課")]
    db.session.add(system)
    db.session.commit()
    return system


@pytest.fixture
def feed(app, juki):
    """``feed(kind, text, **kw)`` imports CSV/JSONL text through the import service and
    commits, as a door does."""
    from common import audit
    from common.db import unit_of_work
    from evidence.ingest import import_feed

    def do(kind, text, filename=None, **kw):
        with audit.acting_as("test"), unit_of_work():
            return import_feed(
                kind, io.BytesIO(text.encode("utf-8")), source=f"test:{kind}", filename=filename or f"{kind}.csv", **kw
            )

    return do


@pytest.fixture
def published_version(app):
    """``published_version(assessment, document, number=None, published_on=..., change_kind=...)``
    inserts a version as already published (history; the workflow is tested separately)."""
    import copy
    from datetime import date

    from pia.assessments import search
    from pia.assessments.models import AssessmentVersion

    def make(assessment, document, *, number=None, published_on=date(2025, 1, 31), change_kind="initial"):
        version = AssessmentVersion(
            assessment=assessment,
            number=number or (len(assessment.versions) + 1),
            edition="2024",
            status="published",
            document=copy.deepcopy(document),
            submitted_on=published_on,
            published_on=published_on,
            change_kind=change_kind,
        )
        db.session.add(version)
        db.session.flush()
        search.index_version(version)
        return version

    return make


# --------------------------------------------------------------------------- mail


class SMTPInbox:
    """What a real SMTP server (aiosmtpd, started by the test) received; ``refuse`` lists
    recipient addresses it answers 550."""

    def __init__(self):
        self.messages = []
        self.refuse: set[str] = set()
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy

        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        message.envelope_to = list(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m.envelope_to]

    @property
    def config(self) -> dict:
        """App settings that send mail to this server."""
        return {
            "HYOKA_SMTP_HOST": "127.0.0.1",
            "HYOKA_SMTP_PORT": str(self.port),
            "HYOKA_SMTP_TLS": "none",
            "HYOKA_SMTP_SENDER": "hyoka@city.example.lg.jp",
            "HYOKA_BASE_URL": "https://hyoka.city.example.lg.jp/pia",
            "HYOKA_SMTP_TIMEOUT": "5",
        }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 for the test; yields its :class:`SMTPInbox`
    (``smtp_server.config`` points the app at it)."""
    from aiosmtpd.controller import Controller

    inbox = SMTPInbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def mail_text(message) -> str:
    return message.get_body(("plain",)).get_content()


def mail_html(message) -> str:
    return message.get_body(("html",)).get_content()
