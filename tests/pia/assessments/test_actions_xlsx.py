"""The action plan as Excel: the page's rows, scoped and filtered the same, no formula."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from common.db import db
from pia.assessments.models import ActionItem
from tests.officetext import assert_no_formula


@pytest.fixture
def juki(make_assessment):
    return make_assessment("juki", draft=True)


def rows(data: bytes) -> list[list]:
    return [list(r) for r in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)]


def test_action_plan_export_scoped_filtered_and_defused(app, juki, as_role):
    db.session.add_all(
        [
            ActionItem(
                assessment=juki,
                path="a/b",
                label="アクセス権限の定期確認",
                what='=HYPERLINK("http://evil.example","x")',
                owner="+課長",
                due_on=date(2026, 3, 31),
                status="open",
            ),
            ActionItem(assessment=juki, path="a/c", label="完了した項目", what="済", owner="係長", status="done"),
        ]
    )
    db.session.commit()
    officer = as_role("officer")
    response = officer.get("/actions.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    table = rows(response.data)
    assert table[0] == ["評価書", "担当部署", "項目", "対応内容", "担当", "期限", "状況", "回答"]
    assert [r[2] for r in table[1:]] == ["アクセス権限の定期確認"]  # done items are not open
    assert table[1][5] == "令和8年3月31日" and table[1][3].startswith("=HYPERLINK")
    assert_no_formula(response.data)
    assert len(rows(officer.get("/actions.xlsx?status=all").data)) == 3
    # another department's editor sees none of them, as on the page
    other = as_role("editor", departments=["市民税課"])
    assert rows(other.get("/actions.xlsx?status=all").data)[1:] == []
    page = officer.get("/actions?status=all").text
    assert "/actions.xlsx?status=all" in page


def test_action_plan_export_is_refused_to_reviewers(app, as_role):
    assert as_role("reviewer").get("/actions.xlsx").status_code == 403
