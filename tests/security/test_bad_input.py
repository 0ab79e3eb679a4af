"""Bad input in the URL never ends in a 5xx: ids beyond what a database integer holds,
negative or zero ids, NUL and other control characters, huge numbers in query parameters.

The first test substitutes bad ids into every route of the url map (every method); the
second crawls the demo as every role and the public portal, and sends each page again with
hostile query parameters.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import NotFound
from werkzeug.routing.converters import NumberConverter

from common import demo
from common.db import db
from common.models import ROLES
from tests.security.crawler import crawl

IGNORED_METHODS = {"HEAD", "OPTIONS"}
BAD_IDS = ["2147483648", "9999999999999999999999", "-1", "0"]
#: every query parameter a page of Hyoka reads
QUERY_PARAMETERS = [
    "q",
    "page",
    "department",
    "status",
    "a",
    "b",
    "significant",
    "format",
    "from",
    "to",
    "check",
    "system",
    "user",
    "state",
    "version_id",
    "next",
    "actor",
    "action",
    "object_type",
    "object_id",
    "kind",
]
BAD_VALUES = ["9999999999999999999999", "2147483648", "-1", "0", "9999-12-31", "x" * 5000, "１２３", "%"]
CONTROL_VALUES = ["\x00", "a\x00b", "\x01", "\x1f", "\x7f", "a\nb"]


def _rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            yield rule


def _path(rule, value: str) -> str:
    """The rule's path with every number argument ``value`` and every other argument "x"."""

    def sub(match):
        converter = rule._converters[match.group(2)]
        return value if isinstance(converter, NumberConverter) else "x"

    return re.sub(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>", sub, rule.rule)


def _request(client, method, url, errors):
    try:
        response = client.open(url, method=method)
    except Exception as exc:  # noqa: BLE001 — TESTING propagates a view's exception: that is a 500
        errors.append(f"{method} {url[:150]!r} → {exc!r}"[:300])
        return None
    if response.status_code >= 500:
        errors.append(f"{method} {url[:150]!r} → {response.status_code}")
    return response


def test_ids_out_of_range_are_404_on_every_route(app, make_user, login):
    client = login(make_user(*ROLES))
    errors, wrong, checked = [], [], 0
    for rule in _rules(app):
        if not any(isinstance(c, NumberConverter) for c in rule._converters.values()):
            continue
        for method in sorted(rule.methods - IGNORED_METHODS):
            for bad in BAD_IDS:
                url = _path(rule, bad)
                response = _request(client, method, url, errors)
                checked += 1
                if response is not None and response.status_code != 404:
                    wrong.append(f"{method} {url} → {response.status_code}")
    assert checked >= 36 * len(BAD_IDS)
    assert not errors, "\n".join(errors[:20])
    assert not wrong, "\n".join(wrong[:20])


def test_the_id_converter_still_matches_every_id_a_column_holds(app):
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/public/assessments/2147483647") == ("public.assessment", {"assessment_id": 2147483647})
    assert adapter.match("/public/assessments/1")[1] == {"assessment_id": 1}
    for bad in BAD_IDS + ["01x", "1.5"]:
        with pytest.raises(NotFound):
            adapter.match(f"/public/assessments/{bad}")


@pytest.fixture
def demo_app(app):
    demo.load(evidence=False)
    return app


def _client_for(app, username):
    c = app.test_client()
    assert c.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD}).status_code == 302
    return c


def _one_page_per_endpoint(app, urls):
    """One crawled path (without its query) for every GET endpoint reached."""
    adapter = app.url_map.bind("localhost")
    pages = {}
    for url in sorted(urls):
        path = urlsplit(url).path
        try:
            endpoint, _ = adapter.match(path, method="GET")
        except Exception:  # noqa: BLE001 — a redirect or a 404 the crawl followed
            continue
        pages.setdefault(endpoint, path)
    return pages


def test_hostile_query_parameters_never_end_in_5xx(demo_app):
    sessions = [("anonymous", demo_app.test_client(), ["/public/", "/login"])] + [
        (username, _client_for(demo_app, username), ["/"])
        for username in ("officer", "editor", "reviewer", "auditor", "admin")
    ]
    errors, not_refused, endpoints = [], [], set()
    for name, client, starts in sessions:
        seen, _, _, crawl_errors = crawl(client, starts, max_pages=100)
        errors += crawl_errors
        pages = {e: p for e, p in _one_page_per_endpoint(demo_app, seen).items() if e not in endpoints}
        endpoints |= set(pages)
        for path in pages.values():
            for value in BAD_VALUES:
                _request(client, "GET", f"{path}?{urlencode({k: value for k in QUERY_PARAMETERS})}", errors)
            for key in QUERY_PARAMETERS:
                _request(client, "GET", f"{path}?{urlencode({key: BAD_VALUES[0]})}", errors)
            for value in CONTROL_VALUES:
                response = _request(client, "GET", f"{path}?{urlencode({'q': value, 'page': '1'})}", errors)
                if response is not None and response.status_code != 400:
                    not_refused.append(f"{name}: {path}?q={value!r} → {response.status_code}")
            # also in a parameter's name, and in the path itself
            for url in (f"{path}?a%00=1", f"{path.rstrip('/')}/%00"):
                response = _request(client, "GET", url, errors)
                if response is not None and response.status_code != 400:
                    not_refused.append(f"{name}: {url} → {response.status_code}")
        db.session.rollback()
    assert len(endpoints) >= 30, sorted(endpoints)
    assert not errors, "\n".join(errors[:30])
    assert not not_refused, "\n".join(not_refused[:30])


def test_the_error_page_survives_a_failed_transaction(app_with_broken_route):
    app, client = app_with_broken_route
    response = client.get("/__broken")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    # the whole page (its header reads the database again), not only the plain fallback
    assert "システムでエラーが発生しました" in text and "特定個人情報保護評価システム" in text
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def app_with_broken_route(app):
    """A route whose statement fails and leaves the transaction aborted (on PostgreSQL)."""
    from common.auth import public

    @public
    def broken():
        db.session.execute(sa.text("SELECT * FROM no_such_table"))
        return "unreachable"

    app.add_url_rule("/__broken", "broken", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app, app.test_client()
