"""Fixtures: an app per database engine, clients, users and login.

Every test that uses ``app`` (or anything built on it) runs once on SQLite and, when
``HYOKA_TEST_POSTGRES_URL`` is set, once more on PostgreSQL (test ids end in
``[sqlite]`` / ``[postgresql]``). SQLite tests get a fresh copy of a database file created
once per session; PostgreSQL tests get a per-worker database emptied before each test.
"""
from __future__ import annotations

import os
import re
import shutil
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from app import create_app, database_url
from common.db import db
from common.models import Department, User

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
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname ~ '^hyoka_(test|e2e|restore)_[0-9]+$'")]
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
    config = {**BASE_CONFIG, "HYOKA_UPLOAD_DIR": str(tmp_path / "uploads"),
              "HYOKA_PDF_CACHE_DIR": str(tmp_path / "pdf-cache"), **app_config}
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
        user = User(username=username, display_name=f"テスト {username}", active=active,
                    password_hash=hash_password(password))
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
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


@pytest.fixture
def count_rows(app):
    def count(model, **filters):
        return db.session.execute(sa.select(sa.func.count()).select_from(model).filter_by(**filters)).scalar_one()

    return count
