"""Import of the system inventory from a CSV or YAML file (format: docs/inventory-format.md).

:func:`parse` reads the file into plain records and checks every value, collecting
line-level errors; :func:`apply` writes the records (systems and files are matched by
their code: added or updated, never deleted). :func:`import_file` does both and stores
nothing when there is a single error.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import yaml

from common import audit
from common.db import db, savepoint
from common.forms import my_number_refused
from common.models import Department
from common.mynumber import contains_my_number, find_in_structure
from pia.inventory import services
from pia.inventory.models import (
    CONNECTION_KINDS,
    FILE_KINDS,
    HOSTINGS,
    ISMAP_STATES,
    PERSON_COUNTS,
    RETENTION_PERIODS,
    SYSTEM_KINDS,
    SYSTEM_STATUSES,
    TARGET_COUNTS,
    Connection,
    PiFile,
    System,
)

MAX_BYTES = 2 * 1024 * 1024
CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")

#: CSV header: English key or Japanese heading (the headings of the 台帳's fields are its history labels)
CSV_COLUMNS = {
    "record": "種別",
    **{
        key: services.STATE_LABELS[key]
        for key in (
            "code name abbreviation kind hosting status owner_department departments cloud_provider ismap ismap_number"
        ).split()
    },
    # a system's own description (the history label 「機能の説明」 is for a function's)
    "description": "説明",
    **{key: services.STATE_LABELS[key] for key in ("numbering", "notes")},
    "title": "機能名",
    "to": "接続先コード",
    "label": "接続先名称",
    "connection_kind": "接続の種類",
    "flows": "連携する情報",
    **{
        key: services.STATE_LABELS[key]
        for key in (
            "file_kind systems record_items person_scope target_count person_count retention_period retention_note "
            "deletion_method"
        ).split()
    },
}
RECORDS = {"system": "システム", "function": "機能", "connection": "接続", "file": "ファイル"}
NUMBERING_LABELS = {"dot": "1.", "space": "1", "bullet": "・"}

SYSTEM_FIELDS = {
    "code",
    "name",
    "abbreviation",
    "kind",
    "hosting",
    "status",
    "owner_department",
    "departments",
    "cloud_provider",
    "ismap",
    "ismap_number",
    "description",
    "numbering",
    "notes",
    "functions",
    "connections",
}
FILE_FIELDS = {
    "code",
    "name",
    "file_kind",
    "owner_department",
    "systems",
    "record_items",
    "person_scope",
    "target_count",
    "person_count",
    "retention_period",
    "retention_note",
    "deletion_method",
    "notes",
}


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}行目: {self.message}" if self.line else self.message


class ImportFailed(ValueError):
    def __init__(self, errors: list[LineError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class SystemRecord:
    line: int
    code: str
    values: dict[str, Any]
    functions: list[dict[str, str]] = field(default_factory=list)
    connections: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FileRecord:
    line: int
    code: str
    values: dict[str, Any]


@dataclass
class Parsed:
    systems: list[SystemRecord] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)


@dataclass
class ImportResult:
    systems_added: int = 0
    systems_updated: int = 0
    files_added: int = 0
    files_updated: int = 0

    @property
    def summary(self) -> str:
        return (
            f"システム 新規{self.systems_added}件・更新{self.systems_updated}件、"
            f"ファイル 新規{self.files_added}件・更新{self.files_updated}件"
        )


# --------------------------------------------------------------------------- decoding


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Shift_JIS as Excel writes it."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFailed([LineError(0, "文字コードを判別できません。UTF-8 または Shift_JIS で保存してください。")])


def detect_format(filename: str, text: str) -> str:
    name = (filename or "").lower()
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith(".csv"):
        return "csv"
    return "yaml" if re.match(r"\s*(#|systems:|files:|format:)", text) else "csv"


# --------------------------------------------------------------------------- YAML


class _LineDict(dict):
    line = 0


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


MAX_NODES = 200_000


class _TooLarge(Exception):
    pass


def _yaml_value(node, budget: list[int] | None = None) -> Any:
    """Python values from a composed YAML node; mappings remember their line.

    Aliases are expanded, so the number of nodes visited is capped (「billion laughs」).
    """
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge()
    if isinstance(node, yaml.MappingNode):
        out = _LineDict()
        out.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            out[str(_yaml_value(key_node, budget))] = _yaml_value(value_node, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_yaml_value(n, budget) for n in node.value]
    return _CONSTRUCTOR.construct_object(node, deep=True)


def parse_yaml(text: str) -> tuple[Parsed, list[LineError]]:
    errors: list[LineError] = []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return Parsed(), [LineError(mark.line + 1 if mark else 0, "YAMLの書式に誤りがあります。")]
    try:
        data = _yaml_value(root) if root is not None else {}
    except _TooLarge:
        return Parsed(), [LineError(0, "YAMLの内容が大きすぎます(別名の展開を含む)。")]
    if not isinstance(data, dict):
        return Parsed(), [LineError(1, "最上位には systems と files を書いてください。")]
    unknown = set(data) - {"format", "systems", "files"}
    if unknown:
        errors.append(LineError(getattr(data, "line", 1), f"不明な項目です: {'、'.join(sorted(unknown))}"))
    parsed = Parsed()
    for raw in _list(data.get("systems"), "systems", data, errors):
        line = getattr(raw, "line", 0)
        if not isinstance(raw, dict):
            errors.append(LineError(line, "システムは項目名: 値 の形で書いてください。"))
            continue
        unknown = set(raw) - SYSTEM_FIELDS
        if unknown:
            errors.append(LineError(line, f"システムの不明な項目です: {'、'.join(sorted(unknown))}"))
        values = {k: v for k, v in raw.items() if k not in ("functions", "connections")}
        record = SystemRecord(line, _text(raw.get("code")), values)
        for function in _list(raw.get("functions"), "functions", raw, errors):
            if isinstance(function, str):
                record.functions.append({"title": function, "description": "", "line": line})
            elif isinstance(function, dict):
                record.functions.append(
                    {
                        "title": _text(function.get("title")),
                        "description": _text(function.get("description")),
                        "line": getattr(function, "line", line),
                    }
                )
            else:
                errors.append(LineError(line, "機能は title と description で書いてください。"))
        for connection in _list(raw.get("connections"), "connections", raw, errors):
            if not isinstance(connection, dict):
                errors.append(LineError(line, "接続は to / label / kind / flows で書いてください。"))
                continue
            unknown = set(connection) - {"to", "label", "kind", "flows"}
            if unknown:
                errors.append(
                    LineError(getattr(connection, "line", line), f"接続の不明な項目です: {'、'.join(sorted(unknown))}")
                )
            record.connections.append(
                {
                    "to": _text(connection.get("to")),
                    "label": _text(connection.get("label")),
                    "kind": _text(connection.get("kind")),
                    "flows": _text(connection.get("flows")),
                    "line": getattr(connection, "line", line),
                }
            )
        parsed.systems.append(record)
    for raw in _list(data.get("files"), "files", data, errors):
        line = getattr(raw, "line", 0)
        if not isinstance(raw, dict):
            errors.append(LineError(line, "ファイルは項目名: 値 の形で書いてください。"))
            continue
        unknown = set(raw) - FILE_FIELDS
        if unknown:
            errors.append(LineError(line, f"ファイルの不明な項目です: {'、'.join(sorted(unknown))}"))
        parsed.files.append(FileRecord(line, _text(raw.get("code")), dict(raw)))
    return parsed, errors


def _list(value, name: str, parent, errors: list[LineError]) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(LineError(getattr(parent, "line", 0), f"{name} は一覧(- で始まる行)で書いてください。"))
        return []
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    return str(value).strip()


# --------------------------------------------------------------------------- CSV


def _split(cell: str) -> list[str]:
    """A multi-valued cell: values on separate lines or separated by 「|」."""
    return [p.strip() for p in re.split(r"[|\n]", cell or "") if p.strip()]


def parse_csv(text: str) -> tuple[Parsed, list[LineError]]:
    errors: list[LineError] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return Parsed(), [LineError(0, "ファイルが空です。")]
    except csv.Error:
        return Parsed(), [LineError(1, "CSVの書式に誤りがあります。")]
    aliases = {**{k: k for k in CSV_COLUMNS}, **{v: k for k, v in CSV_COLUMNS.items()}}
    columns = []
    for cell in header:
        key = aliases.get(cell.strip())
        if key is None and cell.strip():
            errors.append(LineError(1, f"不明な列名です: {cell.strip()}"))
        columns.append(key)
    if "record" not in columns or "code" not in columns:
        errors.append(LineError(1, "1行目に「種別」(record)と「コード」(code)の列が必要です。"))
        return Parsed(), errors
    parsed = Parsed()
    systems: dict[str, SystemRecord] = {}

    def owner_of(line: int, noun: str) -> SystemRecord | None:
        """The system a function or connection row belongs to: the row of ``code`` above it."""
        owner = systems.get(code)
        if owner is None:
            errors.append(LineError(line, f"{noun}の行より前に、システム {code or '(コードなし)'} の行が必要です。"))
        return owner

    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(columns):
                errors.append(LineError(line, "列の数が1行目より多くなっています。"))
                continue
            cells = {key: row[i].strip() for i, key in enumerate(columns) if key and i < len(row)}
            record = cells.get("record", "")
            record = {v: k for k, v in RECORDS.items()}.get(record, record)
            code = cells.get("code", "")
            filled = {k: v for k, v in cells.items() if v and k not in ("record", "code")}
            if record == "system":
                values = {k: v for k, v in filled.items() if k in SYSTEM_FIELDS or k in ("departments",)}
                if "departments" in values:
                    values["departments"] = _split(values["departments"])
                extra = set(filled) - SYSTEM_FIELDS
                if extra:
                    errors.append(LineError(line, f"システムの行には使えない列に値があります: {_names(extra)}"))
                rec = SystemRecord(line, code, {"code": code, **values})
                if code in systems:
                    errors.append(LineError(line, f"システムコード {code} が重複しています。"))
                systems[code] = rec
                parsed.systems.append(rec)
            elif record == "function":
                extra = set(filled) - {"title", "description"}
                if extra:
                    errors.append(LineError(line, f"機能の行には使えない列に値があります: {_names(extra)}"))
                owner = owner_of(line, "機能")
                if owner is None:
                    continue
                owner.functions.append(
                    {"title": cells.get("title", ""), "description": cells.get("description", ""), "line": line}
                )
            elif record == "connection":
                extra = set(filled) - {"to", "label", "connection_kind", "flows"}
                if extra:
                    errors.append(LineError(line, f"接続の行には使えない列に値があります: {_names(extra)}"))
                owner = owner_of(line, "接続")
                if owner is None:
                    continue
                owner.connections.append(
                    {
                        "to": cells.get("to", ""),
                        "label": cells.get("label", ""),
                        "kind": cells.get("connection_kind", ""),
                        "flows": cells.get("flows", ""),
                        "line": line,
                    }
                )
            elif record == "file":
                extra = set(filled) - FILE_FIELDS
                if extra:
                    errors.append(LineError(line, f"ファイルの行には使えない列に値があります: {_names(extra)}"))
                values = {"code": code, **{k: v for k, v in filled.items() if k in FILE_FIELDS}}
                for key in ("systems", "record_items"):
                    if key in values:
                        values[key] = _split(values[key])
                parsed.files.append(FileRecord(line, code, values))
            else:
                errors.append(LineError(line, f"種別は {'、'.join(RECORDS.values())} のいずれかです(「{record}」)。"))
    except csv.Error:
        errors.append(LineError(reader.line_num, "CSVの書式に誤りがあります(引用符の閉じ忘れなど)。"))
    return parsed, errors


def _names(keys) -> str:
    return "、".join(CSV_COLUMNS.get(k, k) for k in sorted(keys))


# --------------------------------------------------------------------------- checking


def _choice(
    value: str, choices: dict[str, str], label: str, line: int, errors: list[LineError], default: str | None = None
) -> str | None:
    """A key of ``choices`` given as key or label."""
    if not value:
        return default
    if value in choices:
        return value
    for key, text in choices.items():
        if text == value:
            return key
    errors.append(
        LineError(line, f"{label}「{value}」は {'、'.join(v for v in choices.values() if v)} のいずれかです。")
    )
    return default


def _departments() -> dict[str, Department]:
    out = {}
    for dept in db.session.execute(sa.select(Department)).scalars():
        out[dept.name] = dept
        out[dept.code] = dept
    return out


def _check_code(code: str, noun: str, line: int, seen: set[str], errors: list[LineError]) -> None:
    """A system's or file's code: present, well formed, not twice in the file."""
    if not code:
        errors.append(LineError(line, f"{noun}のコードがありません。"))
    elif not CODE_RE.match(code):
        errors.append(
            LineError(line, f"コード「{code}」は英大文字で始まる英大文字・数字・_ (32文字以内)で書いてください。")
        )
    elif code in seen:
        errors.append(LineError(line, f"{noun}コード {code} が重複しています。"))
    seen.add(code)


#: labels of the fields of functions and connections (the CSV has them as columns too)
_PART_LABELS = {
    "title": "機能名",
    "description": "説明",
    "to": "接続先コード",
    "label": "接続先名称",
    "kind": "接続の種類",
    "flows": "連携する情報",
}


def _field_label(key) -> str:
    return _PART_LABELS.get(key) or CSV_COLUMNS.get(key) or str(key)


def _refuse_my_numbers(parsed: Parsed, errors: list[LineError]) -> None:
    """A 個人番号 in any field of the inventory is refused (no field of it needs one),
    one error per line and field; the number itself is not repeated in the message."""
    for record in [*parsed.systems, *parsed.files]:
        fields = {"code": record.code, **record.values}
        for key, value in fields.items():
            if contains_my_number(key) or next(find_in_structure(value), None) is not None:
                errors.append(LineError(record.line, my_number_refused(f"「{_field_label(key)}」")))
        for part in [*getattr(record, "functions", []), *getattr(record, "connections", [])]:
            for key, value in part.items():
                if key != "line" and contains_my_number(value):
                    errors.append(
                        LineError(part.get("line", record.line), my_number_refused(f"「{_field_label(key)}」"))
                    )


def check(parsed: Parsed) -> tuple[list[dict], list[dict], list[LineError]]:
    """Check the records against the rules and the database; returns clean values."""
    errors: list[LineError] = []
    _refuse_my_numbers(parsed, errors)
    departments = _departments()
    existing_codes = set(db.session.execute(sa.select(System.code)).scalars())
    file_codes: set[str] = set()
    system_codes = [r.code for r in parsed.systems]
    known_codes = existing_codes | set(system_codes)
    seen: set[str] = set()
    systems = []
    for record in parsed.systems:
        v, line = record.values, record.line
        code = record.code
        _check_code(code, "システム", line, seen, errors)
        name = _text(v.get("name"))
        if not name:
            errors.append(LineError(line, "システムの名称がありません。"))
        elif len(name) > 300:
            errors.append(LineError(line, "名称は300文字以内で書いてください。"))
        clean = {
            "code": code,
            "name": name,
            "abbreviation": _text(v.get("abbreviation")),
            "kind": _choice(_text(v.get("kind")), SYSTEM_KINDS, "区分", line, errors, "city"),
            "hosting": _choice(_text(v.get("hosting")), HOSTINGS, "設置場所", line, errors, "onprem"),
            "status": _choice(_text(v.get("status")), SYSTEM_STATUSES, "状態", line, errors, "active"),
            "ismap": _choice(_text(v.get("ismap")), ISMAP_STATES, "ISMAP", line, errors, ""),
            "ismap_number": _text(v.get("ismap_number")),
            "cloud_provider": _text(v.get("cloud_provider")),
            "description": _text(v.get("description")),
            "notes": _text(v.get("notes")),
            "numbering": _choice(_text(v.get("numbering")), NUMBERING_LABELS, "番号の形式", line, errors, "dot"),
            "owner_department": None,
            "departments": [],
            "functions": [],
            "connections": [],
            "line": line,
        }
        owner = _text(v.get("owner_department"))
        if owner:
            if owner not in departments:
                errors.append(LineError(line, f"所管課「{owner}」が所属の一覧にありません。"))
            else:
                clean["owner_department"] = departments[owner]
        raw_departments = v.get("departments") or []
        if not isinstance(raw_departments, list):
            raw_departments = _split(_text(raw_departments))
        for name_ in raw_departments:
            name_ = _text(name_)
            if name_ not in departments:
                errors.append(LineError(line, f"利用を認める所属「{name_}」が所属の一覧にありません。"))
            elif departments[name_] not in clean["departments"]:
                clean["departments"].append(departments[name_])
        for function in record.functions:
            if not function["title"]:
                errors.append(LineError(function["line"], "機能名がありません。"))
            clean["functions"].append({"title": function["title"], "description": function["description"]})
        for connection in record.connections:
            cline = connection["line"]
            kind = _choice(connection["kind"], CONNECTION_KINDS, "接続の種類", cline, errors, None)
            if kind is None and not connection["kind"]:
                errors.append(LineError(cline, "接続の種類がありません。"))
            to, label = connection["to"], connection["label"]
            if to and label:
                errors.append(LineError(cline, "接続先はコード(to)か名称(label)のどちらか一方を書いてください。"))
            elif not to and not label:
                errors.append(LineError(cline, "接続先のコード(to)か名称(label)を書いてください。"))
            elif to and to not in known_codes:
                errors.append(LineError(cline, f"接続先のシステム {to} が台帳にもファイルにもありません。"))
            elif to and to == code:
                errors.append(LineError(cline, "自分自身への接続は登録できません。"))
            clean["connections"].append({"to": to, "label": label, "kind": kind, "flows": connection["flows"]})
        systems.append(clean)
    files = []
    for record in parsed.files:
        v, line = record.values, record.line
        code = record.code
        _check_code(code, "ファイル", line, file_codes, errors)
        name = _text(v.get("name"))
        if not name:
            errors.append(LineError(line, "ファイルの名称がありません。"))
        clean = {"code": code, "name": name, "line": line, "owner_department": None}
        for key, choices, label in (
            ("file_kind", FILE_KINDS, "ファイルの種類"),
            ("target_count", TARGET_COUNTS, "対象人数"),
            ("person_count", PERSON_COUNTS, "対象となる本人の数"),
            ("retention_period", RETENTION_PERIODS, "保管期間"),
        ):
            value = _text(v.get(key))
            if value and value not in choices:
                errors.append(LineError(line, f"{label}「{value}」は {'、'.join(choices)} のいずれかです。"))
            clean[key] = value or (FILE_KINDS[0] if key == "file_kind" else "")
        for key in ("person_scope", "retention_note", "deletion_method", "notes"):
            clean[key] = _text(v.get(key))
        items = v.get("record_items") or []
        clean["record_items"] = [
            _text(i) for i in (items if isinstance(items, list) else _split(_text(items))) if _text(i)
        ]
        holders = v.get("systems") or []
        holders = [_text(c) for c in (holders if isinstance(holders, list) else _split(_text(holders)))]
        for holder in holders:
            if holder not in known_codes:
                errors.append(LineError(line, f"保有するシステム {holder} が台帳にもファイルにもありません。"))
        clean["systems"] = holders
        owner = _text(v.get("owner_department"))
        if owner:
            if owner not in departments:
                errors.append(LineError(line, f"所管課「{owner}」が所属の一覧にありません。"))
            else:
                clean["owner_department"] = departments[owner]
        files.append(clean)
    if not systems and not files and not errors:
        errors.append(LineError(0, "取り込むシステムもファイルもありません。"))
    return systems, files, errors


# --------------------------------------------------------------------------- applying


def apply(systems: list[dict], files: list[dict], *, actor) -> ImportResult:
    """Write checked records; systems and files are matched by code."""
    result = ImportResult()
    by_code = {s.code: s for s in db.session.execute(sa.select(System)).scalars()}
    touched: list[tuple[System, bool]] = []
    for values in systems:
        system = by_code.get(values["code"])
        new = system is None
        if new:
            system = System(code=values["code"], name=values["name"])
            db.session.add(system)
            by_code[system.code] = system
        for key in (
            "name",
            "abbreviation",
            "kind",
            "hosting",
            "status",
            "ismap",
            "ismap_number",
            "cloud_provider",
            "description",
            "notes",
            "numbering",
        ):
            setattr(system, key, values[key])
        system.owner_department = values["owner_department"]
        system.authorised_departments = list(values["departments"])
        system.functions = [dict(f) for f in values["functions"]]
        touched.append((system, new))
    db.session.flush()
    for values, (system, _new) in zip(systems, touched):
        wanted = [(c["to"], c["label"], c["kind"], c["flows"]) for c in values["connections"]]
        current = [(c.target.code if c.target else "", c.target_label, c.kind, c.flows) for c in system.outgoing]
        if wanted != current:
            system.outgoing.clear()
            db.session.flush()
            for position, (to, label, kind, flows) in enumerate(wanted):
                system.outgoing.append(
                    Connection(
                        target=by_code[to] if to else None,
                        target_label=label,
                        kind=kind,
                        flows=flows,
                        position=position,
                    )
                )
    db.session.flush()
    for system, new in touched:
        if services.record_system_revision(system, actor=actor, summary="取込") is not None:
            if new:
                result.systems_added += 1
            else:
                result.systems_updated += 1
    existing_files = {f.code: f for f in db.session.execute(sa.select(PiFile)).scalars()}
    position = max((f.position for f in existing_files.values()), default=0)
    for values in files:
        pi_file = existing_files.get(values["code"])
        new = pi_file is None
        if new:
            position += 1
            pi_file = PiFile(code=values["code"], name=values["name"], position=position)
            db.session.add(pi_file)
        for key in FILE_FIELDS - {"code", "owner_department", "systems"}:  # those two are records
            setattr(pi_file, key, values[key])
        pi_file.owner_department = values["owner_department"]
        pi_file.systems = [by_code[c] for c in values["systems"]]
        db.session.flush()
        if services.record_pi_file_revision(pi_file, actor=actor, summary="取込") is not None:
            if new:
                result.files_added += 1
            else:
                result.files_updated += 1
    return result


def parse(data: bytes | str, filename: str = "") -> tuple[Parsed, list[LineError]]:
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            return Parsed(), [LineError(0, "ファイルが大きすぎます(2MBまで)。")]
        text = decode(data)
    else:
        text = data
    fmt = detect_format(filename, text)
    return parse_yaml(text) if fmt == "yaml" else parse_csv(text)


def import_file(data: bytes | str, filename: str = "", *, actor) -> ImportResult:
    """Parse, check and write; raises :class:`ImportFailed` (nothing written) on any error."""
    parsed, errors = parse(data, filename)
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.line))
    systems, files, errors = check(parsed)
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.line))
    with savepoint():
        result = apply(systems, files, actor=actor)
    audit.record(
        "import",
        "System",
        None,
        f"システム台帳を取り込みました({result.summary})。",
        after={"systems": [s["code"] for s in systems], "files": [f["code"] for f in files], "filename": filename},
        actor=actor,
    )
    return result


def export_yaml() -> str:
    """The whole inventory in the import format (YAML)."""
    systems = []
    for system in db.session.execute(sa.select(System).order_by(System.id)).scalars():
        state = services.system_state(system)
        entry: dict[str, Any] = {"code": system.code, "name": system.name}
        if system.abbreviation:
            entry["abbreviation"] = system.abbreviation
        entry.update({"kind": system.kind_label, "hosting": system.hosting_label, "status": system.status_label})
        if state["owner_department"]:
            entry["owner_department"] = state["owner_department"]
        if state["departments"]:
            entry["departments"] = state["departments"]
        for key in ("cloud_provider", "ismap_number"):
            if state[key]:
                entry[key] = state[key]
        if system.ismap:
            entry["ismap"] = system.ismap_label
        if system.description:
            entry["description"] = system.description
        entry["numbering"] = NUMBERING_LABELS.get(system.numbering, "1.")
        if system.functions:
            entry["functions"] = [
                {"title": f.get("title", ""), **({"description": f["description"]} if f.get("description") else {})}
                for f in system.functions
            ]
        if system.notes:
            entry["notes"] = system.notes
        if system.outgoing:
            entry["connections"] = [
                {
                    **({"to": c.target.code} if c.target else {"label": c.target_label}),
                    "kind": c.kind_label,
                    **({"flows": c.flows} if c.flows else {}),
                }
                for c in system.outgoing
            ]
        systems.append(entry)
    files = []
    for pi_file in db.session.execute(sa.select(PiFile).order_by(PiFile.position, PiFile.id)).scalars():
        state = services.pi_file_state(pi_file)
        files.append({k: v for k, v in state.items() if v not in ("", [], None)})
    return yaml.safe_dump(
        {"format": "hyoka-inventory/1", "systems": systems, "files": files},
        allow_unicode=True,
        sort_keys=False,
        width=1000,
    )
