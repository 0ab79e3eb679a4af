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


def test_digests_and_password_hashes_are_never_rewritten(app, make_user):
    """Hex digests and password hashes may contain any 12 digits: the guard leaves them alone."""
    from common.auth import hash_token
    from common.models import ApiToken

    digest = "ab" + "123456789018" + "cd" * 25
    user = make_user("officer")
    user.password_hash = f"pbkdf2:sha256:1000$salt$ff{'123456789018'}ee"
    token = ApiToken(name="t", token_hash=hash_token("x"), prefix="hyk_")
    token.token_hash = digest
    db.session.add(token)
    db.session.add(Setting(key="digest", value=digest))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash.endswith("ff123456789018ee")
    assert db.session.get(ApiToken, token.id).token_hash == digest
    assert db.session.get(Setting, "digest").value == digest
