from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from common import audit
from common.db import db
from common.models import AuditEvent, User


def test_admin_creates_user_with_roles_and_departments(app, as_role, department):
    dept = department("市民税課")
    c = as_role("admin")
    response = c.post(
        "/admin/users/new",
        data={
            "username": "zei-tanto",
            "display_name": "税務 担当",
            "roles": ["editor"],
            "departments": [str(dept.id)],
            "active": "y",
            "password": "Zeimu-pass-2025",
        },
    )
    assert response.status_code == 302
    user = db.session.execute(db.select(User).filter_by(username="zei-tanto")).scalar_one()
    assert user.roles == {"editor"} and [d.name for d in user.departments] == ["市民税課"]
    created = db.session.execute(
        db.select(AuditEvent).filter_by(object_type="User", action="create", object_id=str(user.id))
    ).scalar_one()
    assert created.after["username"] == "zei-tanto"
    assert "password_hash" not in created.after
    assert created.actor_name.endswith(f"({c.user.username})")


def test_rejected_user_form_keeps_what_was_typed(app, as_role):
    c = as_role("admin")
    response = c.post(
        "/admin/users/new",
        data={"username": "bad name!", "display_name": "入力 保持", "roles": ["editor"], "password": "x"},
    )
    assert response.status_code == 200
    assert 'value="入力 保持"' in response.text and 'value="bad name!"' in response.text
    assert "半角英数字" in response.text
    assert "担当する所属を1つ以上" in response.text


def test_admin_disables_user_and_change_is_audited(app, as_role, make_user):
    target = make_user("auditor")
    c = as_role("admin")
    response = c.post(
        f"/admin/users/{target.id}",
        data={"username": target.username, "display_name": target.display_name, "roles": ["auditor"]},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, target.id).active is False
    update = (
        db.session.execute(
            db.select(AuditEvent)
            .filter_by(object_type="User", action="update", object_id=str(target.id))
            .order_by(AuditEvent.id)
        )
        .scalars()
        .first()
    )
    assert update.before == {"active": True} and update.after == {"active": False}


def test_admin_cannot_remove_own_admin_role(app, as_role):
    c = as_role("admin")
    response = c.post(
        f"/admin/users/{c.user.id}",
        data={"username": c.user.username, "display_name": "x", "roles": ["officer"], "active": "y"},
    )
    assert response.status_code == 200 and "自分自身" in response.text


def test_audit_trail_is_append_only_in_the_database(app, make_user):
    make_user("officer")
    event_id = db.session.execute(sa.select(AuditEvent.id)).scalars().first()
    with pytest.raises(DatabaseError):
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_events SET summary = 'tampered' WHERE id = :id"), {"id": event_id})
    with pytest.raises(DatabaseError):
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id})
    with pytest.raises(ValueError):
        ev = db.session.get(AuditEvent, event_id)
        ev.summary = "tampered"
        db.session.flush()
    db.session.rollback()


def test_officer_filters_audit_trail(app, as_role, make_user):
    make_user("auditor", username="findme")
    with audit.acting_as("cli"):
        audit.record("transition", "Assessment", 7, "公表しました")
        db.session.commit()
    c = as_role("officer")
    page = c.get("/admin/audit?action=transition")
    assert page.status_code == 200
    assert "公表しました" in page.text and "findme" not in page.text
    page = c.get("/admin/audit?object_type=User")
    assert "findme" in page.text or "User" in page.text


def test_tokens_are_stored_hashed_and_revocable(app, as_role):
    from common.models import ApiToken

    c = as_role("admin")
    page = c.post("/admin/tokens", data={"name": "住基連携", "system_code": "juki", "feeds": ["access", "grants"]})
    token = db.session.execute(db.select(ApiToken)).scalar_one()
    assert token.system_code == "JUKI"
    import re

    plain = re.search(r'<code class="token">([^<]+)</code>', page.text).group(1)
    assert plain.startswith("hyk_") and token.token_hash != plain and plain not in str(token.__dict__)
    # the first POST asks, saying what will happen; the token still works
    asked = c.post(f"/admin/tokens/{token.id}/revoke")
    assert asked.status_code == 200 and "直ちに受け付けられなくなります" in asked.text
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is None
    c.post(f"/admin/tokens/{token.id}/revoke", data={"confirm": "yes"})
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is not None


def test_users_create_cli(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "chief", "--role", "admin", "--password", "Sapporo-pass-2025"])
    assert result.exit_code == 0, result.output
    user = db.session.execute(db.select(User).filter_by(username="chief")).scalar_one()
    assert user.roles == {"admin"}
    again = runner.invoke(args=["users", "create", "chief", "--password", "Sapporo-pass-2025"])
    assert again.exit_code != 0 and "既に存在" in again.output
    weak = runner.invoke(args=["users", "create", "weak", "--password", "12345"])
    assert weak.exit_code != 0


def test_demo_load_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load", "--no-evidence"])
    assert first.exit_code == 0, first.output
    users = db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one()
    second = runner.invoke(args=["demo", "load", "--no-evidence"])
    assert second.exit_code == 0, second.output
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == users
    from common.models import Department

    names = {d.name for d in db.session.execute(db.select(Department)).scalars()}
    assert {"中央区戸籍住民課", "手稲区戸籍住民課", "住民情報課", "市民税課", "保険年金課"} <= names
    demo_user = db.session.execute(db.select(User).filter_by(username="auditor")).scalar_one()
    from common.auth import verify_password

    assert verify_password(demo_user, "hyoka-demo") and demo_user.roles == {"auditor"}
