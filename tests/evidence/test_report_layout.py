"""The evidence report PDF: Japanese labels stay whole, headers repeat, rows never split."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pytest

from common.db import db
from evidence import report
from evidence.checks import Period, run_checks
from tests.evidence.conftest import access_csv

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")

OPEN_FINDINGS_HEADER = re.compile(r"ID\s+日付\s+点検\s+内容\s+判断")


def pdf_pages(pdf: bytes, tmp_path) -> list[str]:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return [page for page in text.split("\f") if page.strip()]


@pytest.fixture
def many_findings(feed, department):
    from pia.assessments.models import Affair, Assessment

    # u9 has no grant: 120 no_grant findings, enough for a table over several pages
    rows = [f"e{i},2025-04-{1 + i % 28:02d}T10:{i % 60:02d}:00+09:00,JUKI,u9,view,S{i},T1,," for i in range(120)]
    feed("access", access_csv(*rows))
    run_checks(Period())
    affair = Affair(code="juki", name="住民基本台帳に関する事務", department=department("住民情報課"))
    a = Assessment(affair=affair, form="zenkoumoku", title="住民基本台帳に関する事務 全項目評価書")
    db.session.add(a)
    db.session.commit()
    return a


def test_the_report_pdf_keeps_labels_whole_and_repeats_headers(app, many_findings, tmp_path):
    with app.test_request_context():
        data = report.build_report(many_findings.id, date(2025, 4, 1), date(2025, 4, 30))
        pages = pdf_pages(report.render(data, "pdf"), tmp_path)
    text = "\n".join(pages)
    assert len(data["open_findings"]) >= 120
    # 未判断 is one word in the counts' header and in every open finding's row, never 未/判/断
    assert text.count("未判断") >= len(data["open_findings"]) + 1
    assert not re.search(r"^\s*未\s*$", text, re.M)
    # the open findings run over several pages, each starting with the table's header row
    table_pages = [p for p in pages if re.search(r"^\s*\d+\s+2025年4月\d+日\s", p, re.M)]
    assert len(table_pages) >= 3
    assert all(OPEN_FINDINGS_HEADER.search(p) for p in table_pages)
