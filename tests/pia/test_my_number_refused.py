"""Assessment items, the inventory (forms, CSV and YAML), the assessment import, review
findings and minutes refuse a 個人番号 with an error on the field or line; nothing is
masked silently by the database guard."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa
from flask import g

from common.db import db
from common.mynumber import REFUSED
from pia.assessments import services
from pia.inventory import importer as inventory_import
from pia.inventory.models import System

NUMBER = "5371  6430\t7917"  # two spaces and a tab between the groups
WIDE = "５３７１－６４３０－７９１７"


def test_an_assessment_item_with_a_number_is_refused_not_masked(app, make_assessment):
    draft = make_assessment("juki", draft=True).versions[-1]
    revision = draft.revision
    with pytest.raises(services.ValidationFailed) as info:
        services.update_section(
            draft, "basic", {"other_bodies": f"照会先 {NUMBER}"}, actor=None, expected_revision=revision
        )
    assert [(e.path, e.message) for e in info.value.errors] == [("basic/other_bodies", REFUSED)]
    db.session.expire_all()
    assert draft.revision == revision and NUMBER not in str(draft.document)
    assert "［個人番号］" not in str(draft.document)


def test_the_section_editor_shows_the_refusal_on_the_item(app, make_assessment, as_role):
    draft = make_assessment("juki", draft=True).versions[-1]
    officer = as_role("officer")
    page = officer.get(f"/versions/{draft.id}/sections/basic")
    assert page.status_code == 200
    response = officer.post(
        f"/versions/{draft.id}/sections/basic", data={"revision": str(draft.revision), "other_bodies": f"照会先 {WIDE}"}
    )
    assert response.status_code in (200, 400, 409)
    assert REFUSED in response.text
    db.session.expire_all()
    assert WIDE not in str(draft.document) and "［個人番号］" not in str(draft.document)


def test_assessment_import_refuses_a_number_anywhere(app, make_assessment):
    from pia.assessments import exchange

    exported = exchange.export_assessment(make_assessment("juki"))
    data = copy.deepcopy(exported)
    data["versions"][0]["note"] = f"メモ {NUMBER}"
    with pytest.raises(exchange.ImportError_) as info:
        exchange.import_assessment(data, actor=None, affair_code="juki-copy")
    assert "個人番号" in str(info.value) and "versions[0].note" in str(info.value)


@pytest.mark.parametrize("fmt", ["csv", "yaml"])
def test_inventory_import_refuses_a_number_naming_line_and_field(app, fmt):
    if fmt == "csv":
        text = (
            "種別,コード,名称,説明,機能名\n"
            "システム,OK,よいシステム,,\n"
            f'システム,BAD,"住記 {NUMBER}",説明 {WIDE},\n'
            f'機能,BAD,,,"照会 {NUMBER}"\n'
        )
        lines = {3, 4}
    else:
        text = (
            "systems:\n"
            "  - code: OK\n    name: よいシステム\n"
            f'  - code: BAD\n    name: "住記 {NUMBER}"\n    description: 説明 {WIDE}\n'
            f'    functions:\n      - title: "照会 {NUMBER}"\n'
        )
        lines = {4, 8}
    with pytest.raises(inventory_import.ImportFailed) as info:
        inventory_import.import_file(text.encode(), f"inv.{fmt}", actor=None)
    refusals = [e for e in info.value.errors if REFUSED in e.message]
    assert {e.line for e in refusals} == lines
    assert any("「名称」" in e.message for e in refusals) and any("「説明」" in e.message for e in refusals)
    assert any("「機能名」" in e.message for e in refusals)
    assert all("5371" not in e.message and "５３７１" not in e.message for e in info.value.errors)
    assert db.session.execute(sa.select(sa.func.count()).select_from(System)).scalar_one() == 0


def _officer(as_role):
    g.pop("_login_user", None)
    client = as_role("officer", departments=["住民情報課"])
    g.pop("_login_user", None)
    return client


def test_inventory_form_refuses_a_number_and_keeps_the_rest(app, as_role):
    officer = _officer(as_role)
    response = officer.post(
        "/inventory/systems/new",
        data={
            "code": "ZEIMU",
            "name": f"市民税システム {NUMBER}",
            "abbreviation": "",
            "kind": "city",
            "hosting": "onprem",
            "status": "active",
            "owner_department": "0",
            "cloud_provider": "",
            "ismap": "",
            "ismap_number": "",
            "description": "課税の説明",
            "numbering": "dot",
            "functions": "1. 課税",
            "notes": "",
        },
    )
    assert response.status_code == 400
    assert REFUSED in response.text and "課税の説明" in response.text
    assert db.session.execute(sa.select(sa.func.count()).select_from(System)).scalar_one() == 0


def test_review_minutes_with_a_number_in_their_text_are_refused(app, make_assessment):
    from datetime import date

    from common.publish import render_pdf
    from common.uploads import UploadRejected
    from pia.review import services as review_services
    from pia.review.models import ReviewBody, ReviewSession

    version = make_assessment("juki").versions[0]
    body = ReviewBody(name="審議会", kind="council", members=[])
    session = ReviewSession(version=version, body=body, held_on=date(2026, 1, 20), method="書面")
    db.session.add_all([body, session])
    db.session.flush()
    with app.test_request_context():
        pdf = render_pdf(f"<p>議事録 {NUMBER}</p>", stylesheets=())
        clean = render_pdf("<p>議事録</p>", stylesheets=())
    with pytest.raises(UploadRejected) as info:
        review_services.attach_minutes(session, "議事録.pdf", pdf, actor=None)
    assert "個人番号" in info.value.message and session.minutes_file is None
    with pytest.raises(UploadRejected):
        review_services.attach_minutes(session, "議事録5371-6430-7917.pdf", clean, actor=None)
    review_services.attach_minutes(session, "議事録.pdf", clean, actor=None)
    assert session.minutes_name == "議事録.pdf"
