"""Assessment pages: department scoping (IDOR), editing, conflicts, workflow, search, API."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from pia import procedure
from pia.assessments import search, services
from pia.assessments.models import ActionItem, Assessment, AssessmentVersion


@pytest.fixture(autouse=True)
def fresh_user_per_request(app):
    """The test app context lives across requests, and Flask-Login caches the user in ``g``:
    forget it before each request so that two clients in one test are two users."""
    from flask import g

    @app.before_request
    def _forget_user():
        g.pop("_login_user", None)


@pytest.fixture
def juki(make_assessment):
    """住民情報課's assessment: 第1版 published, 第2版 a draft with the 重要な変更."""
    return make_assessment("juki", draft=True)


def _draft(assessment):
    return assessment.versions[-1]


# --------------------------------------------------------------------------- scoping


def test_other_departments_editor_cannot_read_or_change_a_draft(juki, as_role):
    draft = _draft(juki)
    published = juki.versions[0]
    c = as_role("editor", departments=["市民税課"])
    assert c.get(f"/versions/{published.id}").status_code == 200
    assert c.get(f"/versions/{draft.id}").status_code == 403
    assert c.get(f"/versions/{draft.id}/sections/basic").status_code == 403
    before = dict(draft.document["basic"])
    for url, data in [
        (f"/versions/{draft.id}/sections/basic", {"revision": str(draft.revision), "other_bodies": "改ざん"}),
        (f"/versions/{draft.id}/sections/basic/resolve", {"revision": str(draft.revision), "other_bodies": "改ざん"}),
        (f"/versions/{draft.id}/changes", {}),
        (f"/versions/{draft.id}/delete", {}),
        (f"/versions/{published.id}/restore", {}),
        (f"/assessments/{juki.id}/versions", {}),
        (f"/assessments/{juki.id}/annual-reviews", {"reviewed_on": "2026-01-01", "result": "no_change"}),
        (f"/versions/{draft.id}/transition/submit", {"on": "2026-01-01"}),
    ]:
        assert c.post(url, data=data).status_code == 403, url
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).document["basic"] == before
    assert len(db.session.get(Assessment, juki.id).versions) == 2
    # the compare page and the search do not leak the draft either
    page = c.get(f"/assessments/{juki.id}/compare?a=1&b=2")
    assert page.status_code in (200, 302) and "住民記録システム標準仕様書" not in page.text
    assert "第2版" not in c.get("/search?q=住民記録システム標準仕様書").text.split("見つかりました")[-1]
    # nor the API
    assert c.get(f"/api/v1/assessments/{juki.id}/versions/2").status_code == 404
    numbers = [v["number"] for v in c.get(f"/api/v1/assessments/{juki.id}").json["versions"]]
    assert numbers == [1]


def test_action_of_another_department_cannot_be_edited(juki, as_role):
    action = ActionItem(assessment=juki, path="x/y", label="項目", what="元の内容", owner="担当", status="open")
    db.session.add(action)
    db.session.commit()
    c = as_role("editor", departments=["市民税課"])
    response = c.post(
        f"/actions/{action.id}", data={"what": "書換え", "owner": "x", "due_on": "2026-01-01", "status": "done"}
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(ActionItem, action.id).what == "元の内容"


def test_own_department_editor_edits_but_does_not_run_the_workflow(juki, as_role):
    draft = _draft(juki)
    c = as_role("editor", departments=["住民情報課"])
    response = c.post(
        f"/versions/{draft.id}/sections/basic",
        data={"revision": str(draft.revision), "other_bodies": "他の評価実施機関はない。"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).document["basic"]["other_bodies"] == "他の評価実施機関はない。"
    assert c.post(f"/versions/{draft.id}/transition/submit", data={"on": "2026-01-01"}).status_code == 403


def test_reviewer_reads_versions_under_review_only(juki, as_role):
    """README: a reviewer sees the versions under review and their findings — nothing else
    (published versions are on the public portal)."""
    c = as_role("reviewer")
    assert c.get(f"/versions/{juki.versions[0].id}").status_code == 403
    assert c.get(f"/versions/{_draft(juki).id}").status_code == 403
    _draft(juki).status = "review"
    db.session.commit()
    page = c.get(f"/versions/{_draft(juki).id}")
    assert page.status_code == 200
    assert "/compare" not in page.text and f'href="/assessments/{juki.id}"' not in page.text


# --------------------------------------------------------------------------- editing


def test_section_form_is_generated_from_the_schema(juki, as_role):
    c = as_role("officer")
    page = c.get(f"/versions/{_draft(juki).id}/sections/basic").text
    assert 'name="affair-name"' in page and 'name="systems-0-connections"' in page
    assert 'name="network-basis-provision_items"' in page and "※" in page
    assert "30万人以上" in page  # the choice is selected from the document
    toc = c.get(f"/versions/{_draft(juki).id}").text
    assert "<progress" in toc and "目次" in toc


def test_rejected_save_keeps_what_was_typed(juki, as_role):
    draft = _draft(juki)
    c = as_role("officer")
    form = {
        "revision": str(draft.revision),
        "affair-name": "住民基本台帳に関する事務",
        "affair-description": "新しく書いた事務の内容",
        "affair-target_count": "存在しない選択肢",
        "network-basis-provision_items": "1、2、abc",
    }
    response = c.post(f"/versions/{draft.id}/sections/basic", data=form)
    assert response.status_code == 400
    assert "新しく書いた事務の内容" in response.text
    assert "選択肢にない値です" in response.text
    assert "1、2、abc" in response.text
    db.session.expire_all()
    assert "新しく書いた" not in db.session.get(AssessmentVersion, draft.id).document["basic"]["affair"]["description"]


def test_deleting_and_adding_group_entries(juki, as_role):
    draft = _draft(juki)
    c = as_role("officer")
    from pia.schema import load_schema, to_form_data

    count = len(draft.document["basic"]["pi_files"])
    data = to_form_data(load_schema("zenkoumoku"), "basic", draft.document["basic"])
    removed = data["pi_files-0-name"]
    data.update({"revision": str(draft.revision), "pi_files-0-_delete": "1", "pi_files-99-name": "新しいファイル"})
    response = c.post(f"/versions/{draft.id}/sections/basic", data=data)
    assert response.status_code == 302
    db.session.expire_all()
    names = [f["name"] for f in db.session.get(AssessmentVersion, draft.id).document["basic"]["pi_files"]]
    assert len(names) == count and names[-1] == "新しいファイル" and removed not in names


def test_second_saver_gets_a_conflict_page_and_chooses(juki, as_role):
    draft = _draft(juki)
    first, second = as_role("officer"), as_role("editor", departments=["住民情報課"])
    revision = str(draft.revision)
    assert (
        first.post(
            f"/versions/{draft.id}/sections/basic", data={"revision": revision, "other_bodies": "一人目が書いた記載"}
        ).status_code
        == 302
    )
    response = second.post(
        f"/versions/{draft.id}/sections/basic", data={"revision": revision, "other_bodies": "二人目が書いた記載"}
    )
    assert response.status_code == 409
    text = re.sub(r"<[^>]+>", "", response.text)
    assert "一人目が書いた記載" in text and "二人目が書いた記載" in text
    db.session.expire_all()
    saved = db.session.get(AssessmentVersion, draft.id)
    assert saved.document["basic"]["other_bodies"] == "一人目が書いた記載"
    # choosing the saved text keeps it; the revision on the conflict page is the current one
    response = second.post(
        f"/versions/{draft.id}/sections/basic/resolve",
        data={"revision": str(saved.revision), "other_bodies": "二人目が書いた記載", "choose-other_bodies": "theirs"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).document["basic"]["other_bodies"] == "一人目が書いた記載"
    # a stale resolve is a conflict again, and choosing "mine" with the fresh revision saves it
    stale = second.post(
        f"/versions/{draft.id}/sections/basic/resolve",
        data={"revision": revision, "other_bodies": "二人目が書いた記載", "choose-other_bodies": "mine"},
    )
    assert stale.status_code == 409
    current = db.session.get(AssessmentVersion, draft.id).revision
    second.post(
        f"/versions/{draft.id}/sections/basic/resolve",
        data={"revision": str(current), "other_bodies": "二人目が書いた記載", "choose-other_bodies": "mine"},
    )
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).document["basic"]["other_bodies"] == "二人目が書いた記載"


# --------------------------------------------------------------------------- workflow


def test_significant_change_cannot_be_submitted_before_the_procedure(juki, as_role, steps_done, inventory):
    draft = _draft(juki)
    # the 台帳 knows the system the draft moves to (else 提出 is refused: 台帳と不一致)
    from pia.inventory import services as inventory_services

    inventory["JUKI"].name = "住民記録システム(標準準拠システム)"
    inventory_services.save_system(inventory["JUKI"], actor="test")
    db.session.commit()
    c = as_role("officer")
    c.post(f"/versions/{draft.id}/transition/submit", data={"on": "2026-03-01", "confirm": "yes"})
    c.post(f"/versions/{draft.id}/transition/review")
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == "draft"
    steps_done.finish("consultation")
    assert c.post(f"/versions/{draft.id}/transition/review").status_code == 302
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == "review"
    c.post(f"/versions/{draft.id}/transition/submit", data={"on": "2026-03-01", "confirm": "yes"})
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == "review"
    steps_done.finish("review")
    published = []
    procedure.register_on_publish(lambda version, actor: published.append(version.id))
    try:
        c.post(f"/versions/{draft.id}/transition/submit", data={"on": "2026-03-01", "confirm": "yes"})
        db.session.expire_all()
        version = db.session.get(AssessmentVersion, draft.id)
        assert version.status == "submitted" and version.submitted_on == date(2026, 3, 1)
        assert version.change_kind == "significant"
        rows = version.document["changelog"]["changes"]
        assert rows and all(r["date"] == "2026-03-01" for r in rows)
        assert any("ガバメントクラウド" in r["after"] and r["timing"] == "事前" for r in rows)
        c.post(f"/versions/{draft.id}/transition/publish", data={"on": "2026-03-10", "confirm": "yes"})
        db.session.expire_all()
        version = db.session.get(AssessmentVersion, draft.id)
        assert version.status == "published" and version.published_on == date(2026, 3, 10)
        assert published == [draft.id]
    finally:
        procedure._ON_PUBLISH.remove(procedure._ON_PUBLISH[-1])
    transitions = (
        db.session.execute(
            sa.select(AuditEvent).filter_by(
                action="transition", object_type="AssessmentVersion", object_id=str(draft.id)
            )
        )
        .scalars()
        .all()
    )
    assert [(t.before["status"], t.after["status"]) for t in transitions] == [
        ("draft", "review"),
        ("review", "submitted"),
        ("submitted", "published"),
    ]
    assert db.session.get(Assessment, juki.id).current_version.id == draft.id


def test_correction_goes_straight_to_submission_and_keeps_the_explanation(
    make_assessment, as_role, steps_done, inventory
):
    assessment = make_assessment("juki")
    draft = services.start_draft(assessment, actor=None, changes={"basic/other_bodies": "-(字句の修正)"})
    db.session.commit()
    c = as_role("officer")
    page = c.get(f"/versions/{draft.id}").text
    assert "評価書の修正のため" in page
    path = "basic/other_bodies"
    c.post(
        f"/versions/{draft.id}/changes",
        data={"timing-basic_other_bodies": "事後", "note-basic_other_bodies": "字句の修正のため事後に提出する。"},
    )
    c.post(f"/versions/{draft.id}/transition/submit", data={"on": "2026-04-01", "confirm": "yes"})
    c.post(f"/versions/{draft.id}/transition/publish", data={"on": "2026-04-02", "confirm": "yes"})
    db.session.expire_all()
    version = db.session.get(AssessmentVersion, draft.id)
    assert version.status == "published" and version.change_kind == "correction"
    rows = version.document["changelog"]["changes"]
    assert (
        rows
        == [
            {
                "date": "2026-04-01",
                "item": rows[0]["item"],
                "before": "-",
                "after": "-(字句の修正)",
                "timing": "事後",
                "timing_note": "字句の修正のため事後に提出する。",
            }
        ]
        or rows[-1]["timing_note"] == "字句の修正のため事後に提出する。"
    )
    assert path


def test_invalid_moves_raise_on_the_model(juki):
    from pia.assessments.models import InvalidTransition

    draft = _draft(juki)
    with pytest.raises(InvalidTransition):
        draft.publish(date(2026, 1, 1), [], {})
    with pytest.raises(InvalidTransition):
        draft.return_to_draft()
    with pytest.raises(InvalidTransition):
        draft.submit(date(2026, 1, 1), ["consultation", "review"], {"consultation": None, "review": None})


def test_section_vi_shows_the_facts_of_the_consultation(juki, as_role, monkeypatch):
    monkeypatch.setattr(
        procedure,
        "_SECTION_VI",
        {
            "consultation": lambda v: {
                "method": "札幌市ホームページ等で評価書案を公表し意見を募集",
                "start": date(2025, 11, 12),
                "end": date(2025, 12, 11),
            }
        },
    )
    page = as_role("officer").get(f"/versions/{_draft(juki).id}").text
    assert "令和7年12月11日" in page and "2025-12-11" not in page  # the document dates in 和暦


# --------------------------------------------------------------------------- compare, restore


def test_compare_shows_character_level_changes(juki, as_role):
    page = as_role("officer").get(f"/assessments/{juki.id}/compare?a=1&b=2").text
    assert "<ins>標準準拠システム。</ins>" in page or "<ins>" in page and "標準準拠システム" in page
    assert "重要な変更" in page


def test_restore_button_creates_a_draft_from_a_past_version(make_assessment, as_role):
    assessment = make_assessment("juki")
    c = as_role("officer")
    response = c.post(f"/versions/{assessment.versions[0].id}/restore")
    assert response.status_code == 302
    db.session.expire_all()
    versions = db.session.get(Assessment, assessment.id).versions
    assert [v.status for v in versions] == ["published", "draft"]
    assert versions[1].document == versions[0].document


# --------------------------------------------------------------------------- しきい値判断, deadlines, actions


def test_threshold_rise_is_recorded_and_shown(juki, as_role):
    c = as_role("officer")
    url = f"/affairs/{juki.affair.id}/threshold"
    assert (
        c.post(url, data={"determined_on": "2025-04-01", "target_count": "50000", "handlers": "100"}).status_code == 302
    )
    assert (
        c.post(
            url,
            data={"determined_on": "2026-04-01", "target_count": "50000", "handlers": "100", "serious_incident": "y"},
        ).status_code
        == 400
    )  # incident without date and source
    assert (
        c.post(
            url,
            data={
                "determined_on": "2026-04-01",
                "target_count": "50000",
                "handlers": "100",
                "serious_incident": "y",
                "incident_on": "2026-02-01",
                "incident_source": "個人情報保護委員会への漏えい等報告",
            },
        ).status_code
        == 302
    )
    affair = db.session.get(Assessment, juki.id).affair
    assert [r.forms for r in affair.threshold_records] == [["kiso"], ["kiso", "juten"]]
    assert affair.threshold_records[-1].rose
    page = c.get("/deadlines").text
    assert "しきい値判断の結果が上がった" in page


def test_officer_edits_the_rule_table_and_others_cannot(app, as_role):
    officer = as_role("officer")
    form = {"rule-0-min": "0", "rule-0-max": "", "rule-0-forms": ["kiso", "zenkoumoku"], "rule-0-note": "すべて全項目"}
    assert officer.post("/threshold/rules", data=form).status_code == 302
    assert services.threshold_rules() == [
        {"target_min": 0, "target_max": None, "forms": ["kiso", "zenkoumoku"], "note": "すべて全項目"}
    ]
    bad = {"rule-0-min": "1000", "rule-0-max": "", "rule-0-forms": ["kiso"]}
    assert officer.post("/threshold/rules", data=bad).status_code == 400  # 0..999 uncovered
    editor = as_role("editor", departments=["住民情報課"])
    assert editor.get("/threshold/rules").status_code == 200
    assert editor.post("/threshold/rules", data=form).status_code == 403


def test_deadlines_mark_overdue_reviews_in_red(juki, as_role):
    page = as_role("auditor").get("/deadlines").text
    # published 2025-01-31 without a 見直し: the annual review was due 2026-01-31
    assert "2026年1月31日" in page and "2030年1月31日" in page
    if date.today() > date(2026, 1, 31):
        assert 'class="overdue"' in page


def test_issue_answers_become_actions_listed_across_assessments(juki, as_role):
    draft = _draft(juki)
    c = as_role("officer")
    files = draft.document["risks"]["files"]
    assert files
    data = {"revision": str(draft.revision)}
    from pia.schema import load_schema, to_form_data

    data.update(to_form_data(load_schema("zenkoumoku"), "risks", draft.document["risks"]))
    data["files-0-acquisition-risk1-sufficiency"] = "課題が残されている"
    assert c.post(f"/versions/{draft.id}/sections/risks", data=data).status_code == 302
    action = db.session.execute(sa.select(ActionItem)).scalars().one()
    assert action.path == "risks/files[0]/acquisition/risk1/sufficiency"
    assert action.label in c.get("/actions").text
    assert (
        c.post(
            f"/actions/{action.id}",
            data={
                "what": "入手時の確認手順を改める",
                "owner": "住民情報課長",
                "due_on": "2026-06-30",
                "status": "in_progress",
            },
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(ActionItem, action.id).owner == "住民情報課長"


def test_record_annual_review_with_its_result(juki, as_role):
    c = as_role("officer")
    assert (
        c.post(
            f"/assessments/{juki.id}/annual-reviews",
            data={"reviewed_on": "2026-05-01", "result": "no_change", "version_id": "0", "note": "変更なし"},
        ).status_code
        == 302
    )
    assert db.session.get(Assessment, juki.id).annual_reviews[-1].result == "no_change"


# --------------------------------------------------------------------------- search


def test_search_finds_japanese_items(juki, as_role):
    c = as_role("officer")
    page = c.get("/search?q=ガバメントクラウド").text
    assert "第2版" in page and "<mark>ガバメントクラウド</mark>" in page
    page = c.get("/search?q=戸籍住民課").text
    assert "<mark>戸籍住民課</mark>" in page
    assert "0件" in c.get("/search?q=存在しない語句xyz").text


def test_search_scales_to_hundreds_of_versions(juki):
    template = juki.versions[0]
    text = search.version_text(template)
    rows = [{"version_id": template.id, "assessment_id": juki.id}]
    # many more versions: reuse the real text, one version per row
    for n in range(3, 303):
        version = AssessmentVersion(assessment_id=juki.id, number=n, edition="2024", status="draft", document={})
        db.session.add(version)
    db.session.flush()
    db.session.execute(sa.update(search.VersionSearchText).values(text=text))
    for version in db.session.execute(sa.select(AssessmentVersion).where(AssessmentVersion.number >= 3)).scalars():
        db.session.add(search.VersionSearchText(version_id=version.id, assessment_id=juki.id, text=text))
    db.session.commit()
    found = search.candidate_versions("戸籍住民課", limit=1000)
    # every version holding the text is a candidate (its speed is measured in bench/, not here)
    assert len(found) >= 300
    assert rows


# --------------------------------------------------------------------------- export, import, API


def test_export_import_round_trip(juki, as_role, app):
    from pia.assessments import exchange

    db.session.add(
        ActionItem(
            assessment=juki,
            path="a/b",
            label="項目",
            what="対応",
            owner="課長",
            due_on=date(2026, 3, 31),
            status="open",
            version_id=juki.versions[0].id,
        )
    )
    db.session.commit()
    exported = json.loads(as_role("officer").get(f"/assessments/{juki.id}/export").text)
    again = exchange.import_assessment(exported, actor=None, affair_code="juki-copy")
    db.session.commit()
    copy = exchange.export_assessment(again)
    for data in (exported, copy):
        data["affair"]["code"] = "x"
    assert copy == exported
    assert [v.status for v in again.versions] == ["published", "draft"]
    with pytest.raises(exchange.ImportError_):
        exchange.import_assessment(exported, actor=None, affair_code="juki-copy")
    with pytest.raises(exchange.ImportError_):
        exchange.import_assessment({"format": "other"}, actor=None)


def test_api_lists_and_reads_assessments(juki, as_role, app):
    c = as_role("officer")
    items = c.get("/api/v1/assessments").json["items"]
    assert items[0]["current_version"] == 1 and items[0]["current_published_on"] == "2025-01-31"
    detail = c.get(f"/api/v1/assessments/{juki.id}").json
    assert [v["status"] for v in detail["versions"]] == ["published", "draft"]
    assert detail["versions"][1]["change_kind"] == "significant"
    version = c.get(f"/api/v1/assessments/{juki.id}/versions/2").json
    assert "ガバメントクラウド" in json.dumps(version["document"], ensure_ascii=False)
    assert c.get(f"/api/v1/assessments/{juki.id}/versions/9").status_code == 404
    assert c.get("/api/v1/assessments/999999").status_code == 404
    spec = c.get("/api/v1/openapi.json").json
    assert "/api/v1/assessments/{assessment_id}/versions/{number}" in spec["paths"]


def test_dashboard_panel_lists_deadlines(juki, make_user, app):
    from flask import render_template

    from pia.assessments import deadlines_panel

    officer = make_user("officer")
    template, context = deadlines_panel(officer)
    with app.test_request_context():
        from flask_login import login_user

        login_user(officer)
        html = render_template(template, panel=context)
    assert "住民基本台帳に関する事務" in html
    outsider = make_user("editor", departments=["市民税課"])
    assert deadlines_panel(outsider) is None
