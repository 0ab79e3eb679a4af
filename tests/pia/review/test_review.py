"""Third-party review: the procedure check, section VI facts, reviewers' limits, minutes."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from common.db import db
from pia import procedure
from pia.review import services
from pia.review.models import ReviewBody, ReviewFinding, ReviewSession

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def under_review(make_assessment):
    """A draft version 2 moved to 第三者点検中 (status set directly; the workflow is tested elsewhere)."""
    assessment = make_assessment(published=True, draft=True)
    version = assessment.open_version
    version.status = "review"
    db.session.commit()
    return version


@pytest.fixture
def body(app):
    item = ReviewBody(name="札幌市個人情報保護審議会", kind="council", members=[{"name": "委員A", "title": "会長"}])
    db.session.add(item)
    db.session.commit()
    return item


def test_check_needs_a_result_and_every_response(under_review, body):
    version = under_review
    assert procedure.step_problem("review", version) == "第三者点検の実施結果が記録されていません。"
    session = ReviewSession(version_id=version.id, body=body, held_on=date(2026, 1, 20), method="審議")
    services.save_session(session, actor=None)
    assert "実施結果" in procedure.step_problem("review", version)
    session.result = "妥当と認められた。"
    finding = services.add_finding(version, actor=None, text="記載を具体的に。", item_path="basic/systems[0]/functions")
    assert procedure.step_problem("review", version) == "第三者点検の指摘事項のうち1件に対応が記録されていません。"
    services.respond(finding, actor=None, response="追記した。", draft_changed=True, change_note="システム1 ②")
    assert procedure.step_problem("review", version) is None
    assert finding.change_version is version
    facts = procedure.section_vi_facts(version)["review"]
    assert facts["date"] == "2026-01-20"
    assert facts["method"].startswith("札幌市個人情報保護審議会において")
    assert "妥当と認められた。" in facts["result"] and "指摘事項1件" in facts["result"]


def test_only_a_review_of_this_version_counts(make_assessment, body):
    assessment = make_assessment(published=True, draft=True)
    published, draft = assessment.versions
    services.save_session(
        ReviewSession(version_id=published.id, body=body, held_on=date(2024, 12, 1), method="審議", result="可"),
        actor=None,
    )
    assert services.review_problem(draft) is not None  # a review of the version in force does not count
    services.save_session(
        ReviewSession(version_id=draft.id, body=body, held_on=date(2026, 1, 20), method="審議", result="可"), actor=None
    )
    assert services.review_problem(draft) is None


def _reviewed(make_assessment, body, *, finding_path=None, draft_changed=False):
    """A 第2版 draft put to review through the workflow, reviewed, and back in 作成中."""
    from pia.assessments import services as pia_services

    assessment = make_assessment(published=True, draft=True)
    draft = assessment.versions[-1]
    draft.status = "consultation"  # the consultation is another package's business here
    draft.status = "draft"
    db.session.flush()
    procedure.entered("review", draft, None)
    draft.status = "review"
    session = services.save_session(
        ReviewSession(version_id=draft.id, body=body, held_on=date(2026, 1, 20), method="審議", result="可"), actor=None
    )
    if finding_path is not None:
        finding = services.add_finding(
            draft, actor=None, text="記載を具体的に。", item_path=finding_path, session=session
        )
        services.respond(finding, actor=None, response="修正した。", draft_changed=draft_changed, change_note="修正")
    draft.status = "draft"
    db.session.commit()
    return pia_services, draft


def test_an_edit_after_the_review_makes_it_stale(make_assessment, body):
    pia_services, draft = _reviewed(make_assessment, body)
    assert services.review_problem(draft) is None
    pia_services.update_section(draft, "basic", {"other_bodies": "点検の後に書き換えた記載"}, actor=None)
    problem = services.review_problem(draft)
    assert problem and "第三者点検の後に評価書(案)が修正されています" in problem
    stale = services.staleness(draft)
    assert [c.path for c in stale.unexplained] == ["basic/other_bodies"]
    # going back to the reviewed text makes it current again
    pia_services.update_section(
        draft, "basic", {"other_bodies": stale.review_round.document["basic"]["other_bodies"]}, actor=None
    )
    assert services.review_problem(draft) is None


def test_an_edit_in_answer_to_a_finding_keeps_the_review(make_assessment, body):
    pia_services, draft = _reviewed(make_assessment, body, finding_path="basic/other_bodies", draft_changed=True)
    pia_services.update_section(draft, "basic", {"other_bodies": "指摘を受けて修正した記載"}, actor=None)
    stale = services.staleness(draft)
    assert not stale.stale and [c.path for c, _f in stale.explained] == ["basic/other_bodies"]
    assert services.review_problem(draft) is None


def test_a_finding_answered_without_a_change_does_not_cover_an_edit(make_assessment, body):
    pia_services, draft = _reviewed(make_assessment, body, finding_path="basic/other_bodies", draft_changed=False)
    pia_services.update_section(draft, "basic", {"other_bodies": "指摘とは別に書き換えた記載"}, actor=None)
    assert "修正されています" in services.review_problem(draft)


def test_a_stale_review_blocks_submission_and_the_page_shows_the_diff(make_assessment, body, as_role):
    from pia.assessments.models import InvalidTransition

    pia_services, draft = _reviewed(make_assessment, body)
    pia_services.update_section(draft, "basic", {"other_bodies": "点検後の無断修正"}, actor=None)
    db.session.commit()
    draft.status = "review"
    with pytest.raises(InvalidTransition, match="修正されています"):
        draft.submit(date(2026, 2, 1), pia_services.procedure_steps(draft), {"review": services.review_problem(draft)})
    db.session.rollback()
    officer = _login(as_role, "officer")
    page = officer.get(f"/reviews/versions/{draft.id}/since-review")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "対応として記録されていない修正が1項目" in text and "点検後の無断修正" in text


def test_the_review_round_cannot_be_rewritten_in_the_database(make_assessment, body):
    from pia.review.models import ReviewRound

    _pia_services, draft = _reviewed(make_assessment, body)
    review_round = db.session.execute(sa.select(ReviewRound)).scalars().one()
    with pytest.raises(sa.exc.DBAPIError), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE review_rounds SET document_sha256 = 'x' WHERE id = :id"), {"id": review_round.id})


def _login(as_role, role):
    # the test keeps one app context for all requests, so Flask-Login's per-request cache
    # of the user (on g) must be dropped when the test switches users
    from flask import g

    g.pop("_login_user", None)
    client = as_role(role, departments=["住民情報課"])
    g.pop("_login_user", None)
    return client


def test_reviewer_reads_the_version_under_review_and_writes_findings(under_review, as_role, count_rows):
    reviewer = _login(as_role, "reviewer")
    response = reviewer.get(f"/reviews/versions/{under_review.id}")
    assert response.status_code == 200
    assert "指摘事項を記録" in response.text and "住民記録・印鑑オンラインシステム" in response.text
    response = reviewer.post(
        f"/reviews/versions/{under_review.id}/findings",
        data={"item_path": "basic/systems[0]/functions", "session": "0", "text": "具体的に。"},
    )
    assert response.status_code == 302
    finding = db.session.execute(sa.select(ReviewFinding)).scalar_one()
    assert finding.item_label.endswith("システムの機能") and finding.author_id == reviewer.user.id
    # nothing else: no response, no session, no inventory, no draft
    assert reviewer.post(f"/reviews/findings/{finding.id}/response", data={"response": "x"}).status_code == 403
    assert reviewer.get(f"/reviews/versions/{under_review.id}/sessions/new").status_code == 403
    assert reviewer.get("/inventory").status_code == 403
    assert reviewer.get("/reviews/bodies").status_code == 403
    published = under_review.assessment.current_version
    assert reviewer.get(f"/reviews/versions/{published.id}").status_code == 403


def test_reviewer_cannot_read_a_draft_or_withdraw_anothers_finding(under_review, as_role):
    officer = _login(as_role, "officer")
    officer.post(
        f"/reviews/versions/{under_review.id}/findings", data={"item_path": "", "session": "0", "text": "全体"}
    )
    finding = db.session.execute(sa.select(ReviewFinding)).scalar_one()
    reviewer = _login(as_role, "reviewer")
    r = reviewer.post(f"/reviews/findings/{finding.id}/delete", data={"confirm": "yes"})
    assert r.status_code == 403, r.headers.get("Location")
    under_review.status = "draft"
    db.session.commit()
    assert reviewer.get(f"/reviews/versions/{under_review.id}").status_code == 403
    assert (
        reviewer.post(
            f"/reviews/versions/{under_review.id}/findings", data={"item_path": "", "session": "0", "text": "x"}
        ).status_code
        == 403
    )


def test_officer_records_session_with_minutes_and_responds(under_review, body, as_role, app):
    officer = _login(as_role, "officer")
    response = officer.post(
        f"/reviews/versions/{under_review.id}/sessions/new",
        data={
            "body": str(body.id),
            "held_on": "2026-01-20",
            "method": "審議会で審議",
            "result": "妥当",
            "minutes": (io.BytesIO(PDF), "../../議事録 第1回.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.text[:500]
    session = db.session.execute(sa.select(ReviewSession)).scalar_one()
    assert session.minutes_name == "議事録 第1回.pdf"
    stored = Path(app.config["HYOKA_UPLOAD_DIR"]) / "review-minutes" / session.minutes_file
    assert stored.read_bytes() == PDF and "議事録" not in session.minutes_file
    download = officer.get(f"/reviews/sessions/{session.id}/minutes")
    assert download.status_code == 200 and download.data == PDF
    reviewer = _login(as_role, "reviewer")
    with reviewer.get(f"/reviews/sessions/{session.id}/minutes") as download:
        assert download.status_code == 200
    from flask import g

    g.pop("_login_user", None)

    finding = services.add_finding(under_review, actor=None, text="明確に。")
    db.session.commit()
    response = officer.post(
        f"/reviews/findings/{finding.id}/response",
        data={
            f"f{finding.id}-response": "修正した。",
            f"f{finding.id}-draft_changed": "y",
            f"f{finding.id}-change_version": "0",
            f"f{finding.id}-change_note": "I 2",
        },
    )
    assert response.status_code == 302
    db.session.refresh(finding)
    assert finding.answered and finding.draft_changed and finding.change_version_id == under_review.id
    assert services.review_problem(under_review) is None


def test_minutes_must_be_a_pdf(under_review, body, as_role, count_rows):
    officer = _login(as_role, "officer")
    response = officer.post(
        f"/reviews/versions/{under_review.id}/sessions/new",
        data={
            "body": str(body.id),
            "held_on": "2026-01-20",
            "method": "審議",
            "result": "",
            "minutes": (io.BytesIO(b"\x89PNG\r\n\x1a\nxxxx"), "minutes.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "PDF" in response.text or "一致しません" in response.text
    assert count_rows(ReviewSession) == 0


def test_members_parse():
    assert services.parse_members("委員A（会長・学識経験者）\n委員B 弁護士\n\n") == [
        {"name": "委員A", "title": "会長・学識経験者"},
        {"name": "委員B", "title": "弁護士"},
    ]
