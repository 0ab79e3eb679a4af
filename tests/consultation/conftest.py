"""Factories for consultation tests: an assessment version and a consultation on it."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest

from common.db import db
from common.timeutil import JST


@pytest.fixture
def version(app, department):
    """A draft version of a 全項目評価書 for affair ``juki``."""
    from pia.models import Affair, Assessment, AssessmentVersion

    affair = Affair(code="juki", name="住民基本台帳に関する事務", department=department("住民情報課"))
    assessment = Assessment(affair=affair, form="zenkoumoku", title="住民基本台帳に関する事務 全項目評価書")
    v = AssessmentVersion(assessment=assessment, number=1, edition="2024", status="draft", document={})
    db.session.add_all([affair, assessment, v])
    db.session.commit()
    return v


@pytest.fixture
def make_consultation(app, version):
    """``make_consultation(**overrides)`` → a Consultation (募集前 unless ``status`` given)."""
    from consultation import services

    def make(status="scheduled", **overrides):
        values = dict(
            title="住民基本台帳事務に関する特定個人情報保護評価書",
            start_date=date(2025, 11, 12), end_date=date(2025, 12, 11),
            places=["住民情報課（本庁舎2階）", "市政刊行物コーナー（本庁舎2階）"],
            web_url="http://www.city.sapporo.jp/shimin/koseki/mynumber/pia.html",
            channels=["post", "hand", "fax", "email", "web"],
            consent_text="氏名等は公表しません。",
            form_fields={"name": "required", "address": "optional", "contact": "hidden"},
        )
        values.update(overrides)
        c = services.create_consultation(version, actor="test", **values)
        if status in ("open", "closed", "reported"):
            # opened on its start date, as it would have been (the step counts from the opening)
            c.transition("open", actor="test", today=c.start_date)
            c.opened_at = datetime.combine(c.start_date, time(9), tzinfo=JST)
        if status in ("closed", "reported"):
            c.transition("closed", actor="test")
        if status == "reported":
            services.mark_reviewed(c, actor="test")
            services.publish_result(c, actor="test")
        db.session.commit()
        return c

    return make
