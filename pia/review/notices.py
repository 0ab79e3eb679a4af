"""Notifications of the 第三者点検 (:mod:`common.notify`): findings awaiting the body's
response, to the privacy officers who record it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from common.notify import Kind, Notice, page_url, users_with_roles
from pia.review.services import pending_findings


def pending_finding_notices(today: date) -> Iterator[Notice]:
    """Per version, its findings without a response (again when a further finding is added)."""
    by_version: dict[int, list] = {}
    for finding in pending_findings():
        by_version.setdefault(finding.version_id, []).append(finding)
    if not by_version:
        return
    officers = users_with_roles("officer")
    for findings in by_version.values():
        version = findings[0].version
        title = version.assessment.title
        yield Notice(
            key=f"review_findings:{version.id}:{max(f.id for f in findings)}",
            subject=f"第三者点検の指摘事項への対応が記録されていません: {title} {version.label}",
            paragraphs=[
                f"「{title}」{version.label}の第三者点検で、対応が記録されていない指摘事項が{len(findings)}件あります。",
                "指摘事項ごとに、対応(評価書を修正したかどうかを含む)を記録してください。",
            ],
            link=page_url("review.version", version_id=version.id),
            recipients=officers,
        )


KINDS = (
    Kind(
        name="review_findings",
        label="第三者点検の指摘事項(対応の記録待ち)",
        audience="保護評価担当",
        roles=frozenset({"officer"}),
        produce=pending_finding_notices,
        order=30,
    ),
)
