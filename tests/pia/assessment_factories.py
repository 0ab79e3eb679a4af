"""Helpers of the assessment tests (their fixtures live in tests/conftest.py)."""

from __future__ import annotations

import copy
from datetime import date

from common.db import db
from pia.assessments.models import AssessmentVersion


def published_version(assessment, document, *, number=None, published_on=date(2025, 1, 31), change_kind="initial"):
    """Insert a version as already published (history; the workflow is tested separately)."""
    number = number or (len(assessment.versions) + 1)
    version = AssessmentVersion(
        assessment=assessment,
        number=number,
        edition="2024",
        status="published",
        document=copy.deepcopy(document),
        submitted_on=published_on,
        published_on=published_on,
        change_kind=change_kind,
    )
    db.session.add(version)
    db.session.flush()
    from pia.assessments import search

    search.index_version(version)
    return version


WARDS = ["中央区", "北区", "東区", "白石区", "厚別区", "豊平区", "清田区", "南区", "西区", "手稲区"]
