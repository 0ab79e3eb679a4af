"""``flask doctor``: checks the installation and says in Japanese what is wrong.

Each check is ``func() -> Result`` registered with :func:`register_check`; the foundation
registers the database, the migrations, the PDF fonts, mail and the secret key file, and the
packages add theirs in their ``init_app`` (the evidence log's key, a directory login …). The
command prints one line per check and every problem, and exits with status 1 when there is one.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from common import mail
from common.db import db

#: the families static/css/pdf.css sets Japanese text in (common.publish)
PDF_FONTS = ("IPAexMincho", "IPAexGothic")


@dataclass
class Result:
    """What a check found: ``summary`` when all is well, else each ``problems``."""

    summary: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    name: str
    label: str
    func: Callable[[], Result]
    order: int = 100


def register_check(app, name: str, label: str, func: Callable[[], Result], *, order: int = 100) -> None:
    """Add a check to ``flask doctor`` (run in ``order``, then by name)."""
    app.extensions.setdefault("hyoka_doctor", {})[name] = Check(name, label, func, order)


def checks() -> list[Check]:
    return sorted(current_app.extensions.get("hyoka_doctor", {}).values(), key=lambda c: (c.order, c.name))


def run_checks() -> list[tuple[Check, Result]]:
    out = []
    for check in checks():
        try:
            result = check.func()
        except Exception as error:  # a check that breaks is a problem to show, not a crash
            db.session.rollback()
            result = Result(problems=[f"確認中にエラーが発生しました({type(error).__name__}: {error})。"])
        out.append((check, result))
    return out


# --------------------------------------------------------------------------- the foundation's checks


def check_database() -> Result:
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        return Result(problems=[f"データベースに接続できません({reason})。HYOKA_DATABASE_URL を確認してください。"])
    bind = db.session.get_bind()
    name = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(bind.dialect.name, bind.dialect.name)
    version = ".".join(str(p) for p in (bind.dialect.server_version_info or ())[:2])
    return Result(summary=f"{name} {version}".strip() + " に接続できます。")


def check_migrations() -> Result:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    heads = set(script.get_heads())
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except sa.exc.SQLAlchemyError:
        return Result(problems=["データベースに接続できないため、マイグレーションを確認できません。"])
    if not current:
        if sa.inspect(db.engine).has_table("users"):
            return Result(
                problems=[
                    "データベースにマイグレーションの記録(alembic_version)がありません。"
                    "マイグレーション以外の方法で作成されたデータベースです。"
                ]
            )
        return Result(
            problems=["データベースにテーブルが作成されていません。flask --app app db upgrade を実行してください。"]
        )
    if current != heads:
        return Result(
            problems=[
                f"データベースのスキーマが最新ではありません(現在 {', '.join(sorted(current))}、"
                f"最新 {', '.join(sorted(heads))})。flask --app app db upgrade を実行してください。"
            ]
        )
    return Result(summary=f"最新です({', '.join(sorted(heads))})。")


def _font_files(family: str) -> list[str]:
    done = subprocess.run(
        ["fc-list", f":family={family}", "file"], capture_output=True, text=True, timeout=30, check=False
    )
    return [line.rstrip(": ").strip() for line in done.stdout.splitlines() if line.strip()]


def check_fonts() -> Result:
    if shutil.which("fc-list") is None:
        return Result(problems=["fontconfig(fc-list)が見つかりません。PDF の作成に必要です(scripts/sysdeps.sh run)。"])
    missing = [family for family in PDF_FONTS if not _font_files(family)]
    if missing:
        return Result(
            problems=[
                f"PDF に使うフォント {'、'.join(missing)} がインストールされていません。"
                "fonts-ipaexfont-mincho と fonts-ipaexfont-gothic をインストールしてください(scripts/sysdeps.sh run)。"
            ]
        )
    return Result(summary=f"{'、'.join(PDF_FONTS)} があります。")


def check_mail() -> Result:
    settings = mail.settings()
    if not settings.host:
        return Result(summary="送信しない設定です(HYOKA_SMTP_HOST が未設定のため、通知メールは送りません)。")
    if settings.problems:
        return Result(problems=list(settings.problems))
    problems = []
    if not current_app.config.get("HYOKA_BASE_URL"):
        problems.append(
            "HYOKA_BASE_URL(メールに載せるリンクの先頭、例: https://hyoka.city.example.lg.jp)を設定してください。"
        )
    try:
        answer = mail.check_server()
    except Exception as error:
        problems.append(mail.smtp_error_text(error))
        return Result(problems=problems)
    tls = {"starttls": "STARTTLS", "ssl": "SSL/TLS", "none": "暗号化なし"}[settings.tls]
    return Result(summary=f"{settings.host}:{settings.port}({tls})に接続できます: {answer}", problems=problems)


def private_file_problem(path: Path, what: str) -> str | None:
    """A problem when ``path`` can be read by others than its owner (None when fine or absent)."""
    if os.name != "posix" or not path.exists():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return f"{what} {path} を所有者以外も読める設定({mode:o})になっています。chmod 600 {path} としてください。"
    return None


def check_secret_key() -> Result:
    if os.environ.get("HYOKA_SECRET_KEY"):
        return Result(summary="HYOKA_SECRET_KEY で指定されています。")
    path = Path(current_app.instance_path) / "secret_key"
    if not path.exists():
        return Result(summary="設定で指定されています。")
    problem = private_file_problem(path, "セッションの署名鍵")
    return Result(problems=[problem]) if problem else Result(summary=f"{path} は所有者だけが読めます。")


@click.command("doctor")
@with_appcontext
def doctor_command():
    """Check the database, migrations, fonts, mail and key files; exit 1 when something is wrong."""
    problems = 0
    for check, result in run_checks():
        if result.problems:
            problems += len(result.problems)
            for problem in result.problems:
                click.echo(f"[問題] {check.label}: {problem}")
        else:
            click.echo(f"[OK] {check.label}: {result.summary}")
    if problems:
        click.echo(f"問題が {problems} 件あります。")
        raise SystemExit(1)
    click.echo("問題は見つかりませんでした。")


def init_app(app) -> None:
    app.cli.add_command(doctor_command)
    register_check(app, "database", "データベース", check_database, order=10)
    register_check(app, "migrations", "マイグレーション", check_migrations, order=20)
    register_check(app, "fonts", "PDFのフォント", check_fonts, order=30)
    register_check(app, "mail", "メール", check_mail, order=40)
    register_check(app, "secret_key", "セッションの署名鍵", check_secret_key, order=50)
