"""Splitting, editing, ordering and numbering opinions; form letters answered once."""

from __future__ import annotations

from datetime import date

import pytest

from common.db import db
from consultation import services
from consultation.models import Opinion


@pytest.fixture
def officer(as_role):
    return as_role("officer", departments=["住民情報課"])


def _paper(c, body, kind="individual", channel="post"):
    return services.add_paper_submission(
        c, actor="test", channel=channel, received_on=date(2025, 11, 20), submitter_kind=kind, body=body
    )


def test_split_reorder_and_number_per_category(app, officer, make_consultation):
    c = make_consultation(status="open")
    sub = _paper(c, "意見A\n----\n意見B\n----\n意見C")
    db.session.commit()
    opinion = sub.opinions[0]
    response = officer.post(
        f"/consultations/opinions/{opinion.id}/split", data={"text": "意見A\n----\n意見B\n-----\n意見C"}
    )
    assert response.status_code == 302
    ops = services.ordered_opinions(c)
    assert [o.summary for o in ops] == ["意見A", "意見B", "意見C"]
    assert [o.number for o in ops] == [1, 2, 3]
    # move C up: A, C, B
    assert officer.post(f"/consultations/opinions/{ops[2].id}/move", data={"direction": "up"}).status_code == 302
    db.session.expire_all()
    assert [o.summary for o in services.ordered_opinions(c)] == ["意見A", "意見C", "意見B"]
    # put C in the second category: numbering restarts there
    c_op = next(o for o in ops if o.summary == "意見C")
    response = officer.post(
        f"/consultations/opinions/{c_op.id}/edit",
        data={
            "summary": "意見C（要約）",
            "category": "system",
            "topic": "【制度】",
            "target_path": "",
            "reply": "考え方C",
            "change_version_id": "0",
            "change_path": "",
        },
    )
    assert response.status_code == 302, response.text[:3000]
    db.session.expire_all()
    numbers = {(o.summary, o.category): o.number for o in services.ordered_opinions(c)}
    assert numbers == {("意見A", "assessment"): 1, ("意見B", "assessment"): 2, ("意見C（要約）", "system"): 1}
    assert db.session.get(Opinion, c_op.id).topic == "制度"


def test_split_needs_two_parts(app, make_consultation):
    c = make_consultation(status="open")
    sub = _paper(c, "ひとつだけ")
    with pytest.raises(ValueError):
        services.split_opinion(sub.opinions[0], ["ひとつだけ"], actor="test")


def test_changed_opinion_links_the_item_of_the_next_version(app, officer, make_consultation, version):
    from pia.assessments.models import AssessmentVersion

    c = make_consultation(status="closed")
    sub = _paper(c, "システムの記載を詳しくしてください。")
    nxt = AssessmentVersion(assessment=version.assessment, number=2, edition="2024", document={})
    db.session.add(nxt)
    db.session.commit()
    op = sub.opinions[0]
    page = officer.get(f"/consultations/opinions/{op.id}/edit")
    assert 'value="basic/systems"' in page.text
    response = officer.post(
        f"/consultations/opinions/{op.id}/edit",
        data={
            "summary": op.summary,
            "category": "assessment",
            "topic": "",
            "target_path": "basic/systems",
            "reply": "ご意見を踏まえ修正しました。",
            "changed": "y",
            "change_version_id": str(nxt.id),
            "change_path": "basic/systems",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    op = db.session.get(Opinion, op.id)
    assert op.changed and op.change_version_id == nxt.id and op.change_path == "basic/systems"
    assert op.target_path == "basic/systems"


FORM_LETTER = "マイナンバー制度に反対します。個人情報の一元管理につながるおそれがあり、評価書案の再検討を求めます。"


def test_form_letters_grouped_answered_once_counts_stay_correct(app, make_consultation):
    from consultation.report import build_report

    c = make_consultation(status="open")
    subs = [
        _paper(c, FORM_LETTER),
        _paper(c, FORM_LETTER + "よろしくお願いします。"),
        _paper(
            c, "マイナンバー制度に反対します。個人情報の一元管理につながるおそれがあり、評価書案の再検討を求めます!"
        ),
        _paper(c, "窓口の待ち時間を短くしてください。", channel="fax"),
    ]
    groups = services.group_form_letters(c, actor="test", threshold=0.8)
    assert len(groups) == 1
    group = groups[0]
    assert {m.id for m in group.members} == {s.id for s in subs[:3]}
    assert subs[3].group_id is None
    sims = {m.id: m.similarity for m in group.members}
    assert sims[group.representative_id] == 1.0
    assert all(0.8 <= s <= 1.0 for s in sims.values())
    rep = group.representative
    services.update_opinion(
        rep.opinions[0], actor="test", reply="本評価書案の内容に関するご意見ではないため…", topic="制度"
    )
    made = services.answer_group(group, actor="test")
    assert made == 2
    db.session.commit()
    copies = [o for o in services.ordered_opinions(c) if o.represented_by_id]
    assert len(copies) == 2 and all(o.reply.startswith("本評価書案") for o in copies)
    # changing the representative's reply changes the copies
    services.update_opinion(rep.opinions[0], actor="test", reply="新しい考え方")
    assert all(o.reply == "新しい考え方" for o in copies)
    report = build_report(c)
    assert report.breakdown_total == 4 and report.opinion_total == 4
    rows = report.categories[0].rows
    assert len(rows) == 2
    grouped = next(r for r in rows if r.same_count)
    assert grouped.same_count == 2
    # taking one out restores its own opinion
    services.ungroup(subs[2], actor="test")
    assert all(o.represented_by_id is None for o in subs[2].opinions)
    assert build_report(c).opinion_total == 4


def test_groups_page_shows_similarity(app, officer, make_consultation):
    c = make_consultation(status="open")
    _paper(c, FORM_LETTER)
    _paper(c, FORM_LETTER + "以上")
    db.session.commit()
    assert officer.post(f"/consultations/{c.id}/groups/detect").status_code == 302
    page = officer.get(f"/consultations/{c.id}/groups")
    assert "グループ" in page.text and "%" in page.text and "100%" in page.text
