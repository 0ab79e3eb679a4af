"""Operations on the system inventory, and the link between the inventory and assessments.

- Changes to systems, connections and files: :func:`save_system`, :func:`add_connection`,
  :func:`remove_connection`, :func:`save_pi_file`. Each bumps the revision and appends the
  whole state to the history (:func:`record_system_revision`).
- What the inventory writes into an assessment: :func:`system_values`,
  :func:`pi_file_values` (relative path -> document value), :func:`apply_selection` (pure)
  and :func:`fill_version` (writes a draft through ``pia.services.update_section``).
- 台帳と一致 by identity: an entry of a group marked ``inventory:`` holds the id of the record
  it names (``pia.schema.LINK_KEY``; entries without one are linked by name when read);
  :func:`ledger_match` lists the names that match no record and the records of the 事務
  (``System.affairs``, ``PiFile.affairs``) the version does not name.
- Publication and drift: :func:`snapshot_version` (the on-publish hook) and
  :func:`drift` (「台帳と不一致」: what the published version says that the inventory no
  longer says), :func:`drift_changes` and :func:`start_draft_from_drift`.

Services flush; the request or the CLI commits.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from common import audit
from common.db import db, utcnow
from pia.assessments.models import Affair, Assessment, AssessmentVersion
from pia.inventory.models import (
    CONNECTION_KINDS,
    Connection,
    InventoryLink,
    InventorySnapshot,
    PiFile,
    PiFileRevision,
    System,
    SystemRevision,
)
from pia.schema import (
    LINK_KEY,
    FormSchema,
    Item,
    empty_entry,
    get_value,
    ledger_group,
    load_schema,
    name_line,
    normalise_name,
    value_text,
)

#: the numbering styles of ②システムの機能 (001 uses 「1. 」, 「1 」 and 「・」)
NUMBERINGS = {"dot": "1. 見出し", "space": "1 見出し", "bullet": "・見出し"}

#: groups filled per 特定個人情報ファイル even though the schema does not mark them
#: ``inventory: pi_file`` (別添2 記録項目 and III リスク対策 name one entry per file)
PER_FILE_GROUPS = ("record_items/files", "risks/files")


def _actor_name(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return f"{actor.display_name} ({actor.username})"


# --------------------------------------------------------------------------- state & history


def system_state(system: System) -> dict[str, Any]:
    """Everything the inventory says about ``system``, as JSON (for the history)."""
    return {
        "code": system.code,
        "name": system.name,
        "abbreviation": system.abbreviation,
        "kind": system.kind,
        "hosting": system.hosting,
        "status": system.status,
        "owner_department": system.owner_department.name if system.owner_department else "",
        "departments": [d.name for d in system.authorised_departments],
        "affairs": [a.name for a in system.affairs],
        "cloud_provider": system.cloud_provider,
        "ismap": system.ismap,
        "ismap_number": system.ismap_number,
        "description": system.description,
        "functions": [dict(f) for f in system.functions or []],
        "notes": system.notes,
        "numbering": _numbering(system),
        "connections": [
            {"to": c.target.code if c.target else "", "label": c.target_label, "kind": c.kind, "flows": c.flows}
            for c in system.outgoing
        ],
    }


def pi_file_state(pi_file: PiFile) -> dict[str, Any]:
    return {
        "code": pi_file.code,
        "name": pi_file.name,
        "file_kind": pi_file.file_kind,
        "owner_department": pi_file.owner_department.name if pi_file.owner_department else "",
        "systems": [s.code for s in pi_file.systems],
        "affairs": [a.name for a in pi_file.affairs],
        "record_items": list(pi_file.record_items or []),
        "person_scope": pi_file.person_scope,
        "target_count": pi_file.target_count,
        "person_count": pi_file.person_count,
        "retention_period": pi_file.retention_period,
        "retention_note": pi_file.retention_note,
        "deletion_method": pi_file.deletion_method,
        "notes": pi_file.notes,
    }


#: labels of the state keys, for the history page
STATE_LABELS = {
    "code": "コード",
    "name": "名称",
    "abbreviation": "略称",
    "kind": "区分",
    "hosting": "設置場所",
    "status": "状態",
    "owner_department": "所管課",
    "departments": "利用を認める所属",
    "affairs": "事務",
    "cloud_provider": "クラウド事業者",
    "ismap": "ISMAP",
    "ismap_number": "ISMAP登録番号",
    "description": "機能の説明",
    "functions": "機能",
    "notes": "備考",
    "numbering": "番号の形式",
    "connections": "接続",
    "file_kind": "ファイルの種類",
    "systems": "保有するシステム",
    "record_items": "記録項目",
    "person_scope": "対象となる本人の範囲",
    "target_count": "対象人数",
    "person_count": "対象となる本人の数",
    "retention_period": "保管期間",
    "retention_note": "保管期間の妥当性",
    "deletion_method": "消去方法",
}


def record_system_revision(system: System, *, actor, summary: str) -> SystemRevision | None:
    """Append the state of ``system`` to its history when it changed (returns the row)."""
    db.session.flush()
    db.session.refresh(system)
    state = system_state(system)
    last = db.session.execute(
        sa.select(SystemRevision).filter_by(system_id=system.id).order_by(SystemRevision.revision.desc()).limit(1)
    ).scalar_one_or_none()
    if last is not None and last.state == state:
        return None
    system.revision = (last.revision if last else 0) + 1
    system.updated_at = utcnow()
    row = SystemRevision(
        system_id=system.id, revision=system.revision, actor_name=_actor_name(actor), summary=summary, state=state
    )
    db.session.add(row)
    db.session.flush()
    return row


def record_pi_file_revision(pi_file: PiFile, *, actor, summary: str) -> PiFileRevision | None:
    db.session.flush()
    db.session.refresh(pi_file)
    state = pi_file_state(pi_file)
    last = db.session.execute(
        sa.select(PiFileRevision).filter_by(pi_file_id=pi_file.id).order_by(PiFileRevision.revision.desc()).limit(1)
    ).scalar_one_or_none()
    if last is not None and last.state == state:
        return None
    pi_file.revision = (last.revision if last else 0) + 1
    pi_file.updated_at = utcnow()
    row = PiFileRevision(
        pi_file_id=pi_file.id, revision=pi_file.revision, actor_name=_actor_name(actor), summary=summary, state=state
    )
    db.session.add(row)
    db.session.flush()
    return row


@dataclass(frozen=True)
class StateChange:
    key: str
    label: str
    before: str
    after: str


def _state_text(key: str, value: Any) -> str:
    if key == "functions":
        return "\n".join(
            f"{i}. {f.get('title', '')}" + (f" {f.get('description')}" if f.get("description") else "")
            for i, f in enumerate(value or [], 1)
        )
    if key == "connections":
        return "\n".join(
            f"→ {c.get('to') or c.get('label')}({CONNECTION_KINDS.get(c.get('kind'), c.get('kind'))})"
            + (f": {c['flows']}" if c.get("flows") else "")
            for c in value or []
        )
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def state_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[StateChange]:
    """What changed between two history states (everything, for the first one)."""
    before = before or {}
    out = []
    for key, value in after.items():
        old = before.get(key)
        if old != value:
            old_text, new_text = _state_text(key, old), _state_text(key, value)
            if old_text != new_text:
                out.append(StateChange(key, STATE_LABELS.get(key, key), old_text, new_text))
    return out


def history(revisions: Iterable) -> list[tuple[Any, list[StateChange]]]:
    """(revision, changes from the one before) for revisions given newest first."""
    revisions = list(revisions)
    out = []
    for i, rev in enumerate(revisions):
        previous = revisions[i + 1].state if i + 1 < len(revisions) else None
        out.append((rev, state_changes(previous, rev.state)))
    return out


# --------------------------------------------------------------------------- changes


def save_system(system: System, *, actor, summary: str | None = None) -> System:
    """Add or update ``system`` (already filled in by the caller) and record the history."""
    new = system.id is None
    if new:
        db.session.add(system)
    db.session.flush()
    record_system_revision(system, actor=actor, summary=summary or ("登録" if new else "更新"))
    return system


def add_connection(
    source: System, *, actor, kind: str, target: System | None = None, target_label: str = "", flows: str = ""
) -> Connection:
    if kind not in CONNECTION_KINDS:
        raise ValueError(kind)
    if target is None and not target_label.strip():
        raise ValueError("a connection needs a target system or a label")
    if target is not None and target.id == source.id:
        raise ValueError("a system cannot connect to itself")
    position = max((c.position for c in source.outgoing), default=-1) + 1
    connection = Connection(
        source=source,
        target=target,
        target_label="" if target else target_label.strip(),
        kind=kind,
        flows=flows.strip(),
        position=position,
    )
    db.session.add(connection)
    db.session.flush()
    name = target.code if target else target_label
    record_system_revision(source, actor=actor, summary=f"接続の追加({name})")
    return connection


def update_connection(
    connection: Connection, *, actor, kind: str, target: System | None, target_label: str, flows: str
) -> Connection:
    if kind not in CONNECTION_KINDS:
        raise ValueError(kind)
    if target is None and not target_label.strip():
        raise ValueError("a connection needs a target system or a label")
    connection.kind = kind
    connection.target = target
    connection.target_label = "" if target else target_label.strip()
    connection.flows = flows.strip()
    db.session.flush()
    record_system_revision(connection.source, actor=actor, summary=f"接続の変更({connection.target_name})")
    return connection


def remove_connection(connection: Connection, *, actor) -> None:
    source = connection.source
    name = connection.target_name
    source.outgoing.remove(connection)
    db.session.flush()
    record_system_revision(source, actor=actor, summary=f"接続の削除({name})")


def save_pi_file(pi_file: PiFile, *, actor, summary: str | None = None) -> PiFile:
    new = pi_file.id is None
    if new:
        if not pi_file.position:
            pi_file.position = (db.session.execute(sa.select(sa.func.max(PiFile.position))).scalar() or 0) + 1
        db.session.add(pi_file)
    db.session.flush()
    record_pi_file_revision(pi_file, actor=actor, summary=summary or ("登録" if new else "更新"))
    return pi_file


# --------------------------------------------------------------------------- inventory -> document


def _numbering(system: System) -> str:
    return system.numbering if system.numbering in NUMBERINGS else "dot"


def functions_text(system: System) -> str:
    """②システムの機能 as the assessment writes it: lead, numbered functions, remarks."""
    lines: list[str] = []
    if system.description.strip():
        lines.append(system.description.strip())
    style = _numbering(system)
    for number, function in enumerate(system.functions or [], 1):
        title = str(function.get("title", "")).strip()
        marker = {"dot": f"{number}. ", "space": f"{number} ", "bullet": "・"}.get(style, f"{number}. ")
        lines.append(marker + title)
        description = str(function.get("description", "")).strip()
        if description:
            lines.append(description)
    if system.notes.strip():
        lines.append(system.notes.strip())
    return "\n".join(lines)


_GROUPED = re.compile(r"^(?P<head>[^()]+)\((?P<inner>[^()]+)\)$")


def compact_names(names: Iterable[str]) -> str:
    """Join names with 「、」, merging neighbours that share a head:
    システム基盤(市中間サーバ), システム基盤(個人基本) -> システム基盤(市中間サーバ、個人基本)."""
    parts: list[list[str]] = []  # [head, inner...] or [name]
    for name in names:
        match = _GROUPED.match(name)
        if match and parts and len(parts[-1]) > 1 and parts[-1][0] == match["head"]:
            parts[-1].append(match["inner"])
        elif match:
            parts.append([match["head"], match["inner"]])
        else:
            parts.append([name])
    return "、".join(p[0] if len(p) == 1 else f"{p[0]}({'、'.join(p[1:])})" for p in parts)


def connections_value(system: System) -> dict[str, Any]:
    """③他のシステムとの接続 as the multichoice value of the assessment forms."""
    selected = []
    others = []
    for connection in system.outgoing:
        label = CONNECTION_KINDS.get(connection.kind)
        if label and label not in selected:
            selected.append(label)
        if connection.kind == "other":
            others.append(connection.target_name)
    order = list(CONNECTION_KINDS.values())
    selected.sort(key=order.index)
    return {"selected": selected, "other": compact_names(others)}


def system_values(system: System) -> dict[str, Any]:
    """Relative path -> value of a システム entry (only paths the form has are used)."""
    return {"name": system.display_name, "functions": functions_text(system), "connections": connections_value(system)}


def pi_file_values(pi_file: PiFile) -> dict[str, Any]:
    """Relative path -> value of a ファイル entry, for every per-file group of the forms."""
    values: dict[str, Any] = {"name": pi_file.name}
    if pi_file.file_kind:
        values["basic/kind"] = pi_file.file_kind
    if pi_file.person_count:
        values["basic/person_count"] = pi_file.person_count
    if pi_file.person_scope:
        values["basic/person_scope"] = pi_file.person_scope
    if pi_file.retention_period:
        values["storage/period"] = pi_file.retention_period
    if pi_file.retention_note:
        values["storage/period_validity"] = pi_file.retention_note
    if pi_file.deletion_method:
        values["storage/erasure"] = pi_file.deletion_method
    if pi_file.record_items:
        values["items"] = [{"seq": n, "name": name, "note": ""} for n, name in enumerate(pi_file.record_items, 1)]
    return values


def _leaf(group: Item, rel_path: str) -> Item | None:
    """The item at ``rel_path`` (``basic/kind``) below ``group``, or None."""
    items = group.subitems
    found = None
    for key in rel_path.split("/"):
        found = next((i for i in items if i.key == key), None)
        if found is None:
            return None
        items = found.subitems
    return found


def _get_rel(entry: Mapping[str, Any], rel_path: str) -> Any:
    node: Any = entry
    for key in rel_path.split("/"):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _set_rel(entry: dict[str, Any], rel_path: str, value: Any) -> None:
    keys = rel_path.split("/")
    node = entry
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)


def inventory_groups(schema: FormSchema, kind: str) -> list[tuple[str, Item]]:
    """(path, group) of the groups that hold one entry per system (``system``) or file (``pi_file``)."""
    groups = list(schema.inventory_items(kind))
    if kind == "pi_file":
        have = {path for path, _ in groups}
        for path in PER_FILE_GROUPS:
            if path in have:
                continue
            try:
                item = schema.item(path)
            except KeyError:
                continue
            if item.type == "group" and any(c.key == "name" for c in item.children):
                groups.append((path, item))
    return groups


def values_for(kind: str, obj) -> dict[str, Any]:
    return system_values(obj) if kind == "system" else pi_file_values(obj)


def entry_values(group: Item, values: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``values`` that ``group`` has a place for."""
    return {rel: value for rel, value in values.items() if _leaf(group, rel) is not None}


def _names_of(kind: str, obj) -> set[str]:
    names = {obj.name}
    if kind == "system":
        names |= {obj.display_name, obj.abbreviation}
    return {normalise_name(n) for n in names if n}


def match_entries(kind: str, entries: list[Mapping[str, Any]], objects: list) -> dict[int, int]:
    """object id -> index of the entry that names it (by its link, else by normalised name)."""
    out: dict[int, int] = {}
    used: set[int] = set()
    wanted = {obj.id for obj in objects}
    for index, entry in enumerate(entries):
        link = entry.get(LINK_KEY) if isinstance(entry, Mapping) else None
        if isinstance(link, int) and link in wanted and link not in out:
            out[link] = index
            used.add(index)
    for obj in objects:
        if obj.id in out:
            continue
        names = _names_of(kind, obj)
        for index, entry in enumerate(entries):
            if index in used or not isinstance(entry, Mapping):
                continue
            if normalise_name(str(entry.get("name") or "")) in names:
                out[obj.id] = index
                used.add(index)
                break
    return out


def apply_selection(
    schema: FormSchema, document: Mapping[str, Any], kind: str, chosen: list, known: list
) -> dict[str, dict[str, Any]]:
    """The sections of ``document`` rewritten so that every group of ``kind`` lists ``chosen``
    (systems or files, in that order), filled from the inventory. Pure.

    Entries that already name a chosen object keep what the authors wrote in the items
    the inventory does not fill; entries naming an inventory object that was not chosen
    (any of ``known``) are removed; entries naming nothing in the inventory are kept, after.
    Returns ``{section_key: section_data}`` for the sections that hold such groups.
    """
    sections: dict[str, dict[str, Any]] = {}
    for path, group in inventory_groups(schema, kind):
        section_key = path.split("/", 1)[0]
        section = sections.setdefault(section_key, copy.deepcopy(dict(document.get(section_key) or {})))
        try:
            entries = list(get_value({section_key: section}, path) or [])
        except (KeyError, IndexError, TypeError):
            entries = []
        by_object = match_entries(kind, entries, known)
        claimed = set(by_object.values())
        new_entries = []
        for obj in chosen:
            index = by_object.get(obj.id)
            entry = copy.deepcopy(dict(entries[index])) if index is not None else empty_entry(group)
            for rel, value in entry_values(group, values_for(kind, obj)).items():
                _set_rel(entry, rel, value)
            if group.inventory == kind:
                entry[LINK_KEY] = obj.id
            new_entries.append(entry)
        new_entries += [copy.deepcopy(e) for i, e in enumerate(entries) if i not in claimed]
        _set_path(section, path.split("/", 1)[1], new_entries)
    return sections


def _set_path(section: dict[str, Any], rel_path: str, value: Any) -> None:
    keys = rel_path.split("/")
    node = section
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def linked_objects(version: AssessmentVersion, kind: str) -> list:
    """The inventory entries ``version`` was filled from, in the order chosen."""
    model = System if kind == "system" else PiFile
    links = (
        db.session.execute(
            sa.select(InventoryLink).filter_by(version_id=version.id, kind=kind).order_by(InventoryLink.position)
        )
        .scalars()
        .all()
    )
    objects = [db.session.get(model, link.object_id) for link in links]
    return [o for o in objects if o is not None]


def referenced_objects(version: AssessmentVersion, kind: str) -> list:
    """The inventory entries ``version`` names: the records its entries are linked to (by
    identity, else by name), else those it was last filled from."""
    named = [entry.obj for entry in ledger_entries(version, kind) if entry.obj is not None]
    if named:
        return list(dict.fromkeys(named))
    linked = linked_objects(version, kind)
    if linked:
        return linked
    model = System if kind == "system" else PiFile
    known = list(db.session.execute(sa.select(model).order_by(model.id)).scalars())
    schema = _schema(version)
    found: dict[int, tuple[int, Any]] = {}
    for path, _group in inventory_groups(schema, kind)[:1]:
        entries = _entries(version.document, path)
        for obj_id, index in match_entries(kind, entries, known).items():
            found[obj_id] = (index, next(o for o in known if o.id == obj_id))
    return [obj for _index, obj in sorted(found.values(), key=lambda pair: pair[0])]


def _schema(version: AssessmentVersion) -> FormSchema:
    return load_schema(version.assessment.form, version.edition)


def _entries(document: Mapping[str, Any], path: str) -> list:
    try:
        value = get_value(document, path)
    except (KeyError, IndexError, TypeError):
        return []
    return value if isinstance(value, list) else []


def unmatched_names(version: AssessmentVersion, kind: str, known: list) -> list[str] | None:
    """The names of the version's entries of ``kind`` that name none of the ``known`` records
    (None when the form has no such list)."""
    groups = inventory_groups(_schema(version), kind)
    if not groups:
        return None
    entries = _entries(version.document, groups[0][0])
    matched = set(match_entries(kind, entries, known).values())
    return [
        name_line(str(e.get("name") or "")) for i, e in enumerate(entries) if i not in matched and isinstance(e, dict)
    ]


def write_section(version: AssessmentVersion, section_key: str, data: Mapping[str, Any], *, actor) -> None:
    """Write one section of a draft through the assessment services."""
    from pia.assessments import services

    services.update_section(version, section_key, data, actor=actor)


def fill_version(version: AssessmentVersion, *, systems: list[System], files: list[PiFile], actor) -> list[str]:
    """Fill the システム and ファイル items of the draft ``version`` from the inventory.

    Writes through ``pia.services.update_section`` (which refuses versions that are not
    drafts and values that do not fit the form) and remembers the choice. Returns the
    keys of the sections written.
    """
    schema = _schema(version)
    sections: dict[str, dict[str, Any]] = {}
    document = copy.deepcopy(version.document)
    for kind, chosen, model in (("system", systems, System), ("pi_file", files, PiFile)):
        known = list(db.session.execute(sa.select(model)).scalars())
        # entries written from the inventory before are recognised by their link too
        previous = linked_objects(version, kind)
        for key, data in apply_selection(
            schema, document, kind, chosen, known + [o for o in previous if o not in known]
        ).items():
            document[key] = data
            sections[key] = data
    written = []
    for key, data in sections.items():
        if data != (version.document.get(key) or {}):
            write_section(version, key, data, actor=actor)
            written.append(key)
    db.session.execute(sa.delete(InventoryLink).where(InventoryLink.version_id == version.id))
    for kind, chosen in (("system", systems), ("pi_file", files)):
        for position, obj in enumerate(chosen):
            db.session.add(InventoryLink(version_id=version.id, kind=kind, object_id=obj.id, position=position))
        add_to_affair(version.assessment.affair, chosen, actor=actor)
    db.session.flush()
    audit.record(
        "update",
        "AssessmentVersion",
        version.id,
        f"{version.assessment.title} {version.label}のシステム・ファイルを台帳から記載しました"
        f"(システム{len(systems)}件、ファイル{len(files)}件)。",
        after={"systems": [s.code for s in systems], "files": [f.code for f in files]},
        actor=actor,
    )
    return written


# --------------------------------------------------------------------------- snapshot & drift


def snapshot_version(version: AssessmentVersion, actor=None) -> list[InventorySnapshot]:
    """Keep what ``version`` says about each system and file it names (the on-publish hook).

    Idempotent: a version keeps its first snapshot.
    """
    if db.session.execute(sa.select(InventorySnapshot.id).filter_by(version_id=version.id).limit(1)).first():
        return []
    schema = _schema(version)
    rows = []
    for kind in ("system", "pi_file"):
        objects = referenced_objects(version, kind)
        if not objects:
            continue
        groups = inventory_groups(schema, kind)
        per_object: dict[int, dict[str, Any]] = {obj.id: {} for obj in objects}
        for path, group in groups:
            entries = _entries(version.document, path)
            matched = match_entries(kind, entries, objects)
            for obj in objects:
                index = matched.get(obj.id)
                if index is None:
                    continue
                rels = entry_values(group, values_for(kind, obj))
                per_object[obj.id][path] = {
                    "index": index,
                    "values": {rel: copy.deepcopy(_get_rel(entries[index], rel)) for rel in rels},
                }
        add_to_affair(version.assessment.affair, objects, actor=actor)
        # the first group is the one the objects were matched by order of choice
        for obj in objects:
            row = InventorySnapshot(
                version_id=version.id,
                kind=kind,
                object_id=obj.id,
                code=obj.code,
                name=obj.name,
                revision=obj.revision,
                values=per_object[obj.id],
            )
            db.session.add(row)
            rows.append(row)
    db.session.flush()
    return rows


@dataclass(frozen=True)
class Difference:
    """One item where the published version and the inventory disagree."""

    kind: str  # system | pi_file
    code: str
    object_name: str
    path: str  # full document path
    label: str
    before: str
    after: str
    value: Any = None
    significant: bool = False
    #: "set" (change the item), "retired" (the system is 廃止 / removed from the inventory)
    op: str = "set"


@dataclass
class Drift:
    version: AssessmentVersion | None
    differences: list[Difference] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.differences)

    @property
    def objects(self) -> list[str]:
        return list(dict.fromkeys(f"{d.object_name}" for d in self.differences))


def _label(schema: FormSchema, group_path: str, group: Item, index: int, rel: str) -> tuple[str, bool]:
    leaf = _leaf(group, rel)
    try:
        section = schema.section(group_path.split("/", 1)[0])
        head = section.display_title
    except KeyError:
        head = ""
    label = " ".join(p for p in (head, group.entry_title(index), leaf.label if leaf else rel) if p)
    return label, bool(leaf and leaf.significant)


def _text(item: Item | None, value: Any) -> str:
    if item is None:
        return "" if value is None else str(value)
    if item.type == "table":
        rows = value if isinstance(value, list) else []
        return "\n".join(str(r.get("name", "")) if isinstance(r, Mapping) else str(r) for r in rows)
    return value_text(item, value)


def drift(assessment: Assessment) -> Drift:
    """Where the version in force (the latest published) no longer agrees with the inventory."""
    version = assessment.current_version
    if version is None:
        return Drift(None)
    return version_drift(version)


def version_drift(version: AssessmentVersion) -> Drift:
    snapshots = (
        db.session.execute(sa.select(InventorySnapshot).filter_by(version_id=version.id).order_by(InventorySnapshot.id))
        .scalars()
        .all()
    )
    if not snapshots:
        return Drift(version)
    schema = _schema(version)
    groups = {kind: dict(inventory_groups(schema, kind)) for kind in ("system", "pi_file")}
    out: list[Difference] = []
    for snap in snapshots:
        model = System if snap.kind == "system" else PiFile
        obj = db.session.get(model, snap.object_id)
        if obj is None or getattr(obj, "status", "active") == "retired":
            first = next(iter(snap.values.items()), None)
            path = f"{first[0]}[{first[1]['index']}]" if first else ""
            # removing the entry changes every item of it: ※ when one of them is ※ on the form
            held = [groups[snap.kind].get(group_path) for group_path in (snap.values or {})]
            significant = any(i.significant for g in held if g is not None for i in g.iter_items())
            out.append(
                Difference(
                    snap.kind,
                    snap.code,
                    snap.name,
                    path,
                    snap.name,
                    "記載あり",
                    "台帳から削除されました" if obj is None else "廃止",
                    op="retired",
                    significant=significant,
                )
            )
            continue
        current = values_for(snap.kind, obj)
        for group_path, held in (snap.values or {}).items():
            group = groups[snap.kind].get(group_path)
            if group is None:
                continue
            index = held.get("index", 0)
            for rel, before in (held.get("values") or {}).items():
                if rel not in current:
                    continue
                leaf = _leaf(group, rel)
                before_text, after_text = _text(leaf, before), _text(leaf, current[rel])
                if before_text == after_text:
                    continue
                label, significant = _label(schema, group_path, group, index, rel)
                out.append(
                    Difference(
                        snap.kind,
                        snap.code,
                        obj.name,
                        f"{group_path}[{index}]/{rel}",
                        label,
                        before_text,
                        after_text,
                        value=copy.deepcopy(current[rel]),
                        significant=significant,
                    )
                )
    return Drift(version, out)


def drift_changes(found: Drift) -> list[dict[str, Any]]:
    """The differences as ``start_draft`` changes (``{"op": "set", "path", "value"}``).

    Entries of retired systems are left for the authors to remove: they need words (移行,
    廃止の時期) that the inventory does not have.
    """
    return [{"op": "set", "path": d.path, "value": d.value} for d in found.differences if d.op == "set"]


def drift_kind(found: Drift) -> str:
    """重要な変更 / 評価書の修正 / 変更なし for the draft the differences would make (pia.diff)."""
    from pia.assessments.services import with_changes
    from pia.diff import KIND_CORRECTION, KIND_NONE, KIND_SIGNIFICANT, diff_documents

    if not found or found.version is None:
        return KIND_NONE
    schema = _schema(found.version)
    changes = drift_changes(found)
    result = (
        diff_documents(schema, found.version.document, schema, with_changes(found.version.document, changes))
        if changes
        else None
    )
    retired = [d for d in found.differences if d.op == "retired"]
    if any(d.significant for d in retired):
        return KIND_SIGNIFICANT
    if result is not None and result.kind != KIND_NONE:
        return result.kind
    return KIND_CORRECTION if retired else KIND_NONE


def start_draft_from_drift(assessment: Assessment, *, actor) -> AssessmentVersion:
    """A new draft of ``assessment`` carrying the inventory's changes."""
    from pia.assessments import services

    found = drift(assessment)
    if not found:
        raise ValueError("no drift")
    version = services.start_draft(
        assessment,
        actor=actor,
        base_version=found.version,
        changes=drift_changes(found),
        note="システム台帳の変更を反映",
    )
    # the new draft names the same inventory entries as the version it came from
    for kind in ("system", "pi_file"):
        for position, obj in enumerate(referenced_objects(found.version, kind)):
            db.session.add(InventoryLink(version_id=version.id, kind=kind, object_id=obj.id, position=position))
    db.session.flush()
    audit.record(
        "create",
        "AssessmentVersion",
        version.id,
        f"{assessment.title} {version.label}をシステム台帳との不一致{len(found.differences)}件を反映して作成しました。",
        actor=actor,
    )
    return version


def drifting_assessments() -> list[tuple[Assessment, Drift]]:
    """Every assessment whose version in force disagrees with the inventory."""
    version_ids = db.session.execute(sa.select(InventorySnapshot.version_id).distinct()).scalars().all()
    if not version_ids:
        return []
    assessments = (
        db.session.execute(
            sa.select(Assessment)
            .join(AssessmentVersion, AssessmentVersion.assessment_id == Assessment.id)
            .where(AssessmentVersion.id.in_(version_ids))
            .distinct()
        )
        .scalars()
        .all()
    )
    out = []
    for assessment in assessments:
        found = drift(assessment)
        if found:
            out.append((assessment, found))
    return out


def assessments_using(kind: str, object_id: int) -> list[Assessment]:
    """Assessments whose version in force names this system or file."""
    rows = (
        db.session.execute(sa.select(InventorySnapshot.version_id).filter_by(kind=kind, object_id=object_id))
        .scalars()
        .all()
    )
    out = []
    for version_id in rows:
        version = db.session.get(AssessmentVersion, version_id)
        if version is not None and version.assessment.current_version is version and version.assessment not in out:
            out.append(version.assessment)
    return out


def apply_drift_to_draft(draft: AssessmentVersion, found: Drift, *, actor) -> int:
    """Carry the differences into a draft that is already open; returns how many were applied.

    Entries are found in the draft by the name the published version had or the name the
    inventory has now, since the draft may have reordered them.
    """
    schema = _schema(draft)
    document = copy.deepcopy(draft.document)
    published = found.version.document if found.version is not None else {}
    applied = 0
    touched: set[str] = set()
    for difference in found.differences:
        if difference.op != "set":
            continue
        group_path, _, rel = difference.path.partition("]/")
        group_path, _, index_text = group_path.partition("[")
        old_entries = _entries(published, group_path)
        index = int(index_text)
        names = {normalise_name(difference.object_name)}
        if index < len(old_entries) and isinstance(old_entries[index], Mapping):
            names.add(normalise_name(str(old_entries[index].get("name") or "")))
        if rel == "name":
            names.add(normalise_name(_text(None, difference.value)))
        entries = _entries(document, group_path)
        target = next(
            (
                i
                for i, e in enumerate(entries)
                if isinstance(e, Mapping) and normalise_name(str(e.get("name") or "")) in names
            ),
            None,
        )
        if target is None:
            continue
        _set_rel(entries[target], rel, difference.value)
        touched.add(group_path.split("/", 1)[0])
        applied += 1
    for key in sorted(touched):
        if document.get(key) != draft.document.get(key):
            write_section(draft, key, document[key], actor=actor)
    del schema
    return applied


# --------------------------------------------------------------------------- 台帳と一致 (identity)

#: what the assessment calls the records of each kind
KIND_NOUNS = {"system": "システム", "pi_file": "特定個人情報ファイル"}


@dataclass(frozen=True)
class LedgerEntry:
    """One entry of the group that lists a version's systems (or files), and its record."""

    kind: str
    #: document path of the entry, ``basic/systems[2]``
    path: str
    name: str
    obj: Any = None
    #: ``link`` (the id the entry holds), ``name`` (matched by its name) or ``""`` (no record)
    by: str = ""
    #: the entry holds the id of a record that is no longer in the 台帳
    stale_link: bool = False

    @property
    def renamed(self) -> bool:
        """Linked by identity, but the name written differs from the record's."""
        return self.by == "link" and normalise_name(self.name) not in _names_of(self.kind, self.obj)


@dataclass
class LedgerMatch:
    """How a version's systems and files match the 台帳 (by identity)."""

    version: AssessmentVersion
    entries: list[LedgerEntry] = field(default_factory=list)
    #: records of the 事務 (not 廃止) that the version does not name
    missing: list[Any] = field(default_factory=list)

    def unknown(self, kind: str | None = None) -> list[LedgerEntry]:
        return [e for e in self.entries if e.obj is None and (kind is None or e.kind == kind)]

    def renamed(self, kind: str | None = None) -> list[LedgerEntry]:
        return [e for e in self.entries if e.obj is not None and e.renamed and (kind is None or e.kind == kind)]

    def missing_of(self, kind: str) -> list[Any]:
        model = System if kind == "system" else PiFile
        return [o for o in self.missing if isinstance(o, model)]

    def problems(self, kind: str | None = None) -> list[str]:
        """Every disagreement, in Japanese, naming the entries and records."""
        out = []
        for kind_ in [kind] if kind else list(KIND_NOUNS):
            noun = KIND_NOUNS[kind_]
            for entry in self.unknown(kind_):
                out.append(
                    f"{noun}「{entry.name}」は台帳に"
                    + ("ありません(台帳から削除されました)。" if entry.stale_link else "ありません。")
                )
            for entry in self.renamed(kind_):
                out.append(f"{noun}「{entry.name}」は、台帳では「{entry.obj.name}」です。")
            for obj in self.missing_of(kind_):
                out.append(f"台帳でこの事務の{noun}とされている「{obj.name}」が記載されていません。")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()


def ledger_entries(version: AssessmentVersion, kind: str, *, known: list | None = None) -> list[LedgerEntry]:
    """The entries of the version's first group of ``kind`` with the record each names."""
    found = ledger_group(_schema(version), kind)
    if found is None:
        return []
    path, _group = found
    model = System if kind == "system" else PiFile
    if known is None:
        known = list(db.session.execute(sa.select(model).order_by(model.id)).scalars())
    by_id = {o.id: o for o in known}
    by_name: dict[str, Any] = {}
    for obj in known:
        for name in _names_of(kind, obj):
            by_name.setdefault(name, obj)
    out = []
    for index, entry in enumerate(_entries(version.document, path)):
        if not isinstance(entry, Mapping):
            continue
        name = name_line(str(entry.get("name") or ""))
        link = entry.get(LINK_KEY)
        entry_path = f"{path}[{index}]"
        if isinstance(link, int) and not isinstance(link, bool):
            obj = by_id.get(link)
            out.append(
                LedgerEntry(kind, entry_path, name, obj, "link" if obj is not None else "", stale_link=obj is None)
            )
            continue
        if not name:
            continue
        obj = by_name.get(normalise_name(name))
        out.append(LedgerEntry(kind, entry_path, name, obj, "name" if obj is not None else ""))
    return out


def affair_records(affair: Affair, kind: str) -> list:
    """The 台帳 records of ``affair`` (廃止 systems left out)."""
    if kind == "system":
        stmt = sa.select(System).where(System.affairs.any(Affair.id == affair.id), System.status != "retired")
        return list(db.session.execute(stmt.order_by(System.id)).scalars())
    stmt = sa.select(PiFile).where(PiFile.affairs.any(Affair.id == affair.id))
    return list(db.session.execute(stmt.order_by(PiFile.position, PiFile.id)).scalars())


def ledger_match(version: AssessmentVersion) -> LedgerMatch:
    """How ``version``'s systems and files match the 台帳, by identity."""
    result = LedgerMatch(version)
    affair = version.assessment.affair
    for kind in ("system", "pi_file"):
        if ledger_group(_schema(version), kind) is None:
            continue
        entries = ledger_entries(version, kind)
        result.entries += entries
        named = {e.obj.id for e in entries if e.obj is not None}
        result.missing += [o for o in affair_records(affair, kind) if o.id not in named]
    return result


def ledger_version(assessment: Assessment) -> AssessmentVersion | None:
    """The version checked against the 台帳 for the assessment: the one in force, else the latest."""
    return assessment.current_version or assessment.latest_version


def add_to_affair(affair: Affair, objects: Iterable, *, actor=None) -> None:
    """Record that ``affair`` uses these systems / holds these files (the 台帳's side of the
    link), with a history entry for each record that did not say so yet."""
    for obj in objects:
        if affair in obj.affairs:
            continue
        obj.affairs.append(affair)
        summary = f"事務の追加({affair.name})"
        if isinstance(obj, System):
            record_system_revision(obj, actor=actor, summary=summary)
        else:
            record_pi_file_revision(obj, actor=actor, summary=summary)


def link_entries(
    version: AssessmentVersion, section_key: str, data: Mapping[str, Any], *, actor=None
) -> dict[str, Any]:
    """``data`` (a section about to be saved) with the records picked in the edit form applied:
    an entry linked to a record and left without a name takes the record's name (and what
    else the 台帳 fills). Returns a new mapping; the picked records join the 事務."""
    schema = _schema(version)
    out = copy.deepcopy(dict(data))
    picked: list = []
    for kind in ("system", "pi_file"):
        model = System if kind == "system" else PiFile
        for path, group in schema.inventory_items(kind):
            head, _, rel_path = path.partition("/")
            if head != section_key:
                continue
            try:
                entries = get_value(out, rel_path)
            except (KeyError, IndexError, TypeError):
                continue
            for entry in entries if isinstance(entries, list) else []:
                link = entry.get(LINK_KEY) if isinstance(entry, dict) else None
                obj = db.session.get(model, link) if isinstance(link, int) else None
                if obj is None:
                    if isinstance(entry, dict):
                        entry.pop(LINK_KEY, None)
                    continue
                picked.append(obj)
                for rel, value in entry_values(group, values_for(kind, obj)).items():
                    current = _get_rel(entry, rel)
                    if current in (None, "", [], {}) or (
                        isinstance(current, dict) and not current.get("selected") and not current.get("other")
                    ):
                        _set_rel(entry, rel, value)
    add_to_affair(version.assessment.affair, picked, actor=actor)
    return out


def mismatching_assessments() -> list[tuple[Assessment, LedgerMatch]]:
    """Every assessment whose version in force (else latest) does not match the 台帳."""
    out = []
    for assessment in db.session.execute(sa.select(Assessment).order_by(Assessment.id)).scalars():
        version = ledger_version(assessment)
        if version is None:
            continue
        found = ledger_match(version)
        if not found.ok:
            out.append((assessment, found))
    return out


# --------------------------------------------------------------------------- section editing (pia.procedure.Ledger)


def preselect(section, section_doc, values: dict[str, list[str]]) -> None:
    """Entries saved before they were linked show the record their name matches."""
    for item in section.items:
        if item.type != "group" or not item.inventory:
            continue
        entries = section_doc.get(item.key)
        if not isinstance(entries, list):
            continue
        model = System if item.inventory == "system" else PiFile
        known = list(db.session.execute(db.select(model).order_by(model.id)).scalars())
        for object_id, index in match_entries(item.inventory, entries, known).items():
            name = f"{item.key}-{index}-{LINK_KEY}"
            if not (values.get(name) or [""])[0]:
                values[name] = [str(object_id)]


def pickers(section) -> dict[str, list[tuple[int, str, str]]]:
    """For each group of the section that names systems or files: the 台帳 records to pick
    from, as (id, 「名称(コード)」, 名称)."""
    out: dict[str, list[tuple[int, str, str]]] = {}
    for item in section.items:
        if item.type == "group" and item.inventory:
            model = System if item.inventory == "system" else PiFile
            records = db.session.execute(db.select(model).order_by(model.id)).scalars()
            out[item.key] = [(r.id, f"{r.name}({r.code})", r.name) for r in records]
    return out
