"""The findings list as Excel: the columns of the 点検結果 page, texts with 個人番号 masked."""

from __future__ import annotations

from collections.abc import Iterable

from common.jpdate import wareki
from common.mynumber_guard import mask_my_numbers
from common.xlsxsafe import workbook
from evidence.checks import CHECKS
from evidence.models import SEVERITIES
from evidence.staff import staff_label

HEADER = ("日付", "点検", "重要度", "システム", "利用者", "内容", "判断")
SHEET = "点検結果"
WIDTHS = {SHEET: (16, 28, 8, 12, 14, 80, 14)}


def _decision(finding) -> str:
    parts = []
    if finding.decision:
        parts.append(finding.decision_label)
    elif not finding.cleared_at:
        parts.append("未判断")
    if finding.cleared_at:
        parts.append("解消")
    return "・".join(parts)


def findings_xlsx(findings: Iterable) -> bytes:
    """``findings`` (:class:`evidence.models.Finding`) as one sheet."""
    rows = [
        [
            wareki(f.day) if f.day else "",
            CHECKS[f.check].title if f.check in CHECKS else f.check,
            SEVERITIES.get(f.severity, f.severity),
            f.system or "",
            mask_my_numbers(staff_label(f.user_id)),
            mask_my_numbers(f.explanation or ""),
            _decision(f),
        ]
        for f in findings
    ]
    return workbook([(SHEET, HEADER, rows)], widths=WIDTHS)
