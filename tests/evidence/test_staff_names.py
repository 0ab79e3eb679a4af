"""Staff appear with their name beside their id (the assignments feed's display_name)."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from common.db import db
from evidence.checks import Period, run_checks, stored_findings
from evidence.staff import staff_label
from tests.evidence.conftest import access_csv

ASSIGNMENTS = (
    "user_id,department,start_date,end_date,display_name\n"
    "u9,北区戸籍住民課,2024-04-01,2025-03-31,旧姓 花子\n"
    "u9,中央区戸籍住民課,2025-04-01,,札幌 花子\n"
    "u8,中央区戸籍住民課,2025-04-01,,\n"
)


def _findings(feed):
    feed("assignments", ASSIGNMENTS)
    feed("access", access_csv("e1,2025-04-01T10:00:00+09:00,JUKI,u9,view,S1,T1,,"))
    run_checks(Period())
    db.session.commit()
    return stored_findings(Period())


def test_the_latest_name_is_shown_beside_the_id(app, feed):
    _findings(feed)
    assert staff_label("u9") == "u9(札幌 花子)"
    assert staff_label("u8") == "u8"  # no name given: the id alone
    assert staff_label("nobody") == "nobody" and staff_label(None) == ""


def test_findings_pages_and_spreadsheet_show_the_name(as_role, feed):
    found = _findings(feed)
    c = as_role("auditor")
    page = c.get("/evidence/findings?user=u9").text
    assert "<td>u9(札幌 花子)</td>" in page
    assert "旧姓" not in page
    assert "該当する点検結果はありません" in c.get("/evidence/findings?user=札幌 花子").text  # filter by id only
    fid = found[0]["id"]
    detail = c.get(f"/evidence/findings/{fid}").text
    assert ">u9(札幌 花子)</a>" in detail and "利用者 u9(札幌 花子) は" in detail
    r = c.get("/evidence/findings.xlsx?user=u9")
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.data)).active
    assert any(cell.value == "u9(札幌 花子)" for row in sheet.iter_rows() for cell in row)
