"""Fixtures of the evidence tests: a registered system and a quick importer."""
from __future__ import annotations

import io

import pytest

from common.db import db


@pytest.fixture
def juki(app, department):
    """System JUKI, usable by 中央区戸籍住民課."""
    from pia.models import System

    system = System(code="JUKI", name="既存住基システム")
    system.authorised_departments = [department("中央区戸籍住民課")]
    db.session.add(system)
    db.session.commit()
    return system


@pytest.fixture
def feed(app, juki):
    """``feed(kind, text, **kw)`` imports CSV/JSONL text through the import service."""
    from common import audit
    from evidence.ingest import import_feed

    def do(kind, text, filename=None, **kw):
        with audit.acting_as("test"):
            return import_feed(kind, io.BytesIO(text.encode("utf-8")), source=f"test:{kind}",
                               filename=filename or f"{kind}.csv", **kw)

    return do


ACCESS_HEADER = "event_id,occurred_at,system,user_id,action,subject_id,terminal,result,purpose\n"


def access_csv(*rows: str) -> str:
    return ACCESS_HEADER + "".join(r + "\n" for r in rows)
