"""CLI groups of the foundation: ``flask users ...`` and ``flask demo ...``."""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from common import audit, demo
from common.auth import hash_password, password_problems
from common.db import db
from common.models import ROLES, Department, User

users_cli = AppGroup("users", help="利用者の管理")
demo_cli = AppGroup("demo", help="デモデータ")


@users_cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", help="氏名(省略時はユーザーID)")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(sorted(ROLES)),
    default=["admin"],
    show_default=True,
    help="役割(複数指定可)",
)
@click.option("--department", "departments", multiple=True, help="所属コード(事務担当課の担当範囲)")
@click.password_option("--password", prompt="パスワード", confirmation_prompt="パスワード(確認)")
def create_user(username, display_name, roles, departments, password):
    """Create a user (the first administrator, for example)."""
    if db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none():
        raise click.ClickException(f"ユーザーID {username} は既に存在します。")
    problems = password_problems(password, username)
    if problems:
        raise click.ClickException(" ".join(problems))
    depts = []
    for code in departments:
        dept = db.session.execute(db.select(Department).filter_by(code=code)).scalar_one_or_none()
        if dept is None:
            raise click.ClickException(f"所属コード {code} が見つかりません。")
        depts.append(dept)
    with audit.acting_as("cli"):
        user = User(username=username, display_name=display_name or username, password_hash=hash_password(password))
        user.set_roles(roles)
        user.departments = depts
        db.session.add(user)
        db.session.commit()
    click.echo(f"ユーザー {username} を作成しました(役割: {', '.join(roles)})。")


@users_cli.command("list")
def list_users():
    """List users with their roles."""
    for user in db.session.execute(db.select(User).order_by(User.username)).scalars():
        state = "" if user.active else " (無効)"
        click.echo(f"{user.username}\t{user.display_name}\t{','.join(sorted(user.roles))}{state}")


@users_cli.command("email")
@click.argument("username")
@click.argument("address", required=False, default="")
def set_email(username, address):
    """Set the address a user's notifications go to (none: no mail)."""
    from common.mail import is_address
    from common.mynumber import REFUSED, contains_my_number

    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"ユーザーID {username} は存在しません。")
    address = address.strip()
    if contains_my_number(address):
        raise click.ClickException(REFUSED)
    if address and not is_address(address):
        raise click.ClickException(f"「{address}」はメールアドレスの形式ではありません。")
    with audit.acting_as("cli"):
        user.email = address or None
        db.session.commit()
    click.echo(f"{username} の通知先を{address or 'なし'}にしました。")


@demo_cli.command("load")
@click.option("--no-evidence", is_flag=True, help="証跡フィードを読み込まない")
def load_demo(no_evidence):
    """Load the demo body (札幌市), its users and sample data. Safe to run again."""
    if os.environ.get("HYOKA_ENV") == "production":
        raise click.ClickException("本番環境(HYOKA_ENV=production)ではデモデータを読み込めません。")
    with audit.acting_as("demo"):
        for line in demo.load(evidence=not no_evidence):
            click.echo(line)


@demo_cli.command("accounts")
def demo_accounts():
    """Print the demo accounts."""
    click.echo(demo.accounts_text())
