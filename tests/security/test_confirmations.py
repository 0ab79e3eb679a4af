"""Deletions and changes that cannot be undone ask first (common.confirm).

Each route answers a POST without ``confirm=yes`` with a page that says what will happen and
changes nothing; the page's form sends ``confirm=yes`` (and the CSRF token) to do it. A
``confirm=yes`` without a valid CSRF token only asks again.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from common.db import db
from tests.conftest import csrf_token_from

YES = {"confirm": "yes"}


def _asks(response, *phrases, back="やめて戻る"):
    """The confirmation page: 200, what will happen, a form that sends confirm=yes, a way back."""
    assert response.status_code == 200, response.status_code
    text = response.get_data(as_text=True)
    for phrase in phrases:
        assert phrase in text, phrase
    assert re.search(r'<input type="hidden" name="confirm" value="yes">', text)
    assert back in text
    return text


@pytest.fixture
def officer(as_role):
    return as_role("officer", departments=["住民情報課"])


# --------------------------------------------------------------------------- assessments


def test_deleting_a_draft_asks_first(make_assessment, officer):
    from pia.assessments.models import AssessmentVersion

    assessment = make_assessment("juki", draft=True)
    draft_id = assessment.versions[-1].id
    page = _asks(officer.post(f"/versions/{draft_id}/delete"), "第2版を削除します", "この操作は取り消せません")
    assert f'action="/versions/{draft_id}/delete"' in page
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft_id) is not None
    assert officer.post(f"/versions/{draft_id}/delete", data=YES).status_code == 302
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft_id) is None


def test_confirm_needs_the_csrf_token(app, make_assessment, officer):
    from pia.assessments.models import AssessmentVersion

    assessment = make_assessment("juki", draft=True)
    draft_id = assessment.versions[-1].id
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert officer.post(f"/versions/{draft_id}/delete", data=YES).status_code == 400
        token = csrf_token_from(officer.get(f"/versions/{draft_id}").text)
        page = _asks(officer.post(f"/versions/{draft_id}/delete", data={"csrf_token": token}))
        db.session.expire_all()
        assert db.session.get(AssessmentVersion, draft_id) is not None
        # the page's own form carries a token that does it
        data = {**YES, "csrf_token": csrf_token_from(page)}
        assert officer.post(f"/versions/{draft_id}/delete", data=data).status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft_id) is None


@pytest.mark.parametrize(
    ("action", "phrases"),
    [
        ("submit", ["第2版を提出済みにします", "提出日2026年4月1日", "以後は編集できません"]),
        ("publish", ["第2版を公表します", "公表日2026年4月1日", "公開ページに掲載されます"]),
    ],
)
def test_submitting_and_publishing_ask_first_and_carry_the_date(make_assessment, as_role, action, phrases):
    from pia.assessments import services
    from pia.assessments.models import AssessmentVersion

    assessment = make_assessment("juki")
    draft = services.start_draft(assessment, actor=None, changes={"basic/other_bodies": "-(字句の修正)"})
    if action == "publish":
        draft.submitted_on = date(2026, 3, 31)
        draft.status = "submitted"
    db.session.commit()
    before = draft.status
    officer = as_role("officer")
    page = _asks(officer.post(f"/versions/{draft.id}/transition/{action}", data={"on": "2026-04-01"}), *phrases)
    assert '<input type="hidden" name="on" value="2026-04-01">' in page
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == before


def test_a_bad_date_is_refused_before_asking(make_assessment, as_role):
    assessment = make_assessment("juki", draft=True)
    officer = as_role("officer")
    response = officer.post(f"/versions/{assessment.versions[-1].id}/transition/submit", data={"on": "いつか"})
    assert response.status_code == 400 and "日付として読み取れませんでした。" in response.text
    assert "提出済みにします" not in response.text  # no confirmation asked


# --------------------------------------------------------------------------- inventory and review


def test_deleting_a_connection_asks_first(inventory, as_role):
    from pia.inventory import services
    from pia.inventory.models import Connection

    source = inventory["JUKI"]
    connection = services.add_connection(source, actor="test", kind="other", target=None, target_label="試験用の接続先")
    db.session.commit()
    officer = as_role("officer")
    _asks(
        officer.post(f"/inventory/connections/{connection.id}/delete"),
        "接続を削除します",
        f"システム「{source.name}」から「試験用の接続先」への接続",
    )
    db.session.expire_all()
    assert db.session.get(Connection, connection.id) is not None
    assert officer.post(f"/inventory/connections/{connection.id}/delete", data=YES).status_code == 302
    db.session.expire_all()
    assert db.session.get(Connection, connection.id) is None


def test_withdrawing_a_finding_asks_first(make_assessment, as_role):
    from pia.review import services
    from pia.review.models import ReviewFinding

    version = make_assessment(draft=True).open_version
    version.status = "review"
    db.session.commit()
    reviewer = as_role("reviewer")
    finding = services.add_finding(version, actor=reviewer.user, text="リスク対策の記載が抽象的である。")
    db.session.commit()
    _asks(reviewer.post(f"/reviews/findings/{finding.id}/delete"), "指摘事項を取り下げます", "リスク対策の記載が抽象的")
    assert db.session.get(ReviewFinding, finding.id) is not None
    assert reviewer.post(f"/reviews/findings/{finding.id}/delete", data=YES).status_code == 302
    db.session.expire_all()
    assert db.session.get(ReviewFinding, finding.id) is None


# --------------------------------------------------------------------------- consultation


def test_opening_a_consultation_asks_first(make_consultation, officer):
    c = make_consultation(start_date=date(2099, 1, 5), end_date=date(2099, 2, 5))
    _asks(
        officer.post(f"/consultations/{c.id}/state", data={"state": "open"}),
        "意見募集を開始します",
        "「募集前」に戻すことはできません",
    )
    db.session.expire_all()
    assert c.status == "scheduled"
    assert officer.post(f"/consultations/{c.id}/state", data={"state": "open", **YES}).status_code == 302
    db.session.expire_all()
    assert c.status == "open"


def test_closing_after_the_period_asks_too(make_consultation, officer):
    c = make_consultation(status="open")  # its period ended in 2025
    page = officer.get(f"/consultations/{c.id}").text
    close_form = re.search(r'<form method="post" action="/consultations/\d+/close".*?</form>', page, re.S).group(0)
    assert 'name="confirm"' not in close_form
    _asks(
        officer.post(f"/consultations/{c.id}/close"), "意見募集を締め切る", "受付を停止します", back="締め切らずに戻る"
    )
    db.session.expire_all()
    assert c.status == "open"


def test_publishing_the_result_asks_first(make_consultation, officer):
    from consultation import services

    c = make_consultation(status="closed")
    services.mark_reviewed(c, actor="test")
    db.session.commit()
    _asks(officer.post(f"/consultations/{c.id}/publish"), "意見募集の結果を公表します", "公開ページに結果を掲載します")
    db.session.expire_all()
    assert c.status == "closed"
    assert officer.post(f"/consultations/{c.id}/publish", data=YES).status_code == 302
    db.session.expire_all()
    assert c.status == "reported"


def test_deleting_an_opinion_and_answering_a_group_ask_first(make_consultation, officer):
    from consultation import services
    from consultation.models import Opinion

    c = make_consultation(status="open")
    letter = "マイナンバー制度に反対します。個人情報の一元管理につながるおそれがあり、評価書案の再検討を求めます。"
    subs = [
        services.add_paper_submission(c, actor="test", channel="post", received_on=date(2025, 11, 20), body=body)
        for body in (letter, letter + "以上", "窓口の待ち時間を短くしてください。")
    ]
    db.session.commit()
    opinion = subs[2].opinions[0]
    _asks(
        officer.post(f"/consultations/opinions/{opinion.id}/delete"),
        f"意見No.{opinion.number}を削除します",
        "提出された意見（原文）は残ります",
    )
    assert db.session.get(Opinion, opinion.id) is not None
    assert officer.post(f"/consultations/opinions/{opinion.id}/delete", data=YES).status_code == 302
    db.session.expire_all()
    assert db.session.get(Opinion, opinion.id) is None

    (group,) = services.group_form_letters(c, actor="test", threshold=0.8)
    db.session.commit()
    other = next(m for m in group.members if m.id != group.representative_id)
    kept = [o.id for o in other.opinions]
    _asks(officer.post(f"/consultations/groups/{group.id}/answer"), "代表以外の1件の提出", "置き換わります")
    db.session.expire_all()
    assert [o.id for o in db.session.execute(sa.select(Opinion).filter_by(submission_id=other.id)).scalars()] == kept
    assert officer.post(f"/consultations/groups/{group.id}/answer", data=YES).status_code == 302
    db.session.expire_all()
    now = db.session.execute(sa.select(Opinion).filter_by(submission_id=other.id)).scalars().all()
    assert now and all(o.represented_by_id for o in now)
