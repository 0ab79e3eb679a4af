"""Every route has an owner role; everyone else is refused.

A new route that is neither ``@requires(...)``, ``@api_requires(...)`` nor ``@public``
fails ``test_every_endpoint_declares_its_owner``; the other tests then check refusal for
anonymous users and for every role that does not own the route.
"""

from __future__ import annotations

import pytest
from werkzeug.routing.converters import NumberConverter

from common.models import ROLES

IGNORED_METHODS = {"HEAD", "OPTIONS"}
#: the pages of one's own account: every staff role owns them
ACCOUNT_PAGES = ("auth.change_password", "auth.logout", "notifications.preferences")


def _dummy_url(app, rule):
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg]
        values[arg] = 999999 if isinstance(converter, NumberConverter) else "x"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values, _external=False)


def _rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - IGNORED_METHODS):
            yield rule, view, method


def test_every_endpoint_declares_its_owner(app):
    missing = [
        rule.endpoint
        for rule, view, _ in _rules(app)
        if not (
            getattr(view, "hyoka_public", False)
            or getattr(view, "hyoka_roles", None)
            or getattr(view, "hyoka_feed", False)
        )
    ]
    assert not missing, f"endpoints without an owner role: {sorted(set(missing))}"


def test_every_staff_role_owns_the_account_pages(app):
    for endpoint in ACCOUNT_PAGES:
        assert app.view_functions[endpoint].hyoka_roles == frozenset(ROLES), endpoint


def test_anonymous_is_refused_everywhere_but_public_routes(app, client):
    checked = 0
    for rule, view, method in _rules(app):
        if getattr(view, "hyoka_public", False):
            continue
        response = client.open(_dummy_url(app, rule), method=method)
        checked += 1
        if rule.rule.startswith("/api/"):
            assert response.status_code == 401, (rule.rule, method, response.status_code)
        else:
            assert response.status_code == 302, (rule.rule, method, response.status_code)
            assert "/login" in response.headers["Location"], (rule.rule, method)
    assert checked > 5


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_other_role_is_refused(app, as_role, role):
    c = as_role(role, departments=["住民情報課"])
    checked = 0
    for rule, view, method in _rules(app):
        if getattr(view, "hyoka_public", False):
            continue
        owners = getattr(view, "hyoka_roles", frozenset())
        if role in owners or rule.endpoint == "auth.logout":
            continue
        response = c.open(_dummy_url(app, rule), method=method)
        checked += 1
        expected = (401,) if getattr(view, "hyoka_feed", False) else (403,)
        assert response.status_code in expected, (role, rule.rule, method, response.status_code)
    assert checked > 0 or role == "admin"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_owner_roles_are_let_in(app, as_role, role):
    """An owner is never refused by the role check (missing objects may still 404)."""
    c = as_role(role, departments=["住民情報課"])
    for rule, view, method in _rules(app):
        if method != "GET" or role not in getattr(view, "hyoka_roles", frozenset()):
            continue
        response = c.get(_dummy_url(app, rule))
        assert response.status_code not in (401, 403), (role, rule.rule, response.status_code)
