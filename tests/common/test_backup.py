"""Backups: scripts/backup.sh and scripts/restore.sh round-trip a PostgreSQL database."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from common.db import db
from tests.conftest import _admin_pg_execute, _pg_db_name

ROOT = Path(__file__).resolve().parents[2]


def test_backup_and_restore_round_trip(app, engine_name, make_user, tmp_path):
    if engine_name != "postgresql":
        pytest.skip("pg_dump backups apply to PostgreSQL")
    if not shutil.which("pg_dump"):
        pytest.fail("pg_dump is missing: apt-get install postgresql-client")
    make_user("officer")
    make_user("editor", departments=["市民税課"])
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    out = subprocess.run([ROOT / "scripts/backup.sh", url, tmp_path], capture_output=True, text=True, check=True)
    dump = out.stdout.strip().splitlines()[-1]
    target = _pg_db_name("hyoka_restore")
    _admin_pg_execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
    _admin_pg_execute(f"CREATE DATABASE {target}")
    try:
        target_url = url.rsplit("/", 1)[0] + f"/{target}"
        subprocess.run([ROOT / "scripts/restore.sh", dump, target_url], capture_output=True, text=True, check=True)
        restored = sa.create_engine(target_url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with db.engine.connect() as src, restored.connect() as dst:
                for table in db.metadata.sorted_tables:
                    count = sa.select(sa.func.count()).select_from(table)
                    assert src.execute(count).scalar_one() == dst.execute(count).scalar_one(), table.name
                triggers = {r[0] for r in dst.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
                assert "audit_events_append_only" in triggers
                assert dst.execute(sa.text("SELECT count(*) FROM users")).scalar_one() == 2
        finally:
            restored.dispose()
    finally:
        _admin_pg_execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
