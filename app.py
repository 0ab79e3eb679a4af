"""Hyoka: the application factory."""

from __future__ import annotations

import gc
import importlib
import os
import secrets
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import escape

csrf = CSRFProtect()
MIGRATIONS_DIRECTORY = str(Path(__file__).parent / "migrations")

#: domain packages; each may define ``init_app(app)`` registering blueprints, CLI, panels, demo steps
DOMAIN_PACKAGES = ("pia", "consultation", "evidence")


def database_url(value: str | None, instance_path: str) -> str:
    """Normalise HYOKA_DATABASE_URL; PostgreSQL URLs use psycopg 3."""
    if not value:
        return f"sqlite:///{Path(instance_path) / 'hyoka.sqlite3'}"
    if value.startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://") :]
    if value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    return value


def _secret_key(instance_path: str) -> str:
    key = os.environ.get("HYOKA_SECRET_KEY")
    if key:
        return key
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


#: connection pool: no ping on every checkout (pool_pre_ping costs a round trip on each of
#: them: two per public submission). A pooled connection is pinged only when it has sat
#: idle at least DB_PING_AFTER_IDLE_SECONDS (HYOKA_DB_PING_AFTER_IDLE_SECONDS), see
#: :func:`_ping_idle_connections`; one in use a moment earlier is trusted. After a
#: PostgreSQL restart the pool's connections are dead: a connection idle for longer than the
#: server was down is pinged and the whole pool is replaced; a statement that still meets a
#: dead connection (a restart shorter than the idle limit, or during a request) fails that
#: request, and SQLAlchemy then replaces every connection of the pool as well.
#: pool_recycle closes connections older than half an hour, before a firewall on the way
#: drops an idle one silently (a ping would then wait for the TCP timeout).
ENGINE_OPTIONS = {"pool_recycle": 1800}
DB_PING_AFTER_IDLE_SECONDS = 0.5


def _ping_idle_connections(engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout when it has been idle ``idle_seconds`` or more;
    a dead one invalidates the pool (the server restarted: every connection is stale) and
    the pool hands out a new connection instead."""
    import sqlalchemy as sa

    dialect = engine.dialect

    @sa.event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection, record):
        if dbapi_connection is not None:
            record.info["hyoka_idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy):
        since = record.info.get("hyoka_idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just opened, or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                raise sa.exc.InvalidatePoolError() from err
            raise


def _migrate_settings(app: Flask):
    """Flask-Migrate's settings on ``app`` (``app.extensions["migrate"]``), set up at first need.

    Flask-Migrate imports Alembic (about 60 ms), which only ``flask db …`` and the migration
    tests use: :func:`create_app` leaves a placeholder, :class:`_PendingMigrate`, and a ``db``
    command, :class:`_MigrateCommand`, that both call this."""
    if isinstance(app.extensions.get("migrate"), _PendingMigrate):
        from flask_migrate import Migrate

        from common.db import db

        Migrate().init_app(app, db, directory=MIGRATIONS_DIRECTORY)  # replaces both placeholders
    return app.extensions["migrate"]


class _PendingMigrate:
    """``app.extensions["migrate"]`` until it is first read: reading any attribute sets up
    Flask-Migrate and answers from its own settings object."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_migrate_settings(self._app), name)


class _MigrateCommand(click.Command):
    """``flask db``: listed in ``flask --help`` as Flask-Migrate lists it; run (or asked for its
    own help), it sets Flask-Migrate up and hands over to Flask-Migrate's command group."""

    def __init__(self, app: Flask) -> None:
        super().__init__("db", help="Perform database migrations.")
        self._app = app

    def _group(self) -> click.Command:
        _migrate_settings(self._app)
        return self._app.cli.commands["db"]

    def make_context(self, info_name, args, parent=None, **extra):
        return self._group().make_context(info_name, args, parent=parent, **extra)

    def shell_complete(self, ctx, incomplete):
        return self._group().shell_complete(ctx, incomplete)


@contextmanager
def _collector_paused():
    """Start-up makes many objects that live as long as the process (modules, mapped classes,
    URL rules) and no garbage: Python's cyclic collector, set off by the count of new objects,
    would walk them all again and again (some 40 ms of CPU of a ``flask`` command's start on the
    development machine). It is paused while the app is built and resumed as it was; the one
    collection that follows walks the new objects once."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def create_app(config: dict | None = None) -> Flask:
    with _collector_paused():
        return _create_app(config)


def _create_app(config: dict | None) -> Flask:
    # the app's own modules are imported here, with the collector paused (they pull in SQLAlchemy
    # and build the mapped classes), not when this module is imported
    from common import logs, mynumber_guard, params, pdf_cache, security  # noqa: F401  (mynumber_guard registers itself)
    from common.auth import SessionInterface, login_manager
    from common.db import db

    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    env = os.environ.get("HYOKA_ENV", "production")
    app.config.from_mapping(
        HYOKA_ENV=env,
        SQLALCHEMY_DATABASE_URI=database_url(os.environ.get("HYOKA_DATABASE_URL"), app.instance_path),
        SQLALCHEMY_ENGINE_OPTIONS=dict(ENGINE_OPTIONS),
        HYOKA_DB_PING_AFTER_IDLE_SECONDS=DB_PING_AFTER_IDLE_SECONDS,
        SESSION_COOKIE_SECURE=env != "development",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="hyoka_session",
        REMEMBER_COOKIE_SECURE=env != "development",
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        HYOKA_LOGIN_MAX_FAILURES=5,
        HYOKA_LOCKOUT_MINUTES=15,
        HYOKA_UPLOAD_DIR=str(Path(app.instance_path) / "uploads"),
        #: a consultation period shorter than this needs a 特段の理由 (原則30日以上)
        HYOKA_CONSULTATION_MIN_DAYS=30,
        #: systems operating every day (codes, comma-separated): their closed days count as gaps
        HYOKA_EVIDENCE_OPEN_EVERY_DAY=os.environ.get("HYOKA_EVIDENCE_OPEN_EVERY_DAY", ""),
        JSON_AS_ASCII=False,
    )
    # numeric settings an operator may tune from the environment
    for key in (
        "CONSULTATION_RATE_LIMIT",
        "CONSULTATION_RATE_WINDOW",
        "HYOKA_LOGIN_MAX_FAILURES",
        "HYOKA_LOCKOUT_MINUTES",
        "HYOKA_CONSULTATION_MIN_DAYS",
    ):
        if os.environ.get(f"HYOKA_{key.removeprefix('HYOKA_')}"):
            app.config[key] = int(os.environ[f"HYOKA_{key.removeprefix('HYOKA_')}"])
    if config:
        app.config.update(config)
    if app.config.get("HYOKA_BEHIND_PROXY", os.environ.get("HYOKA_BEHIND_PROXY") == "1"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    if "SECRET_KEY" not in (config or {}):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    app.json.ensure_ascii = False
    params.init_app(app)  # the id converter before any route; control characters refused first

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            _ping_idle_connections(engine, app.config["HYOKA_DB_PING_AFTER_IDLE_SECONDS"])
    app.extensions["migrate"] = _PendingMigrate(app)
    app.cli.add_command(_MigrateCommand(app))
    csrf.init_app(app)
    login_manager.init_app(app)
    app.session_interface = SessionInterface()
    security.init_app(app)
    logs.init_app(app)
    pdf_cache.init_app(app)

    import portal
    from common import (
        admin_views,
        auth_views,
        directory,
        doctor,
        labels,
        mail,
        notify,
        notify_views,
        schedule,
        templating,
        views,
    )
    from common.api import bp as api_bp
    from common.cli import demo_cli, users_cli

    app.register_blueprint(views.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(notify_views.bp)
    templating.init_app(app)
    labels.init_app(app)  # common's labels; each package adds its own in its init_app
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    mail.init_app(app)
    schedule.init_app(app)  # flask tick: the packages add their jobs
    notify.init_app(app)  # the notification kinds come from the packages
    doctor.init_app(app)  # flask doctor: the packages add their checks
    directory.init_app(app)  # sign-in through the 庁内 directory (LDAP), off by default

    for name in DOMAIN_PACKAGES:
        module = importlib.import_module(name)
        if hasattr(module, "init_app"):
            module.init_app(app)
    portal.init_app(app)  # the public portal reads the domain packages: registered after them

    # the API blueprint last, so packages can add their routes to it first
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    _error_pages(app)
    return app


_PLAIN_ERROR_PAGE = (
    '<!doctype html><html lang="ja"><meta charset="utf-8"><title>エラー {code}</title>'
    '<h1>{message}</h1><p>エラーコード: {code}</p><p><a href="/">トップへ戻る</a></p></html>'
)


def _rollback_quietly() -> None:
    from common.db import db

    try:
        db.session.rollback()
    except Exception:  # a database gone away: the plain page needs none
        current_app.logger.exception("rollback before the error page failed")


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error_pages(app: Flask) -> None:
    messages = {
        400: "リクエストの内容に誤りがあります。",
        403: "このページを表示する権限がありません。",
        404: "お探しのページが見つかりません。",
        405: "この操作は受け付けていません。",
        413: "送信されたデータが大きすぎます。",
        429: "短時間にたくさんの送信がありました。しばらくしてからもう一度お試しください。",
        500: "システムでエラーが発生しました。時間をおいてもう一度お試しください。",
    }

    def handler(code):
        def _handle(error):
            if code >= 500:
                # the failed statement may have left the transaction unusable (PostgreSQL):
                # the page below reads the signed-in user again
                _rollback_quietly()
            if _wants_json():
                return jsonify({"error": messages[code]}), code
            try:
                return render_template("error.html", code=code, message=messages[code]), code
            except Exception:  # the error page must not fail in turn: a plain page then
                app.logger.exception("the error page %s could not be rendered", code)
                _rollback_quietly()
                return Response(
                    _PLAIN_ERROR_PAGE.format(code=code, message=escape(messages[code])),
                    status=code,
                    mimetype="text/html",
                )

        return _handle

    for code in messages:
        app.register_error_handler(code, handler(code))

    @app.errorhandler(CSRFError)
    def _csrf(error):
        if _wants_json():
            return jsonify({"error": "CSRFトークンが無効です。"}), 400
        return render_template(
            "error.html",
            code=400,
            message="フォームの有効期限が切れたか、不正な送信です。画面を再読み込みしてからもう一度お試しください。",
        ), 400
