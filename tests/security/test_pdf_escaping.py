"""Hostile text in what the body publishes as PDF comes out as text, never as markup."""

from __future__ import annotations

import subprocess

from common import demo
from common.db import db
from consultation.models import Consultation
from consultation.report import render_html, render_pdf
from tests.security.crawler import parse

PAYLOAD = "<script>alert('pdf')</script><img src=x onerror=alert(1)>【意見】"


def test_result_report_escapes_opinions_in_html_and_pdf(app, tmp_path):
    demo.load(evidence=False)
    consultation = db.session.execute(db.select(Consultation)).scalars().first()
    opinion = consultation.opinions[0]
    opinion.summary = PAYLOAD + opinion.summary
    opinion.reply = PAYLOAD + (opinion.reply or "")
    db.session.commit()

    html = render_html(consultation)
    assert not parse(html).problems
    assert "&lt;script&gt;alert(&#39;pdf&#39;)&lt;/script&gt;" in html

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(consultation))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "<script>alert('pdf')</script>" in text.replace("\n", "")  # printed as the text it is
    assert "意見総数" in text
