"""Return-to parameters send a browser only to a path of this site, and never cause a 500.

Each hostile value is given as it would stand in the query string (percent-encoded as an
attacker writes it); the request's own decoding then applies once, as in a browser.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from common.redirects import MAX_LENGTH, is_local_path
from tests.conftest import TEST_PASSWORD

#: raw query-string values of ``next`` that must not be followed
HOSTILE = [
    "/%09/evil.example/phish",  # tab: browsers drop it and read //evil.example
    "/%0A/evil.example/phish",  # newline: was a 500 (header injection refused late)
    "/%0D%0ASet-Cookie:%20x=1",
    "/%00/evil.example",
    "/%7F/evil.example",
    "//evil.example/phish",
    "///evil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",  # /\evil.example: browsers read \ as /
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "/%2F/evil.example",  # decoded once more by a proxy: //evil.example
    "/%252F/evil.example",  # double-encoded
    "/%25252F/evil.example",  # triple-encoded
    "/%255C/evil.example",
    "/%25%30%41/evil.example",  # %0A spelt with encoded digits
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example/phish",
    "%20//evil.example",  # leading space
    "/%20/evil.example",
    "/%E3%80%80/evil.example",  # ideographic space
    "%E3%80%80//evil.example",
    "/%EF%BC%8F/evil.example",  # fullwidth solidus
    "/%E2%80%AE/evil.example",  # right-to-left override
    "/%C2%A0/evil.example",  # no-break space
    "/a%252F%252F/evil",  # an empty segment once decoded
    "/" + "a" * (MAX_LENGTH + 10),
    "",
]

#: values a sign-in must honour (as Flask-Login writes them, or plain paths)
LOCAL = [
    "/admin/audit",
    "/admin/audit?from=2026-01-01",
    "/pia/?q=%E5%85%AC%E9%96%8B%20%E4%BA%8B%E5%8B%99",  # Japanese and a space, encoded
    "/pia/?q=%E4%BD%8F%E6%B0%91%E3%80%80%E5%9F%BA%E6%9C%AC",  # an ideographic space in a query
    "/pia/assessments/3#section-2",
    "/admin/audit?actor=田中%20太郎",  # as Flask-Login writes it (an IRI)
]


CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


@pytest.mark.parametrize("raw", HOSTILE, ids=lambda raw: raw[:40])
def test_hostile_next_after_sign_in_goes_home(app, client, make_user, raw):
    user = make_user("officer")
    response = client.post(f"/login?next={raw}", data={"username": user.username, "password": TEST_PASSWORD})
    # a control character in the query string is refused before any view (400, common.params);
    # everything else signs in and goes home
    if response.status_code == 400:
        assert any(ch in unquote(raw) for ch in CONTROL), raw
        return
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # signed in already: /login sends the browser on, by the same rule
    again = client.get(f"/login?next={raw}")
    assert again.status_code == 302 and again.headers["Location"] == "/"


@pytest.mark.parametrize("raw", LOCAL)
def test_local_next_is_followed(app, client, make_user, raw):
    user = make_user("officer")
    response = client.post(
        "/login", query_string={"next": raw}, data={"username": user.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    assert unquote(response.headers["Location"]) == unquote(raw)  # an IRI is sent as its URI


def test_next_written_by_the_login_page_round_trips(app, client, make_user):
    """A signed-out officer opening a filtered page comes back to it after signing in."""
    user = make_user("officer")
    wanted = "/admin/audit?actor=%E7%94%B0%E4%B8%AD%20%E5%A4%AA%E9%83%8E&from=2026-01-01"
    to_login = client.get(wanted)
    assert to_login.status_code == 302
    response = client.post(to_login.headers["Location"], data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == wanted


CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


@pytest.mark.parametrize("raw", HOSTILE, ids=lambda raw: raw[:40])
def test_is_local_path_refuses(raw):
    assert not is_local_path(unquote(raw))  # as the request decodes it


@pytest.mark.parametrize("raw", LOCAL)
def test_is_local_path_accepts(raw):
    assert is_local_path(raw)


def test_is_local_path_stays_under_the_script_root():
    assert is_local_path("/hyoka/admin/audit", script_root="/hyoka")
    assert not is_local_path("/other/app", script_root="/hyoka")
    assert not is_local_path("/hyokaevil/", script_root="/hyoka")
