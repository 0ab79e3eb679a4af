"""The consultation report PDF: the opinions' header repeats on every page, labels stay whole."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from common.db import db
from common.models import Setting
from consultation.models import Consultation

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")


@pytest.fixture
def demo_consultation(app, version):
    from consultation.demo import load_demo

    db.session.add(Setting(key="body.name", value="札幌市"))
    db.session.commit()
    load_demo({})
    db.session.commit()
    return db.session.execute(db.select(Consultation)).scalar_one()


def test_report_pdf_repeats_the_opinions_header_and_keeps_labels_whole(app, demo_consultation, tmp_path):
    from consultation.report import render_pdf

    path = tmp_path / "report.pdf"
    with app.test_request_context():
        path.write_bytes(render_pdf(demo_consultation))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    header = re.compile(r"No\.\s+寄せられたご意見\s+札幌市の考え方")
    annex = [p for p in pages[1:] if re.search(r"^\s{0,8}(?:[1-9]|10)\s{2,}", p, re.M)]
    assert len(annex) >= 2, "the demo's ten opinions run over several pages"
    assert all(header.search(p) for p in annex)
    # the breakdown's labels stay on one line each
    assert re.search(r"提出方法\s+郵送\s+持参\s+FAX\s+電子メール\s+合計", text)
