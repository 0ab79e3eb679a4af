"""Wiring of the inventory and the third-party review into the app: procedure hooks,
the ``flask inventory`` CLI, demo steps and dashboard panels."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from common import audit
from common.db import db
from common.demo import register_demo

DEMO_FILE = Path(__file__).resolve().parent / "inventory_demo.yaml"

inventory_cli = AppGroup("inventory", help="システム台帳")


def _hooks() -> None:
    from pia import inventory_services, procedure, review_services

    procedure.register_check("review", review_services.review_problem)
    procedure.register_on_enter("review", review_services.on_review_start)
    procedure.register_section_vi("review", review_services.section_vi)
    procedure.register_on_publish(inventory_services.snapshot_version)


@inventory_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", "check_only", is_flag=True, help="検査だけ行い、取り込まない")
def import_command(path: Path, check_only: bool):
    """Import systems and files from a CSV or YAML file (docs/inventory-format.md)."""
    from pia import inventory_import

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
    from pia import inventory_import

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
    from pia import inventory_services

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
    from pia import inventory_services
    from pia.models import Assessment

    count = 0
    for assessment in db.session.execute(sa.select(Assessment)).scalars():
        version = assessment.current_version
        if version is not None and inventory_services.snapshot_version(version):
            count += 1
    return count


# --------------------------------------------------------------------------- demo


def _demo_inventory(options) -> str | None:
    from pia import inventory_import
    from pia.models import System

    if db.session.execute(sa.select(System).filter_by(code="JUKI")).scalar_one_or_none() is not None:
        return None
    result = inventory_import.import_file(DEMO_FILE.read_bytes(), DEMO_FILE.name, actor="demo")
    snapped = snapshot_published()
    return f"システム台帳({result.summary}、公表済みの{snapped}版の記載を記録)"


REVIEW_BODY = "札幌市個人情報保護審議会"
DEMO_MEMBERS = [
    {"name": "委員A", "title": "会長・学識経験者(行政法)"},
    {"name": "委員B", "title": "学識経験者(情報セキュリティ)"},
    {"name": "委員C", "title": "弁護士"},
    {"name": "委員D", "title": "市民委員"},
]
DEMO_FINDINGS = [
    {
        "path": "risks/files[0]/use/risk2/usage_log_method",
        "text": "職員が自らの家族の情報を税額控除の確認のために閲覧した事案を踏まえ、操作履歴の点検の頻度と方法を具体的に記載すること。",
        "response": "操作履歴を毎月抽出し、業務上の必要性が確認できない照会がないかを所属長が点検すること、"
        "及び不適切な照会が疑われる場合は本人に確認することを追記した。",
        "changed": True,
        "note": "III 特定個人情報ファイルの取扱いプロセスにおけるリスク対策 3. 特定個人情報の使用 リスク2 特定個人情報の使用の記録 具体的な方法",
    },
    {
        "path": "basic/systems[0]/functions",
        "text": "既存住基システムに印鑑登録情報も格納している点について、個人番号と紐づく情報ではないことが読み手に分かるようにすること。",
        "response": "システム1 ②システムの機能の※書きにおいて、印鑑登録情報は個人番号と紐づいている情報ではない旨を既に記載しているため、"
        "評価書の修正は行わない。",
        "changed": False,
        "note": "",
    },
]


def _demo_review(options) -> str | None:
    from pia import review_services
    from pia.models import Affair, Assessment, AssessmentVersion, ReviewBody, ReviewFinding, ReviewSession
    from pia.schema import flatten, load_schema

    body = db.session.execute(sa.select(ReviewBody).filter_by(name=REVIEW_BODY)).scalar_one_or_none()
    if body is None:
        body = ReviewBody(
            name=REVIEW_BODY,
            kind="council",
            members=DEMO_MEMBERS,
            notes="札幌市個人情報保護法施行条例に基づき設置された附属機関。",
        )
        db.session.add(body)
        db.session.flush()
    affair = db.session.execute(sa.select(Affair).filter_by(code="juki")).scalar_one_or_none()
    if affair is None:
        return "第三者点検: 住民基本台帳事務(juki)の評価書がないため、点検の記録を省略しました。"
    versions = (
        db.session.execute(
            sa.select(AssessmentVersion)
            .join(Assessment)
            .where(Assessment.affair_id == affair.id)
            .order_by(AssessmentVersion.id)
        )
        .scalars()
        .all()
    )
    if not versions:
        return "第三者点検: 評価書の版がないため、点検の記録を省略しました。"
    first = versions[0]
    if (
        first.status == "published"
        and not db.session.execute(sa.select(ReviewSession.id).filter_by(version_id=first.id).limit(1)).first()
    ):
        # the review of 第1版 (before it was published on 2025-01-31), as its section VI 3 says
        review_services.save_session(
            ReviewSession(
                version_id=first.id,
                body=body,
                held_on=date(2025, 1, 17),
                method="札幌市個人情報保護審議会において、評価書(案)を説明し、審議を受けた。",
                result="特定個人情報保護評価指針に定める実施手続等に適合し、評価書の内容は妥当であるとの意見を得た。",
            ),
            actor="demo",
        )
    version = (
        next((v for v in versions if v.status == "review"), None)
        or next((v for v in reversed(versions) if v.status != "published"), None)
        or versions[-1]
    )
    if db.session.execute(sa.select(ReviewSession.id).filter_by(version_id=version.id).limit(1)).first():
        return None
    session = ReviewSession(
        version_id=version.id,
        body=body,
        held_on=date(2026, 1, 23),
        method="札幌市個人情報保護審議会において、評価書(案)及び意見募集の結果を説明し、審議を受けた。",
        result="評価書(案)の内容は、特定個人情報保護評価指針に定める実施手続等に適合し、"
        "リスク対策は妥当であると認められた。",
    )
    review_services.save_session(session, actor="demo")
    schema = load_schema(version.assessment.form, version.edition)
    labels = {item.path: item.label for item in flatten(schema, version.document)}
    for spec in DEMO_FINDINGS:
        path = spec["path"] if spec["path"] in labels else ""
        finding = ReviewFinding(
            version_id=version.id, session=session, item_path=path, item_label=labels.get(path, ""), text=spec["text"]
        )
        db.session.add(finding)
        db.session.flush()
        review_services.respond(
            finding,
            actor="demo",
            response=spec["response"],
            draft_changed=spec["changed"],
            change_version=version if spec["changed"] else None,
            change_note=spec["note"],
        )
    return f"第三者点検({REVIEW_BODY}、{version.assessment.title} {version.label}、指摘事項{len(DEMO_FINDINGS)}件)"


# --------------------------------------------------------------------------- dashboard


def _inventory_panel(user):
    if not user.has_role("officer", "editor", "admin", "auditor"):
        return None
    from pia import inventory_services
    from pia.models import PiFile, System

    systems = db.session.execute(sa.select(sa.func.count()).select_from(System)).scalar_one()
    files = db.session.execute(sa.select(sa.func.count()).select_from(PiFile)).scalar_one()
    counts: dict = {}
    for assessment, drift in inventory_services.drifting_assessments():
        counts[assessment] = counts.get(assessment, 0) + len(drift.differences)
    for assessment, found in inventory_services.mismatching_assessments():
        counts[assessment] = counts.get(assessment, 0) + len(found.problems())
    mismatching = sorted(counts.items(), key=lambda pair: pair[0].id)
    return "pia/inventory/_panel.html", {"systems": systems, "files": files, "mismatching": mismatching}


def _review_panel(user):
    if not user.has_role("officer", "reviewer"):
        return None
    from pia import review_services

    under_review = review_services.versions_under_review()
    pending = review_services.pending_findings() if user.has_role("officer") else []
    return "pia/review/_panel.html", {"versions": under_review, "pending": pending, "officer": user.has_role("officer")}


def _template_helpers() -> dict:
    from flask import url_for
    from flask_login import current_user

    from pia import inventory_services, review_services
    from pia.diagram import systems_svg

    def can_edit(assessment) -> bool:
        from pia import services

        return bool(current_user.is_authenticated and services.can_edit(current_user, assessment))

    def diagram(systems):
        return systems_svg(systems, link=lambda s: url_for("pia.system", system_id=s.id))

    return {
        "inventory_drift": inventory_services.drift,
        "inventory_drift_kind": inventory_services.drift_kind,
        "inventory_ledger_version": inventory_services.ledger_version,
        "inventory_ledger_match": inventory_services.ledger_match,
        "inventory_can_edit": can_edit,
        "inventory_systems_of": lambda version: inventory_services.referenced_objects(version, "system"),
        "inventory_diagram": diagram,
        "review_sessions_for": review_services.sessions_for,
        "review_findings_for": review_services.findings_for,
        "review_problem": review_services.review_problem,
    }


def init_app(app) -> None:
    from common.views import register_panel

    _hooks()
    app.jinja_env.globals.update(_template_helpers())
    app.cli.add_command(inventory_cli)
    register_demo("inventory", _demo_inventory, order=15)
    register_demo("review", _demo_review, order=18)
    register_panel(app, _inventory_panel)
    register_panel(app, _review_panel)
