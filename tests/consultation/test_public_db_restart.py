"""The public pages after the database server dropped every connection (a restart).

Pooled connections are not pinged on every checkout (a round trip each); one that sat idle
longer than HYOKA_DB_PING_AFTER_IDLE_SECONDS is, and a dead one makes the pool replace all
of its connections (app.py, ``_ping_idle_connections``).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from common.db import db
from common.timeutil import today_jst
from consultation.models import Submission

IDLE = 0.05


@pytest.fixture
def app_config():
    return {"HYOKA_DB_PING_AFTER_IDLE_SECONDS": IDLE}


@pytest.fixture
def open_consultation(make_consultation):
    today = today_jst()
    return make_consultation(status="open", start_date=today - timedelta(days=5), end_date=today + timedelta(days=25))


def _opinion(n: int) -> dict:
    return {
        "body": f"再起動後の意見 {n}",
        "name": "札幌 太郎",
        "submitter_kind": "individual",
        "consent": "y",
        "website": "",
    }


def _drop_every_connection() -> None:
    """What a PostgreSQL restart does to the pool: every server connection is gone."""
    import psycopg

    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def postgresql_only(engine_name):
    if engine_name != "postgresql":
        pytest.skip("a server that drops connections: PostgreSQL")


def test_idle_connections_are_pinged_and_replaced(app, client, open_consultation, postgresql_only, count_rows):
    url = f"/public/consultations/{open_consultation.id}"
    assert client.post(url, data=_opinion(1)).status_code == 303
    db.session.remove()
    _drop_every_connection()
    time.sleep(IDLE * 2)
    assert client.get("/public/").status_code == 200
    assert client.post(url, data=_opinion(2)).status_code == 303
    assert count_rows(Submission) == 2


@pytest.mark.parametrize("app_config", [{"HYOKA_DB_PING_AFTER_IDLE_SECONDS": 3600}])
def test_a_dead_connection_in_use_a_moment_ago_fails_one_request_only(
    app, client, open_consultation, postgresql_only, count_rows
):
    """Within the idle limit a connection is trusted: the request that meets a dead one
    fails, and SQLAlchemy replaces every connection of the pool for the next."""
    url = f"/public/consultations/{open_consultation.id}"
    assert client.post(url, data=_opinion(1)).status_code == 303
    db.session.remove()
    _drop_every_connection()
    with pytest.raises(sa.exc.OperationalError):  # TESTING: the 500 propagates as the error
        client.get("/public/")
    db.session.remove()
    assert client.get("/public/").status_code == 200
    assert client.post(url, data=_opinion(2)).status_code == 303
    assert count_rows(Submission) == 2


@pytest.mark.parametrize("app_config", [{"HYOKA_DB_PING_AFTER_IDLE_SECONDS": 0.5}])
def test_only_a_connection_idle_past_the_limit_is_pinged(app, client, open_consultation, monkeypatch):
    """Both engines: no round trip to ping a connection in use a moment ago."""
    pings = []
    dialect = type(db.engine.dialect)
    real_ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda self, conn: pings.append(1) or real_ping(self, conn))
    url = f"/public/consultations/{open_consultation.id}"
    db.session.remove()
    assert client.post(url, data=_opinion(1)).status_code == 303
    pings.clear()
    assert client.post(url, data=_opinion(2)).status_code == 303
    assert not pings
    db.session.remove()
    time.sleep(0.6)
    assert client.post(url, data=_opinion(3)).status_code == 303
    assert pings
