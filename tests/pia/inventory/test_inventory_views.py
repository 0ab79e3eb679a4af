"""Inventory pages: who may change what, forms keep input, the draft selection page, drift panel."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from flask import g

from common.db import db
from pia.inventory import services
from pia.inventory.models import System


def _client(as_role, role, departments=("住民情報課",)):
    g.pop("_login_user", None)
    client = as_role(role, departments=list(departments))
    g.pop("_login_user", None)
    return client


SYSTEM = {
    "code": "ZEIMU",
    "name": "市民税システム",
    "abbreviation": "",
    "kind": "city",
    "hosting": "onprem",
    "status": "active",
    "owner_department": "0",
    "cloud_provider": "",
    "ismap": "",
    "ismap_number": "",
    "description": "",
    "numbering": "dot",
    "functions": "1. 課税\n個人住民税の賦課\n\n照会",
    "notes": "",
}


def test_officer_registers_a_system_and_sees_it_with_its_diagram(as_role):
    officer = _client(as_role, "officer")
    response = officer.post("/inventory/systems/new", data=SYSTEM)
    assert response.status_code == 302
    system = db.session.execute(sa.select(System).filter_by(code="ZEIMU")).scalar_one()
    assert system.functions == [
        {"title": "課税", "description": "個人住民税の賦課"},
        {"title": "照会", "description": ""},
    ]
    assert system.revision == 1
    page = officer.get(f"/inventory/systems/{system.id}")
    assert page.status_code == 200 and "<svg" in page.text and "市民税システム" in page.text
    # no script in the diagram: the only scripts are the site's own files (static/js)
    assert not re.search(r'<script(?! src="/static/js/[a-z]+\.js" defer></script>)', page.text)


def test_rejected_form_keeps_input(as_role):
    officer = _client(as_role, "officer")
    response = officer.post("/inventory/systems/new", data={**SYSTEM, "code": "zeimu", "hosting": "gov_cloud"})
    assert response.status_code == 400
    assert 'value="市民税システム"' in response.text
    assert "英大文字で始まる" in response.text and "クラウド事業者" in response.text


@pytest.mark.parametrize("role", ["editor", "auditor"])
def test_readers_cannot_change_the_inventory(as_role, role):
    client = _client(as_role, role)
    assert client.get("/inventory").status_code == 200
    assert client.post("/inventory/systems/new", data=SYSTEM).status_code == 403
    assert client.post("/inventory/import").status_code == 403


def test_import_page_shows_line_errors(as_role, count_rows):
    officer = _client(as_role, "officer")
    csv = "種別,コード,名称,区分\nシステム,OK,よい,市のシステム\nシステム,BAD,,宇宙\n"
    response = officer.post(
        "/inventory/import", data={"file": (io.BytesIO(csv.encode()), "inv.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "取り込めませんでした" in response.text and "宇宙" in response.text
    assert count_rows(System) == 0


def test_editor_fills_own_draft_but_not_another_departments(as_role, make_assessment):
    assessment = make_assessment(published=False)
    version = assessment.versions[0]
    db.session.add(System(code="JUKI", name="住民記録システム"))
    db.session.commit()
    system = db.session.execute(sa.select(System)).scalar_one()
    other = _client(as_role, "editor", departments=("市民税課",))
    assert other.post(f"/versions/{version.id}/inventory", data={"systems": [str(system.id)]}).status_code == 403
    own = _client(as_role, "editor")
    page = own.get(f"/versions/{version.id}/inventory")
    assert page.status_code == 200 and "住民記録システム" in page.text
    response = own.post(f"/versions/{version.id}/inventory", data={"systems": [str(system.id)]})
    assert response.status_code == 302
    db.session.refresh(version)
    assert [s["name"] for s in version.document["basic"]["systems"]] == ["住民記録システム"]


def test_assessment_page_shows_drift_and_starts_a_draft(as_role, make_assessment):
    assessment = make_assessment(published=True)
    system = System(code="JUKI", name="住民記録・印鑑オンラインシステム", abbreviation="既存住基システム")
    db.session.add(system)
    db.session.flush()
    services.snapshot_version(assessment.current_version)
    system.description = "標準準拠システムに移行した。"
    services.save_system(system, actor="test")
    db.session.commit()
    officer = _client(as_role, "officer")
    page = officer.get(f"/assessments/{assessment.id}")
    assert "台帳と不一致" in page.text and "標準準拠システムに移行した。" in page.text
    # a system's functions carry no ※ (001): reflecting them is an 評価書の修正
    assert "<strong>評価書の修正</strong>になります。" in page.text
    response = officer.post(f"/assessments/{assessment.id}/inventory-drift/draft")
    assert response.status_code == 302
    db.session.refresh(assessment)
    draft = assessment.open_version
    assert draft is not None and draft.document["basic"]["systems"][0]["functions"].startswith(
        "標準準拠システムに移行した。"
    )
