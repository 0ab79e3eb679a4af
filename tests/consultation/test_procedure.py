"""The 意見聴取 step of a version (issue #13): done only by a consultation held on that
version, after its period (or closed early with a reason), with every reply and the result
published; section VI from the record; the workflow refuses to move on before."""

from __future__ import annotations

import copy
import re
from datetime import date, datetime, time, timedelta

import pytest

from common.db import db
from common.jpdate import format_date
from common.models import AuditEvent
from common.timeutil import JST, today_jst
from consultation import services
from consultation.models import Consultation, InvalidTransition
from pia import procedure
from pia.assessments import services as pia_services
from pia.assessments.models import InvalidTransition as VersionRefused

REASON = "制度改正の施行日が迫り、評価書の提出を急ぐ必要があるため"


def _consult(version, *, start, end, status="scheduled", **values):
    c = services.create_consultation(
        version,
        actor="test",
        title="住民基本台帳事務に関する特定個人情報保護評価書",
        start_date=start,
        end_date=end,
        channels=["post", "web"],
        places=["住民情報課"],
        **values,
    )
    if status != "scheduled":
        c.transition("open", actor="test", today=start)
        c.opened_at = datetime.combine(start, time(9), tzinfo=JST)  # opened on its start date
    db.session.commit()
    return c


def _publish_result(c):
    services.mark_reviewed(c, actor="test")
    services.publish_result(c, actor="test")
    db.session.commit()


def _review_done(version):
    from pia.review.models import ReviewBody, ReviewSession

    body = ReviewBody(name="札幌市個人情報保護審議会")
    db.session.add(body)
    db.session.add(
        ReviewSession(version=version, body=body, held_on=today_jst(), method="審議会で審議", result="妥当である。")
    )
    db.session.commit()


@pytest.fixture
def significant_draft(make_assessment):
    """第2版 of a 全項目評価書, a draft with a 重要な変更 (第1版 published in 2025)."""
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    assert pia_services.procedure_steps(draft) == ["consultation", "review"]
    return draft


# --------------------------------------------------------------------------- seen case 1


def test_closing_on_the_first_day_needs_a_reason_and_the_step_waits_for_replies_and_report(
    app, significant_draft, make_user
):
    """A 30-day consultation closed on its first day: refused without a reason; with one, the
    step is still not done, the version cannot be submitted or published that day."""
    officer = make_user("officer")
    today = today_jst()
    c = _consult(significant_draft, start=today, end=today + timedelta(days=29), status="open")

    with pytest.raises(InvalidTransition, match="特段の理由"):
        c.close(actor="test")
    db.session.rollback()
    assert db.session.get(Consultation, c.id).status == "open"

    sub = services.add_paper_submission(c, actor="test", channel="post", received_on=today, body="意見です。")
    services.close_consultation(c, actor="test", reason=REASON)
    db.session.commit()
    assert c.status == "closed" and c.closed_early and c.early_close_reason == REASON

    problem = procedure.step_problem("consultation", significant_draft)
    assert problem == (
        "市の考え方が入力されていない意見が1件あります。"
        "意見募集の結果（寄せられたご意見と市の考え方）が公表されていません。"
    )
    with pytest.raises(VersionRefused, match="公表されていません"):
        pia_services.start_review(significant_draft, actor=officer)
    _review_done(significant_draft)
    significant_draft.status = "review"  # as if the review had been reached anyway
    db.session.commit()
    with pytest.raises(VersionRefused, match="公表されていません"):
        pia_services.submit(significant_draft, on=today, actor=officer)
    db.session.rollback()
    significant_draft.submitted_on, significant_draft.status = today, "submitted"
    db.session.commit()
    with pytest.raises(VersionRefused, match="公表されていません"):
        pia_services.publish(significant_draft, on=today, actor=officer)
    db.session.rollback()
    assert significant_draft.status == "submitted"

    services.update_opinion(sub.opinions[0], actor="test", reply="市の考え方です。")
    _publish_result(c)
    assert procedure.step_problem("consultation", significant_draft) is None
    # section VI gives the day it was closed, and why
    facts = procedure.section_vi_facts(significant_draft)["consultation"]
    assert facts["period"] == {"start": today, "end": today}
    assert REASON in facts["shortening_reason"] and "締め切った" in facts["shortening_reason"]
    # so does the published result (1 意見の募集期間: the days opinions were taken)
    from common.jpdate import wareki_range
    from consultation.report import build_report

    report = build_report(c)
    assert report.period == wareki_range(today, today)
    assert REASON in report.closed_early_note and "締め切りました" in report.closed_early_note
    # every state change is in the audit trail, the early close with its reason
    events = (
        db.session.execute(
            db.select(AuditEvent).filter_by(action="transition", object_type="consultation", object_id=str(c.id))
        )
        .scalars()
        .all()
    )
    assert [e.after["status"] for e in events] == ["open", "closed", "reported"]
    assert events[0].after["draft_sha256"] == c.draft_sha256
    assert events[1].after["early_close_reason"] == REASON


def test_a_period_not_over_is_named_with_its_end_date(app, significant_draft):
    today = today_jst()
    c = _consult(significant_draft, start=today - timedelta(days=3), end=today + timedelta(days=26), status="open")
    problem = procedure.step_problem("consultation", significant_draft)
    end = today + timedelta(days=26)
    assert f"募集期間（{format_date(end)}まで）が終了していません。" in problem
    assert end.isoformat() not in problem
    assert "公表されていません" in problem
    assert c.status == "open"


def test_a_scheduled_consultation_does_not_count(app, significant_draft):
    today = today_jst()
    _consult(significant_draft, start=today + timedelta(days=1), end=today + timedelta(days=30))
    assert "まだ開始されていません" in procedure.step_problem("consultation", significant_draft)


def test_closed_early_without_reason_is_named(app, significant_draft):
    """A consultation closed early before reasons were asked for (as the migration marks them)."""
    today = today_jst()
    c = _consult(significant_draft, start=today - timedelta(days=10), end=today + timedelta(days=19), status="open")
    c.transition("closed", actor="test", reason="x")
    c.early_close_reason = ""
    db.session.commit()
    assert "締め切った特段の理由が記録されていません" in procedure.step_problem("consultation", significant_draft)
    services.record_early_close_reason(c, actor="test", reason=REASON)
    db.session.commit()
    assert "特段の理由" not in procedure.step_problem("consultation", significant_draft)


def test_the_minimum_period_is_configurable(app, significant_draft):
    app.config["HYOKA_CONSULTATION_MIN_DAYS"] = 45
    today = today_jst()
    with pytest.raises(ValueError, match="45日に満たない"):
        _consult(significant_draft, start=today, end=today + timedelta(days=29))


def test_closing_after_the_period_needs_no_reason(app, significant_draft):
    today = today_jst()
    c = _consult(significant_draft, start=today - timedelta(days=40), end=today - timedelta(days=1), status="open")
    services.close_consultation(c, actor="test")
    _publish_result(c)
    assert not c.closed_early
    assert procedure.step_problem("consultation", significant_draft) is None
    assert procedure.section_vi_facts(significant_draft)["consultation"]["period"]["end"] == today - timedelta(days=1)


# --------------------------------------------------------------------------- seen case 2


def test_a_new_significant_version_does_not_inherit_the_previous_consultation(app, significant_draft, as_role):
    assessment = significant_draft.assessment
    first = assessment.versions[0]
    c = _consult(first, start=date(2024, 10, 1), end=date(2024, 10, 30), status="open")
    c.close(actor="test")
    _publish_result(c)
    assert procedure.step_problem("consultation", first) is None

    assert "この版について" in procedure.step_problem("consultation", significant_draft)
    assert "consultation" not in procedure.section_vi_facts(significant_draft)
    page = as_role("officer").get(f"/versions/{significant_draft.id}").text
    assert re.search(r'<span class="badge badge--muted">未了</span>\s*\d\. 住民等からの意見聴取', page)


# --------------------------------------------------------------------------- staff pages


def test_close_page_asks_for_confirmation_and_a_reason(app, significant_draft, as_role):
    today = today_jst()
    c = _consult(significant_draft, start=today, end=today + timedelta(days=29), status="open")
    officer = as_role("officer")
    # the button posts without confirmation: the page says what will happen, nothing changes
    page = officer.post(f"/consultations/{c.id}/close")
    assert page.status_code == 200
    assert f"募集期間は{format_date(c.end_date)}までです" in page.text and "30日残して" in page.text
    db.session.expire_all()
    assert db.session.get(Consultation, c.id).status == "open"
    # confirmed without a reason: refused, with the reason asked for
    refused = officer.post(f"/consultations/{c.id}/close", data={"confirm": "yes", "reason": " "})
    assert refused.status_code == 400 and "特段の理由" in refused.text
    db.session.expire_all()
    assert db.session.get(Consultation, c.id).status == "open"
    # a reason without confirmation: the confirmation page again, keeping what was typed
    again = officer.post(f"/consultations/{c.id}/close", data={"reason": REASON})
    assert again.status_code == 200 and REASON in again.text
    db.session.expire_all()
    assert db.session.get(Consultation, c.id).status == "open"
    done = officer.post(f"/consultations/{c.id}/close", data={"confirm": "yes", "reason": REASON})
    assert done.status_code == 302
    db.session.expire_all()
    closed = db.session.get(Consultation, c.id)
    assert closed.status == "closed" and closed.closed_early and closed.early_close_reason == REASON
    show = officer.get(f"/consultations/{c.id}").text
    assert REASON in show and "公表されていません" in show


def test_an_opened_consultation_stays_on_its_version(app, significant_draft, as_role):
    today = today_jst()
    c = _consult(significant_draft, start=today, end=today + timedelta(days=29), status="open")
    first = significant_draft.assessment.versions[0]
    with pytest.raises(ValueError, match="変更できません"):
        services.update_consultation(c, actor="test", version_id=first.id)


# --------------------------------------------------------------------------- seen case 3 (#14)


def test_a_scheduled_consultation_has_no_public_pages(app, client, significant_draft):
    today = today_jst()
    c = _consult(significant_draft, start=today + timedelta(days=7), end=today + timedelta(days=40))
    missing = client.get("/public/consultations/999999")
    assert missing.status_code == 404
    for suffix in ("", "/draft", "/draft.pdf", "/receipt"):
        response = client.get(f"/public/consultations/{c.id}{suffix}")
        assert response.status_code == 404, suffix
        assert response.data == client.get(f"/public/consultations/999999{suffix}").data
    assert client.post(f"/public/consultations/{c.id}", data={"body": "x"}).status_code == 404


def _pdftext(data: bytes, tmp_path) -> str:
    from tests.pia.publication.test_pdf import pdftext

    return pdftext(data, tmp_path)


def test_the_public_draft_is_the_one_put_out_not_the_live_draft(app, client, significant_draft, tmp_path):
    original = "当初の案に書かれていた事務の説明。"
    edited = "募集開始後に書き換えた事務の説明。"
    document = copy.deepcopy(significant_draft.document)
    document["basic"]["affair"]["description"] = original
    significant_draft.document = document
    db.session.commit()
    today = today_jst()
    c = _consult(significant_draft, start=today, end=today + timedelta(days=29), status="open")
    html_before = client.get(f"/public/consultations/{c.id}/draft").text
    pdf_before = _pdftext(client.get(f"/public/consultations/{c.id}/draft.pdf").data, tmp_path)
    assert original in html_before and original in pdf_before.replace("\n", "").replace(" ", "")

    changed = copy.deepcopy(significant_draft.document)
    changed["basic"]["affair"]["description"] = edited
    significant_draft.document = changed
    db.session.commit()
    for state in ("open", "closed"):  # while open, and after it closed
        if state == "closed":
            c.transition("closed", actor="test", reason=REASON)
            db.session.commit()
        html_after = client.get(f"/public/consultations/{c.id}/draft").text
        pdf_after = _pdftext(client.get(f"/public/consultations/{c.id}/draft.pdf").data, tmp_path)
        assert edited not in html_after and original in html_after
        assert edited not in pdf_after.replace("\n", "").replace(" ", "")
        assert pdf_after == pdf_before
    assert c.draft_snapshot and len(c.draft_sha256) == 64 and not c.snapshot_reconstructed


def test_the_kept_draft_never_changes(app, significant_draft):
    import sqlalchemy as sa

    today = today_jst()
    c = _consult(significant_draft, start=today, end=today + timedelta(days=29), status="open")
    c.transition("closed", actor="test", reason=REASON)
    c.transition("open", actor="test")  # reopened: the same draft stays
    db.session.commit()
    kept = c.draft_sha256
    with pytest.raises(sa.exc.DBAPIError):
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE consultations SET draft_snapshot = '{}' WHERE id = :id"), {"id": c.id})
    db.session.expire_all()
    assert db.session.get(Consultation, c.id).draft_sha256 == kept


# --------------------------------------------------------------------------- demo


def test_the_demo_consultation_satisfies_the_rules(app):
    from common import demo

    demo.load(evidence=False)
    consultations = db.session.execute(db.select(Consultation).order_by(Consultation.id)).scalars().all()
    # 004's on the 第2版 draft, and the 2024 one of the published 第1版
    assert [c.version.label for c in consultations] == ["第2版", "第1版"]
    for c in consultations:
        assert c.status == "reported" and not c.closed_early and c.draft_sha256
        assert c.closed_on > c.end_date
        assert services.procedure_problems(c) == []
        assert procedure.step_problem("consultation", c.version) is None


def test_a_consultation_opened_late_counts_from_its_opening(app, significant_draft):
    """The period announced is not the period the draft was out: opened 10 days after its start
    date, a 30-day period is 20 days, which needs a 特段の理由, and VI 2 gives the real start."""
    today = today_jst()
    c = services.create_consultation(
        significant_draft,
        actor="test",
        title="遅れて開始した意見募集",
        start_date=today - timedelta(days=10),
        end_date=today + timedelta(days=19),
        channels=["post"],
        places=["住民情報課"],
    )
    c.transition("open", actor="test")
    c.close(actor="test", today=today + timedelta(days=20))
    services.mark_reviewed(c, actor="test")
    services.publish_result(c, actor="test", on=today + timedelta(days=21))
    db.session.commit()
    problems = services.procedure_problems(c, today=today + timedelta(days=21))
    assert problems == [
        f"意見募集「遅れて開始した意見募集」は{format_date(today)}に開始されたため、募集期間が20日間で"
        "30日に満たないのに、期間を短縮する特段の理由が記録されていません。"
    ]
    assert procedure.section_vi_facts(significant_draft)["consultation"]["period"]["start"] == today
