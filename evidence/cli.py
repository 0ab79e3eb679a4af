"""``flask evidence ...``: import, watch, verify, archive, checkpoint, key, check, report, disclose, freshness, token."""

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
from common.jpdate import format_range, wareki
from common.labels import FEED_KIND, label
from evidence import transparency
from evidence.feeds import KINDS
from evidence.retention import TIMED_KINDS

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
    transparency.after_import(result, echo=click.echo)
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
@click.option(
    "--against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="別に保管しているチェックポイントのファイル(現在のログがそれを引き継いでいるかを証明する)",
)
@click.option(
    "--key", "key_text", help="公開鍵(名前+鍵ID+Base64、またはそれを書いたファイル。省略時はこのシステムの鍵)"
)
@click.option(
    "--archive",
    "archive_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="flask evidence archive で書き出したファイルを検証する(行の要約値、チェーン、署名されたチェックポイントへの包含証明)",
)
def verify_command(against, key_text, archive_file):
    """Recompute the hash chain from the stored rows and check the log against every stored
    checkpoint (and the one given with --against); with --archive, check an archive file
    instead. Non-zero exit when anything changed."""
    from evidence.chain import verify
    from evidence.note import NoteError

    try:
        key = transparency.parse_key(key_text) if key_text else None
        note = transparency.read_note_file(against) if against else None
    except (NoteError, OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"公開鍵またはチェックポイントのファイルを読めません: {exc}") from exc
    if archive_file is not None:
        _verify_archive(archive_file, key)
        return
    report = verify()
    logged = transparency.verify_log(note, key)
    for problem in report.problems:
        where = f"バッチ {problem.batch_id}" if problem.batch_id is not None else "日別集計"
        click.echo(f"NG {where}: {problem.message}", err=True)
    for message in logged.problems:
        click.echo(f"NG チェックポイント: {message}", err=True)
    if not (report.ok and logged.ok):
        sys.exit(2)
    archived = f"(うち保存期間の満了により書き出して行を削除したバッチ {report.archived} 件)" if report.archived else ""
    click.echo(
        f"検証しました: バッチ {report.batches} 件{archived}、行 {report.rows} 件。"
        f"改変・削除は見つかりません。先頭ハッシュ {report.head}"
    )
    if logged.latest is not None:
        click.echo(
            f"保存されているチェックポイント {logged.stored_checked} 件のすべてを、現在のログ(バッチ {logged.size} 件)が"
            f"引き継いでいることを確認しました(最新: {transparency.checkpoint_label(logged.latest)})。"
        )
    else:
        click.echo("保存されているチェックポイントはまだありません(flask --app app evidence checkpoint で作成します)。")
    if logged.against is not None:
        click.echo(
            f"指定された{transparency.checkpoint_label(logged.against)}から現在のログ(バッチ {logged.size} 件)"
            f"までの一貫性を証明しました。その時点までのバッチは削除も改変もされていません。"
        )


def _verify_archive(path: Path, key) -> None:
    from evidence.retention import verify_archive

    try:
        report = verify_archive(path, key)
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"書き出しファイルを読めません: {exc}") from exc
    for _batch_id, message in report.problems:
        click.echo(f"NG {message}", err=True)
    if not report.ok:
        click.echo(f"{path.name}: 問題が {len(report.problems)} 件あります。", err=True)
        sys.exit(2)
    decision = report.decision
    assert decision is not None
    click.echo(
        f"書き出しファイル {path.name} を検証しました: バッチ {report.batches} 件、行 {report.rows} 件。"
        f"行の要約値、チェーンのつながり、{report.checkpoint}への包含証明はすべて一致します。"
    )
    click.echo(
        f"SHA-256 {report.sha256} は保存期間の判断 {decision.id}"
        f"({wareki(decision.before)}より前、{decision.decided_by})の記録と一致します。"
    )


@cli.command("archive")
@click.option("--before", callback=_date, required=True, help="この日(YYYY-MM-DD、日本時間)より前の証跡を対象にする")
@click.option("--reason", default="", help="削除の理由(判断の記録と監査ログに残ります)")
@click.option("--by", "by", default="", help="実施者の氏名(判断の記録と監査ログに残ります)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="書き出すファイル(JSON Lines)")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(TIMED_KINDS), help="対象のフィード(省略時はすべて)")
@click.option("--force-retention", is_flag=True, help="保存期間内の証跡も対象にする(判断の記録に残ります)")
@click.option("--dry-run", is_flag=True, help="対象を表示するだけで、書き出しも削除もしない")
def archive_command(before, reason, by, out, kinds, force_retention, dry_run):
    """Archive batches older than the retention to a file, then delete their rows (recorded and audited)."""
    from evidence.retention import RetentionError, archive, plan

    def refuse(message: str):
        click.echo(message, err=True)
        sys.exit(2)

    try:
        chosen = plan(before, tuple(kinds) or None)
    except RetentionError as exc:
        refuse(str(exc))
    for kind, (batches, rows) in chosen.rows_by_kind().items():
        click.echo(f"{label(kind, FEED_KIND)}: バッチ {batches} 件、行 {rows} 件")
    refusal = chosen.refusal()
    if not chosen.batches:
        click.echo(f"{wareki(before)}より前の行だけからなる、書き出していないバッチはありません。")
        return
    if refusal and not force_retention:
        refuse(refusal)
    if dry_run:
        click.echo(
            f"確認のみ(--dry-run): 上記のバッチ {len(chosen.batches)} 件、行 {chosen.rows} 件を書き出して削除します。"
            "ファイルの書き出しも削除もしていません。"
        )
        return
    if out is None or not reason.strip() or not by.strip():
        refuse("--out(書き出すファイル)、--reason(理由)、--by(実施者)を指定してください。")
    existed = out.exists()
    try:
        with audit.acting_as(f"cli:{by.strip()}"), unit_of_work():
            done = archive(chosen, out, reason=reason, by=by, force=force_retention)
    except BaseException as exc:
        if not existed:  # nothing was deleted: the file of an archive that did not happen goes too
            out.unlink(missing_ok=True)
        if isinstance(exc, RetentionError | transparency.LogKeyError | transparency.CheckpointRefused):
            refuse(str(exc))
        raise
    if done.new_checkpoint:
        transparency.write_copy(done.checkpoint)
    click.echo(
        f"{out} に書き出し、バッチ {done.decision.batches} 件の行 {done.rows} 件を削除しました"
        f"(保存期間の判断 {done.decision.id}、SHA-256 {done.decision.archive_sha256})。"
    )
    click.echo(
        f"残るチェーンは先頭ハッシュ {done.decision.head_hash} から続きます。書き出したファイルは別に保管してください。"
    )


@cli.command("checkpoint")
@click.option(
    "--accept-inconsistent",
    is_flag=True,
    help="以前のチェックポイントと整合しなくても署名する(バックアップから戻した後など。矛盾は誰にでも検証で見えます)",
)
def checkpoint_command(accept_inconsistent):
    """Sign a checkpoint of the evidence log now (run it daily, e.g. from cron)."""
    try:
        row = transparency.make_checkpoint(accept_inconsistent=accept_inconsistent)
    except (transparency.LogKeyError, transparency.CheckpointRefused) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"チェックポイント {row.id} に署名しました: バッチ {row.tree_size} 件、ルートハッシュ {row.root_hash}")
    click.echo(row.note, nl=False)
    path = transparency.write_copy(row)
    if path is not None:
        click.echo(f"写しを {path} に書き出しました。")


@cli.command("key")
def key_command():
    """Print the evidence log's public key and its fingerprint (the key is made on first use)."""
    try:
        key = transparency.load_signer(create=True).verifier
    except transparency.LogKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"公開鍵: {key.encode()}")
    click.echo(f"指紋(SHA-256): {key.fingerprint}")
    click.echo(f"署名鍵のファイル: {transparency.key_path()}(所有者だけが読める設定で保管し、バックアップしてください)")


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
            f"証跡の点検を実行しました({format_range(from_, to) if from_ or to else '全期間'}、"
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
    if "unexplained_access" in run.checks:
        from evidence.explanations import systems_without_transactions

        unmatched = systems_without_transactions(period)
        if unmatched:
            click.echo(
                f"{CHECKS['unexplained_access'].title}: 受付記録が届いていないため、"
                f"{'、'.join(unmatched)} は説明の突合は対象外です。"
            )
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
            f"証跡報告書({fmt.upper()})を出力しました: {format_range(from_, to)}",
            after={"sha256": data["manifest"]["report_sha256"], "format": fmt},
        )
        db.session.commit()
    click.echo(f"{out} を出力しました(SHA-256 {data['manifest']['report_sha256']})")


@cli.command("disclose")
@click.argument("subject")
@click.option("--from", "from_", callback=_date, required=True, help="期間の開始日(YYYY-MM-DD、日本時間)")
@click.option("--to", callback=_date, required=True, help="期間の終了日(YYYY-MM-DD、日本時間)")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default="pdf", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def disclose_command(subject, from_, to, fmt, out):
    """Write a resident's access record (本人開示) for a period, as PDF or CSV (audited)."""
    from evidence.disclosure import DisclosureError, produce

    with audit.acting_as("cli"):
        try:
            data, body = produce(subject, from_, to, fmt)
        except DisclosureError as exc:
            raise click.ClickException(str(exc)) from exc
        out.write_bytes(body)
        db.session.commit()
    click.echo(
        f"{out} を出力しました: 操作 {len(data['accesses'])} 件、情報提供等 {len(data['provisions'])} 件({data['period']})"
    )


@cli.command("freshness")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "plain"]),
    default="text",
    show_default=True,
    help="text: 日本語の1行 / plain: key=value(日付はISO形式)",
)
def freshness_command(fmt):
    """One line per system: has its access log arrived on time? Exit 1 when any is overdue."""
    from evidence.freshness import CadenceError, status

    try:
        rows = status()
    except CadenceError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    for row in rows:
        click.echo(row.plain() if fmt == "plain" else row.line())
    if any(row.overdue for row in rows):
        sys.exit(1)


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
