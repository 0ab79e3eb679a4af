"""Start-up: creating the app imports no heavy library that only some commands or pages use
(every ``flask`` command creates the app, ``flask --help`` too), and ``flask db`` still hands
over to Flask-Migrate, which is set up only when it is used."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from click.testing import CliRunner
from flask.cli import FlaskGroup

ROOT = Path(__file__).resolve().parents[2]

#: libraries imported where they are used, never while the app is created: WeasyPrint (PDF
#: rendering), Alembic (through Flask-Migrate: ``flask db``), markdown-it (pages showing a long
#: text), holidays (the evidence checks) and Hypothesis (tests only)
HEAVY = ("weasyprint", "alembic", "flask_migrate", "markdown_it", "holidays", "hypothesis")


def test_creating_the_app_imports_no_heavy_library():
    # each library is installed: its absence from sys.modules below means something
    assert [name for name in HEAVY if importlib.util.find_spec(name) is None] == []
    code = (
        "import json, sys\n"
        "from app import create_app\n"
        "create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://', 'SECRET_KEY': 'x', 'TESTING': True})\n"
        f"print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_help_lists_the_db_command(app):
    result = CliRunner().invoke(FlaskGroup(create_app=lambda: app), ["--help"])
    assert result.exit_code == 0, result.output
    assert any(line.split() == ["db", "Perform", "database", "migrations."] for line in result.output.splitlines())


def test_db_command_runs_flask_migrate():
    # in a process of its own, as it is used: Alembic writes to the sys.stdout it first saw
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "heads"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HYOKA_DATABASE_URL": "sqlite://", "HYOKA_SECRET_KEY": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    heads = ScriptDirectory(str(ROOT / "migrations")).get_heads()
    assert len(heads) == 1
    assert done.stdout.split() == [heads[0], "(head)"]


def test_migrate_settings_come_from_flask_migrate(app):
    """``app.extensions["migrate"]`` answers as Flask-Migrate's own settings (migrations/env.py
    reads them) and is replaced by them at first use."""
    config = app.extensions["migrate"]
    assert config.directory == str(ROOT / "migrations")
    assert config.configure_args == {"compare_type": True, "render_as_batch": True}
    from common.db import db

    assert config.db is db
    assert type(app.extensions["migrate"]).__module__ == "flask_migrate"
