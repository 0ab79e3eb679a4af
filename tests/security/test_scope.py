"""Role and department scope on every GET route of the url map.

住民情報課 holds an assessment with a published 第1版 and a draft 第2版, an action plan
made from the draft, a しきい値判断, and a second assessment that has only a draft. Each
role then requests every GET route with the real ids of those records: a 市民税課 editor, a
reviewer (第三者点検) and an anonymous visitor must get 403/404, or a page without any of the
draft-derived texts. Officers and 住民情報課's own editor see them (the control that the
texts are reachable at all).
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import pytest
from flask import url_for

from common.db import db
from pia.assessments import services
from pia.assessments.models import ActionItem

DRAFT_TEXT = "下書きにだけある記載甲乙丙"
ACTION_TEXT = "下書きから生まれた行動計画丁戊"
THRESHOLD_TEXT = "しきい値判断の内部メモ己庚"
DRAFT_ONLY_TITLE = "下書きしかない評価書辛壬"
SECRETS = (DRAFT_TEXT, ACTION_TEXT, THRESHOLD_TEXT, DRAFT_ONLY_TITLE)
#: a search for part of the draft's text (the page repeats the query, not the whole text)
SEARCH = "記載甲乙丙"
#: query strings that widen a list to everything it can show
QUERIES = {
    "assessments.actions": {"status": "all"},
    "assessments.search_page": {"q": SEARCH},
    "public.search": {"q": SEARCH},
}


@pytest.fixture(autouse=True)
def fresh_user_per_request(app):
    from flask import g

    @app.before_request
    def _forget_user():
        g.pop("_login_user", None)


@pytest.fixture
def other_department(make_assessment):
    """住民情報課's records, and the ids to put into every route."""
    juki = make_assessment("juki", draft=True)
    draft = juki.versions[-1]
    services.update_section(draft, "basic", {"other_bodies": DRAFT_TEXT}, actor=None)
    action = ActionItem(
        assessment=juki,
        path="risks/x",
        label="リスク対策",
        version_id=draft.id,
        what=ACTION_TEXT,
        owner="住民情報課",
        status="open",
    )
    db.session.add(action)
    services.record_threshold(
        juki.affair,
        actor=None,
        determined_on=date(2026, 4, 1),
        target_count=1_900_000,
        handlers=600,
        serious_incident=False,
        note=THRESHOLD_TEXT,
    )
    draft_only = make_assessment("juki-new", published=False, name=DRAFT_ONLY_TITLE)
    draft_only.title = DRAFT_ONLY_TITLE
    db.session.commit()
    ids = {
        "assessment_id": juki.id,
        "version_id": draft.id,
        "number": draft.number,
        "affair_id": juki.affair.id,
        "action_id": action.id,
    }
    return {"ids": ids, "juki": juki, "draft": draft, "draft_only": draft_only}


def _get_urls(app, ids):
    """Every GET route with the other department's ids (1 for arguments naming other records)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {}
        for arg in rule.arguments:
            values[arg] = (
                ids.get(arg, 1)
                if arg.endswith("_id") or arg == "number"
                else ("basic" if arg == "section_key" else "x")
            )
        with app.test_request_context():
            urls.append((rule.endpoint, url_for(rule.endpoint, **values, **QUERIES.get(rule.endpoint, {}))))
    # the same pages for the assessment that has only a draft
    for endpoint in ("assessments.assessment", "assessments.compare", "assessments.affair_threshold"):
        key = "affair_id" if endpoint == "assessments.affair_threshold" else "assessment_id"
        with app.test_request_context():
            urls.append((endpoint, url_for(endpoint, **{key: ids[f"draft_only_{key}"]})))
    return urls


def _leaks(response, draft_id) -> list[str]:
    if response.status_code in (401, 403, 404) or 300 <= response.status_code < 400:
        return []
    if response.mimetype == "application/pdf":
        return ["a PDF"]  # only published versions may come as PDF to these users: none is asked for here
    if response.mimetype.startswith("application/vnd.openxmlformats"):
        # Word and Excel files: the text is in the zipped XML parts
        with zipfile.ZipFile(io.BytesIO(response.get_data())) as office:
            body = " ".join(
                _text(office.read(name).decode("utf-8")) for name in office.namelist() if name.endswith(".xml")
            )
        return [text for text in SECRETS if text in body]
    body = _text(response.get_data(as_text=True))
    return [text for text in SECRETS if text in body]


def _text(html: str) -> str:
    """The page's text (a search snippet marks the match: the text is split by tags)."""
    return re.sub(r"<[^>]+>", "", html)


@pytest.mark.parametrize("who", ["editor-of-another-department", "reviewer", "anonymous"])
def test_no_route_shows_another_departments_draft_derived_data(app, other_department, as_role, who):
    ids = dict(
        other_department["ids"],
        draft_only_assessment_id=other_department["draft_only"].id,
        draft_only_affair_id=other_department["draft_only"].affair.id,
    )
    client = {
        "editor-of-another-department": lambda: as_role("editor", departments=["市民税課"]),
        "reviewer": lambda: as_role("reviewer"),
        "anonymous": app.test_client,
    }[who]()
    leaks, server_errors, checked = [], [], 0
    for endpoint, url in _get_urls(app, ids):
        response = client.get(url)
        checked += 1
        if response.status_code >= 500 and response.status_code != 503:  # 503: the diagram without systems
            server_errors.append(f"{url} → {response.status_code}")
        found = _leaks(response, ids["version_id"])
        if found:
            leaks.append(f"{endpoint} {url} ({response.status_code}): {found}")
    assert checked >= 60
    assert not server_errors, server_errors
    assert not leaks, "\n".join(leaks)


def test_the_owners_see_what_the_others_must_not(app, other_department, as_role):
    """The control: the texts are there for officers and the department's own editor."""
    ids = other_department["ids"]
    draft_only = other_department["draft_only"]
    for client in (as_role("officer"), as_role("editor", departments=["住民情報課"])):
        assert DRAFT_TEXT in client.get(f"/versions/{ids['version_id']}").text
        assert DRAFT_TEXT in _text(client.get(f"/search?q={SEARCH}").text)
        assert ACTION_TEXT in client.get("/actions?status=all").text
        assert ACTION_TEXT in client.get(f"/assessments/{ids['assessment_id']}").text
        assert THRESHOLD_TEXT in client.get(f"/affairs/{ids['affair_id']}/threshold").text
        assert DRAFT_ONLY_TITLE in client.get("/assessments").text
        assert DRAFT_ONLY_TITLE in client.get("/deadlines").text
        assert any(a["title"] == DRAFT_ONLY_TITLE for a in client.get("/api/v1/assessments").json["items"])
        assert client.get(f"/api/v1/assessments/{draft_only.id}").status_code == 200


def test_a_reviewer_reads_the_version_under_review_and_nothing_else(app, other_department, as_role):
    draft = other_department["draft"]
    draft.status = "review"
    db.session.commit()
    reviewer = as_role("reviewer")
    assert DRAFT_TEXT in reviewer.get(f"/reviews/versions/{draft.id}").text
    assert DRAFT_TEXT in reviewer.get(f"/versions/{draft.id}").text
    published = other_department["juki"].versions[0]
    for url in (
        f"/versions/{published.id}",
        "/assessments",
        f"/assessments/{draft.assessment_id}",
        "/deadlines",
        "/actions",
        f"/affairs/{other_department['ids']['affair_id']}/threshold",
        "/search?q=住民",
        f"/assessments/{draft.assessment_id}/compare",
    ):
        assert reviewer.get(url).status_code == 403, url
