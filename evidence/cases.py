"""調査案件 (cases): an auditor's investigation of one staff account across its findings.

A case is opened from one or more findings of one user; the auditor then accepts the user's
other open findings into it (the case page suggests them), names who investigates, records
the course of the investigation and finally a written conclusion with an outcome. Nothing is
ever changed in place: the case row is written once and every step is a new
:class:`CaseEntry` (database triggers refuse UPDATE and DELETE on both tables, as on the
stored evidence), and each step is written to the audit trail. The case's state (its
findings, assignee, status, conclusion) is read from its entries.

A user is marked 繰り返し (:func:`repeated_users`) when their findings fall in three or more
distinct ISO weeks within 90 days, or when a case about them has already been concluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common import audit
from common.db import UTCDateTime, db, guard, utcnow
from common.mynumber import REFUSED as MY_NUMBER_REFUSED
from common.mynumber import contains_my_number
from evidence.models import Finding

STATUSES = {"investigating": "調査中", "concluded": "結論済み"}
OUTCOMES = {
    "no_issue": "問題なし",
    "guidance": "指導",
    "reported": "所属長へ報告",
    "discipline": "懲戒等の検討",
}
#: the kinds of entries of a case
ENTRY_KINDS = {
    "finding": "点検結果の追加",
    "assignee": "担当者の指定",
    "note": "経過の記録",
    "conclusion": "結論",
}
#: findings in this many distinct ISO weeks within :data:`REPEAT_WINDOW_DAYS` make a user 繰り返し
REPEAT_WEEKS = 3
REPEAT_WINDOW_DAYS = 90


class CaseError(ValueError):
    """A step that cannot be taken (the message says why, in Japanese)."""


class Case(db.Model):
    """調査案件: written once when opened; everything after is a :class:`CaseEntry`."""

    __tablename__ = "evidence_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the staff account investigated (the ``user_id`` of its findings)
    user_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    opened_by_name: Mapped[str] = mapped_column(sa.String(200))

    entries: Mapped[list[CaseEntry]] = relationship(back_populates="case", order_by="CaseEntry.id")

    def _latest(self, kind: str) -> CaseEntry | None:
        rows = [e for e in self.entries if e.kind == kind]
        return rows[-1] if rows else None

    @property
    def finding_ids(self) -> list[int]:
        return [e.finding_id for e in self.entries if e.kind == "finding" and e.finding_id is not None]

    @property
    def assignee(self) -> CaseEntry | None:
        """The latest 担当者 entry (its ``assignee_id`` and ``assignee_name``)."""
        return self._latest("assignee")

    @property
    def conclusion(self) -> CaseEntry | None:
        return self._latest("conclusion")

    @property
    def status(self) -> str:
        return "concluded" if self.conclusion is not None else "investigating"

    @property
    def status_label(self) -> str:
        return STATUSES[self.status]

    @property
    def is_open(self) -> bool:
        return self.conclusion is None

    def title(self) -> str:
        return f"調査案件 第{self.id}号({self.user_id})"


class CaseEntry(db.Model):
    """One step of a case: a finding accepted, an assignee named, a note, the conclusion."""

    __tablename__ = "evidence_case_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("evidence_cases.id"), index=True)
    #: one of :data:`ENTRY_KINDS`
    kind: Mapped[str] = mapped_column(sa.String(20))
    finding_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evidence_findings.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    assignee_name: Mapped[str | None] = mapped_column(sa.String(200))
    #: a note's text, or the written conclusion
    text: Mapped[str | None] = mapped_column(sa.Text)
    #: the conclusion's outcome, one of :data:`OUTCOMES`
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_by_name: Mapped[str] = mapped_column(sa.String(200))

    case: Mapped[Case] = relationship(back_populates="entries")
    finding: Mapped[Finding | None] = relationship(foreign_keys=[finding_id])

    @property
    def kind_label(self) -> str:
        return ENTRY_KINDS.get(self.kind, self.kind)

    @property
    def outcome_label(self) -> str:
        return OUTCOMES.get(self.outcome or "", "")


guard(Case.__table__, "evidence_cases_append_only", message="cases are append-only")
guard(CaseEntry.__table__, "evidence_case_entries_append_only", message="case entries are append-only")


# --------------------------------------------------------------------------- services (flush only)


def _entry(case: Case, kind: str, actor, **values) -> CaseEntry:
    row = CaseEntry(case=case, kind=kind, created_by_id=actor.id, created_by_name=actor.display_name, **values)
    db.session.add(row)
    return row


def _clean_text(text: str | None, missing: str) -> str:
    text = (text or "").strip()
    if not text:
        raise CaseError(missing)
    if contains_my_number(text):
        raise CaseError(MY_NUMBER_REFUSED)
    return text


def open_case_for(user_id: str) -> Case | None:
    """The case under investigation about ``user_id``, if any (at most one is open at a time)."""
    for case in cases_of(user_id):
        if case.is_open:
            return case
    return None


def open_case_count() -> int:
    concluded = sa.select(CaseEntry.case_id).where(CaseEntry.kind == "conclusion")
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Case).where(Case.id.not_in(concluded))
    ).scalar_one()


def cases_of(user_id: str) -> list[Case]:
    return list(
        db.session.execute(sa.select(Case).where(Case.user_id == user_id).order_by(Case.id.desc())).scalars().all()
    )


def findings_in_cases(finding_ids) -> dict[int, int]:
    """finding id -> id of the case it was accepted into (for the given ids)."""
    ids = list(finding_ids)
    if not ids:
        return {}
    e = CaseEntry
    rows = db.session.execute(
        sa.select(e.finding_id, e.case_id).where(e.kind == "finding", e.finding_id.in_(ids)).order_by(e.id)
    ).all()
    return {finding_id: case_id for finding_id, case_id in rows}


def _load_findings(finding_ids) -> list[Finding]:
    ids = sorted({int(i) for i in finding_ids})
    if not ids:
        raise CaseError("点検結果を選んでください。")
    rows = db.session.execute(sa.select(Finding).where(Finding.id.in_(ids))).scalars().all()
    if len(rows) != len(ids):
        raise CaseError("選んだ点検結果が見つかりません。")
    return sorted(rows, key=lambda f: f.id)


def open_case(finding_ids, actor) -> Case:
    """Open a case about the user of ``finding_ids`` (all of one user), with ``actor`` as its
    first assignee.

    :param finding_ids: ids of findings of one staff account, none already in a case
    :param actor: the auditor opening it
    """
    findings = _load_findings(finding_ids)
    users = {f.user_id for f in findings}
    if None in users:
        raise CaseError("職員が特定されない点検結果からは調査案件を開けません。")
    if len(users) != 1:
        raise CaseError("一つの調査案件には一人の職員の点検結果だけを選んでください。")
    user_id = str(findings[0].user_id)
    existing = open_case_for(user_id)
    if existing is not None:
        raise CaseError(f"この職員には調査中の案件(第{existing.id}号)があります。その案件に加えてください。")
    taken = findings_in_cases(f.id for f in findings)
    if taken:
        raise CaseError("すでに調査案件に含まれている点検結果があります。")
    case = Case(user_id=user_id, opened_by_id=actor.id, opened_by_name=actor.display_name)
    db.session.add(case)
    for f in findings:
        _entry(case, "finding", actor, finding_id=f.id)
    _entry(case, "assignee", actor, assignee_id=actor.id, assignee_name=actor.display_name)
    db.session.flush()
    audit.record(
        "create",
        "evidence_case",
        case.id,
        f"調査案件 第{case.id}号を開きました(職員 {user_id}、点検結果 {len(findings)} 件)",
        after={"user_id": user_id, "findings": [f.id for f in findings]},
        actor=actor,
    )
    return case


def _check_open(case: Case) -> None:
    if not case.is_open:
        raise CaseError("結論済みの案件は変更できません。")


def add_findings(case: Case, finding_ids, actor) -> list[Finding]:
    """Accept findings of the case's user into the case."""
    _check_open(case)
    findings = _load_findings(finding_ids)
    if any(f.user_id != case.user_id for f in findings):
        raise CaseError("この案件の職員以外の点検結果は加えられません。")
    if findings_in_cases(f.id for f in findings):
        raise CaseError("すでに調査案件に含まれている点検結果があります。")
    for f in findings:
        _entry(case, "finding", actor, finding_id=f.id)
    db.session.flush()
    audit.record(
        "update",
        "evidence_case",
        case.id,
        f"調査案件 第{case.id}号に点検結果 {len(findings)} 件を加えました",
        after={"findings": [f.id for f in findings]},
        actor=actor,
    )
    return findings


def assign(case: Case, assignee, actor) -> CaseEntry:
    """Name who investigates (an auditor)."""
    _check_open(case)
    if assignee is None or not assignee.active or not assignee.has_role("auditor"):
        raise CaseError("担当者には証跡の確認を担当する職員を選んでください。")
    current = case.assignee
    if current is not None and current.assignee_id == assignee.id:
        raise CaseError("すでにこの職員が担当しています。")
    row = _entry(case, "assignee", actor, assignee_id=assignee.id, assignee_name=assignee.display_name)
    db.session.flush()
    audit.record(
        "update",
        "evidence_case",
        case.id,
        f"調査案件 第{case.id}号の担当者を {assignee.display_name} にしました",
        before={"assignee": current.assignee_name if current else None},
        after={"assignee": assignee.display_name},
        actor=actor,
    )
    return row


def add_note(case: Case, text: str, actor) -> CaseEntry:
    """Record a step of the investigation (whom the auditor asked, what was found)."""
    _check_open(case)
    text = _clean_text(text, "記録する内容を入力してください。")
    row = _entry(case, "note", actor, text=text)
    db.session.flush()
    audit.record(
        "update",
        "evidence_case",
        case.id,
        f"調査案件 第{case.id}号に経過を記録しました",
        after={"note": text},
        actor=actor,
    )
    return row


def validate_conclusion(case: Case, text: str, outcome: str) -> str:
    """The conclusion's text, cleaned; :class:`CaseError` when it cannot be recorded."""
    _check_open(case)
    if outcome not in OUTCOMES:
        raise CaseError("処分等の区分を選んでください。")
    return _clean_text(text, "結論を記入してください。")


def conclude(case: Case, text: str, outcome: str, actor) -> CaseEntry:
    """Write the conclusion and its outcome: the case is 結論済み and no longer changes.

    Its findings still open are decided by the conclusion (「正当な業務」 when the outcome is
    問題なし, else 「調査案件で結論済み」), each with the case and its outcome as the reason, so
    they leave the open findings and the 繰り返し count."""
    from evidence.services import decide

    text = validate_conclusion(case, text, outcome)
    row = _entry(case, "conclusion", actor, text=text, outcome=outcome)
    db.session.flush()
    decision = "legitimate" if outcome == "no_issue" else "case_concluded"
    for finding in case_findings(case):
        if finding.is_open:
            decide(finding, decision, f"調査案件 第{case.id}号の結論(区分: {OUTCOMES[outcome]})", actor, by_case=True)
    audit.record(
        "transition",
        "evidence_case",
        case.id,
        f"調査案件 第{case.id}号を結論済みにしました(区分: {OUTCOMES[outcome]})",
        before={"status": "investigating"},
        after={"status": "concluded", "outcome": outcome, "conclusion": text},
        actor=actor,
    )
    return row


def suggestions(case: Case) -> list[Finding]:
    """The user's other open findings not yet in any case (newest first)."""
    taken = sa.select(CaseEntry.finding_id).where(CaseEntry.kind == "finding", CaseEntry.finding_id.is_not(None))
    return list(
        db.session.execute(
            sa.select(Finding)
            .where(Finding.user_id == case.user_id, Finding.open_clause(), Finding.id.not_in(taken))
            .order_by(Finding.day.desc(), Finding.id.desc())
            .limit(200)
        )
        .scalars()
        .all()
    )


def case_findings(case: Case) -> list[Finding]:
    ids = case.finding_ids
    if not ids:
        return []
    return list(
        db.session.execute(sa.select(Finding).where(Finding.id.in_(ids)).order_by(Finding.day, Finding.id))
        .scalars()
        .all()
    )


@dataclass
class CaseFilter:
    #: ``investigating`` | ``concluded`` | None
    status: str | None = None
    user_id: str | None = None

    def apply(self, query):
        concluded = sa.select(CaseEntry.case_id).where(CaseEntry.kind == "conclusion")
        if self.status == "investigating":
            query = query.where(Case.id.not_in(concluded))
        elif self.status == "concluded":
            query = query.where(Case.id.in_(concluded))
        if self.user_id:
            query = query.where(Case.user_id == self.user_id)
        return query


# --------------------------------------------------------------------------- 繰り返し


def repeat_window(today: date | None = None) -> tuple[date, date]:
    """The 90 days the weeks are counted in: ending on the latest day any finding is about (as
    the dashboard's trend), else today."""
    from common.timeutil import today_jst

    if today is None:
        today = db.session.execute(sa.select(sa.func.max(Finding.day))).scalar() or today_jst()
    return today - timedelta(days=REPEAT_WINDOW_DAYS - 1), today


def repeated_users(today: date | None = None, *, before_case: int | None = None) -> dict[str, str]:
    """Users marked 繰り返し -> why (「3週にわたる点検結果」, 「過去の調査案件(第2号)」).

    Findings count unless they are closed (解消, or judged 正当な業務 / 誤検知 / concluded in a
    case). ``before_case``: only cases opened before that one count (a case's page does not
    give its own conclusion as the reason)."""
    start, end = repeat_window(today)
    weeks: dict[str, set[tuple[int, int]]] = {}
    for user_id, day in db.session.execute(
        sa.select(Finding.user_id, Finding.day)
        .where(Finding.user_id.is_not(None), Finding.day >= start, Finding.day <= end, Finding.open_clause())
        .distinct()
    ):
        iso = day.isocalendar()  # the query leaves out findings without a user or a day
        weeks.setdefault(str(user_id), set()).add((iso[0], iso[1]))
    out = {
        user: f"{len(w)}週にわたる点検結果(直近{REPEAT_WINDOW_DAYS}日)"
        for user, w in weeks.items()
        if len(w) >= REPEAT_WEEKS
    }
    for user_id, case_id in db.session.execute(
        sa.select(Case.user_id, sa.func.max(Case.id))
        .where(
            Case.id.in_(sa.select(CaseEntry.case_id).where(CaseEntry.kind == "conclusion")),
            Case.id < before_case if before_case is not None else sa.true(),
        )
        .group_by(Case.user_id)
    ):
        reason = f"結論済みの調査案件(第{case_id}号)"
        out[user_id] = f"{out[user_id]}・{reason}" if user_id in out else reason
    return out


def register_labels() -> None:
    from common import labels

    labels.register("case_status", STATUSES)
    labels.register("case_outcome", OUTCOMES)
    labels.register_entity(
        "evidence_case",
        "調査案件",
        fields={
            "user_id": "職員",
            "findings": "点検結果",
            "assignee": "担当者",
            "note": "経過の記録",
            "status": "状況",
            "outcome": "処分等の区分",
            "conclusion": "結論",
        },
        values={"status": "case_status", "outcome": "case_outcome"},
    )
