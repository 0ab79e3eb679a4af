"""Operations on affairs, assessments and their versions.

Services take validated data and the acting user, change models, write the audit trail
and flush; the request (or the CLI command) commits. Other packages call:

- :func:`start_draft` and :func:`update_section` (the inventory fills the システム/ファイル
  groups of a draft),
- :func:`declared_basis` (the evidence checks compare provision records with it),
- :func:`procedure_steps` and :func:`previous_published` (the consultation and review pages).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from common import audit
from common.db import db, savepoint, utcnow
from common.jpdate import format_date
from common.models import Setting, User
from common.timeutil import today_jst
from pia import procedure, threshold
from pia.assessments.models import (
    ACTION_STATUSES,
    ANNUAL_REVIEW_RESULTS,
    ActionItem,
    Affair,
    AnnualReview,
    Assessment,
    AssessmentVersion,
    ChangeLogNote,
    FrozenVersion,
    InvalidTransition,
    ThresholdRecord,
)
from pia.diff import (
    TIMING_AFTER,
    TIMING_BEFORE,
    TIMING_NOTES,
    DocumentDiff,
    change_log_rows,
    diff_documents,
    logged_changes,
)
from pia.schema import (
    FORMS,
    MSG_REQUIRED,
    FieldError,
    FormSchema,
    SchemaNotFound,
    empty_document,
    flatten,
    get_value,
    load_schema,
    set_value,
    validate,
)

__all__ = [
    "Conflict",
    "ValidationFailed",
    "PermissionDenied",
    "InvalidTransition",
    "FrozenVersion",
    "start_draft",
    "update_section",
    "declared_basis",
    "Declaration",
]

RULES_KEY = "pia.threshold_rules"
#: the answer that calls for an action (行動計画)
ISSUE_ANSWER = "課題が残されている"
#: paths left out of the 変更箇所 (the cover's 公表日 changes with every version)
CHANGE_LOG_SKIP = ("cover/published_on", "changelog/")
REASSESSMENT_YEARS = 5


# --------------------------------------------------------------------------- errors


class PermissionDenied(Exception):
    """The acting user may not do this (role or department)."""


class ValidationFailed(Exception):
    """The data does not fit the schema; ``errors`` are :class:`pia.schema.FieldError`."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


@dataclass
class Conflict(Exception):
    """Someone saved the draft after the revision the user started from.

    ``mine`` is what the user tried to save (section data), ``theirs`` what is saved now,
    ``revision`` the current revision to name when the user has chosen.
    """

    version: AssessmentVersion
    section_key: str
    mine: dict
    theirs: dict
    revision: int
    expected_revision: int
    saved_by: str = ""

    def __str__(self):
        return (
            f"version {self.version.id} section {self.section_key}: revision "
            f"{self.expected_revision} is stale (now {self.revision})"
        )


# --------------------------------------------------------------------------- permissions


def is_officer(user: User) -> bool:
    return user.has_role("officer")


def sees_everything(user: User) -> bool:
    """Officers, auditors and administrators read every version of every assessment."""
    return user.has_role("officer", "auditor", "admin")


def in_department(user: User, assessment: Assessment) -> bool:
    return assessment.affair.department_id in user.department_ids


def can_edit(user: User, assessment: Assessment) -> bool:
    """Officers edit every draft; editors only those of their own departments' affairs."""
    if is_officer(user):
        return True
    return user.has_role("editor") and in_department(user, assessment)


def department_scope(user: User) -> frozenset[int] | None:
    """The departments whose internal records ``user`` sees — drafts, action plans,
    しきい値判断, deadlines: ``None`` for all of them (officers, auditors, administrators),
    an editor's own departments, none for anyone else (a reviewer reads only the versions
    under review, through the review pages)."""
    if sees_everything(user):
        return None
    if user.has_role("editor"):
        return frozenset(user.department_ids)
    return frozenset()


def sees_internals(user: User, affair: Affair) -> bool:
    """Whether ``user`` sees the internal records of ``affair`` (:func:`department_scope`)."""
    scope = department_scope(user)
    return scope is None or affair.department_id in scope


def can_see_assessment(user: User, assessment: Assessment) -> bool:
    """The assessment pages: whoever sees its internals, and every editor once a version
    is published (what the public portal shows anyway)."""
    if sees_internals(user, assessment.affair):
        return True
    return user.has_role("editor") and bool(assessment.published_versions)


def can_read_version(user: User, version: AssessmentVersion) -> bool:
    """Officers, auditors and admins: every version. Editors: published versions, and every
    version of their own departments' affairs. Reviewers: versions under third-party review."""
    if sees_internals(user, version.assessment.affair):
        return True
    if user.has_role("editor") and version.status == "published":
        return True
    return user.has_role("reviewer") and version.status == "review"


def readable_versions_clause(user: User) -> sa.ColumnElement[bool]:
    """:func:`can_read_version` as SQL, for a query joining AssessmentVersion, Assessment and Affair."""
    scope = department_scope(user)
    if scope is None:
        return sa.true()
    allowed = []
    if scope:
        allowed.append(Affair.department_id.in_(scope))
    if user.has_role("editor"):
        allowed.append(AssessmentVersion.status == "published")
    if user.has_role("reviewer"):
        allowed.append(AssessmentVersion.status == "review")
    return sa.or_(*allowed) if allowed else sa.false()


def visible_versions(user: User, assessment: Assessment) -> list[AssessmentVersion]:
    return [v for v in assessment.versions if can_read_version(user, v)]


def require_edit(user: User, assessment: Assessment) -> None:
    if not can_edit(user, assessment):
        raise PermissionDenied("この評価書を編集する権限がありません。")


def require_officer(user: User) -> None:
    if not is_officer(user):
        raise PermissionDenied("この操作は保護評価担当のみ行えます。")


# --------------------------------------------------------------------------- schema helpers


def schema_of(version: AssessmentVersion) -> FormSchema:
    return load_schema(version.assessment.form, version.edition)


def format_errors(errors: Iterable[FieldError]) -> list[FieldError]:
    """The errors that block a save (everything but missing required items)."""
    return [e for e in errors if e.message != MSG_REQUIRED]


def missing_required(version: AssessmentVersion) -> list[FieldError]:
    return [e for e in validate(schema_of(version), version.document) if e.message == MSG_REQUIRED]


# --------------------------------------------------------------------------- affairs, assessments


def create_affair(*, code: str, name: str, department, actor) -> Affair:
    affair = Affair(code=code, name=name, department=department)
    db.session.add(affair)
    db.session.flush()
    return affair


def create_assessment(
    affair: Affair,
    *,
    form: str,
    actor,
    title: str | None = None,
    number: str | None = None,
    edition: str | None = None,
    document: Mapping | None = None,
    with_draft: bool = True,
) -> Assessment:
    """A new assessment of ``affair`` in ``form`` with a draft 第1版 (empty, or ``document``).

    ``with_draft=False`` creates the assessment alone (for :func:`add_published_version`).
    """
    if form not in FORMS:
        raise ValueError(form)
    if any(a.form == form for a in affair.assessments):
        raise ValueError(f"{affair.name}の{FORMS[form]}は既にあります。")
    schema = load_schema(form, edition)
    assessment = Assessment(affair=affair, form=form, number=number, title=title or f"{affair.name} {FORMS[form]}")
    db.session.add(assessment)
    if not with_draft:
        db.session.flush()
        audit.record("create", "Assessment", assessment.id, f"{assessment.title}を作成しました。", actor=actor)
        return assessment
    doc = copy.deepcopy(dict(document)) if document is not None else _prefilled(schema, assessment)
    _add_draft(assessment, number=1, edition=schema.edition, document=doc, actor=actor)
    audit.record("create", "Assessment", assessment.id, f"{assessment.title}を作成しました。", actor=actor)
    return assessment


def add_published_version(
    assessment: Assessment,
    document: Mapping,
    *,
    actor,
    submitted_on: date,
    published_on: date,
    change_kind: str = "initial",
    note: str = "",
) -> AssessmentVersion:
    """Record a version published before this system was used (history), as 公表済み."""
    schema = load_schema(assessment.form)
    errors = format_errors(validate(schema, document))
    if errors:
        raise ValidationFailed(errors)
    number = (assessment.versions[-1].number + 1) if assessment.versions else 1
    version = AssessmentVersion(
        assessment=assessment,
        number=number,
        edition=schema.edition,
        document=copy.deepcopy(dict(document)),
        submitted_on=submitted_on,
        published_on=published_on,
        change_kind=change_kind,
        note=note,
        created_by_id=_uid(actor),
        submitted_by_id=_uid(actor),
        published_by_id=_uid(actor),
        status="published",
    )
    _add_version(version)
    audit.record(
        "import",
        "AssessmentVersion",
        version.id,
        f"{assessment.title} {version.label}(公表日 {format_date(published_on)})を登録しました。",
        actor=actor,
    )
    return version


def prefilled_document(assessment: Assessment) -> dict:
    """An empty document of the assessment's form with what the system knows filled in."""
    return _prefilled(load_schema(assessment.form), assessment)


def _prefilled(schema: FormSchema, assessment: Assessment) -> dict:
    doc = empty_document(schema)
    affair = assessment.affair
    cover = doc.get("cover", {})
    if "name" in cover:
        cover["name"] = assessment.title
    if "assessment_number" in cover and assessment.number:
        cover["assessment_number"] = assessment.number
    if "body_name" in cover:
        cover["body_name"] = _setting("body.head", "") or ""
    for section_key in ("basic", "related"):
        section = doc.get(section_key)
        if isinstance(section, dict):
            if isinstance(section.get("affair"), dict):
                section["affair"]["name"] = affair.name
            if isinstance(section.get("department"), dict):
                section["department"]["name"] = affair.department.name
    return doc


def _setting(key: str, default=None):
    row = db.session.get(Setting, key)
    return default if row is None else row.value


def _uid(actor) -> int | None:
    return getattr(actor, "id", None)


def _actor_name(user_id: int | None) -> str:
    user = db.session.get(User, user_id) if user_id else None
    return user.display_name if user else ""


# --------------------------------------------------------------------------- versions


def previous_published(version: AssessmentVersion) -> AssessmentVersion | None:
    """The published version in force before ``version`` (the last published one below it)."""
    earlier = [v for v in version.assessment.versions if v.status == "published" and v.number < version.number]
    return earlier[-1] if earlier else None


def start_draft(
    assessment: Assessment,
    *,
    actor,
    base_version: AssessmentVersion | None = None,
    changes: Iterable[Mapping] | Mapping[str, Any] | None = None,
    note: str = "",
) -> AssessmentVersion:
    """Start a new draft version of ``assessment``.

    :param base_version: the version to start from (default: the current published version,
        else the latest version); a past version here restores it as a new draft.
    :param changes: applied to the copy: a list of ``pia.assessments.demo_data.apply_changes`` operations
        (``{"op": "set", "path": ..., "value": ...}``) or a mapping ``{path: value}``.
    :raises InvalidTransition: when a version is already being worked on.
    """
    open_version = assessment.open_version
    if open_version is not None:
        raise InvalidTransition(
            f"{open_version.label}({open_version.status_label})があるため、新しい版は作成できません。"
        )
    default_base = assessment.current_version or assessment.latest_version
    base = base_version or default_base
    restored = base_version is not None and base_version is not default_base
    if base is not None and base.assessment_id != assessment.id:
        raise ValueError("base version of another assessment")
    schema = load_schema(assessment.form, base.edition if base else None)
    document = copy.deepcopy(base.document) if base is not None else _prefilled(schema, assessment)
    if changes:
        document = with_changes(document, changes)
    errors = format_errors(validate(schema, document))
    if errors:
        raise ValidationFailed(errors)
    number = (assessment.versions[-1].number + 1) if assessment.versions else 1
    version = _add_draft(
        assessment, number=number, edition=schema.edition, document=document, actor=actor, base_version=base, note=note
    )
    summary = f"{assessment.title} {version.label}を" + (
        f"{base.label}から復元して作成しました。"
        if restored and base
        else f"{base.label}をもとに作成しました。"
        if base
        else "作成しました。"
    )
    audit.record(
        "create",
        "AssessmentVersion",
        version.id,
        summary,
        actor=actor,
        after={"number": number, "base_version": base.number if base else None},
    )
    return version


def with_changes(document: dict, changes) -> dict:
    """A copy of ``document`` with ``changes`` applied: {path: value}, or the change list of
    :func:`pia.assessments.demo_data.apply_changes`."""
    if isinstance(changes, Mapping):
        result = copy.deepcopy(document)
        for path, value in changes.items():
            set_value(result, path, copy.deepcopy(value))
        return result
    from pia.assessments.demo_data import apply_changes

    return apply_changes(document, list(changes))


def _add_draft(
    assessment: Assessment, *, number: int, edition: str, document: dict, actor, **fields
) -> AssessmentVersion:
    """Add a draft version of ``assessment``."""
    return _add_version(
        AssessmentVersion(
            assessment=assessment,
            number=number,
            edition=edition,
            status="draft",
            document=document,
            created_by_id=_uid(actor),
            updated_at=utcnow(),
            updated_by_id=_uid(actor),
            **fields,
        )
    )


def _add_version(version: AssessmentVersion) -> AssessmentVersion:
    """Store a new version, index it for search and bring its action plan items in step."""
    from pia.assessments import search

    db.session.add(version)
    db.session.flush()
    search.index_version(version)
    sync_actions(version)
    return version


def update_section(
    version: AssessmentVersion,
    section_key: str,
    data: Mapping[str, Any],
    *,
    actor,
    expected_revision: int | None = None,
) -> AssessmentVersion:
    """Replace one section of a draft's document.

    :param data: the section in document form (``{item_key: value}``), e.g. from
        :func:`pia.schema.coerce`; items not given keep their saved value.
    :param expected_revision: the revision the user started from; when someone saved in
        between, :class:`Conflict` is raised and nothing is written. ``None`` skips the check
        (machine updates such as the inventory's).
    :raises FrozenVersion: submitted or published versions.
    :raises InvalidTransition: versions not in 作成中 (意見聴取中, 第三者点検中).
    :raises ValidationFailed: values that do not fit the schema (missing required items do
        not block a save; they block submission).
    """
    version.check_editable()
    schema = schema_of(version)
    section = schema.section(section_key)  # KeyError for an unknown section
    saved = copy.deepcopy(version.document.get(section_key) or {})
    merged = dict(saved)
    for item in section.items:
        if item.key in data:
            merged[item.key] = copy.deepcopy(data[item.key])
    if expected_revision is not None and expected_revision != version.revision:
        raise Conflict(
            version=version,
            section_key=section_key,
            mine=merged,
            theirs=saved,
            revision=version.revision,
            expected_revision=expected_revision,
            saved_by=_actor_name(version.updated_by_id),
        )
    errors = format_errors(validate(schema, {section_key: merged}, sections=[section_key]))
    if errors:
        raise ValidationFailed(errors)
    if merged == saved:
        return version
    document = copy.deepcopy(version.document)
    document[section_key] = merged
    before_items = {
        i.path: i.text for i in flatten(schema, {section_key: saved}) if i.path.startswith(section_key + "/")
    }
    after_items = {
        i.path: i.text for i in flatten(schema, {section_key: merged}) if i.path.startswith(section_key + "/")
    }
    changed = sorted(p for p in set(before_items) | set(after_items) if before_items.get(p) != after_items.get(p))
    _compare_and_set(
        version,
        section_key,
        merged,
        expected_revision=expected_revision,
        document=document,
        updated_at=utcnow(),
        updated_by_id=_uid(actor),
    )
    from pia.assessments import search

    search.index_version(version)
    sync_actions(version)
    audit.record(
        "update",
        "AssessmentVersion",
        version.id,
        f"{version.assessment.title} {version.label} {section.display_title}を保存しました({len(changed)}項目)。",
        before={p: before_items.get(p, "") for p in changed[:200]},
        after={p: after_items.get(p, "") for p in changed[:200]},
        actor=actor,
    )
    return version


def _compare_and_set(
    version: AssessmentVersion, section_key: str, mine: dict, *, expected_revision: int | None, **values
) -> None:
    """Write ``values`` to the version's row only if nobody saved it since ``expected_revision``
    (or since it was read, for machine updates) and it is still in the state it was read in.

    One ``UPDATE … SET revision = revision + 1 WHERE id = :id AND revision = :seen AND
    status = :status``: the database decides, so of two saves of the same revision exactly one
    changes a row (on PostgreSQL the second waits for the first's row lock and then finds the
    new revision; on SQLite writers are serialised). 0 rows: the version is read again and
    :class:`Conflict` (someone saved) or the editability error (it moved on) is raised.
    """
    seen = version.revision if expected_revision is None else expected_revision
    db.session.flush()  # nothing of this version may be pending behind the statement
    result = db.session.execute(
        sa.update(AssessmentVersion)
        .where(
            AssessmentVersion.id == version.id,
            AssessmentVersion.revision == seen,
            AssessmentVersion.status == version.status,
        )
        .values(revision=AssessmentVersion.revision + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(version)
        version.check_editable()
        raise Conflict(
            version=version,
            section_key=section_key,
            mine=mine,
            theirs=copy.deepcopy(version.document.get(section_key) or {}),
            revision=version.revision,
            expected_revision=seen,
            saved_by=_actor_name(version.updated_by_id),
        )
    # the row holds what was written: load it into the object without another UPDATE
    db.session.refresh(version, attribute_names=["revision", *values])


def discard_draft(version: AssessmentVersion, *, actor) -> None:
    """Delete a version that was never submitted."""
    if version.frozen:
        raise FrozenVersion("提出済み・公表済みの版は削除できません。")
    if version.status != "draft":
        raise InvalidTransition("作成中の版のみ削除できます。")
    assessment = version.assessment
    if len(assessment.versions) == 1:
        raise InvalidTransition("評価書の唯一の版は削除できません。")
    summary = f"{assessment.title} {version.label}を削除しました。"
    version_id = version.id
    try:
        # a savepoint: records of other parts (a consultation, a review session) that point at
        # this version make the delete fail, and then nothing of it may stay half done
        with savepoint():
            for review in assessment.annual_reviews:
                if review.version_id == version.id:
                    review.version_id = None
            db.session.execute(
                sa.update(AssessmentVersion)
                .where(AssessmentVersion.base_version_id == version.id)
                .values(base_version_id=None)
            )
            for action in assessment.actions:
                if action.version_id == version.id:
                    action.version_id = None
            # no autoflush in between: delete() loads the cascaded change notes, and an autoflush
            # there would already delete the orphan, leaving delete() a state the next flush
            # cannot register
            with db.session.no_autoflush:
                assessment.versions.remove(version)
                db.session.delete(version)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise InvalidTransition(
            "この版には意見募集や第三者点検の記録が結び付いているため削除できません。"
            "記録を残したまま修正する場合は、この版を編集してください。"
        ) from None
    audit.record("delete", "AssessmentVersion", version_id, summary, actor=actor)


# --------------------------------------------------------------------------- diffs, change kinds


def diff_versions(old: AssessmentVersion, new: AssessmentVersion) -> DocumentDiff:
    return diff_documents(schema_of(old), old.document, schema_of(new), new.document)


def _relevant(diff: DocumentDiff) -> DocumentDiff:
    return DocumentDiff([c for c in diff.changes if not c.path.startswith(CHANGE_LOG_SKIP)])


def change_diff(version: AssessmentVersion) -> DocumentDiff | None:
    """The changes of ``version`` against the version in force before it (None for a first version)."""
    previous = previous_published(version)
    if previous is None:
        return None
    return _relevant(diff_versions(previous, version))


def immaterial_judgements(version: AssessmentVersion) -> dict[str, ChangeLogNote]:
    """path -> the officer's judgement that the change of that ※ item does not materially change the risk."""
    return {n.path: n for n in version.change_notes if n.immaterial}


def significant_changes(version: AssessmentVersion) -> list:
    """The ※ changes of ``version`` that no officer judged immaterial (they make it a 重要な変更)."""
    diff = change_diff(version)
    if diff is None:
        return []
    judged = immaterial_judgements(version)
    return [c for c in diff.significant_changes if c.path not in judged]


def change_kind(version: AssessmentVersion) -> str:
    """``initial`` | ``significant`` | ``correction`` | ``none`` (fixed once submitted).

    A change of a ※ item is a 重要な変更 unless an officer recorded, with a reason, that it does not
    materially change the risk (the form's note on ※); then it is a 評価書の修正.
    """
    if version.frozen and version.change_kind:
        return version.change_kind
    diff = change_diff(version)
    if diff is None:
        return "initial"
    if not diff.changes:
        return "none"
    return "significant" if significant_changes(version) else "correction"


def judge_immaterial(version: AssessmentVersion, path: str, *, reason: str, actor) -> ChangeLogNote:
    """Record that the change of the ※ item ``path`` does not materially change the risk (officers only)."""
    require_officer(actor)
    version.check_editable()
    reason = (reason or "").strip()
    diff = change_diff(version)
    change = next((c for c in (diff.changes if diff else []) if c.path == path), None)
    if change is None or not change.significant:
        raise ValidationFailed([FieldError(path, "※の項目の変更ではないため、判断を記録できません。")])
    if not reason:
        raise ValidationFailed([FieldError(path, "重要な変更に当たらないと判断する理由を入力してください。")])
    note = next((n for n in version.change_notes if n.path == path), None)
    if note is None:
        note = ChangeLogNote(version=version, path=path)
        db.session.add(note)
    note.immaterial = True
    note.immaterial_reason = reason
    note.judged_by_id = _uid(actor)
    note.judged_at = utcnow()
    db.session.flush()
    audit.record(
        "update",
        "AssessmentVersion",
        version.id,
        f"{version.assessment.title} {version.label}: ※の項目「{change.label}」の変更は"
        f"リスクを相当程度変動させるものではないと判断しました。理由: {reason}",
        after={"path": path, "immaterial": True, "reason": reason},
        actor=actor,
    )
    return note


def withdraw_immaterial(version: AssessmentVersion, path: str, *, actor) -> None:
    """Withdraw a judgement recorded by :func:`judge_immaterial` (the change is a 重要な変更 again)."""
    require_officer(actor)
    version.check_editable()
    note = next((n for n in version.change_notes if n.path == path and n.immaterial), None)
    if note is None:
        return
    note.immaterial = False
    note.judged_by_id = _uid(actor)
    note.judged_at = utcnow()
    db.session.flush()
    audit.record(
        "update",
        "AssessmentVersion",
        version.id,
        f"{version.assessment.title} {version.label}: ※の項目の変更についての判断を取り消しました。",
        before={"path": path, "immaterial": True, "reason": note.immaterial_reason},
        after={"path": path, "immaterial": False},
        actor=actor,
    )


def procedure_steps(version: AssessmentVersion) -> list[str]:
    """The steps of the full procedure this version needs before it is published.

    A 全項目評価書 that is a first version or has a 重要な変更 needs 意見聴取 and 第三者点検;
    other forms and other changes (評価書の修正) need none.
    """
    if version.assessment.form != "zenkoumoku":
        return []
    if change_kind(version) in ("initial", "significant"):
        return list(procedure.STEPS)
    return []


def step_problems(version: AssessmentVersion) -> dict[str, str | None]:
    return {step: procedure.step_problem(step, version) for step in procedure_steps(version)}


# --------------------------------------------------------------------------- 変更箇所


def change_log(version: AssessmentVersion) -> list[dict[str, Any]]:
    """The 変更箇所 of ``version``: the rows carried over from the version in force before it,
    then the rows generated from the diff against it (with officers' explanations).

    Once a version is submitted, the rows are part of its document.
    """
    if version.frozen:
        return list((version.document.get("changelog") or {}).get("changes") or [])
    previous = previous_published(version)
    if previous is None:
        return []
    carried = list((previous.document.get("changelog") or {}).get("changes") or [])
    return carried + generated_change_rows(version)


def generated_change_rows(version: AssessmentVersion, change_date: date | None = None) -> list[dict[str, Any]]:
    """New 変更箇所 rows of ``version``, each with its ``path`` (for the explanation)."""
    diff = change_diff(version)
    if diff is None:
        return []
    day = change_date or version.submitted_on or today_jst()
    notes = {n.path: n for n in version.change_notes}
    rows = []
    for change, row in zip(logged_changes(diff), change_log_rows(diff, day)):
        note = notes.get(change.path)
        if note is not None and note.immaterial and change.significant:
            # judged not to change the risk materially: 評価書の修正, submitted afterwards, for this reason
            row["timing"] = TIMING_AFTER
            row["timing_note"] = note.immaterial_reason
        elif note is not None:
            if note.timing in (TIMING_BEFORE, TIMING_AFTER):
                row["timing"] = note.timing
                if not note.timing_note:
                    row["timing_note"] = TIMING_NOTES[note.timing]
            if note.timing_note:
                row["timing_note"] = note.timing_note
        row["path"] = change.path
        row["significant"] = change.significant
        row["immaterial"] = bool(note is not None and note.immaterial and change.significant)
        rows.append(row)
    return rows


def _table_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A 変更箇所 row as the schema's table stores it (without our bookkeeping keys)."""
    return {k: v for k, v in row.items() if k not in ("path", "significant", "immaterial")}


def set_change_note(
    version: AssessmentVersion, path: str, *, timing: str | None, timing_note: str, actor
) -> ChangeLogNote:
    """Record the 提出時期 / 提出時期に係る説明 an officer wrote for one change of a draft."""
    version.check_editable()
    if timing not in (None, "", TIMING_BEFORE, TIMING_AFTER):
        raise ValidationFailed([FieldError(path, "提出時期は「事前」又は「事後」を選んでください。")])
    note = next((n for n in version.change_notes if n.path == path), None)
    if note is None:
        note = ChangeLogNote(version=version, path=path)
        db.session.add(note)
    note.timing = timing or None
    note.timing_note = timing_note.strip()
    db.session.flush()
    return note


# --------------------------------------------------------------------------- workflow


def _transition(version: AssessmentVersion, before: str, actor, summary: str) -> None:
    db.session.flush()
    audit.record(
        "transition",
        "AssessmentVersion",
        version.id,
        f"{version.assessment.title} {version.label}: {summary}",
        before={"status": before},
        after={"status": version.status},
        actor=actor,
    )


def start_consultation(version: AssessmentVersion, *, actor) -> None:
    require_officer(actor)
    _require_complete(version)
    before = version.start_consultation(procedure_steps(version))
    _transition(version, before, actor, "意見聴取を開始しました。")


def start_review(version: AssessmentVersion, *, actor) -> None:
    require_officer(actor)
    _require_complete(version)
    steps = procedure_steps(version)
    before = version.start_review(steps, {"consultation": procedure.step_problem("consultation", version)})
    procedure.entered("review", version, actor)
    _transition(version, before, actor, "第三者点検に付しました。")


def return_to_draft(version: AssessmentVersion, *, actor) -> None:
    require_officer(actor)
    before = version.return_to_draft()
    _transition(version, before, actor, "作成中に戻しました。")


def _require_complete(version: AssessmentVersion) -> None:
    missing = missing_required(version)
    if missing:
        raise InvalidTransition(f"必須項目が{len(missing)}件未入力です。すべて入力してから進めてください。")


def submit(version: AssessmentVersion, *, on: date, actor) -> None:
    """提出: freeze the document (with its 変更箇所 and section VI facts) and record 提出日.

    :raises pia.checklist.ChecklistFailed: while an item of the pre-submission checklist fails
        (a gate of :mod:`pia.procedure`).
    """
    require_officer(actor)
    steps = procedure_steps(version)
    version.check_submittable(steps)
    kind = change_kind(version)
    if kind == "none":
        raise InvalidTransition("現在の版から変更がありません。")
    if on is not None:
        procedure.require_gates(version, on=on, action="提出")
    problems = step_problems(version)
    # fill what the document must carry before it freezes
    document = copy.deepcopy(version.document)
    _fill_section_vi(version, document)
    previous = previous_published(version)
    if "changelog" in document and previous is not None:
        carried = list((previous.document.get("changelog") or {}).get("changes") or [])
        rows = carried + [_table_row(r) for r in generated_change_rows(version, on)]
        document["changelog"] = {**document["changelog"], "changes": rows}
    if document != version.document:
        version.document = document
    version.change_kind = kind
    version.submitted_by_id = _uid(actor)
    before = version.submit(on, steps, problems)
    _transition(version, before, actor, f"個人情報保護委員会に提出しました(提出日 {format_date(on)})。")
    from pia.assessments import search

    search.index_version(version)


def publish(version: AssessmentVersion, *, on: date, actor) -> None:
    """公表: the version comes into force; runs the on-publish hooks (inventory snapshot).

    :raises pia.checklist.ChecklistFailed: while an item of the checklist fails (a gate of
        :mod:`pia.procedure`).
    """
    require_officer(actor)
    if version.status == "submitted" and on is not None:
        procedure.require_gates(version, on=on, action="公表")
    before = version.publish(on, procedure_steps(version), step_problems(version))
    version.published_by_id = _uid(actor)
    procedure.on_publish(version, actor)
    _transition(version, before, actor, f"公表しました(公表日 {format_date(on)})。")


def _fill_section_vi(version: AssessmentVersion, document: dict) -> None:
    """Fill section VI (評価実施手続) with the facts of the consultation and the review."""
    section = document.get("procedure")
    if not isinstance(section, dict):
        return
    facts = procedure.section_vi_facts(version)
    for part, target_key in (("consultation", "consultation"), ("review", "third_party")):
        values = facts.get(part)
        target = section.get(target_key)
        if not values or not isinstance(target, dict):
            continue
        for key, value in values.items():
            if key in ("start", "end") and isinstance(target.get("period"), dict):
                _fill(target["period"], key, value)
            elif key == "period" and isinstance(value, Mapping) and isinstance(target.get("period"), dict):
                for sub, sub_value in value.items():
                    _fill(target["period"], sub, sub_value)
            elif key in target:
                _fill(target, key, value)


def _fill(target: dict, key: str, value: Any) -> None:
    if isinstance(value, date):
        value = value.isoformat()
    if value in (None, ""):
        return
    current = target.get(key)
    # dates come from the records; free texts the officers wrote win
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" or current in (None, "", [], {}):
        target[key] = value


def document_with_facts(version: AssessmentVersion) -> dict:
    """The document as shown: section VI filled from the records, 変更箇所 generated for drafts,
    公表日 from the version."""
    document = copy.deepcopy(version.document)
    if not version.frozen:
        _fill_section_vi(version, document)
        if "changelog" in document:
            rows = [_table_row(r) for r in change_log(version)]
            document["changelog"] = {**document["changelog"], "changes": rows}
    cover = document.get("cover")
    if isinstance(cover, dict) and "published_on" in cover and not cover.get("published_on") and version.published_on:
        cover["published_on"] = version.published_on.isoformat()
    return document


# --------------------------------------------------------------------------- しきい値判断


def threshold_rules() -> list[dict]:
    """The rule table (Setting ``pia.threshold_rules``; the guideline's table by default)."""
    rules = _setting(RULES_KEY)
    return copy.deepcopy(rules) if rules else copy.deepcopy(threshold.DEFAULT_RULES)


def check_rules(rules: Any) -> list[str]:
    """Problems of a rule table (empty when usable)."""
    problems = []
    if not isinstance(rules, list) or not rules:
        return ["判断基準は1件以上の表で指定してください。"]
    for n, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict):
            problems.append(f"{n}行目: 形式が正しくありません。")
            continue
        lo, hi = rule.get("target_min"), rule.get("target_max")
        if not isinstance(lo, int) or lo < 0 or (hi is not None and (not isinstance(hi, int) or hi <= lo)):
            problems.append(f"{n}行目: 対象人数の範囲が正しくありません。")
        forms = rule.get("forms")
        if not isinstance(forms, list) or any(f not in FORMS for f in forms):
            problems.append(f"{n}行目: 評価の種類が正しくありません。")
        when = rule.get("when")
        if when is not None:
            if not isinstance(when, dict) or set(when) - {"handlers_at_least", "serious_incident"}:
                problems.append(f"{n}行目: 条件が正しくありません。")
            elif when.get("handlers_at_least") is not None and not isinstance(when["handlers_at_least"], int):
                problems.append(f"{n}行目: 取扱者数の条件は整数で指定してください。")
    if not problems:
        for count in (0, 999, 1_000, 9_999, 10_000, 99_999, 100_000, 299_999, 300_000, 10_000_000):
            try:
                threshold.matching_rule(count, 0, False, rules)
            except threshold.RuleError:
                problems.append(f"対象人数{count:,}人に当てはまる基準がありません。")
    return problems


def save_rules(rules: list[dict], *, actor) -> None:
    require_officer(actor)
    problems = check_rules(rules)
    if problems:
        raise ValidationFailed([FieldError("rules", p) for p in problems])
    before = threshold_rules()
    row = db.session.get(Setting, RULES_KEY)
    if row is None:
        db.session.add(Setting(key=RULES_KEY, value=rules))
    else:
        row.value = rules
    db.session.flush()
    audit.record(
        "update",
        "Setting",
        RULES_KEY,
        "しきい値判断の判断基準を変更しました。",
        before={"rules": before},
        after={"rules": rules},
        actor=actor,
    )


def record_threshold(
    affair: Affair,
    *,
    actor,
    determined_on: date,
    target_count: int,
    handlers: int,
    serious_incident: bool,
    incident_on: date | None = None,
    incident_source: str = "",
    note: str = "",
) -> ThresholdRecord:
    """Record a しきい値判断 and the assessments the rule table requires."""
    if serious_incident and (incident_on is None or not incident_source.strip()):
        raise ValidationFailed([FieldError("incident", "重大事故がある場合は、発生日と情報源を入力してください。")])
    rules = threshold_rules()
    rule = threshold.matching_rule(target_count, handlers, serious_incident, rules)
    forms = list(threshold.required_forms(target_count, handlers, serious_incident, rules))
    previous = affair.latest_threshold
    rose = previous is not None and threshold.is_rise(previous.forms, forms)
    record = ThresholdRecord(
        affair=affair,
        determined_on=determined_on,
        target_count=target_count,
        handlers=handlers,
        serious_incident=serious_incident,
        incident_on=incident_on if serious_incident else None,
        incident_source=incident_source.strip() if serious_incident else "",
        forms=forms,
        rule_note=str(rule.get("note", "")),
        rose=rose,
        note=note,
        created_by_id=_uid(actor),
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "decision",
        "ThresholdRecord",
        record.id,
        f"{affair.name}のしきい値判断: {threshold.describe(forms)}" + ("(判断結果が上がりました)" if rose else ""),
        after={
            "forms": forms,
            "target_count": target_count,
            "handlers": handlers,
            "serious_incident": serious_incident,
        },
        actor=actor,
    )
    return record


def _affairs_in_scope(user: User | None) -> list[Affair]:
    """Every 事務, or those of the departments ``user`` sees the internals of."""
    stmt = db.select(Affair).order_by(Affair.id)
    scope = department_scope(user) if user is not None else None
    if scope is not None:
        stmt = stmt.where(Affair.department_id.in_(scope))
    return list(db.session.execute(stmt).scalars())


def threshold_alerts(user: User | None = None) -> list[dict]:
    """事務 whose latest しきい値判断 rose and whose required form is not yet published since
    (of the departments ``user`` sees; all without a user)."""
    out = []
    for affair in _affairs_in_scope(user):
        record = affair.latest_threshold
        if record is None or not record.rose:
            continue
        required = threshold.requirement_level(record.forms)
        done = any(
            threshold.requirement_level([a.form]) >= required
            and any(v.published_on and v.published_on >= record.determined_on for v in a.published_versions)
            for a in affair.assessments
        )
        if not done:
            previous = [r for r in affair.threshold_records if r.id != record.id]
            out.append(
                {
                    "affair": affair,
                    "record": record,
                    "before": threshold.describe(previous[-1].forms) if previous else "",
                    "after": threshold.describe(record.forms),
                }
            )
    return out


# --------------------------------------------------------------------------- 見直し, 行動計画


def record_annual_review(
    assessment: Assessment,
    *,
    actor,
    reviewed_on: date,
    result: str,
    version: AssessmentVersion | None = None,
    note: str = "",
) -> AnnualReview:
    """Record a 見直し; ``result`` ``new_version`` names the version it led to."""
    require_edit(actor, assessment)
    if result not in ANNUAL_REVIEW_RESULTS:
        raise ValidationFailed([FieldError("result", "結果を選んでください。")])
    if result == "new_version" and (version is None or version.assessment_id != assessment.id):
        raise ValidationFailed([FieldError("version", "見直しの結果作成した版を選んでください。")])
    review = AnnualReview(
        assessment=assessment,
        reviewed_on=reviewed_on,
        result=result,
        version=version if result == "new_version" else None,
        note=note.strip(),
        created_by_id=_uid(actor),
    )
    db.session.add(review)
    db.session.flush()
    return review


def issue_items(version: AssessmentVersion) -> list[tuple[str, str]]:
    """(path, label) of every item answered 課題が残されている in ``version``."""
    return [(i.path, i.label) for i in flatten(schema_of(version), version.document) if i.text == ISSUE_ANSWER]


def sync_actions(version: AssessmentVersion) -> None:
    """Give every item answered 課題が残されている an action; mark actions whose item no
    longer is (in the latest version) — they stay, their status is the officers' call."""
    assessment = version.assessment
    if version is not assessment.latest_version:
        return
    answered = dict(issue_items(version))
    by_path = {a.path: a for a in assessment.actions}
    for path, label in answered.items():
        action = by_path.get(path)
        if action is None:
            db.session.add(
                ActionItem(
                    assessment=assessment,
                    path=path,
                    label=label,
                    version_id=version.id,
                    what="",
                    owner="",
                    status="open",
                    still_answered=True,
                )
            )
        elif not action.still_answered:
            action.still_answered = True
    for path, action in by_path.items():
        if path not in answered and action.still_answered:
            action.still_answered = False
    db.session.flush()


def update_action(action: ActionItem, *, actor, what: str, owner: str, due_on: date | None, status: str) -> None:
    require_edit(actor, action.assessment)
    if status not in ACTION_STATUSES:
        raise ValidationFailed([FieldError("status", "状況を選んでください。")])
    action.what = what.strip()
    action.owner = owner.strip()
    action.due_on = due_on
    action.status = status
    action.updated_at = utcnow()
    db.session.flush()


# --------------------------------------------------------------------------- deadlines


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass
class Deadline:
    affair: Affair
    assessment: Assessment | None
    required: str
    required_forms: list[str]
    current: AssessmentVersion | None
    last_full: AssessmentVersion | None
    reassessment_due: date | None
    annual_review_due: date | None
    last_annual_review: AnnualReview | None
    open_actions: int
    overdue_actions: int
    open_version: AssessmentVersion | None
    threshold_rose: bool
    missing_forms: list[str] = field(default_factory=list)
    today: date = field(default_factory=today_jst)

    @property
    def reassessment_overdue(self) -> bool:
        return self.reassessment_due is not None and self.reassessment_due < self.today

    @property
    def annual_review_overdue(self) -> bool:
        return self.annual_review_due is not None and self.annual_review_due < self.today

    @property
    def overdue(self) -> bool:
        return self.reassessment_overdue or self.annual_review_overdue or bool(self.overdue_actions)


def deadlines(today: date | None = None, *, user: User | None = None) -> list[Deadline]:
    """One row per 事務 (and per assessment when a 事務 has several forms), of the
    departments ``user`` sees (:func:`department_scope`; all without a user)."""
    today = today or today_jst()
    rows = []
    for affair in _affairs_in_scope(user):
        record = affair.latest_threshold
        forms = list(record.forms) if record else []
        required = threshold.describe(forms) if record else "未判断"
        have = {a.form for a in affair.assessments if a.published_versions}
        missing = [FORMS[f] for f in forms if f not in have]
        for assessment in affair.assessments or [None]:
            if assessment is None:
                rows.append(
                    Deadline(
                        affair,
                        None,
                        required,
                        forms,
                        None,
                        None,
                        None,
                        None,
                        None,
                        0,
                        0,
                        None,
                        bool(record and record.rose),
                        missing,
                        today,
                    )
                )
                continue
            current = assessment.current_version
            full = [v for v in assessment.published_versions if v.change_kind in ("initial", "significant")]
            last_full = full[-1] if full else None
            reassessment_due = (
                add_years(current.published_on, REASSESSMENT_YEARS) if current and current.published_on else None
            )
            last_annual_review = assessment.annual_reviews[-1] if assessment.annual_reviews else None
            anchors = [
                d
                for d in (
                    current.published_on if current else None,
                    last_annual_review.reviewed_on if last_annual_review else None,
                )
                if d
            ]
            annual_review_due = add_years(max(anchors), 1) if anchors else None
            open_actions = [a for a in assessment.actions if a.is_open]
            overdue_actions = [a for a in open_actions if a.due_on and a.due_on < today]
            rows.append(
                Deadline(
                    affair,
                    assessment,
                    required,
                    forms,
                    current,
                    last_full,
                    reassessment_due,
                    annual_review_due,
                    last_annual_review,
                    len(open_actions),
                    len(overdue_actions),
                    assessment.open_version,
                    bool(record and record.rose),
                    missing,
                    today,
                )
            )
    return rows


# --------------------------------------------------------------------------- evidence: declared basis


@dataclass(frozen=True)
class Declaration:
    """What an assessment declares in I 6 情報提供ネットワークシステムによる情報連携."""

    affair_code: str
    assessment_id: int
    version_id: int
    version_number: int
    published: bool
    #: 実施する / 実施しない / 未定
    implemented: str
    #: item numbers of the table of 主務省令第2条 the body provides under
    provision_items: frozenset[int]
    #: whether the body makes inquiries (情報照会) at all
    inquires: bool
    inquiry_items: frozenset[int]


def declared_basis(affair_code: str) -> Declaration | None:
    """The legal basis for provision the 事務's assessment declares: from the current
    published version, else the latest version (None when there is no assessment).

    When the 事務 has several forms, the most demanding one counts (全項目 > 重点 > 基礎).
    """
    affair = db.session.execute(db.select(Affair).filter_by(code=affair_code)).scalar_one_or_none()
    if affair is None or not affair.assessments:
        return None
    assessments = sorted(affair.assessments, key=lambda a: threshold.FORM_LEVELS.get(a.form, 0), reverse=True)
    for assessment in assessments:
        version = assessment.current_version or assessment.latest_version
        if version is None:
            continue
        section = version.document.get("basic") or version.document.get("related") or {}
        network = section.get("network") or {}
        basis = network.get("basis") or {}
        provision = [n for n in basis.get("provision_items") or [] if isinstance(n, int)]
        inquiry_items = [n for n in basis.get("inquiry_items") or [] if isinstance(n, int)]
        return Declaration(
            affair_code=affair.code,
            assessment_id=assessment.id,
            version_id=version.id,
            version_number=version.number,
            published=version.status == "published",
            implemented=str(network.get("implemented") or ""),
            provision_items=frozenset(provision),
            inquires=basis.get("inquiry") == "行う",
            inquiry_items=frozenset(inquiry_items),
        )
    return None


def get_schema(form: str, edition: str | None = None) -> FormSchema | None:
    try:
        return load_schema(form, edition)
    except SchemaNotFound:
        return None


def item_value(version: AssessmentVersion, path: str) -> Any:
    try:
        return get_value(version.document, path)
    except (KeyError, IndexError, TypeError):
        return None
