"""Factories for assessment tests (used by tests/pia/test_assessment_*.py)."""
from __future__ import annotations

import copy
from datetime import date

import pytest

from common.db import db
from pia import procedure, services
from pia.demo import load_demo_documents
from pia.models.assessment import Affair, AssessmentVersion


def published_version(assessment, document, *, number=None, published_on=date(2025, 1, 31),
                      change_kind="initial"):
    """Insert a version as already published (history; the workflow is tested separately)."""
    number = number or (len(assessment.versions) + 1)
    version = AssessmentVersion(assessment=assessment, number=number, edition="2024", status="published",
                                document=copy.deepcopy(document), submitted_on=published_on,
                                published_on=published_on, change_kind=change_kind)
    db.session.add(version)
    db.session.flush()
    from pia import search

    search.index_version(version)
    return version


WARDS = ["中央区", "北区", "東区", "白石区", "厚別区", "豊平区", "清田区", "南区", "西区", "手稲区"]


@pytest.fixture
def inventory(app, department):
    """The demo システム台帳 (001's nine systems and three files): code -> System."""
    import sqlalchemy as sa

    from pia.inventory_import import import_file
    from pia.inventory_setup import DEMO_FILE
    from pia.models.inventory import System

    for ward in WARDS:
        department(f"{ward}戸籍住民課")
    department("住民情報課")
    department("情報システム課")
    import_file(DEMO_FILE.read_bytes(), DEMO_FILE.name, actor="test")
    db.session.commit()
    return {s.code: s for s in db.session.execute(sa.select(System).order_by(System.id)).scalars()}


@pytest.fixture
def demo_docs():
    return load_demo_documents()


@pytest.fixture
def make_assessment(app, department, demo_docs):
    """``make_assessment(code="juki", department="住民情報課", form="zenkoumoku", published=True,
    draft=False)`` → Assessment; with ``published`` version 1 is the demo document, published;
    with ``draft`` a draft version 2 carries the demo's 重要な変更."""
    v1, v2 = demo_docs
    counter = {"n": 0}

    def make(code=None, *, department_name="住民情報課", form="zenkoumoku", published=True, draft=False,
             name="住民基本台帳に関する事務"):
        counter["n"] += 1
        dept = department(department_name)
        affair = Affair(code=code or f"affair{counter['n']}", name=name, department=dept)
        db.session.add(affair)
        db.session.flush()
        if form == "zenkoumoku" and published:
            assessment = services.create_assessment(affair, form=form, actor=None, with_draft=False)
            services.add_published_version(assessment, v1, actor=None, submitted_on=date(2025, 1, 24),
                                           published_on=date(2025, 1, 31))
            if draft:
                services.start_draft(assessment, actor=None, changes={
                    path: value for path, value in _changes(v1, v2).items()})
        else:
            assessment = services.create_assessment(affair, form=form, actor=None)
        db.session.commit()
        return assessment

    return make


def _changes(v1, v2):
    """The v2 sections that differ from v1, as {section_key: section} (set_value paths)."""
    return {key: value for key, value in v2.items() if v1.get(key) != value}


@pytest.fixture
def steps_done(monkeypatch):
    """Register consultation and review checks; ``steps_done.problem[step]`` says what they answer."""
    state = {"consultation": "意見聴取が終わっていません。", "review": "第三者点検が終わっていません。"}
    monkeypatch.setattr(procedure, "_CHECKS", {
        "consultation": [lambda v: state["consultation"]],
        "review": [lambda v: state["review"]],
    })

    class Steps:
        problem = state

        def finish(self, step):
            state[step] = None

    return Steps()
