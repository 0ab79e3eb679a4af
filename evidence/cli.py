"""``flask evidence ...``: import, watch, verify, check, report, token."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup

from common import audit
from common.db import db, unit_of_work, utcnow
from evidence.feeds import KINDS

cli = AppGroup("evidence", help="証跡フィードの取込・検証・点検・報告")


def _date(_ctx, _param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("YYYY-MM-DD 形式で指定してください") from exc


def print_errors(result, echo=click.echo) -> None:
    for e in result.errors:
        echo(f"  {e.line}行目 {e.field or '(行全体)'}: {e.reason}", err=True)
    if result.errors_total > len(result.errors):
        echo(f"  ほか {result.errors_total - len(result.errors)} 件", err=True)


def _import_with_progress(kind: str, path: Path, *, source: str, skip_invalid: bool):
    """:func:`evidence.ingest.import_path` with a progress bar on a terminal."""
    from evidence.ingest import import_path

    if not sys.stdout.isatty():
        return import_path(kind, path, source=source, skip_invalid=skip_invalid)
    with click.progressbar(length=path.stat().st_size, label=f"{path.name} を取込中", file=sys.stdout) as bar:
        return import_path(kind, path, source=source, skip_invalid=skip_invalid, on_read=bar.update)


@cli.command("import")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--skip-invalid", is_flag=True, help="不備のある行を除いて取り込み、除いた行を FILE.rejected.csv に書き出す"
)
def import_command(kind, file, skip_invalid):
    """Import a feed file (CSV or JSON Lines) as one batch."""
    with audit.acting_as("cli"), unit_of_work():
        result = _import_with_progress(kind, file, source=f"cli:{file.name}", skip_invalid=skip_invalid)
    if not result.stored:
        click.echo(
            f"取り込みませんでした: {file.name}(不備 {result.errors_total} 件。ファイル全体を保存していません)",
            err=True,
        )
        print_errors(result)
        sys.exit(1)
    click.echo(
        f"バッチ {result.batch_id} を保存しました: {result.rows_stored} 件"
        f"(重複 {result.duplicates} 件、除外 {result.rejected} 件)SHA-256 {result.raw_sha256}"
    )
    if result.errors_total:
        from evidence.ingest import write_reject_file

        out = write_reject_file(file, result)
        print_errors(result)
        click.echo(f"除外した行の一覧: {out}")


@cli.command("watch")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="今あるファイルを1回だけ処理して終了する")
@click.option("--interval", default=5.0, show_default=True, help="確認の間隔(秒)")
def watch_command(directory, once, interval):
    """Import files dropped into DIRECTORY/<kind>/ or named <kind>*.csv|jsonl (see evidence.watch)."""
    from evidence.watch import watch

    with audit.acting_as("cli"):
        watch(directory, once=once, interval=interval, echo=click.echo)


@cli.command("verify")
def verify_command():
    """Recompute the hash chain from the stored rows; non-zero exit when anything changed."""
    from evidence.chain import verify

    report = verify()
    if report.ok:
        click.echo(
            f"検証しました: バッチ {report.batches} 件、行 {report.rows} 件。"
            f"改変・削除は見つかりません。先頭ハッシュ {report.head}"
        )
        return
    for problem in report.problems:
        where = f"バッチ {problem.batch_id}" if problem.batch_id is not None else "日別集計"
        click.echo(f"NG {where}: {problem.message}", err=True)
    sys.exit(2)


@cli.command("check")
@click.option("--from", "from_", callback=_date, help="開始日(YYYY-MM-DD、日本時間)")
@click.option("--to", callback=_date, help="終了日(YYYY-MM-DD、日本時間)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--check", "only", multiple=True, help="実行する点検(省略時はすべて)")
def check_command(from_, to, fmt, only):
    """Run every check over the period and store the findings."""
    from evidence.checks import CHECKS, Period, finding_json, run_checks, stored_findings

    period = Period(from_, to)
    with audit.acting_as("cli"):
        run = run_checks(period, list(only) or None)
        cleared, restored = sum(run.cleared.values()), sum(run.restored.values())
        audit.record(
            "create",
            "evidence_check_run",
            None,
            f"証跡の点検を実行しました({from_ or '最初'}〜{to or '最後'}、"
            f"検出 {run.found} 件、うち新規 {sum(run.new.values())} 件、"
            f"解消 {cleared} 件、再検出 {restored} 件)",
        )
        db.session.commit()
    if fmt == "json":
        found = stored_findings(period, run.checks)
        click.echo(json.dumps({"findings": [finding_json(f) for f in found]}, ensure_ascii=False, default=str))
        return
    width = max(_columns(check.title) for check in CHECKS.values())
    click.echo(
        f"{_pad('点検', 24)}{_pad('名称', width)} {_pad('検出', 10, right=True)} {_pad('うち新規', 10, right=True)}"
    )
    for name, check in CHECKS.items():
        if name in run.checks:
            click.echo(f"{name:<24}{_pad(check.title, width)} {run.total[name]:>7} 件 {run.new[name]:>7} 件")
        else:
            click.echo(f"{name:<24}{_pad(check.title, width)} (実行せず)")
    if cleared or restored:
        click.echo(
            f"以前の点検結果のうち {cleared} 件は今回の点検で該当しなくなったため「解消」とし、"
            f"{restored} 件は再び該当したため解消を取り消しました。"
        )


def _columns(text: str) -> int:
    """Terminal columns of ``text``: wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _columns(text))
    return fill + text if right else text + fill


@cli.command("report")
@click.argument("assessment_id", type=int)
@click.option("--from", "from_", callback=_date, required=True)
@click.option("--to", callback=_date, required=True)
@click.option("--format", "fmt", type=click.Choice(["pdf", "html", "csv", "json"]), default="pdf")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def report_command(assessment_id, from_, to, fmt, out):
    """Write the evidence report of an assessment for a period."""
    from evidence.report import ReportError, build_report, render

    try:
        data = build_report(assessment_id, from_, to)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    body = render(data, fmt)
    out.write_bytes(body)
    with audit.acting_as("cli"):
        audit.record(
            "export",
            "evidence_report",
            assessment_id,
            f"証跡報告書({fmt})を出力しました: {from_}〜{to}",
            after={"sha256": data["manifest"]["report_sha256"], "format": fmt},
        )
        db.session.commit()
    click.echo(f"{out} を出力しました(SHA-256 {data['manifest']['report_sha256']})")


def _feeds(_ctx, _param, value):
    if value is None:
        return None
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise click.BadParameter(f"{', '.join(KINDS)} からカンマ区切りで指定してください")
    return kinds


@cli.command("token")
@click.argument("system")
@click.option("--name", help="トークンの名称(省略時は「<SYSTEM> 証跡フィード」)")
@click.option("--feeds", callback=_feeds, help="送信できるフィード(カンマ区切り。省略時は access,grants)")
@click.option("--revoke", "revoke_id", type=int, help="このIDのトークンを失効させる")
def token_command(system, name, feeds, revoke_id):
    """Issue a feed token for SYSTEM (shown once), or revoke one with --revoke ID."""
    from common.auth import issue_token
    from common.models import ApiToken

    system = system.upper()
    with audit.acting_as("cli"):
        if revoke_id is not None:
            token = db.session.get(ApiToken, revoke_id)
            if token is None or token.system_code != system:
                raise click.ClickException(f"システム {system} のトークン {revoke_id} が見つかりません。")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                db.session.commit()
            click.echo(f"トークン {revoke_id}({token.name})を失効させました。")
            return
        from evidence.ingest import known_systems

        if system not in known_systems():
            raise click.ClickException(f"システム {system} はシステム台帳に登録されていません。")
        token, plain = issue_token(name or f"{system} 証跡フィード", system_code=system, feeds=feeds)
        db.session.commit()
    click.echo(f"トークン {token.id} を発行しました(送信できるフィード: {token.feed_labels}。この表示は一度だけです):")
    click.echo(plain)
