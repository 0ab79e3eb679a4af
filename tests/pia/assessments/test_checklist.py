"""The pre-submission checklist, 台帳と一致 by identity and the workflow of a version.

Issue #13 items 4–8: an assessment naming systems and files that are not in the 台帳 showed
「台帳と一致」; nothing checked the document against itself (files of I 3 / II / 別添2 / III,
委託しない with 委託事項, VI 2 against the consultation held); 提出 and 公表 went through anyway.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from common.db import db
from pia.assessments import checklist, services
from pia.assessments.models import Affair, AssessmentVersion
from pia.inventory import services as inventory_services
from pia.schema import LINK_KEY


@pytest.fixture(autouse=True)
def fresh_user_per_request(app):
    from flask import g

    @app.before_request
    def _forget_user():
        g.pop("_login_user", None)


def _failed(items):
    return {i.key: i for i in items if not i.ok}


@pytest.fixture
def assessment_with(department, published_version):
    """``assessment_with(document, published=True)``: an assessment of 事務 juki holding ``document``
    as its published version (or as its draft)."""
    return lambda document, **kw: _assessment_with(document, department=department, publish=published_version, **kw)


def _assessment_with(document, *, code="juki", published=True, department_name="住民情報課", department, publish):
    dept = department(department_name)
    affair = Affair(code=code, name="住民基本台帳に関する事務", department=dept)
    db.session.add(affair)
    db.session.flush()
    assessment = services.create_assessment(
        affair, form="zenkoumoku", actor=None, with_draft=not published, document=None if published else document
    )
    if published:
        publish(assessment, document)
    db.session.commit()
    return assessment


# --------------------------------------------------------------------------- 台帳と一致 by identity


def _with_unknown_entries(v1):
    doc = copy.deepcopy(v1)
    for name in ("戸籍総合システム", "証明書コンビニ交付システム", "窓口予約システム"):
        doc["basic"]["systems"].append(
            {"name": name, "functions": "台帳にないシステム", "connections": {"selected": [], "other": ""}}
        )
    for name in ("戸籍ファイル", "コンビニ交付ファイル"):
        doc["basic"]["pi_files"].append({"name": name})
    return doc


def test_names_not_in_the_ledger_are_a_mismatch_on_the_page_and_the_dashboard(
    inventory, demo_docs, department, as_role, assessment_with
):
    v1, _ = demo_docs
    assessment = assessment_with(_with_unknown_entries(v1))
    officer = as_role("officer")
    page = officer.get(f"/assessments/{assessment.id}").text
    panel = page[page.index('id="inventory-drift"') :]
    assert "台帳と不一致" in panel and "台帳と一致</span>" not in panel
    for name in (
        "戸籍総合システム",
        "証明書コンビニ交付システム",
        "窓口予約システム",
        "戸籍ファイル",
        "コンビニ交付ファイル",
    ):
        assert f"「{name}」は台帳にありません" in panel
    dashboard = officer.get("/").text
    assert "台帳と不一致の評価書はありません" not in dashboard
    assert "台帳と不一致の評価書: 1件" in dashboard and f"/assessments/{assessment.id}#inventory-drift" in dashboard
    found = inventory_services.ledger_match(assessment.current_version)
    assert {e.name for e in found.unknown()} == {
        "戸籍総合システム",
        "証明書コンビニ交付システム",
        "窓口予約システム",
        "戸籍ファイル",
        "コンビニ交付ファイル",
    }


def test_a_record_of_the_affair_missing_from_the_assessment_is_a_mismatch(
    inventory, demo_docs, department, assessment_with
):
    v1, _ = demo_docs
    doc = copy.deepcopy(v1)
    del doc["basic"]["systems"][1]  # 住基ネット
    assessment = assessment_with(doc)
    assert inventory_services.ledger_match(assessment.current_version).ok
    inventory_services.add_to_affair(assessment.affair, [inventory["JUKINET"]], actor="test")
    db.session.commit()
    found = inventory_services.ledger_match(assessment.current_version)
    assert found.problems() == ["台帳でこの事務のシステムとされている「住基ネット」が記載されていません。"]
    assert [a for a, _ in inventory_services.mismatching_assessments()] == [assessment]
    # the history of the record says when it joined the 事務
    assert inventory["JUKINET"].revisions[0].summary == "事務の追加(住民基本台帳に関する事務)"


def test_an_entry_linked_by_identity_stays_linked_when_renamed(inventory, demo_docs, department, assessment_with):
    v1, _ = demo_docs
    doc = copy.deepcopy(v1)
    doc["basic"]["systems"][1][LINK_KEY] = inventory["JUKINET"].id
    doc["basic"]["systems"][1]["name"] = "住民基本台帳ネットワーク"
    assessment = assessment_with(doc, published=False)
    found = inventory_services.ledger_match(assessment.versions[0])
    entry = next(e for e in found.entries if e.path == "basic/systems[1]")
    assert entry.obj is inventory["JUKINET"] and entry.by == "link"
    assert found.problems("system") == ["システム「住民基本台帳ネットワーク」は、台帳では「住基ネット」です。"]


def test_a_note_under_the_system_name_keeps_the_entry_matched(inventory, demo_docs, department, assessment_with):
    v1, _ = demo_docs
    doc = copy.deepcopy(v1)
    doc["basic"]["systems"][1]["name"] = "住基ネット\n※本市の住基ネットの構成としては、札幌市CSを設置している。"
    assessment = assessment_with(doc, published=False)
    found = inventory_services.ledger_match(assessment.versions[0])
    entry = next(e for e in found.entries if e.path == "basic/systems[1]")
    assert entry.obj is inventory["JUKINET"] and entry.by == "name" and entry.name == "住基ネット"
    assert found.ok, found.problems()


def test_picking_a_record_in_the_edit_form_links_the_entry(inventory, make_assessment, as_role):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    editor = as_role("editor", departments=["住民情報課"])
    form = editor.get(f"/versions/{draft.id}/sections/basic").text
    # entries saved before are shown with the record their name matches
    jukinet = inventory["JUKINET"].id
    assert re.search(
        rf'name="systems-1-inventory_id">.*?<option value="{jukinet}" data-name="住基ネット" selected>', form, re.S
    )
    data = {"revision": str(draft.revision)}
    for i, entry in enumerate(draft.document["basic"]["systems"]):
        data[f"systems-{i}-name"] = entry["name"]
        data[f"systems-{i}-functions"] = entry["functions"]
    new = len(draft.document["basic"]["systems"])
    data[f"systems-{new}-inventory_id"] = str(inventory["SERVICE_SEARCH"].id)
    data["systems-1-inventory_id"] = str(jukinet)
    response = editor.post(f"/versions/{draft.id}/sections/basic", data=data)
    assert response.status_code == 302, response.text[:2000]
    db.session.expire_all()
    saved = db.session.get(AssessmentVersion, draft.id).document["basic"]["systems"]
    assert saved[1][LINK_KEY] == jukinet
    # an entry picked from the 台帳 and left without a name takes the 台帳's name and functions
    assert saved[new][LINK_KEY] == inventory["SERVICE_SEARCH"].id
    assert saved[new]["name"] == "サービス検索・電子申請機能" and saved[new]["functions"]
    assert (
        assessment.affair in db.session.get(type(inventory["SERVICE_SEARCH"]), inventory["SERVICE_SEARCH"].id).affairs
    )


# --------------------------------------------------------------------------- the document against itself


def test_files_of_i3_ii_attachment_and_iii_must_be_the_same(demo_docs, department, assessment_with):
    v1, _ = demo_docs
    doc = copy.deepcopy(v1)
    doc["record_items"]["files"][2]["name"] = "送付先ファイル"
    del doc["risks"]["files"][1]
    version = assessment_with(doc, published=False).versions[0]
    items = _failed(checklist.same_files(version))
    assert set(items) == {"files:record_items/files", "files:risks/files"}
    assert (
        "「送付先情報ファイル」が「(別添2) 特定個人情報ファイル」にありません。"
        in items["files:record_items/files"].problems
    )
    assert any(
        "「送付先ファイル」は「I 3. 特定個人情報ファイル名」にありません" in p
        for p in items["files:record_items/files"].problems
    )
    assert items["files:risks/files"].problems == (
        "「本人確認情報ファイル」が「III 特定個人情報ファイル」にありません。",
    )
    assert items["files:risks/files"].path == "risks/files"


def test_entrustment_and_provision_must_agree_with_what_is_listed(demo_docs, department, assessment_with):
    v1, _ = demo_docs
    doc = copy.deepcopy(v1)
    first = doc["files"]["files"][0]
    second = doc["files"]["files"][1]
    second["entrustment"]["items"] = copy.deepcopy(first["entrustment"]["items"])  # 委託しない with 委託事項
    first["entrustment"]["items"] = []  # 委託する without
    first["provision"]["transferees"] = []  # 移転を行っている without 移転先
    version = assessment_with(doc, published=False).versions[0]
    entrust = _failed(checklist.entrustment(version))["entrustment"]
    assert (
        "「II 特定個人情報ファイル2 4. 特定個人情報ファイルの取扱いの委託 委託の有無」は「委託しない」ですが、"
        "「II 特定個人情報ファイル2 4. 特定個人情報ファイルの取扱いの委託 委託事項」が1件記載されています。"
    ) in entrust.problems
    assert any("特定個人情報ファイル1" in p and "「委託する」ですが" in p for p in entrust.problems)
    assert entrust.path == "files/files[0]/entrustment/items"
    provision = _failed(checklist.provision(version))["provision"]
    assert any("「移転を行っている」を選んでいますが" in p and "移転先" in p for p in provision.problems)


def test_section_vi_must_agree_with_the_consultation_held(inventory, demo_docs, department, assessment_with):
    from consultation import services as consultation_services

    v1, _ = demo_docs
    assessment = assessment_with(copy.deepcopy(v1))
    version = assessment.current_version
    consultation = consultation_services.create_consultation(
        version, actor="test", title="意見募集", start_date=date(2024, 11, 1), end_date=date(2024, 12, 5)
    )
    consultation.transition("open", today=date(2024, 11, 1))
    consultation.opened_at = datetime(2024, 11, 1, 9, tzinfo=UTC)
    consultation.transition("closed")
    db.session.commit()
    item = _failed(checklist.run(version))["procedure:consultation"]
    assert item.problems == (
        "「VI 2. 国民・住民等からの意見の聴取 ②実施日・期間」は2024年11月13日から2024年12月12日までですが、"
        "実施した意見聴取の期間は2024年11月1日から2024年12月5日までです。",
    )
    assert item.path == "procedure/consultation/period/start"


def test_section_vi_dates_after_the_submission_day_fail(inventory, make_assessment):
    assessment = make_assessment("juki")
    draft = services.start_draft(assessment, actor=None, changes={"basic/other_bodies": "-(字句の修正)"})
    db.session.commit()
    assert not _failed(checklist.run(draft, on=date(2026, 4, 1)))
    item = _failed(checklist.run(draft, on=date(2025, 1, 10)))["procedure:dates"]
    assert "「VI 3. 第三者点検 ①実施日」(2025年1月17日)が提出日(2025年1月10日)より後です。" in item.problems


# --------------------------------------------------------------------------- 提出 and 公表 refused


def test_submit_is_refused_with_the_list_while_a_check_fails(
    inventory, demo_docs, department, as_role, assessment_with
):
    v1, _ = demo_docs
    base = assessment_with(copy.deepcopy(v1))
    draft = services.start_draft(base, actor=None, changes={"files/files[0]/entrustment/count": 5})
    db.session.commit()
    officer = as_role("officer")
    response = officer.post(f"/versions/{draft.id}/transition/submit", data={"on": "2026-04-01", "confirm": "yes"})
    assert response.status_code == 400
    assert "提出前の確認で1件の問題があるため、提出できません。" in response.text
    assert "委託件数」は5件ですが" in response.text
    assert f"/versions/{draft.id}/sections/files" in response.text
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == "draft"
    with pytest.raises(checklist.ChecklistFailed) as refused:
        services.submit(db.session.get(AssessmentVersion, draft.id), on=date(2026, 4, 1), actor=officer.user)
    assert [i.key for i in refused.value.items] == ["entrustment"]


def test_publish_is_refused_while_a_check_fails(inventory, make_assessment, as_role):
    assessment = make_assessment("juki")
    draft = services.start_draft(assessment, actor=None, changes={"basic/other_bodies": "-(字句の修正)"})
    db.session.commit()
    officer = as_role("officer")
    assert (
        officer.post(f"/versions/{draft.id}/transition/submit", data={"on": "2026-04-01", "confirm": "yes"}).status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == "submitted"
    # after submission the 台帳 says the 事務 also uses a system the version does not name
    system = inventory_services.save_system(
        type(inventory["JUKI"])(code="KOSEKI", name="戸籍総合システム"), actor="test"
    )
    inventory_services.add_to_affair(assessment.affair, [system], actor="test")
    db.session.commit()
    response = officer.post(f"/versions/{draft.id}/transition/publish", data={"on": "2026-04-02", "confirm": "yes"})
    assert response.status_code == 400
    assert "公表できません" in response.text and "「戸籍総合システム」が記載されていません" in response.text
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == "submitted"


@pytest.mark.parametrize("written", ["1234&#45;5678&#45;9018", "1234/5678/9018", "一二三四五六七八九〇一八"])
def test_a_number_written_into_the_database_stops_submit_and_publish(inventory, make_assessment, as_role, written):
    """The forms refuse a 個人番号; one put into the document some other way (here by a
    database administrator, in a shape the forms of an older release let through) is still
    found before the version leaves the house."""
    assessment = make_assessment("juki")
    draft = services.start_draft(assessment, actor=None, changes={"basic/other_bodies": "-(字句の修正)"})
    db.session.commit()
    document = copy.deepcopy(draft.document)
    document["basic"]["other_bodies"] = f"照会先 {written}"
    table = AssessmentVersion.__table__
    db.session.execute(sa.update(table).where(table.c.id == draft.id).values(document=document))
    db.session.commit()
    db.session.expire_all()
    item = _failed(checklist.run(db.session.get(AssessmentVersion, draft.id), on=date(2026, 4, 1)))["my_number"]
    assert item.path == "basic/other_bodies"
    assert item.problems and "個人番号と判定される番号が含まれています" in item.problems[0]
    officer = as_role("officer")
    response = officer.post(f"/versions/{draft.id}/transition/submit", data={"on": "2026-04-01", "confirm": "yes"})
    assert response.status_code == 400
    assert "提出できません" in response.text and "個人番号と判定される番号" in response.text
    assert written not in response.text
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == "draft"


# --------------------------------------------------------------------------- pages and CLI


def test_checklist_page_lists_every_check_for_officers_and_the_departments_editors(inventory, make_assessment, as_role):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    for client in (as_role("officer"), as_role("editor", departments=["住民情報課"])):
        page = client.get(f"/versions/{draft.id}/checklist")
        assert page.status_code == 200
        assert "提出前の確認" in page.text and "要対応" in page.text and "確認済み" in page.text
        assert "委託の有無と委託事項が一致している" in page.text
        assert (
            "システム「住民記録システム(標準準拠システム。以下「既存住基システム」という。)」は台帳にありません。"
            in page.text.replace("&#34;", '"')
        )
    assert as_role("editor", departments=["市民税課"]).get(f"/versions/{draft.id}/checklist").status_code == 403
    assert as_role("reviewer").get(f"/versions/{draft.id}/checklist").status_code == 403


def test_version_page_shows_the_procedure_in_order_with_one_next_action(inventory, make_assessment, as_role):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    page = as_role("officer").get(f"/versions/{draft.id}").text
    panel = page[page.index('id="workflow-title"') : page.index("</section>", page.index('id="workflow-title"'))]
    steps = panel[panel.index('<ol class="pia-procedure"') : panel.index("</ol>")]
    order = [
        steps.index(label)
        for label in (
            "しきい値判断",
            "評価書の作成",
            "住民等からの意見聴取",
            "第三者点検",
            "個人情報保護委員会への提出",
            "公表",
        )
    ]
    assert order == sorted(order)
    assert panel.count("button--primary") == 1
    # no しきい値判断 recorded: that is the next action
    assert re.search(r'class="button button--primary" href="/affairs/\d+/threshold">しきい値判断を行う', panel)


def test_once_the_consultation_is_done_the_next_action_is_back_to_draft(
    inventory, make_assessment, as_role, steps_done
):
    """A version in 意見聴取中 whose consultation is done was still told to 「意見募集を終え、結果を記録する」."""
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    services.record_threshold(
        assessment.affair,
        actor=None,
        determined_on=date(2024, 12, 1),
        target_count=1_900_000,
        handlers=3000,
        serious_incident=False,
    )
    db.session.commit()
    officer = as_role("officer")
    assert officer.post(f"/versions/{draft.id}/transition/consultation").status_code == 302

    def next_action(html):
        return html[html.index('id="next-action"') : html.index("</section>", html.index('id="next-action"'))]

    page = officer.get(f"/versions/{draft.id}").text
    assert "意見募集を終え、結果を記録する" in next_action(page)
    assert "意見聴取が終わっていません。" in next_action(page)
    assert page.count(f'action="/versions/{draft.id}/transition/draft"') == 1

    steps_done.finish("consultation")
    page = officer.get(f"/versions/{draft.id}").text
    action = next_action(page)
    assert "意見募集を終え" not in action
    assert re.search(
        rf'action="/versions/{draft.id}/transition/draft" class="inline">\s*<input[^>]*csrf_token[^>]*>\s*'
        r'<button type="submit" class="button button--primary">作成中に戻し、意見を評価書に反映する',
        action,
    )
    # one button for the move, not the next action and the plain 「作成中に戻す」 side by side
    assert page.count(f'action="/versions/{draft.id}/transition/draft"') == 1
    assert "作成中に戻す(修正する)" not in page
    # the department's editor is told who moves it
    editor = as_role("editor", departments=["住民情報課"])
    assert "保護評価担当が作成中に戻します。" in next_action(editor.get(f"/versions/{draft.id}").text)


def test_cli_check_prints_each_item_and_exits_1_when_one_fails(inventory, make_assessment, app):
    assessment = make_assessment("juki", draft=True)
    runner = app.test_cli_runner()
    failing = runner.invoke(args=["pia", "check", str(assessment.id)])
    assert failing.exit_code == 1, failing.output
    assert (
        "NG 「I 2. 特定個人情報ファイルを取り扱う事務において使用するシステム」がシステム台帳と一致している"
        in failing.output
    )
    assert "OK 委託の有無と委託事項が一致している" in failing.output
    first = runner.invoke(args=["pia", "check", str(assessment.id), "--version", "1"])
    assert first.exit_code == 1 and "NG 住民等からの意見聴取を終えている" in first.output  # no records of its procedure
    assert runner.invoke(args=["pia", "check", "999999"]).exit_code != 0


def test_threshold_result_offers_to_create_the_required_forms(app, department, as_role):
    officer = as_role("officer")
    dept = department("住民情報課")
    response = officer.post(
        "/affairs/new", data={"code": "koseki", "name": "戸籍に関する事務", "department_id": dept.id}
    )
    assert response.status_code == 302 and "/threshold" in response.headers["Location"]
    affair = db.session.execute(sa.select(Affair).filter_by(code="koseki")).scalar_one()
    officer.post(
        f"/affairs/{affair.id}/threshold",
        data={"determined_on": "2026-04-01", "target_count": "350000", "handlers": "100"},
    )
    page = officer.get(f"/affairs/{affair.id}/threshold").text
    assert "全項目評価書を作成する" in page and "基礎項目評価書を作成する" in page
    response = officer.post(f"/affairs/{affair.id}/assessments", data={"form": "zenkoumoku"})
    assert response.status_code == 302
    db.session.expire_all()
    assert [a.form for a in db.session.get(Affair, affair.id).assessments] == ["zenkoumoku"]
    assert officer.post(f"/affairs/{affair.id}/assessments", data={"form": "juten"}).status_code == 302
    assert [a.form for a in db.session.get(Affair, affair.id).assessments] == ["zenkoumoku"]


# --------------------------------------------------------------------------- the demo


def test_demo_first_version_passes_and_the_draft_shows_its_blockers(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "load", "--no-evidence"]).exit_code == 0
    affair = db.session.execute(sa.select(Affair).filter_by(code="juki")).scalar_one()
    first, second = affair.assessments[0].versions
    assert first.status == "published" and not _failed(checklist.run(first))
    assert set(_failed(checklist.run(second))) == {"ledger:system"}
    result = runner.invoke(args=["pia", "check", str(affair.assessments[0].id), "--version", "1"])
    assert result.exit_code == 0, result.output
    assert "すべての項目を確認しました。" in result.output
