"""The JSON API keeps its contract: schemathesis generates requests from /api/v1/openapi.json
and checks that no response is a server error and every response matches the spec."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks

from common import demo
from common.auth import issue_token
from common.db import db
from common.models import User

CONTRACT_CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]


@pytest.fixture
def api_setup(app):
    """Demo data (without evidence) and two tokens: an officer's and the JUKI system's."""
    demo.load(evidence=False)
    officer = db.session.execute(db.select(User).filter_by(username="officer")).scalar_one()
    _, user_token = issue_token("契約試験", user=officer)
    _, feed_token = issue_token("契約試験フィード", system_code="JUKI")
    db.session.commit()
    return {"user": user_token, "feed": feed_token}


@pytest.fixture
def api_schema(app, client, api_setup):
    # the spec as the app serves it, called in-process through WSGI
    loaded = schemathesis.openapi.from_dict(client.get("/api/v1/openapi.json").get_json())
    loaded.app = app
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_contract(case, api_setup):
    token = api_setup["feed"] if case.path.startswith("/api/v1/feeds") else api_setup["user"]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CONTRACT_CHECKS)
    db.session.rollback()


def test_openapi_document_is_valid_openapi(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
