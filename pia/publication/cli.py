"""``flask pia pdf ASSESSMENT_ID [--version N] --out FILE``: an assessment version as PDF.

Registers onto the ``pia`` command group of :mod:`pia.cli`.
"""

from __future__ import annotations

from pathlib import Path

import click

from common import audit
from common.db import db
from pia.assessments.cli import cli


@cli.command("pdf")
@click.argument("assessment_id", type=int)
@click.option("--version", "number", type=int, default=None, help="版の番号(省略時は公表中の版、なければ最新の版)")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="出力するPDFファイル",
)
def pdf_cmd(assessment_id, number, out):
    """Write an assessment version as PDF (published versions: the stored PDF/A)."""
    from pia.assessments.models import Assessment
    from pia.publication import pdf

    assessment = db.session.get(Assessment, assessment_id)
    if assessment is None:
        raise click.ClickException(f"評価書 {assessment_id} がありません。")
    if number is None:
        version = assessment.current_version or assessment.latest_version
    else:
        version = assessment.version(number)
    if version is None:
        raise click.ClickException("該当する版がありません。")
    with audit.acting_as("cli"):
        if version.status == "published":
            stored = pdf.published_pdf(version)
            data, pages = stored.content, stored.pages
        else:
            rendered = pdf.render_version(version)
            data, pages = rendered.pdf, rendered.pages
        out.write_bytes(data)
        audit.record(
            "export",
            "assessment_version",
            version.id,
            f"{assessment.title} {version.label}をPDFに出力しました({out.name})。",
        )
        db.session.commit()
    state = "" if version.status == "published" else "(案)"
    click.echo(f"{out}: {assessment.title} {version.label}{state} {pages}ページ")
