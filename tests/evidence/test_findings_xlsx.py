"""The findings list as Excel: the page's columns and filters, no formula, 個人番号 masked."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook

from common.db import db
from evidence.models import Finding
from tests.officetext import assert_no_formula

VALID_MY_NUMBER = "123456789018"


def rows(data: bytes) -> list[list]:
    return [list(r) for r in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)]


def add(key, **values):
    finding = Finding(
        check="after_hours",
        key=key,
        system=values.pop("system", "JUKI"),
        user_id=values.pop("user_id", "u1"),
        day=values.pop("day", date(2025, 4, 1)),
        severity=values.pop("severity", "high"),
        details={"subject_id": "S0", "operation": "view"},
        occurred_at=datetime(2025, 4, 1, 13, 30, tzinfo=UTC),
        **values,
    )
    db.session.add(finding)
    db.session.commit()
    return finding


def test_findings_export_matches_the_page_filters_and_is_defused(app, as_role):
    add("k1", user_id="=cmd|' /C calc'!A0")
    add("k2", system="ZEIMU", user_id=f"番号{VALID_MY_NUMBER}", day=date(2025, 4, 2))
    auditor = as_role("auditor")
    response = auditor.get("/evidence/findings.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    table = rows(response.data)
    assert table[0] == ["日付", "点検", "重要度", "システム", "利用者", "内容", "判断"]
    assert [r[3] for r in table[1:]] == ["ZEIMU", "JUKI"]  # newest first, as the page
    assert table[2][0] == "令和7年4月1日" and table[2][6] == "未判断" and table[2][5]
    assert_no_formula(response.data)
    flat = " ".join(str(v) for r in table for v in r)
    assert VALID_MY_NUMBER not in flat
    filtered = rows(auditor.get("/evidence/findings.xlsx?system=JUKI").data)
    assert [r[3] for r in filtered[1:]] == ["JUKI"]
    assert "/evidence/findings.xlsx?system=JUKI" in auditor.get("/evidence/findings?system=JUKI").text


def test_findings_export_is_refused_to_editors(app, as_role):
    assert as_role("editor").get("/evidence/findings.xlsx").status_code == 403
