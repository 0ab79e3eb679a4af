from __future__ import annotations

import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent, Setting, User


def test_orm_never_stores_a_my_number(app, make_user):
    user = make_user("officer")
    user.display_name = "番号 1234-5678-9018 の人"
    db.session.add(Setting(key="x", value={"note": ["123456789018", "123456789012"]}))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).display_name == "番号 ［個人番号］ の人"
    assert db.session.get(Setting, "x").value == {"note": ["［個人番号］", "123456789012"]}
    trail = db.session.execute(sa.select(AuditEvent.after, AuditEvent.before)).all()
    assert "123456789018" not in repr(trail)


def test_failed_login_with_a_my_number_as_user_id_is_not_stored(app, client):
    client.post("/login", data={"username": "123456789018", "password": "x"})
    summaries = db.session.execute(sa.select(AuditEvent.summary)).scalars().all()
    assert summaries and all("123456789018" not in s for s in summaries)
