"""The pre-submission checklist (提出前の確認): what must hold before a version is submitted
(提出) or published (公表).

A check is a function ``func(version) -> Iterable[CheckItem]`` added with :func:`register`;
:func:`run` calls every check and returns their items in order. Each failing item names the
items of the document it is about (「II 特定個人情報ファイル1 4. 特定個人情報ファイルの取扱いの委託
委託事項」) and carries the path of the first one, so that the page links to the section to
edit. :func:`pia.assessments.services.submit` and :func:`pia.assessments.services.publish` refuse while an item
fails (:class:`ChecklistFailed`); ``flask pia check`` prints the same items.

The checks registered here: required items, the same files in every part of the document,
委託 and 提供・移転 against what is listed under them, the dates of 評価実施手続 against the
records and the 提出日 / 公表日, the システム台帳 (by identity) and the steps of the procedure.
Checks read the document as it will be submitted: a draft's 評価実施手続 is filled from the
records of the consultation and the review first, as :func:`pia.assessments.services.submit` does.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from common.jpdate import format_date
from common.mynumber import find_in_structure
from common.timeutil import today_jst
from pia import procedure
from pia.assessments.models import AssessmentVersion, InvalidTransition
from pia.schema import (
    MSG_REQUIRED,
    FormSchema,
    display_label,
    get_value,
    ledger_group,
    normalise_name,
    parse_path,
    validate,
)


@dataclass(frozen=True)
class CheckItem:
    """One line of the checklist: ``ok`` or the ``problems`` (Japanese sentences) found."""

    key: str
    label: str
    ok: bool
    problems: tuple[str, ...] = ()
    #: document path of the first item concerned (its section is the page to edit)
    path: str | None = None
    #: heading the item is listed under
    group: str = ""


Check = Callable[[AssessmentVersion], Iterable[CheckItem]]

_CHECKS: list[Check] = []

#: the day the version is to be submitted (or published) on, while :func:`run` runs
_ON: contextvars.ContextVar[date | None] = contextvars.ContextVar("checklist_on", default=None)

#: the section 評価実施手続 (全項目評価書 VI, 重点項目評価書 V)
PROCEDURE_SECTION = "procedure"


class ChecklistFailed(InvalidTransition):
    """提出 or 公表 refused: ``items`` are the checklist items that fail."""

    def __init__(self, summary: str, items: list[CheckItem]):
        problems = " ".join(p for item in items for p in (item.problems or (item.label,)))
        super().__init__(f"{summary}{problems}")
        #: one sentence (the page lists ``items`` below it)
        self.summary = summary
        self.items = items


def register(func: Check, *, before: Check | None = None) -> Check:
    """Add a check (usable as a decorator), at the end or ``before`` another; registering the
    same function twice adds it once."""
    if func not in _CHECKS:
        _CHECKS.insert(_CHECKS.index(before) if before in _CHECKS else len(_CHECKS), func)
    return func


def run(version: AssessmentVersion, *, on: date | None = None) -> list[CheckItem]:
    """Every check's items for ``version``; ``on`` is the 提出日 (or 公表日) asked for
    (default: the version's own dates, else today)."""
    token = _ON.set(on)
    try:
        return [item for check in _CHECKS for item in check(version)]
    finally:
        _ON.reset(token)


def failures(items: Iterable[CheckItem]) -> list[CheckItem]:
    return [item for item in items if not item.ok]


def content_failures(items: Iterable[CheckItem]) -> list[CheckItem]:
    """The failing items about what the authors write: not the procedure's steps nor section VI
    (評価実施手続), which the records of the consultation and the review fill."""
    return [
        item
        for item in items
        if not item.ok
        and item.group not in (GROUP_STEPS, GROUP_PROCEDURE_DATES)
        and item.key != f"required:{PROCEDURE_SECTION}"
    ]


def require_passing(version: AssessmentVersion, *, on: date | None, action: str) -> None:
    """Raise :class:`ChecklistFailed` when an item fails (``action``: 提出 / 公表)."""
    failing = failures(run(version, on=on))
    if failing:
        raise ChecklistFailed(f"提出前の確認で{len(failing)}件の問題があるため、{action}できません。", failing)


# --------------------------------------------------------------------------- helpers


def item_label(schema: FormSchema, path: str) -> str:
    """The item at ``path`` as people name it: 「II 特定個人情報ファイル1 4. … 委託事項」."""
    segments = parse_path(path)
    try:
        section = schema.section(segments[0][0])
    except KeyError:
        return path
    parts = [section.number or section.title]
    items = section.items
    for key, index in segments[1:]:
        item = next((i for i in items if i.key == key), None)
        if item is None:
            break
        if index is not None and item.type == "group":
            parts.append(display_label(item.number, item.entry_title(index)))
        else:
            parts.append(display_label(item.number, item.label))
            if index is not None:
                parts.append(f"{index + 1}行目")
        items = item.subitems
    return " ".join(p for p in parts if p)


def quoted(schema: FormSchema, path: str) -> str:
    return f"「{item_label(schema, path)}」"


def schema_of(version: AssessmentVersion) -> FormSchema:
    from pia.assessments import services

    return services.schema_of(version)


def checked_document(version: AssessmentVersion) -> dict:
    """The document as it will be (or was) submitted: a draft with its section VI filled
    from the records; a submitted or published version as stored."""
    from pia.assessments import services

    if version.frozen:
        return version.document
    return services.document_with_facts(version)


def _value(document: Mapping, path: str) -> Any:
    try:
        return get_value(document, path)
    except (KeyError, IndexError, TypeError):
        return None


def _has(schema: FormSchema, path: str) -> bool:
    try:
        schema.item(path)
    except KeyError:
        return False
    return True


def _entries(document: Mapping, path: str) -> list[Mapping]:
    value = _value(document, path)
    return [e if isinstance(e, Mapping) else {} for e in value] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def passed(key: str, label: str, group: str) -> CheckItem:
    return CheckItem(key=key, label=label, ok=True, group=group)


def failed(key: str, label: str, group: str, problems: list[str], path: str | None) -> CheckItem:
    return CheckItem(key=key, label=label, ok=False, problems=tuple(problems), path=path, group=group)


# --------------------------------------------------------------------------- 必須項目

GROUP_REQUIRED = "必須項目"


@register
def required_items(version: AssessmentVersion) -> Iterator[CheckItem]:
    """One item per section: its required items are filled."""
    schema = schema_of(version)
    missing = [e.path for e in validate(schema, checked_document(version)) if e.message == MSG_REQUIRED]
    for section in schema.sections:
        paths = [p for p in missing if p.split("/", 1)[0] == section.key]
        label = f"{section.display_title}の必須項目がすべて入力されている"
        if paths:
            yield failed(
                f"required:{section.key}",
                label,
                GROUP_REQUIRED,
                [f"{quoted(schema, p)}が未入力です。" for p in paths],
                paths[0],
            )
        else:
            yield passed(f"required:{section.key}", label, GROUP_REQUIRED)


GROUP_MY_NUMBER = "個人番号"


@register
def no_my_number(version: AssessmentVersion) -> Iterator[CheckItem]:
    """Nothing in the document holds a 個人番号, in any shape, as it will be published.

    The forms refuse one as it is typed; this looks again at everything the version will
    publish (whatever put it there: an import, an older rule, a direct write to the
    database), so that neither 提出 nor 公表 can carry one out."""
    schema = schema_of(version)
    label = "評価書に個人番号が記載されていない"
    found = [path.replace(".", "/") for path in find_in_structure(checked_document(version))]
    if not found:
        yield passed("my_number", label, GROUP_MY_NUMBER)
        return
    problems = []
    for path in found:
        try:
            where = quoted(schema, path)
        except KeyError:
            where = "評価書の記載"
        problems.append(f"{where}に個人番号と判定される番号が含まれています。削除してください。")
    yield failed("my_number", label, GROUP_MY_NUMBER, problems, found[0])


# --------------------------------------------------------------------------- 記載の一貫性

GROUP_CONSISTENCY = "記載の一貫性"

#: the parts that list one entry per 特定個人情報ファイル, compared with I 3 (the list of files)
FILE_LISTS = ("files/files", "record_items/files", "risks/files")


def _file_names(document: Mapping, path: str) -> list[str]:
    return [normalise_name(_text(e.get("name"))) for e in _entries(document, path)]


@register
def same_files(version: AssessmentVersion) -> Iterator[CheckItem]:
    """II, (別添) 記録項目 and III name the same files as I 3."""
    schema = schema_of(version)
    found = ledger_group(schema, "pi_file")
    if found is None:
        return
    list_path = found[0]
    document = checked_document(version)
    listed = [_text(e.get("name")) for e in _entries(document, list_path)]
    listed_keys = [normalise_name(n) for n in listed]
    for path in FILE_LISTS:
        if path == list_path or not _has(schema, path):
            continue
        section = schema.section(path.split("/", 1)[0])
        label = f"{section.display_title}に{quoted(schema, list_path)}と同じファイルが記載されている"
        entries = _entries(document, path)
        names = [_text(e.get("name")) for e in entries]
        keys = _file_names(document, path)
        problems = []
        first: str | None = None
        for name, key in zip(listed, listed_keys):
            if key and key not in keys:
                problems.append(f"「{name}」が{quoted(schema, path)}にありません。")
                first = first or path
        for index, (name, key) in enumerate(zip(names, keys)):
            if key and key not in listed_keys:
                problems.append(
                    f"{quoted(schema, f'{path}[{index}]')}の「{name}」は{quoted(schema, list_path)}にありません。"
                )
                first = first or f"{path}[{index}]/name"
            elif key and keys.index(key) != index:
                problems.append(f"「{name}」が{quoted(schema, path)}に重複して記載されています。")
                first = first or f"{path}[{index}]/name"
        if not problems and [k for k in keys if k] != [k for k in listed_keys if k]:
            problems.append(f"{quoted(schema, path)}のファイルの順序が{quoted(schema, list_path)}と異なります。")
            first = path
        if problems:
            yield failed(f"files:{path}", label, GROUP_CONSISTENCY, problems, first)
        else:
            yield passed(f"files:{path}", label, GROUP_CONSISTENCY)


def _risk_entry(document: Mapping, file_name: str) -> tuple[int, Mapping] | None:
    key = normalise_name(file_name)
    for index, entry in enumerate(_entries(document, "risks/files")):
        if key and normalise_name(_text(entry.get("name"))) == key:
            return index, entry
    return None


@register
def entrustment(version: AssessmentVersion) -> Iterator[CheckItem]:
    """委託の有無 agrees with 委託事項 (and 委託件数, and III's 委託の有無) for each file."""
    schema = schema_of(version)
    if not _has(schema, "files/files/entrustment/entrusted"):
        return
    document = checked_document(version)
    label = "委託の有無と委託事項が一致している"
    problems: list[str] = []
    first: str | None = None
    for index, entry in enumerate(_entries(document, "files/files")):
        base = f"files/files[{index}]/entrustment"
        part = entry.get("entrustment") if isinstance(entry.get("entrustment"), Mapping) else {}
        entrusted = _text(part.get("entrusted"))
        items = [i for i in part.get("items") or [] if isinstance(i, Mapping)]
        if entrusted == "委託しない" and items:
            problems.append(
                f"{quoted(schema, base + '/entrusted')}は「委託しない」ですが、"
                f"{quoted(schema, base + '/items')}が{len(items)}件記載されています。"
            )
            first = first or base + "/items"
        elif entrusted == "委託する" and not items:
            problems.append(
                f"{quoted(schema, base + '/entrusted')}は「委託する」ですが、"
                f"{quoted(schema, base + '/items')}が記載されていません。"
            )
            first = first or base + "/items"
        count = part.get("count")
        if entrusted == "委託する" and isinstance(count, int) and items and count != len(items):
            problems.append(
                f"{quoted(schema, base + '/count')}は{count}件ですが、"
                f"{quoted(schema, base + '/items')}は{len(items)}件です。"
            )
            first = first or base + "/count"
        risk = _risk_entry(document, _text(entry.get("name")))
        if risk is not None and entrusted and _has(schema, "risks/files/entrustment/applicability"):
            risk_index, risk_entry = risk
            risk_part = risk_entry.get("entrustment") if isinstance(risk_entry.get("entrustment"), Mapping) else {}
            stated = _text(risk_part.get("applicability"))
            if stated and stated != entrusted:
                risk_path = f"risks/files[{risk_index}]/entrustment/applicability"
                problems.append(
                    f"{quoted(schema, risk_path)}は「{stated}」ですが、"
                    f"{quoted(schema, base + '/entrusted')}は「{entrusted}」です。"
                )
                first = first or risk_path
    if problems:
        yield failed("entrustment", label, GROUP_CONSISTENCY, problems, first)
    else:
        yield passed("entrustment", label, GROUP_CONSISTENCY)


PROVIDES, TRANSFERS, NEITHER = "提供を行っている", "移転を行っている", "行っていない"


@register
def provision(version: AssessmentVersion) -> Iterator[CheckItem]:
    """提供・移転の有無 agrees with the 提供先 and 移転先 listed (and their counts, and III)."""
    schema = schema_of(version)
    if not _has(schema, "files/files/provision/status"):
        return
    document = checked_document(version)
    label = "提供・移転の有無と提供先・移転先が一致している"
    problems: list[str] = []
    first: str | None = None
    for index, entry in enumerate(_entries(document, "files/files")):
        base = f"files/files[{index}]/provision"
        part = entry.get("provision") if isinstance(entry.get("provision"), Mapping) else {}
        status = part.get("status") if isinstance(part.get("status"), Mapping) else {}
        selected = [s for s in status.get("selected") or [] if isinstance(s, str)]
        status_path = quoted(schema, base + "/status")
        for choice, key, count_key in (
            (PROVIDES, "recipients", "provision_count"),
            (TRANSFERS, "transferees", "transfer_count"),
        ):
            if not _has(schema, f"files/files/provision/{key}"):
                continue
            listed = [r for r in part.get(key) or [] if isinstance(r, Mapping)]
            where = quoted(schema, f"{base}/{key}")
            if choice in selected and not listed:
                problems.append(f"{status_path}で「{choice}」を選んでいますが、{where}が記載されていません。")
                first = first or f"{base}/{key}"
            elif listed and choice not in selected:
                problems.append(
                    f"{where}が{len(listed)}件記載されていますが、{status_path}で「{choice}」を選んでいません。"
                )
                first = first or f"{base}/status"
            count = part.get(count_key)
            if (
                listed
                and isinstance(count, int)
                and count != len(listed)
                and _has(schema, f"files/files/provision/{count_key}")
            ):
                problems.append(
                    f"{quoted(schema, f'{base}/{count_key}')}は{count}件ですが、{where}は{len(listed)}件です。"
                )
                first = first or f"{base}/{count_key}"
        if NEITHER in selected and (PROVIDES in selected or TRANSFERS in selected):
            problems.append(f"{status_path}で「{NEITHER}」と「提供・移転を行っている」の両方を選んでいます。")
            first = first or f"{base}/status"
        risk = _risk_entry(document, _text(entry.get("name")))
        if risk is not None and selected and _has(schema, "risks/files/transfer/applicability"):
            risk_index, risk_entry = risk
            risk_part = risk_entry.get("transfer") if isinstance(risk_entry.get("transfer"), Mapping) else {}
            stated = _text(risk_part.get("applicability"))
            does = PROVIDES in selected or TRANSFERS in selected
            if stated and (stated == "提供・移転する") != does:
                risk_path = f"risks/files[{risk_index}]/transfer/applicability"
                problems.append(
                    f"{quoted(schema, risk_path)}は「{stated}」ですが、{status_path}は「{'、'.join(selected)}」です。"
                )
                first = first or risk_path
    if problems:
        yield failed("provision", label, GROUP_CONSISTENCY, problems, first)
    else:
        yield passed("provision", label, GROUP_CONSISTENCY)


# --------------------------------------------------------------------------- 評価実施手続

GROUP_PROCEDURE_DATES = "評価実施手続の記載"


def _reference_days(version: AssessmentVersion) -> list[tuple[str, date]]:
    """(name, day) the dates of section VI may not be after: 提出日 and 公表日."""
    on = _ON.get()
    today = today_jst()
    if version.status == "published":
        days = [("提出日", version.submitted_on), ("公表日", version.published_on)]
    elif version.status == "submitted":
        days = [("提出日", version.submitted_on), ("公表日", on or today)]
    else:
        days = [("提出日", on or today)]
    return [(name, day) for name, day in days if day is not None]


def _fact_day(facts: Mapping, *keys: str) -> date | None:
    node: Any = facts
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return _day(node)


@register
def procedure_dates(version: AssessmentVersion) -> Iterator[CheckItem]:
    """Section VI agrees with the consultation and the review recorded, and its dates are not
    after the 提出日 / 公表日."""

    schema = schema_of(version)
    if not _has(schema, "procedure/consultation/period/start"):
        return
    document = checked_document(version)
    facts = procedure.section_vi_facts(version)
    start_path, end_path = "procedure/consultation/period/start", "procedure/consultation/period/end"
    start, end = _day(_value(document, start_path)), _day(_value(document, end_path))

    # VI 2: the period of the consultation held
    problems: list[str] = []
    first: str | None = None
    held = facts.get("consultation") or {}
    held_start = _fact_day(held, "period", "start") or _fact_day(held, "start")
    held_end = _fact_day(held, "period", "end") or _fact_day(held, "end")
    if held_start and held_end and (start, end) != (held_start, held_end):
        written = f"{format_date(start)}から{format_date(end)}まで" if start and end else "未記載"
        problems.append(
            f"{quoted(schema, 'procedure/consultation/period')}は{written}ですが、"
            f"実施した意見聴取の期間は{format_date(held_start)}から{format_date(held_end)}までです。"
        )
        first = start_path
    if start and end and end < start:
        problems.append(f"{quoted(schema, 'procedure/consultation/period')}の終了日が開始日より前です。")
        first = first or end_path
    elif (
        start
        and end
        and (end - start).days + 1 < procedure.consultation_min_days()
        and _has(schema, "procedure/consultation/shortening_reason")
        and not _text(_value(document, "procedure/consultation/shortening_reason"))
    ):
        problems.append(
            f"意見聴取の期間が{(end - start).days + 1}日間で{procedure.consultation_min_days()}日に満たないため、"
            f"{quoted(schema, 'procedure/consultation/shortening_reason')}を記載してください。"
        )
        first = first or "procedure/consultation/shortening_reason"
    label = "意見聴取の期間が実施した意見聴取と一致している"
    yield (
        failed("procedure:consultation", label, GROUP_PROCEDURE_DATES, problems, first)
        if problems
        else passed("procedure:consultation", label, GROUP_PROCEDURE_DATES)
    )

    # VI 3: the day of the review held
    problems, first = [], None
    review_path = "procedure/third_party/date"
    reviewed = _day(_value(document, review_path))
    held_review = _fact_day(facts.get("review") or {}, "date")
    if held_review and reviewed != held_review:
        written = format_date(reviewed) if reviewed else "未記載"
        problems.append(
            f"{quoted(schema, review_path)}は{written}ですが、記録された第三者点検の実施日は{format_date(held_review)}です。"
        )
        first = review_path
    if reviewed and end and reviewed < end:
        problems.append(
            f"{quoted(schema, review_path)}({format_date(reviewed)})が意見聴取の終了日({format_date(end)})より前です"
            "(第三者点検は意見聴取の後に行います)。"
        )
        first = first or review_path
    label = "第三者点検の実施日が記録と一致している"
    yield (
        failed("procedure:review", label, GROUP_PROCEDURE_DATES, problems, first)
        if problems
        else passed("procedure:review", label, GROUP_PROCEDURE_DATES)
    )

    # no date of section VI after the 提出日 / 公表日
    problems, first = [], None
    for path in ("procedure/basic_assessment/date", start_path, end_path, review_path):
        day = _day(_value(document, path))
        if day is None:
            continue
        for name, limit in _reference_days(version):
            if day > limit:
                problems.append(f"{quoted(schema, path)}({format_date(day)})が{name}({format_date(limit)})より後です。")
                first = first or path
                break
    label = "評価実施手続の日付が提出日・公表日より後になっていない"
    yield (
        failed("procedure:dates", label, GROUP_PROCEDURE_DATES, problems, first)
        if problems
        else passed("procedure:dates", label, GROUP_PROCEDURE_DATES)
    )


# --------------------------------------------------------------------------- 手続

GROUP_STEPS = "手続"


@register
def procedure_steps(version: AssessmentVersion) -> Iterator[CheckItem]:
    """Each step of the procedure this version needs (意見聴取, 第三者点検) is done."""
    from pia.assessments import services

    steps = services.procedure_steps(version)
    if not steps:
        yield passed("steps", "全項目評価の手続(意見聴取・第三者点検)を要しない", GROUP_STEPS)
        return
    for step in steps:
        label = f"{procedure.STEPS[step]}を終えている"
        problem = procedure.step_problem(step, version)
        yield (
            failed(f"step:{step}", label, GROUP_STEPS, [problem], None)
            if problem
            else passed(f"step:{step}", label, GROUP_STEPS)
        )
