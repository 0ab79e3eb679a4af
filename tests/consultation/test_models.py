"""The period rule (原則30日以上) and the state machine."""

from __future__ import annotations

from datetime import date

import pytest

from common.db import db
from common.models import AuditEvent
from consultation.models import InvalidTransition, period_problem


@pytest.mark.parametrize(
    "start,end,reason,ok",
    [
        (date(2025, 11, 12), date(2025, 12, 11), "", True),  # 004: exactly 30 days, both ends counted
        (date(2025, 11, 12), date(2025, 12, 10), "", False),  # 29 days without a reason
        (date(2025, 11, 12), date(2025, 12, 10), "災害対応のため緊急に実施する必要がある。", True),
        (date(2025, 11, 12), date(2025, 11, 12), "   ", False),  # blank reason is no reason
        (date(2025, 12, 11), date(2025, 11, 12), "理由", False),  # end before start
    ],
)
def test_period_rule(start, end, reason, ok):
    assert (period_problem(start, end, reason) is None) is ok


def test_short_period_is_refused_without_reason(app, version):
    from consultation import services

    with pytest.raises(ValueError, match="特段の理由"):
        services.create_consultation(
            version, actor="test", title="t", start_date=date(2025, 11, 1), end_date=date(2025, 11, 20)
        )
    c = services.create_consultation(
        version,
        actor="test",
        title="t",
        start_date=date(2025, 11, 1),
        end_date=date(2025, 11, 20),
        shortened_reason="法改正の施行日が迫っているため",
    )
    assert c.is_shortened and c.period_days == 20


def test_state_machine_moves_and_refusals(app, make_consultation):
    c = make_consultation()
    assert c.status == "scheduled"
    with pytest.raises(InvalidTransition):
        c.transition("closed")
    with pytest.raises(InvalidTransition):
        c.mark_reported()
    with pytest.raises(InvalidTransition, match="既に過ぎています"):
        c.open(actor="test")  # its whole period lies in the past: a backdated consultation
    c.open(actor="test", today=c.start_date)
    with pytest.raises(InvalidTransition):
        c.open(actor="test", today=c.start_date)
    c.close(actor="test")
    c.reopen(actor="test")
    c.close(actor="test")
    c.mark_reported(actor="test")
    with pytest.raises(InvalidTransition):
        c.transition("open")
    db.session.commit()
    events = (
        db.session.execute(db.select(AuditEvent).filter_by(action="transition", object_type="consultation"))
        .scalars()
        .all()
    )
    assert [e.after["status"] for e in events] == ["open", "closed", "open", "closed", "reported"]


def test_accepts_only_when_open_and_within_period(app, make_consultation):
    c = make_consultation()
    assert not c.accepts_on(date(2025, 11, 20))
    c.open(actor="test", today=c.start_date)
    assert not c.accepts_on(date(2025, 11, 11))
    assert c.accepts_on(date(2025, 11, 12))
    assert c.accepts_on(date(2025, 12, 11))
    assert not c.accepts_on(date(2025, 12, 12))


def test_procedure_check_and_section_vi(app, make_consultation, version):
    from consultation import services
    from pia.assessments.models import AssessmentVersion
    from pia.procedure import section_vi_facts, step_problem

    assert "行われていません" in step_problem("consultation", version)
    c = make_consultation(status="open")  # its period (2025) is over
    assert (
        step_problem("consultation", version) == "意見募集の結果（寄せられたご意見と市の考え方）が公表されていません。"
    )
    c.close(actor="test")
    assert not c.closed_early
    services.mark_reviewed(c, actor="test")
    services.publish_result(c, actor="test")
    db.session.commit()
    assert step_problem("consultation", version) is None
    facts = section_vi_facts(version)["consultation"]
    assert facts["period"] == {"start": date(2025, 11, 12), "end": date(2025, 12, 11)}
    assert facts["shortened_reason"] == ""
    assert "郵送" in facts["method"]
    # the next version of the same assessment has no consultation of its own: nothing carries over
    revised = AssessmentVersion(assessment=version.assessment, number=2, edition="2024", document={})
    db.session.add(revised)
    db.session.commit()
    assert "この版について" in step_problem("consultation", revised)
    assert "consultation" not in section_vi_facts(revised)


def test_section_vi_of_the_document_is_filled(app, make_consultation, version):
    from pia.assessments.services import document_with_facts
    from pia.schema import empty_document, load_schema

    version.document = empty_document(load_schema("zenkoumoku", "2024"))
    db.session.commit()
    c = make_consultation(
        status="open",
        start_date=date(2025, 11, 12),
        end_date=date(2025, 11, 30),
        shortened_reason="システム更改の日程に間に合わせるため",
    )
    from consultation import services

    sub = services.add_paper_submission(c, actor="test", channel="post", received_on=date(2025, 11, 20), body="意見")
    services.update_opinion(sub.opinions[0], actor="test", topic="クラウド化について", reply="考え方")
    c.close(actor="test")  # after its period (2025): not early
    db.session.commit()
    section = document_with_facts(version)["procedure"]["consultation"]
    assert section["period"] == {"start": "2025-11-12", "end": "2025-11-30"}
    assert section["shortening_reason"] == "システム更改の日程に間に合わせるため"
    assert "郵送" in section["method"]
    assert "1件" in section["main_opinions"] and "クラウド化" in section["main_opinions"]
    assert section["reflection"]
