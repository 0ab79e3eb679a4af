"""Notifications of the assessments' deadlines (:mod:`common.notify`): the 見直し
(annual_review) due within 30 days or overdue, and the 5-year re-assessment due within 6
months. Sent to the privacy officers and to the editors of the 事務's department; the dates
are those of the dashboard (:func:`pia.assessments.services.deadlines`)."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date

from common.jpdate import format_date
from common.notify import Kind, Notice, page_url, users_of_departments, users_with_roles
from pia.assessments.services import Deadline, deadlines

#: a 見直し is announced this many days before it is due
ANNUAL_REVIEW_NOTICE_DAYS = 30
#: the re-assessment is announced this many months before it is due
REASSESSMENT_NOTICE_MONTHS = 6


def months_before(day: date, months: int) -> date:
    """The same day ``months`` months earlier (the month's last day when it has no such day)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _recipients(row: Deadline):
    return users_with_roles("officer") + users_of_departments([row.affair.department_id], "editor")


def _rows(today: date) -> Iterator[Deadline]:
    for row in deadlines(today):
        if row.assessment is not None and row.current is not None:
            yield row


def annual_review_notices(today: date) -> Iterator[Notice]:
    """A 見直し due within 30 days, and one overdue (each once per due date)."""
    for row in _rows(today):
        due = row.annual_review_due
        if due is None:
            continue
        assessment = row.assessment
        assert assessment is not None
        link = page_url("assessments.assessment", assessment_id=assessment.id)
        if due < today:
            yield Notice(
                key=f"annual_review_overdue:{assessment.id}:{due.isoformat()}",
                subject=f"見直しの期限を過ぎています: {assessment.title}",
                paragraphs=[
                    f"{row.affair.name}の「{assessment.title}」は、見直しの期限({format_date(due)})を過ぎています。",
                    "評価書は少なくとも1年に1回見直すこととされています。"
                    "見直しを行い、その結果を評価書のページで記録してください。",
                ],
                link=link,
                recipients=_recipients(row),
            )
        elif (due - today).days <= ANNUAL_REVIEW_NOTICE_DAYS:
            yield Notice(
                key=f"annual_review_due:{assessment.id}:{due.isoformat()}",
                subject=f"見直しの期限が近づいています: {assessment.title}",
                paragraphs=[
                    f"{row.affair.name}の「{assessment.title}」は、{format_date(due)}までに見直しを行う必要があります"
                    f"(あと{(due - today).days}日)。",
                    "見直しを行ったら、その結果を評価書のページで記録してください。",
                ],
                link=link,
                recipients=_recipients(row),
            )


def reassessment_notices(today: date) -> Iterator[Notice]:
    """The 5-year re-assessment due within 6 months (once per due date)."""
    for row in _rows(today):
        due = row.reassessment_due
        if due is None or not months_before(due, REASSESSMENT_NOTICE_MONTHS) <= today <= due:
            continue
        assessment = row.assessment
        current = row.current
        assert assessment is not None and current is not None
        yield Notice(
            key=f"reassessment_due:{assessment.id}:{due.isoformat()}",
            subject=f"再評価の時期が近づいています: {assessment.title}",
            paragraphs=[
                f"{row.affair.name}の「{assessment.title}」は、{format_date(current.published_on)}の公表から5年となる"
                f"{format_date(due)}までに、評価を再実施するよう努めることとされています(あと{(due - today).days}日)。",
                "意見聴取と第三者点検を含む手続に要する期間を見込んで、準備を始めてください。",
            ],
            link=page_url("assessments.assessment", assessment_id=assessment.id),
            recipients=_recipients(row),
        )


KINDS = (
    Kind(
        name="annual_review",
        label="見直しの期限(30日前・期限切れ)",
        audience="保護評価担当、その事務の事務担当課",
        roles=frozenset({"officer", "editor"}),
        produce=annual_review_notices,
        order=10,
    ),
    Kind(
        name="reassessment",
        label="5年ごとの再評価の時期(6か月前)",
        audience="保護評価担当、その事務の事務担当課",
        roles=frozenset({"officer", "editor"}),
        produce=reassessment_notices,
        order=20,
    ),
)
