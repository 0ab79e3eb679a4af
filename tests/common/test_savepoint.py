"""A savepoint is part of the request's transaction on both engines: what it wrote is undone
when the request rolls back, even when nothing was written before it (on SQLite the driver
would otherwise let the savepoint begin, and its release commit, a transaction of its own)."""

from __future__ import annotations

import sqlalchemy as sa

from common.db import db, savepoint
from common.models import Setting


def _count(key: str) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Setting).where(Setting.key == key)).scalar_one()


def test_a_released_savepoint_is_undone_by_the_rollback_of_its_transaction(app):
    db.session.commit()  # nothing open: the savepoint is the first thing of the transaction
    with savepoint():
        db.session.add(Setting(key="savepoint-test", value="1"))
    assert _count("savepoint-test") == 1
    db.session.rollback()
    assert _count("savepoint-test") == 0


def test_a_savepoint_rolls_back_alone_and_the_rest_commits(app):
    db.session.add(Setting(key="kept", value="1"))
    db.session.flush()
    try:
        with savepoint():
            db.session.add(Setting(key="dropped", value="1"))
            db.session.flush()
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    db.session.commit()
    assert _count("kept") == 1 and _count("dropped") == 0
