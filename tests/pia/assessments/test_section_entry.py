"""Section editing: entries added in the page, 台帳 records added several at once, the text preview.

The page's script (static/js/pia.js) adds an entry by copying the group's template with its index
placeholder replaced; these tests check what the server renders for it and that it saves what the
page posts. The browser side is in tests/e2e/test_section_entry_e2e.py.
"""

from __future__ import annotations

import re

import pytest

from common.db import db
from pia.assessments.models import AssessmentVersion
from pia.assessments.views import with_ledger_additions
from pia.schema import LINK_KEY, load_schema, to_form_data
from tests.conftest import csrf_token_from


@pytest.fixture
def draft(make_assessment):
    return make_assessment("juki", draft=True).versions[-1]


@pytest.fixture
def editor(as_role):
    return as_role("editor", departments=["住民情報課"])


def _template(page: str, group: str) -> str:
    """The <template> of the group or table whose fieldset names ``group``."""
    start = page.index(f'data-name="{group}"')
    return re.search(r"<template data-pia-template>(.*?)</template>\s*</fieldset>", page[start:], re.S).group(1)


def _saved(draft_id: int, section: str) -> dict:
    db.session.expire_all()
    return db.session.get(AssessmentVersion, draft_id).document[section]


# --------------------------------------------------------------------------- the page


def test_each_group_and_table_carries_a_template_with_an_index_placeholder(inventory, draft, editor):
    page = editor.get(f"/versions/{draft.id}/sections/basic").text
    systems = len(draft.document["basic"]["systems"])
    assert (
        f'data-name="systems" data-title="システム{{n}}" data-next-index="{systems}" data-placeholder="__i0__"' in page
    )
    template = _template(page, "systems")
    assert 'name="systems-__i0__-name"' in template and 'name="systems-__i0__-inventory_id"' in template
    assert "この<span data-pia-title>システム{n}</span>の追加を取り消す" in template
    assert 'name="systems-__i0__-_delete"' not in template  # an added entry is taken back, not deleted
    # without JavaScript: the blank entry to fill in, as before
    assert re.search(rf"<summary>システム{systems + 1}を追加する</summary>", page)
    assert f'name="systems-{systems}-name"' in page


def test_templates_inside_an_entry_keep_their_own_placeholder(draft, editor):
    page = editor.get(f"/versions/{draft.id}/sections/files").text
    template = page[page.index('data-name="files"') :]
    template = template[template.index("<template data-pia-template>") :]
    # the entry template of 委託事項 inside the template of a file: both placeholders, unchanged
    assert 'data-name="files-__i0__-entrustment-items"' in template
    assert 'data-placeholder="__i3__"' in template
    assert 'name="files-__i0__-entrustment-items-__i3__-title"' in template
    # and inside a saved file entry the inner template names that file
    assert 'name="files-0-entrustment-items-__i3__-title"' in page


def test_tables_carry_a_row_template(draft, editor):
    page = editor.get(f"/versions/{draft.id}/sections/record_items").text
    template = _template(page, "files-0-items")
    assert template.strip().startswith("<tr data-pia-entry")
    assert 'name="files-0-items-__i2__-name"' in template and ">取り消す</button>" in template


def test_entries_added_in_the_page_are_saved_in_their_order(draft, editor):
    schema = load_schema("zenkoumoku")
    data = to_form_data(schema, "basic", draft.document["basic"])
    count = len(draft.document["basic"]["systems"])
    added = ["試験システムA", "試験システムB\n※注記の行", "試験システムC"]
    # what the page posts after three clicks on 「システム10を追加する」 (indices count, count+1, count+2)
    for offset, name in enumerate(added):
        data[f"systems-{count + offset}-name"] = name
        data[f"systems-{count + offset}-functions"] = f"{name}の機能"
    data["revision"] = str(draft.revision)
    response = editor.post(f"/versions/{draft.id}/sections/basic", data=data)
    assert response.status_code == 302, response.text[:2000]
    saved = _saved(draft.id, "basic")["systems"]
    assert [s["name"] for s in saved[count:]] == added


# --------------------------------------------------------------------------- 台帳からまとめて追加


def test_the_ledger_adder_lists_the_records_and_marks_those_already_named(inventory, draft, editor):
    page = editor.get(f"/versions/{draft.id}/sections/basic").text
    assert "台帳からシステムをまとめて追加する" in page
    jukinet = inventory["JUKINET"].id
    assert re.search(
        rf'name="systems-_add" value="{jukinet}" data-name="住基ネット" disabled> 住基ネット\(JUKINET\)', page
    )
    # 第2版 renamed the first system: its record is not named yet
    juki = inventory["JUKI"].id
    assert re.search(rf'name="systems-_add" value="{juki}" data-name="住民記録・印鑑オンラインシステム">', page)
    # the files of I 3 have their own list
    assert "台帳から特定個人情報ファイルをまとめて追加する" in page


def test_ticked_records_become_entries_filled_from_the_ledger(inventory, draft, editor):
    schema = load_schema("zenkoumoku")
    entries = draft.document["basic"]["systems"]
    data = to_form_data(schema, "basic", draft.document["basic"])
    names = [e["name"] for e in entries]
    # take out the last two systems, then add them back (and 住基ネット again) from the 台帳
    last = [names.index("サービス検索・電子申請機能"), len(names) - 1]
    for index in last:
        data[f"systems-{index}-_delete"] = "1"
    data[f"systems-1-{LINK_KEY}"] = str(inventory["JUKINET"].id)  # as the page preselects it
    data["systems-_add"] = [
        str(inventory["SERVICE_SEARCH"].id),
        str(inventory["KIBAN_RENKEI"].id),
        str(inventory["JUKINET"].id),  # already named: not added twice
        str(inventory["SERVICE_SEARCH"].id),  # ticked twice: once
        "999999",  # no such record: ignored
        "abc",
    ]
    data["revision"] = str(draft.revision)
    response = editor.post(f"/versions/{draft.id}/sections/basic", data=data)
    assert response.status_code == 302, response.text[:2000]
    saved = _saved(draft.id, "basic")["systems"]
    assert len(saved) == len(entries)
    assert [s["name"] for s in saved[-2:]] == ["サービス検索・電子申請機能", "システム基盤(標準準拠システム連携基盤)"]
    assert [s[LINK_KEY] for s in saved[-2:]] == [inventory["SERVICE_SEARCH"].id, inventory["KIBAN_RENKEI"].id]
    assert all(s["functions"] for s in saved[-2:])
    assert sum(1 for s in saved if s["name"] == "住基ネット") == 1


def test_a_rejected_save_keeps_the_ticked_records_as_entries(inventory, draft, editor):
    data = {
        "revision": str(draft.revision),
        "affair-target_count": "存在しない選択肢",
        "systems-_add": [str(inventory["SERVICE_SEARCH"].id)],
    }
    response = editor.post(f"/versions/{draft.id}/sections/basic", data=data)
    assert response.status_code == 400
    search = inventory["SERVICE_SEARCH"].id
    assert re.search(
        rf'name="systems-0-inventory_id">.*?<option value="{search}" data-name="[^"]*" selected>', response.text, re.S
    )
    assert _saved(draft.id, "basic") == draft.document["basic"]


def test_with_ledger_additions_appends_after_the_highest_index():
    pickers = {"systems": [(5, "甲(A)", "甲"), (6, "乙(B)", "乙"), (7, "丙(C)", "丙")]}
    posted = {
        "systems-0-name": ["既存"],
        "systems-4-name": ["甲"],
        f"systems-4-{LINK_KEY}": ["5"],
        "systems-_add": ["5", "7", "6", "8"],
        "pi_files-_add": ["6"],  # no picker for this group here: dropped
    }
    out = with_ledger_additions(posted, pickers)
    assert out == {
        "systems-0-name": ["既存"],
        "systems-4-name": ["甲"],
        f"systems-4-{LINK_KEY}": ["5"],
        f"systems-5-{LINK_KEY}": ["7"],
        f"systems-6-{LINK_KEY}": ["6"],
    }


# --------------------------------------------------------------------------- formatting help and preview


def test_formatted_texts_explain_the_marks_in_plain_japanese(draft, editor):
    page = editor.get(f"/versions/{draft.id}/sections/basic").text
    assert "markdown" not in page.lower()
    assert "書き方と表示の確認(見出し・箇条書き・表)" in page
    assert "見出し: 行頭に「###」と空白" in page
    assert 'data-pia-preview="f-systems-0-functions"' in page
    assert 'data-preview-url="/assessments/text-preview"' in page


def test_preview_renders_as_the_pages_do_and_escapes_html(editor):
    from common.markdown import render_markdown

    text = "### 1. 住民票の作成\n- 転入届\n- 転居届\n\n<script>alert(1)</script><img src=x onerror=alert(1)>"
    response = editor.post("/assessments/text-preview", data={"text": text}, headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.get_json()["html"]
    assert html == str(render_markdown(text))
    assert "<h3>1. 住民票の作成</h3>" in html and "<li>転入届</li>" in html
    assert "<script" not in html and "<img" not in html


def test_preview_refuses_a_huge_text_with_a_reason(editor):
    from pia.assessments.views import PREVIEW_MAX_CHARS

    response = editor.post("/assessments/text-preview", data={"text": "あ" * (PREVIEW_MAX_CHARS + 1)})
    assert response.status_code == 400
    assert "文字を超える文章は表示を確認できません" in response.get_json()["error"]


def test_preview_needs_the_csrf_token_and_an_editor(app, draft, editor, as_role):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = editor.post("/assessments/text-preview", data={"text": "x"}, headers={"Accept": "application/json"})
        assert refused.status_code == 400
        token = csrf_token_from(editor.get(f"/versions/{draft.id}/sections/basic").text)
        ok = editor.post("/assessments/text-preview", data={"text": "**太字**", "csrf_token": token})
        assert ok.status_code == 200 and "<strong>太字</strong>" in ok.get_json()["html"]
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    for role in ("reviewer", "auditor", "admin"):
        assert as_role(role).post("/assessments/text-preview", data={"text": "x"}).status_code == 403
