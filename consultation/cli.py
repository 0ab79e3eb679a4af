"""``flask --app app consultation ...``"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from common import audit
from common.db import db
from consultation.models import Consultation

cli = AppGroup("consultation", help="意見募集（意見聴取）")


@cli.command("report")
@click.argument("consultation_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["pdf", "html"]), default="pdf", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True)
def report(consultation_id, fmt, out):
    """Write the result report (寄せられたご意見と市の考え方) as PDF or HTML."""
    from consultation.report import render_html, render_pdf

    consultation = db.session.get(Consultation, consultation_id)
    if consultation is None:
        raise click.ClickException(f"意見募集 {consultation_id} はありません。")
    if fmt == "pdf":
        Path(out).write_bytes(render_pdf(consultation))
    else:
        Path(out).write_text(render_html(consultation), encoding="utf-8")
    with audit.acting_as("cli"):
        audit.record("export", "consultation", consultation.id, f"結果報告を{fmt.upper()}で出力")
        db.session.commit()
    click.echo(f"{out} に出力しました。")
