"""Routes of the system inventory (システム台帳): the blueprint ``inventory``."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from common.auth import requires
from common.confirm import Confirmation, confirmation_page, confirmed
from common.db import db
from common.forms import ConfirmForm
from common.models import Department
from pia.assessments import services as pia_services
from pia.assessments.models import Affair, Assessment, AssessmentVersion
from pia.inventory import importer as inventory_import
from pia.inventory import services
from pia.inventory.diagram import systems_svg
from pia.inventory.forms import (
    ConnectionForm,
    ImportForm,
    PiFileForm,
    SelectionForm,
    SystemForm,
    functions_text,
    lines,
    parse_functions,
)
from pia.inventory.models import CONNECTION_KINDS, Connection, PiFile, System

bp = Blueprint("inventory", __name__)

READERS = ("officer", "editor", "admin", "auditor")
MANAGERS = ("officer", "admin")
EDITORS = ("officer", "editor")


def _system_link(system: System) -> str:
    return url_for("inventory.system", system_id=system.id)


def _departments() -> list[Department]:
    return db.session.execute(sa.select(Department).order_by(Department.sort_order, Department.id)).scalars().all()


def _systems() -> list[System]:
    return db.session.execute(sa.select(System).order_by(System.id)).scalars().all()


def _files() -> list[PiFile]:
    return db.session.execute(sa.select(PiFile).order_by(PiFile.position, PiFile.id)).scalars().all()


def _can_manage() -> bool:
    return current_user.has_role(*MANAGERS)


def _can_edit_assessment(assessment: Assessment) -> bool:
    from pia.assessments import services as pia_services

    return pia_services.can_edit(current_user, assessment)


# --------------------------------------------------------------------------- inventory


@bp.get("/inventory")
@requires(*READERS)
def index():
    """The inventory: systems, files, the diagram and the assessments that disagree with it."""
    systems = _systems()
    return render_template(
        "pia/inventory/index.html",
        systems=systems,
        files=_files(),
        diagram=systems_svg(systems, link=_system_link),
        drifting=services.drifting_assessments(),
        mismatching=services.mismatching_assessments(),
        can_manage=_can_manage(),
    )


@bp.get("/inventory/diagram.svg")
@requires(*READERS)
def diagram():
    """The diagram of every system as an SVG file."""
    svg = str(systems_svg(_systems()))
    if not svg.startswith("<svg"):
        abort(503)
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + svg,
        mimetype="image/svg+xml",
        headers={"Content-Disposition": 'attachment; filename="systems.svg"'},
    )


def _affairs() -> list[Affair]:
    return db.session.execute(sa.select(Affair).order_by(Affair.id)).scalars().all()


def _system_form(system: System | None = None) -> SystemForm:
    form = SystemForm(obj=None if request.method == "POST" else system)
    departments = _departments()
    form.owner_department.choices = [(0, "(なし)")] + [(d.id, d.name) for d in departments]
    form.departments.choices = [(d.id, d.name) for d in departments]
    form.affairs.choices = [(a.id, a.name) for a in _affairs()]
    if request.method != "POST" and system is not None:
        form.owner_department.data = system.owner_department_id or 0
        form.departments.data = [d.id for d in system.authorised_departments]
        form.affairs.data = [a.id for a in system.affairs]
        form.functions.data = functions_text(system.functions)
    return form


def _fill_system(system: System, form: SystemForm) -> None:
    for key in ("code", "name", "kind", "hosting", "status", "ismap", "numbering"):
        setattr(system, key, getattr(form, key).data)
    for key in ("abbreviation", "cloud_provider", "ismap_number", "description", "notes"):
        setattr(system, key, (getattr(form, key).data or "").strip().replace("\r\n", "\n"))
    system.owner_department_id = form.owner_department.data or None
    chosen = set(form.departments.data or [])
    system.authorised_departments = [d for d in _departments() if d.id in chosen]
    picked = set(form.affairs.data or [])
    system.affairs = [a for a in _affairs() if a.id in picked]
    system.functions = parse_functions(form.functions.data)


def _code_taken(model, code: str, own_id: int | None) -> bool:
    found = db.session.execute(sa.select(model.id).filter_by(code=code)).scalar_one_or_none()
    return found is not None and found != own_id


@bp.route("/inventory/systems/new", methods=["GET", "POST"])
@requires(*MANAGERS)
def new_system():
    """Register a system."""
    form = _system_form()
    if form.validate_on_submit():
        if _code_taken(System, form.code.data, None):
            form.code.errors.append("このコードは既に使われています。")
        else:
            system = System(code=form.code.data, name=form.name.data)
            _fill_system(system, form)
            services.save_system(system, actor=current_user)
            db.session.commit()
            flash(f"システム「{system.name}」を登録しました。", "success")
            return redirect(url_for("inventory.system", system_id=system.id))
    return render_template("pia/inventory/system_form.html", form=form, system=None), 400 if form.errors else 200


@bp.get("/inventory/systems/<int:system_id>")
@requires(*READERS)
def system(system_id):
    """A system: attributes, functions, connections, files, its neighbourhood and history."""
    item = db.get_or_404(System, system_id)
    form = ConnectionForm()
    form.target.choices = [(0, "(台帳にない接続先)")] + [
        (s.id, f"{s.name} [{s.code}]") for s in _systems() if s.id != item.id
    ]
    return render_template(
        "pia/inventory/system.html",
        system=item,
        form=form,
        confirm=ConfirmForm(),
        diagram=systems_svg(focus=item, link=_system_link),
        history=services.history(item.revisions),
        functions=services.functions_text(item),
        connections_value=services.connections_value(item),
        assessments=services.assessments_using("system", item.id),
        can_manage=_can_manage(),
    )


@bp.route("/inventory/systems/<int:system_id>/edit", methods=["GET", "POST"])
@requires(*MANAGERS)
def edit_system(system_id):
    """Change a system's attributes and functions."""
    item = db.get_or_404(System, system_id)
    form = _system_form(item)
    if form.validate_on_submit():
        if _code_taken(System, form.code.data, item.id):
            form.code.errors.append("このコードは既に使われています。")
        else:
            _fill_system(item, form)
            services.save_system(item, actor=current_user, summary=request.form.get("summary", "").strip() or None)
            db.session.commit()
            flash("システムの情報を保存しました。", "success")
            return redirect(url_for("inventory.system", system_id=item.id))
    return render_template("pia/inventory/system_form.html", form=form, system=item), 400 if form.errors else 200


@bp.post("/inventory/systems/<int:system_id>/connections")
@requires(*MANAGERS)
def add_connection(system_id):
    """Add a connection from this system."""
    item = db.get_or_404(System, system_id)
    form = ConnectionForm()
    form.target.choices = [(0, "")] + [(s.id, s.code) for s in _systems() if s.id != item.id]
    if not form.validate_on_submit():
        for field in (form.target, form.target_label, form.kind, form.flows):
            for error in field.errors:
                flash(f"{field.label.text}: {error}", "error")
        return redirect(url_for("inventory.system", system_id=item.id) + "#connections")
    target = db.session.get(System, form.target.data) if form.target.data else None
    services.add_connection(
        item,
        actor=current_user,
        kind=form.kind.data,
        target=target,
        target_label=form.target_label.data or "",
        flows=form.flows.data or "",
    )
    db.session.commit()
    flash("接続を追加しました。", "success")
    return redirect(url_for("inventory.system", system_id=item.id) + "#connections")


@bp.post("/inventory/connections/<int:connection_id>/delete")
@requires(*MANAGERS)
def delete_connection(connection_id):
    """Remove a connection."""
    connection = db.get_or_404(Connection, connection_id)
    system_id = connection.source_id
    if not confirmed():
        source = connection.source
        return confirmation_page(
            Confirmation(
                title="接続を削除します",
                lead=f"システム「{source.name}」から「{connection.target_name}」への接続({connection.kind_label})を台帳から削除します。",
                consequences=[
                    "システムの構成図と、台帳から評価書に記載する「③他のシステムとの接続」から外れます。",
                    "削除したことは台帳の履歴に残ります。",
                ],
                action_label="削除する",
                back_url=url_for("inventory.system", system_id=system_id) + "#connections",
            )
        )
    services.remove_connection(connection, actor=current_user)
    db.session.commit()
    flash("接続を削除しました。", "success")
    return redirect(url_for("inventory.system", system_id=system_id) + "#connections")


# --------------------------------------------------------------------------- files


def _file_form(pi_file: PiFile | None = None) -> PiFileForm:
    form = PiFileForm(obj=None if request.method == "POST" else pi_file)
    departments = _departments()
    form.owner_department.choices = [(0, "(なし)")] + [(d.id, d.name) for d in departments]
    form.systems.choices = [(s.id, f"{s.name} [{s.code}]") for s in _systems()]
    form.affairs.choices = [(a.id, a.name) for a in _affairs()]
    if request.method != "POST" and pi_file is not None:
        form.owner_department.data = pi_file.owner_department_id or 0
        form.systems.data = [s.id for s in pi_file.systems]
        form.affairs.data = [a.id for a in pi_file.affairs]
        form.record_items.data = "\n".join(pi_file.record_items or [])
    return form


def _fill_file(pi_file: PiFile, form: PiFileForm) -> None:
    for key in ("code", "name", "file_kind", "target_count", "person_count", "retention_period"):
        setattr(pi_file, key, getattr(form, key).data or "")
    for key in ("person_scope", "retention_note", "deletion_method", "notes"):
        setattr(pi_file, key, (getattr(form, key).data or "").strip().replace("\r\n", "\n"))
    pi_file.owner_department_id = form.owner_department.data or None
    chosen = set(form.systems.data or [])
    pi_file.systems = [s for s in _systems() if s.id in chosen]
    picked = set(form.affairs.data or [])
    pi_file.affairs = [a for a in _affairs() if a.id in picked]
    pi_file.record_items = lines(form.record_items.data)


@bp.route("/inventory/files/new", methods=["GET", "POST"])
@requires(*MANAGERS)
def new_pi_file():
    """Register a 特定個人情報ファイル."""
    form = _file_form()
    if form.validate_on_submit():
        if _code_taken(PiFile, form.code.data, None):
            form.code.errors.append("このコードは既に使われています。")
        else:
            pi_file = PiFile(code=form.code.data, name=form.name.data)
            _fill_file(pi_file, form)
            services.save_pi_file(pi_file, actor=current_user)
            db.session.commit()
            flash(f"「{pi_file.name}」を登録しました。", "success")
            return redirect(url_for("inventory.pi_file", file_id=pi_file.id))
    return render_template("pia/inventory/pi_file_form.html", form=form, pi_file=None), 400 if form.errors else 200


@bp.get("/inventory/files/<int:file_id>")
@requires(*READERS)
def pi_file(file_id):
    """A 特定個人情報ファイル with its history."""
    item = db.get_or_404(PiFile, file_id)
    return render_template(
        "pia/inventory/pi_file.html",
        pi_file=item,
        history=services.history(item.revisions),
        assessments=services.assessments_using("pi_file", item.id),
        can_manage=_can_manage(),
        diagram=systems_svg(item.systems, link=_system_link) if item.systems else None,
    )


@bp.route("/inventory/files/<int:file_id>/edit", methods=["GET", "POST"])
@requires(*MANAGERS)
def edit_pi_file(file_id):
    """Change a 特定個人情報ファイル."""
    item = db.get_or_404(PiFile, file_id)
    form = _file_form(item)
    if form.validate_on_submit():
        if _code_taken(PiFile, form.code.data, item.id):
            form.code.errors.append("このコードは既に使われています。")
        else:
            _fill_file(item, form)
            services.save_pi_file(item, actor=current_user)
            db.session.commit()
            flash("ファイルの情報を保存しました。", "success")
            return redirect(url_for("inventory.pi_file", file_id=item.id))
    return render_template("pia/inventory/pi_file_form.html", form=form, pi_file=item), 400 if form.errors else 200


# --------------------------------------------------------------------------- import / export


@bp.route("/inventory/import", methods=["GET", "POST"])
@requires(*MANAGERS)
def import_file():
    """Import systems and files from a CSV or YAML file."""
    form = ImportForm()
    errors = []
    if form.validate_on_submit():
        upload = form.file.data
        if upload is None or not getattr(upload, "filename", ""):
            form.file.errors = ["ファイルを選んでください。"]
        else:
            data = upload.read(inventory_import.MAX_BYTES + 1)
            try:
                result = inventory_import.import_file(data, upload.filename, actor=current_user)
            except inventory_import.ImportFailed as exc:
                db.session.rollback()
                errors = exc.errors
            else:
                db.session.commit()
                flash(f"システム台帳を取り込みました({result.summary})。", "success")
                return redirect(url_for("inventory.index"))
    status = 400 if errors or form.errors else 200
    return render_template(
        "pia/inventory/import.html", form=form, errors=errors, columns=inventory_import.CSV_COLUMNS
    ), status


@bp.get("/inventory/export.yaml")
@requires(*MANAGERS)
def export():
    """The inventory in the import format."""
    return Response(
        inventory_import.export_yaml(),
        mimetype="application/x-yaml",
        headers={"Content-Disposition": 'attachment; filename="inventory.yaml"'},
    )


# --------------------------------------------------------------------------- assessments


def _version_for_edit(version_id: int) -> AssessmentVersion:
    version = db.get_or_404(AssessmentVersion, version_id)
    if not _can_edit_assessment(version.assessment):
        abort(403)
    return version


@bp.route("/versions/<int:version_id>/inventory", methods=["GET", "POST"])
@requires(*EDITORS)
def version_inventory(version_id):
    """Choose the systems and files of a draft from the inventory."""
    version = _version_for_edit(version_id)
    systems, files = _systems(), _files()
    form = SelectionForm()
    form.systems.choices = [(s.id, s.name) for s in systems]
    form.files.choices = [(f.id, f.name) for f in files]
    chosen_systems = services.referenced_objects(version, "system")
    chosen_files = services.referenced_objects(version, "pi_file")
    if request.method != "POST":
        form.systems.data = [s.id for s in chosen_systems]
        form.files.data = [f.id for f in chosen_files]
    editable = version.status == "draft"
    if form.validate_on_submit():
        if not editable:
            flash("作成中の版だけ台帳から記載できます。", "error")
            return redirect(url_for("inventory.version_inventory", version_id=version.id))
        # keep the order the inventory lists them in, systems first chosen first
        picked_systems = [s for s in systems if s.id in set(form.systems.data or [])]
        picked_files = [f for f in files if f.id in set(form.files.data or [])]
        from pia.assessments import services as pia_services

        try:
            written = services.fill_version(version, systems=picked_systems, files=picked_files, actor=current_user)
        except pia_services.ValidationFailed as exc:
            db.session.rollback()
            for error in exc.errors[:10]:
                flash(f"{error.path}: {error.message}", "error")
        except (pia_services.InvalidTransition, pia_services.FrozenVersion) as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(
                "システム台帳から評価書に記載しました。" if written else "評価書の記載は台帳と同じでした(変更なし)。",
                "success",
            )
            return redirect(url_for("assessments.version", version_id=version.id))
    extra = {
        kind: names
        for kind, known in (("system", systems), ("pi_file", files))
        if (names := services.unmatched_names(version, kind, known)) is not None
    }
    return render_template(
        "pia/inventory/version_select.html",
        version=version,
        assessment=version.assessment,
        form=form,
        systems=systems,
        files=files,
        editable=editable,
        extra=extra,
        diagram=systems_svg(chosen_systems, link=_system_link) if chosen_systems else None,
    )


@bp.post("/assessments/<int:assessment_id>/inventory-drift/draft")
@requires(*EDITORS)
def drift_draft(assessment_id):
    """Start a new draft carrying the inventory's changes."""
    assessment = db.get_or_404(Assessment, assessment_id)
    if not _can_edit_assessment(assessment):
        abort(403)
    from pia.assessments import services as pia_services

    if not services.drift(assessment):
        flash("台帳との不一致はありません。", "info")
        return redirect(url_for("assessments.assessment", assessment_id=assessment.id))
    try:
        version = services.start_draft_from_drift(assessment, actor=current_user)
    except (pia_services.InvalidTransition, pia_services.ValidationFailed) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("assessments.assessment", assessment_id=assessment.id))
    db.session.commit()
    flash(f"台帳の変更を反映した{version.label}(作成中)を作成しました。", "success")
    return redirect(url_for("assessments.version", version_id=version.id))


@bp.post("/assessments/<int:assessment_id>/inventory-drift/apply")
@requires(*EDITORS)
def drift_apply(assessment_id):
    """Carry the inventory's changes into the draft already being written."""
    assessment = db.get_or_404(Assessment, assessment_id)
    if not _can_edit_assessment(assessment):
        abort(403)
    from pia.assessments import services as pia_services

    draft = assessment.open_version
    found = services.drift(assessment)
    if draft is None or draft.status != "draft" or not found:
        flash("反映できる作成中の版または不一致がありません。", "error")
        return redirect(url_for("assessments.assessment", assessment_id=assessment.id))
    try:
        count = services.apply_drift_to_draft(draft, found, actor=current_user)
    except (pia_services.InvalidTransition, pia_services.ValidationFailed, pia_services.FrozenVersion) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("assessments.assessment", assessment_id=assessment.id))
    db.session.commit()
    flash(f"台帳の変更{count}件を{draft.label}に反映しました。", "success")
    return redirect(url_for("assessments.version", version_id=draft.id))


__all__ = ["CONNECTION_KINDS"]


# --------------------------------------------------------------------------- dashboard and templates


def dashboard_panel(user):
    """Dashboard: the size of the 台帳 and the assessments that disagree with it."""
    if not user.has_role("officer", "editor", "admin", "auditor"):
        return None
    systems = db.session.execute(sa.select(sa.func.count()).select_from(System)).scalar_one()
    files = db.session.execute(sa.select(sa.func.count()).select_from(PiFile)).scalar_one()
    counts: dict = {}
    for assessment, drift in services.drifting_assessments():
        counts[assessment] = counts.get(assessment, 0) + len(drift.differences)
    for assessment, found in services.mismatching_assessments():
        counts[assessment] = counts.get(assessment, 0) + len(found.problems())
    mismatching = sorted(counts.items(), key=lambda pair: pair[0].id)
    return "pia/inventory/_panel.html", {"systems": systems, "files": files, "mismatching": mismatching}


def template_helpers() -> dict:
    """The functions the inventory's panel on the assessment pages calls."""

    def can_edit(assessment) -> bool:
        return bool(current_user.is_authenticated and pia_services.can_edit(current_user, assessment))

    def diagram(systems):
        return systems_svg(systems, link=lambda s: url_for("inventory.system", system_id=s.id))

    return {
        "inventory_drift": services.drift,
        "inventory_drift_kind": services.drift_kind,
        "inventory_ledger_version": services.ledger_version,
        "inventory_ledger_match": services.ledger_match,
        "inventory_can_edit": can_edit,
        "inventory_systems_of": lambda version: services.referenced_objects(version, "system"),
        "inventory_diagram": diagram,
    }
