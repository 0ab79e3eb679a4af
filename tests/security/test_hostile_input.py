"""Hostile input everywhere: every form a user can reach is filled with XSS payloads and
個人番号 text in every separator shape; no page may then carry markup that runs script, no
request may fail with a 5xx, the fields that need no 個人番号 refuse it, and no valid
個人番号 may be stored in any column of any table or written to the log (the detector of
common/mynumber.py decides)."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from common import demo
from common.db import db
from common.models import User
from common.mynumber import find_in_structure, find_my_numbers
from common.mynumber_guard import is_opaque
from tests.security.crawler import MY_NUMBER_TEXTS, PAYLOADS, Tally, crawl

ROLES_TO_FUZZ = ["officer", "editor", "reviewer", "auditor", "admin"]


@pytest.fixture
def demo_app(app):
    demo.load(evidence=False)
    return app


def _client_for(app, username):
    c = app.test_client()
    response = c.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD})
    assert response.status_code == 302
    return c


def test_payload_corpus_is_large_enough():
    assert len(PAYLOADS) >= 50
    # every 個人番号 payload is one to the detector, in each separator shape
    assert all(find_my_numbers(text) for text in MY_NUMBER_TEXTS)
    for separator in ("  ", "\t", "\n", "－", "・", "ー", "−", "–", ".", "個人番号:"):
        assert any(separator in text for text in MY_NUMBER_TEXTS), separator


def test_hostile_input_everywhere(demo_app, caplog):
    caplog.set_level(logging.INFO)
    all_problems, all_errors, total_forms = [], [], 0
    tally = Tally()
    for offset, username in enumerate(ROLES_TO_FUZZ):
        client = _client_for(demo_app, username)
        # the staff sections as well as the dashboard, so that the budget of pages reaches each
        starts = ["/", "/reviews", "/consultations", "/inventory"]
        _, _, submitted, errors = crawl(client, starts, submit_forms=True, payload_offset=offset * 7, tally=tally)
        total_forms += submitted
        all_errors += errors
    # after the fuzzing: every page every role can reach, and the public portal
    for username in ROLES_TO_FUZZ:
        seen, problems, _, errors = crawl(_client_for(demo_app, username), ["/"], max_pages=250)
        all_problems += problems
        all_errors += errors
    seen, problems, _, errors = crawl(demo_app.test_client(), ["/public/", "/login"], max_pages=150)
    all_problems += problems
    all_errors += errors
    assert total_forms >= 5, "the crawler found almost no forms: is the demo loaded?"
    assert not all_errors, "\n".join(all_errors[:20])
    assert not all_problems, "\n".join(sorted(set(all_problems))[:30])
    # the fields that need no 個人番号 refused it (the form shown again with the error)
    refused = " ".join(sorted(tally.refused_forms))
    # (the demo is loaded without evidence: there is no finding to triage)
    for where in ("/admin/users/new", "/inventory/systems/new", "/reviews/", "/consultations/"):
        assert where in refused, f"no form under {where} refused a 個人番号: {refused}"

    # no valid 個人番号 anywhere in the database: every column of every table …
    found = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            # digests and password hashes are opaque: 12 of their digits may pass the check digit by chance
            columns = [c for c in table.columns if not is_opaque(c)]
            for row in conn.execute(sa.select(*columns)):
                for col, value in zip(columns, row):
                    if (
                        value is not None
                        and next(
                            find_in_structure(
                                value if isinstance(value, (str, int, float, dict, list)) else str(value)
                            ),
                            None,
                        )
                        is not None
                    ):
                        found.append(f"{table.name}.{col.name}")
    assert not found, f"個人番号 stored in: {sorted(set(found))}"
    # … nor in the application log
    assert not find_my_numbers(caplog.text)
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() >= 6
