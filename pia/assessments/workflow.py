"""The procedure of a version as a checklist in its legal order, and the one thing to do next.

しきい値判断 → 作成 → 意見聴取 (全項目評価) → 第三者点検 (全項目評価) → 提出 → 公表. Each step
says whether it is done, when and by whom (from the records: the しきい値判断, the version,
the consultation and review facts of :mod:`pia.procedure`, the audit trail of the version's
moves). :func:`next_action` names the single next action for the user looking at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent, User
from common.timeutil import to_jst
from pia import procedure
from pia.assessments.models import AssessmentVersion

DONE, CURRENT, TODO, SKIPPED = "done", "current", "todo", "skipped"
STATE_LABELS = {DONE: "完了", CURRENT: "実施中", TODO: "未了", SKIPPED: "不要"}


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: str
    on: date | None = None
    #: until when (the end of a consultation period)
    until: date | None = None
    who: str = ""
    note: str = ""

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass(frozen=True)
class NextAction:
    """What to do next: ``kind`` ``link`` (GET ``url``), ``post`` (a button posting to
    ``transition``), ``date`` (a form with a date posting to ``transition``) or ``none``."""

    label: str
    kind: str = "none"
    #: view endpoint and its arguments for ``link``; the transition name for ``post``/``date``
    endpoint: str = ""
    args: tuple[tuple[str, object], ...] = ()
    transition: str = ""
    hint: str = ""
    #: label of the date field (``date``)
    date_label: str = ""


def _user_name(user_id: int | None) -> str:
    user = db.session.get(User, user_id) if user_id else None
    return user.display_name if user else ""


def _moves(version: AssessmentVersion) -> dict[str, AuditEvent]:
    """The latest audit event of each move of the version, by the state it moved to."""
    events = db.session.execute(
        sa.select(AuditEvent)
        .where(
            AuditEvent.action == "transition",
            AuditEvent.object_type == "AssessmentVersion",
            AuditEvent.object_id == str(version.id),
        )
        .order_by(AuditEvent.id)
    ).scalars()
    out: dict[str, AuditEvent] = {}
    for event in events:
        status = (event.after or {}).get("status")
        if isinstance(status, str):
            out[status] = event
    return out


def _day(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def steps(version: AssessmentVersion) -> list[Step]:
    """The procedure of ``version`` in its legal order."""
    from pia.assessments import checklist, services

    required = services.procedure_steps(version)
    problems = {step: procedure.step_problem(step, version) for step in required}
    facts = procedure.section_vi_facts(version)
    moves = _moves(version)
    affair = version.assessment.affair
    out: list[Step] = []

    record = affair.latest_threshold
    if record is None:
        out.append(Step("threshold", "しきい値判断", TODO, note="この事務のしきい値判断が記録されていません。"))
    else:
        from pia import threshold

        out.append(
            Step(
                "threshold",
                "しきい値判断",
                DONE,
                record.determined_on,
                who=_user_name(record.created_by_id),
                note=threshold.describe(record.forms),
            )
        )

    missing = (
        [i for i in checklist.content_failures(checklist.required_items(version))] if version.status == "draft" else []
    )
    created = to_jst(version.created_at).date() if version.created_at else None
    if missing:
        count = sum(len(i.problems) for i in missing)
        out.append(
            Step(
                "draft",
                "評価書の作成",
                CURRENT,
                created,
                who=_user_name(version.created_by_id),
                note=f"必須項目が{count}件未入力です。",
            )
        )
    else:
        out.append(Step("draft", "評価書の作成", DONE, created, who=_user_name(version.created_by_id)))

    if "consultation" in required:
        held = facts.get("consultation") or {}
        period = held.get("period") if isinstance(held.get("period"), dict) else {}
        started = moves.get("consultation")
        if not problems["consultation"]:
            state = DONE
        elif version.status == "consultation" or held:
            state = CURRENT
        else:
            state = TODO
        out.append(
            Step(
                "consultation",
                "住民等からの意見聴取",
                state,
                _day(period.get("start")),
                _day(period.get("end")),
                who=started.actor_name if started else "",
                note=problems["consultation"] or "",
            )
        )
    else:
        out.append(Step("consultation", "住民等からの意見聴取", SKIPPED, note="全項目評価の手続を要しない版です。"))

    if "review" in required:
        held = facts.get("review") or {}
        sent = moves.get("review")
        if not problems["review"]:
            state = DONE
        elif version.status == "review":
            state = CURRENT
        else:
            state = TODO
        out.append(
            Step(
                "review",
                "第三者点検",
                state,
                _day(held.get("date")),
                who=procedure.reviewer(version) or (sent.actor_name if sent else ""),
                note=problems["review"] or "",
            )
        )
    else:
        out.append(Step("review", "第三者点検", SKIPPED, note="全項目評価の手続を要しない版です。"))

    if version.submitted_on:
        out.append(
            Step(
                "submit",
                "個人情報保護委員会への提出",
                DONE,
                version.submitted_on,
                who=_user_name(version.submitted_by_id),
            )
        )
    else:
        out.append(Step("submit", "個人情報保護委員会への提出", TODO))
    if version.published_on:
        out.append(Step("publish", "公表", DONE, version.published_on, who=_user_name(version.published_by_id)))
    else:
        out.append(Step("publish", "公表", TODO))
    return out


def next_action(version: AssessmentVersion, user) -> NextAction:
    """The one next action on ``version`` for ``user`` (officers move the workflow, editors write)."""
    from pia.assessments import checklist, services

    officer = services.is_officer(user)
    editor = services.can_edit(user, version.assessment)
    affair = version.assessment.affair
    if version.status == "published":
        return NextAction("この版は公表済みです。", hint="変更するときは、評価書のページから新しい版を作成します。")
    if affair.latest_threshold is None:
        if officer or editor:
            return NextAction(
                "しきい値判断を行う",
                "link",
                "assessments.affair_threshold",
                (("affair_id", affair.id),),
                hint="どの評価書が必要かを、対象人数・取扱者数・重大事故の有無から判断します。",
            )
        return NextAction("この事務のしきい値判断が行われていません。")
    if version.status == "submitted":
        if officer:
            return NextAction(
                "公表する",
                "date",
                transition="publish",
                date_label="公表日",
                hint="公表の前に提出前の確認をもう一度行います。",
            )
        return NextAction("保護評価担当が公表します。")
    required = services.procedure_steps(version)
    items = checklist.run(version)
    content = checklist.content_failures(items)
    failed = checklist.failures(items)
    consultation_problem = procedure.step_problem("consultation", version) if "consultation" in required else None
    review_problem = procedure.step_problem("review", version) if "review" in required else None
    if version.status == "draft":
        if content:
            if editor:
                first = content[0]
                if first.key.startswith("required:") and first.path:
                    return NextAction(
                        "評価書の記載を続ける",
                        "link",
                        "assessments.edit_section",
                        (("version_id", version.id), ("section_key", first.path.split("/", 1)[0])),
                        hint=f"未入力の必須項目や、記載の食い違いが{len(content)}件あります。",
                    )
                return NextAction(
                    "提出前の確認で見つかった問題を直す",
                    "link",
                    "assessments.version_checklist",
                    (("version_id", version.id),),
                    hint=f"確認項目のうち{len(content)}件に問題があります。",
                )
            return NextAction("事務担当課が評価書を作成しています。")
        if consultation_problem:
            if not procedure.section_vi_facts(version).get("consultation"):
                if officer:
                    return NextAction(
                        "意見聴取を開始する",
                        "post",
                        transition="consultation",
                        hint="評価書案を公表し、原則30日以上、住民等から意見を聴きます。",
                    )
                return NextAction("保護評価担当が意見聴取を開始します。", hint=consultation_problem)
            return NextAction("意見聴取を終える", hint=consultation_problem)
        if "review" in required:
            if officer:
                return NextAction(
                    "第三者点検に付す",
                    "post",
                    transition="review",
                    hint="意見を反映した評価書案を、個人情報保護審議会等の点検に付します。",
                )
            return NextAction("保護評価担当が第三者点検に付します。")
    elif version.status == "consultation":
        if consultation_problem:
            return NextAction(
                "意見募集を終え、結果を記録する",
                hint=consultation_problem + " 意見募集が終わったら「作成中に戻す」で意見を評価書に反映します。",
            )
        if officer:
            return NextAction(
                "作成中に戻し、意見を評価書に反映する",
                "post",
                transition="draft",
                hint="意見聴取を終えました。寄せられた意見を反映してから、第三者点検に付します。",
            )
        return NextAction("保護評価担当が作成中に戻します。", hint="意見聴取を終えました。")
    elif version.status == "review" and review_problem:
        if officer:
            return NextAction(
                "第三者点検の結果を記録する",
                "link",
                "review.version",
                (("version_id", version.id),),
                hint=review_problem,
            )
        return NextAction("第三者点検の結果を待っています。", hint=review_problem)
    if version.status in ("draft", "review"):
        if failed:
            hint = f"確認項目のうち{len(failed)}件に問題があります。"
            if version.status == "review":
                hint += "記載を直すときは「作成中に戻す」を使います。"
            if officer or editor:
                return NextAction(
                    "提出前の確認で見つかった問題を直す",
                    "link",
                    "assessments.version_checklist",
                    (("version_id", version.id),),
                    hint=hint,
                )
            return NextAction("提出前の確認で問題が見つかっています。")
        if officer:
            return NextAction(
                "提出済みにする",
                "date",
                transition="submit",
                date_label="提出日(個人情報保護委員会)",
                hint="提出すると、この版は変更できなくなります。",
            )
        return NextAction("保護評価担当が個人情報保護委員会に提出します。")
    return NextAction(f"{version.status_label}です。")
