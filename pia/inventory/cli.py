"""The ``flask inventory`` commands: import, export, snapshot, drift."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from common import audit
from common.db import db

inventory_cli = AppGroup("inventory", help="システム台帳")


@inventory_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", "check_only", is_flag=True, help="検査だけ行い、取り込まない")
def import_command(path: Path, check_only: bool):
    """Import systems and files from a CSV or YAML file (docs/inventory-format.md)."""
    from pia.inventory import importer as inventory_import

    data = path.read_bytes()
    parsed, errors = inventory_import.parse(data, path.name)
    if not errors:
        _systems, _files, errors = inventory_import.check(parsed)
    if errors:
        for error in sorted(errors, key=lambda e: e.line):
            click.echo(f"{path.name}: {error}", err=True)
        raise click.ClickException(f"{len(errors)}件の誤りがあるため、取り込みませんでした。")
    if check_only:
        click.echo(f"{path.name}: 誤りはありません(システム{len(parsed.systems)}件、ファイル{len(parsed.files)}件)。")
        return
    with audit.acting_as("cli"):
        result = inventory_import.import_file(data, path.name, actor="cli")
        db.session.commit()
    click.echo(f"取り込みました: {result.summary}")


@inventory_cli.command("export")
def export_command():
    """Print the inventory in the import format (YAML)."""
    from pia.inventory import importer as inventory_import

    click.echo(inventory_import.export_yaml(), nl=False)


@inventory_cli.command("snapshot")
def snapshot_command():
    """Record what each version in force says about the inventory, where not yet recorded."""
    with audit.acting_as("cli"):
        count = snapshot_published()
        db.session.commit()
    click.echo(f"{count}版の記載を記録しました。")


@inventory_cli.command("drift")
def drift_command():
    """List the assessments that disagree with the inventory (台帳と不一致)."""
    from pia.inventory import services as inventory_services

    found = inventory_services.drifting_assessments()
    mismatching = inventory_services.mismatching_assessments()
    if not found and not mismatching:
        click.echo("台帳と不一致の評価書はありません。")
        return
    for assessment, drift in found:
        click.echo(f"{assessment.title} {drift.version.label}: {len(drift.differences)}件")
        for d in drift.differences:
            click.echo(f"  {d.label}: {d.before[:40]!r} -> {d.after[:40]!r}")
    for assessment, match in mismatching:
        click.echo(f"{assessment.title} {match.version.label}: {len(match.problems())}件")
        for problem in match.problems():
            click.echo(f"  {problem}")


def snapshot_published() -> int:
    """Snapshot the versions in force that were published before the inventory knew them."""
    from pia.assessments.models import Assessment
    from pia.inventory import services as inventory_services

    count = 0
    for assessment in db.session.execute(sa.select(Assessment)).scalars():
        version = assessment.current_version
        if version is not None and inventory_services.snapshot_version(version):
            count += 1
    return count
