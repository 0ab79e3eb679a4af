"""The action plan (行動計画) as Excel: the rows of the 行動計画 page, dates in 和暦."""

from __future__ import annotations

from collections.abc import Iterable

from common.jpdate import wareki
from common.xlsxsafe import workbook

HEADER = ("評価書", "担当部署", "項目", "対応内容", "担当", "期限", "状況", "回答")
SHEET = "行動計画"
WIDTHS = {SHEET: (36, 18, 40, 60, 16, 18, 10, 14)}


def actions_xlsx(items: Iterable) -> bytes:
    """``items`` (:class:`pia.assessments.models.ActionItem`) as one sheet."""
    rows = [
        [
            a.assessment.title,
            a.assessment.affair.department.name if a.assessment.affair.department else "",
            a.label,
            a.what,
            a.owner,
            wareki(a.due_on) if a.due_on else "期限未設定",
            a.status_label,
            "" if a.still_answered else "回答変更済み",
        ]
        for a in items
    ]
    return workbook([(SHEET, HEADER, rows)], widths=WIDTHS)
