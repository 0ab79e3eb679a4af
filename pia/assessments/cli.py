"""``flask pia ...``: export and import assessments, rebuild the search index, list deadlines."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from common import audit
from common.db import db
from common.jpdate import format_date

cli = AppGroup("pia", help="特定個人情報保護評価書")


@cli.command("export")
@click.argument("affair_code")
@click.option("--form", default=None, help="評価書の種類(zenkoumoku / juten / kiso)。省略時は最初の評価書")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="出力先(省略時は標準出力)")
def export_cmd(affair_code, form, output):
    """Export an assessment with all its versions as JSON."""
    from pia.assessments import exchange
    from pia.assessments.models import Affair

    affair = db.session.execute(db.select(Affair).filter_by(code=affair_code)).scalar_one_or_none()
    if affair is None:
        raise click.ClickException(f"事務 {affair_code} がありません。")
    candidates = [a for a in affair.assessments if form is None or a.form == form]
    if not candidates:
        raise click.ClickException("評価書がありません。")
    with audit.acting_as("cli"):
        data = exchange.export_assessment(candidates[0])
        audit.record("export", "Assessment", candidates[0].id, f"{candidates[0].title}をJSONで出力しました。")
        db.session.commit()
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"{output} に出力しました({len(data['versions'])}版)。", err=True)
    else:
        sys.stdout.write(text + "\n")


@cli.command("import")
@click.argument("path", type=click.File("r", encoding="utf-8"))
@click.option("--affair-code", default=None, help="別の事務コードで取り込む")
def import_cmd(path, affair_code):
    """Recreate an assessment from its JSON export."""
    from pia.assessments import exchange

    try:
        data = json.load(path)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"JSONとして読み込めません: {exc}") from None
    with audit.acting_as("cli"):
        try:
            assessment = exchange.import_assessment(data, actor=None, affair_code=affair_code)
        except exchange.ImportError_ as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
    click.echo(f"{assessment.title}を取り込みました({len(assessment.versions)}版、ID {assessment.id})。")


@cli.command("reindex")
def reindex_cmd():
    """Rebuild the full-text search texts of every version."""
    from pia.assessments import search

    n = search.reindex_all()
    db.session.commit()
    click.echo(f"{n}版の検索用テキストを作り直しました。")


@cli.command("deadlines")
def deadlines_cmd():
    """List the deadlines per 事務 (overdue ones marked)."""
    from pia.assessments import services

    for row in services.deadlines():
        flag = "期限切れ" if row.overdue else ""
        current = f"{row.current.label} {format_date(row.current.published_on)}" if row.current else "未公表"
        click.echo(
            f"{row.affair.code}\t{row.required}\t{current}\t再評価 {format_date(row.reassessment_due) or '-'}\t"
            f"見直し {format_date(row.annual_review_due) or '-'}\t行動計画 {row.open_actions}\t{flag}"
        )


@cli.command("check")
@click.argument("assessment_id", type=int)
@click.option("--version", "number", type=int, default=None, help="版の番号(省略時は最新の版)")
def check_cmd(assessment_id, number):
    """Run the pre-submission checklist on a version; exit status 1 when an item fails."""
    from pia.assessments import checklist
    from pia.assessments.models import Assessment

    assessment = db.session.get(Assessment, assessment_id)
    if assessment is None:
        raise click.ClickException(f"評価書 {assessment_id} がありません。")
    version = assessment.latest_version if number is None else assessment.version(number)
    if version is None:
        raise click.ClickException("該当する版がありません。")
    items = checklist.run(version)
    failed = checklist.failures(items)
    click.echo(f"{assessment.title} {version.label}({version.status_label})")
    group = None
    for item in items:
        if item.group != group:
            group = item.group
            click.echo(f"[{group}]")
        click.echo(f"  {'OK' if item.ok else 'NG'} {item.label}")
        for problem in item.problems:
            click.echo(f"     - {problem}")
    if failed:
        click.echo(f"問題のある項目: {len(failed)}件")
        sys.exit(1)
    click.echo("すべての項目を確認しました。")
