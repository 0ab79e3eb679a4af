"""Sign-in failures do not tell which login names exist: the same message, the same lockout
and the same time for a name no user has (or a disabled user's) as for a real one. What is
typed as the name is not kept when it holds a 個人番号.
"""

from __future__ import annotations

import logging
import re
import statistics
import time

import sqlalchemy as sa

from common.auth import login_name_key
from common.db import db
from common.models import AuditEvent, LoginAttempt
from common.mynumber import find_my_numbers
from tests.conftest import TEST_PASSWORD

WRONG = "ユーザーIDまたはパスワードが正しくありません"
LOCKED = "ロックされています"
MY_NUMBER = "1234 5678 9018"
#: a hashing method slow enough that checking a hash (~40 ms) stands out from the rest of a request
SLOW_METHOD = "pbkdf2:sha256:40000"


def _try(client, name, password="wrong-password-9"):
    return client.post("/login", data={"username": name, "password": password})


def _message(response) -> str:
    """The flashed message of a login page, the one thing in it that depends on the outcome."""
    match = re.search(r'class="flash[^"]*"[^>]*>(.*?)<', response.text, re.S)
    return match.group(1).strip() if match else ""


def test_unknown_names_lock_like_known_ones(app, client, make_user):
    user = make_user("officer")
    limit = app.config["HYOKA_LOGIN_MAX_FAILURES"]
    known = [_try(client, user.username) for _ in range(limit)]
    unknown = [_try(client, "no-such-user") for _ in range(limit)]
    assert [(r.status_code, _message(r)) for r in known] == [(r.status_code, _message(r)) for r in unknown]
    assert WRONG in known[0].text and LOCKED in known[-1].text
    # locked: the right password of the real user is refused with the same message
    after_known = _try(client, user.username, TEST_PASSWORD)
    after_unknown = _try(client, "no-such-user", TEST_PASSWORD)
    assert LOCKED in after_known.text and LOCKED in after_unknown.text
    assert _message(after_known) == _message(after_unknown)
    assert client.get("/").status_code == 302


def test_failures_are_counted_per_name_and_forgotten_at_sign_in(app, client, make_user, count_rows):
    user = make_user("officer")
    for _ in range(app.config["HYOKA_LOGIN_MAX_FAILURES"] - 1):
        _try(client, user.username)
    # the same name written otherwise (case, width, spaces) counts under the same key
    assert login_name_key(f" {user.username.upper()} ") == login_name_key(user.username)
    assert count_rows(LoginAttempt) == 1
    assert _try(client, user.username, TEST_PASSWORD).status_code == 302
    assert count_rows(LoginAttempt) == 0
    client.post("/logout")
    # the counter started again: one more failure does not lock
    assert LOCKED not in _try(client, user.username).text


def test_admin_sees_and_lifts_a_lock(app, client, make_user, as_role):
    user = make_user("officer")
    for _ in range(app.config["HYOKA_LOGIN_MAX_FAILURES"]):
        _try(client, user.username)
    admin = as_role("admin")
    assert "ロック中" in admin.get("/admin/users").text
    assert admin.post(f"/admin/users/{user.id}/unlock").status_code == 302
    assert "ロック中" not in admin.get("/admin/users").text
    assert _try(client, user.username, TEST_PASSWORD).status_code == 302


def _median_ms(client, name, tries):
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        response = _try(client, name)
        times.append((time.perf_counter() - start) * 1000)
        assert WRONG in response.text
    return statistics.median(times)


def test_a_wrong_password_takes_as_long_for_any_name(app, client, make_user):
    """Medians over several tries, taken in turns so that a busy moment hits all alike."""
    app.config.update(HYOKA_PASSWORD_METHOD=SLOW_METHOD, HYOKA_LOGIN_MAX_FAILURES=1000)
    user = make_user("officer")
    disabled = make_user("officer", active=False)
    names = {"known": user.username, "disabled": disabled.username, "unknown": "no-such-user"}
    for name in names.values():  # warm up (the first unknown name makes the dummy hash)
        _try(client, name)
    rounds = {label: [] for label in names}
    for _ in range(3):
        for label, name in names.items():
            rounds[label].append(_median_ms(client, name, 3))
    median = {label: statistics.median(values) for label, values in rounds.items()}
    for label in ("unknown", "disabled"):
        assert median[label] >= 0.5 * median["known"], median
        assert median[label] <= 2 * median["known"], median


def test_a_name_holding_a_my_number_is_not_kept(app, client, caplog):
    caplog.set_level(logging.INFO)
    typed = f"tanaka-{MY_NUMBER}"
    response = _try(client, typed)
    assert WRONG in response.text
    events = db.session.execute(sa.select(AuditEvent).filter_by(action="login_failed")).scalars().all()
    assert [e.summary for e in events] == ["存在しないユーザーID（個人番号を含むため記録しません）"]
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            for value in row:
                if isinstance(value, str):
                    assert not find_my_numbers(value) and "tanaka" not in value, (table.name, value)
    assert not any(find_my_numbers(r.getMessage()) for r in caplog.records)
    assert not any("伏せて保存" in r.getMessage() for r in caplog.records)  # nothing left for the guard


def test_an_ordinary_unknown_name_is_recorded(app, client):
    _try(client, "tanaka.t")
    event = db.session.execute(sa.select(AuditEvent).filter_by(action="login_failed")).scalar_one()
    assert event.summary == "存在しないユーザーID: tanaka.t"
