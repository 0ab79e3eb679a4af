"""Hostile input everywhere: every form a user can reach is filled with XSS payloads and
個人番号 text; no page may then carry markup that runs script, no request may fail with a
5xx, and no valid 個人番号 may be stored in any table or written to the log."""
from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from common import demo
from common.db import db
from common.models import User
from common.mynumber import find_my_numbers
from common.mynumber_guard import is_opaque
from tests.security.crawler import PAYLOADS, crawl

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


def test_hostile_input_everywhere(demo_app, caplog):
    caplog.set_level(logging.INFO)
    all_problems, all_errors, total_forms = [], [], 0
    for offset, username in enumerate(ROLES_TO_FUZZ):
        client = _client_for(demo_app, username)
        _, _, submitted, errors = crawl(client, ["/"], submit_forms=True, payload_offset=offset * 7)
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

    # no valid 個人番号 anywhere in the database …
    found = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            # digests and password hashes are opaque: 12 of their digits may pass the check digit by chance
            text_cols = [c for c in table.columns if not is_opaque(c) and (
                isinstance(c.type, (sa.String, sa.Text, sa.JSON))
                or "JSON" in type(c.type).__name__.upper() or type(c.type).__name__ == "TypeDecorator")]
            if not text_cols:
                continue
            for row in conn.execute(sa.select(*text_cols)):
                for col, value in zip(text_cols, row):
                    if value is not None and find_my_numbers(str(value)):
                        found.append(f"{table.name}.{col.name}")
    assert not found, f"個人番号 stored in: {sorted(set(found))}"
    # … nor in the application log
    assert not find_my_numbers(caplog.text)
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() >= 6
