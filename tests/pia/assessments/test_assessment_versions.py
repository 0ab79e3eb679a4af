"""Versions: drafts change, submitted and published versions never do (model and database)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from pia.assessments import services
from pia.assessments.models import AssessmentVersion, FrozenVersion, InvalidTransition


def _raw(sql, **params):
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE assessment_versions SET document = '{}' WHERE id = :id",
        "UPDATE assessment_versions SET edition = '2099' WHERE id = :id",
        "UPDATE assessment_versions SET status = 'draft' WHERE id = :id",
        "UPDATE assessment_versions SET published_on = NULL, status = 'submitted' WHERE id = :id",
        "UPDATE assessment_versions SET revision = revision + 1 WHERE id = :id",
        "DELETE FROM assessment_versions WHERE id = :id",
    ],
)
def test_database_refuses_changes_to_a_published_version(app, make_assessment, sql):
    assessment = make_assessment("juki")
    version_id = assessment.versions[0].id
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError):
        _raw(sql, id=version_id)
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, version_id).status == "published"


def _submitted(make_assessment):
    """A 第2版 in 提出済み (a 評価書の修正, no procedure needed)."""
    assessment = make_assessment("juki")
    officer_like = None
    draft = services.start_draft(assessment, actor=officer_like, changes={"basic/other_bodies": "なし(変更)"})
    db.session.commit()
    draft.submitted_on = date(2025, 6, 1)
    draft.change_kind = "correction"
    draft.status = "submitted"
    db.session.commit()
    return draft


def test_database_allows_publishing_a_submitted_version_and_nothing_else(app, make_assessment):
    draft = _submitted(make_assessment)
    with pytest.raises(sa.exc.DBAPIError):
        _raw(
            "UPDATE assessment_versions SET status = 'published', published_on = '2025-06-10', "
            "document = '{}' WHERE id = :id",
            id=draft.id,
        )
    with pytest.raises(sa.exc.DBAPIError):
        _raw("UPDATE assessment_versions SET submitted_on = '2025-06-02' WHERE id = :id", id=draft.id)
    with pytest.raises(sa.exc.DBAPIError):
        _raw("DELETE FROM assessment_versions WHERE id = :id", id=draft.id)
    _raw("UPDATE assessment_versions SET status = 'published', published_on = '2025-06-10' WHERE id = :id", id=draft.id)
    db.session.expire_all()
    version = db.session.get(AssessmentVersion, draft.id)
    assert version.status == "published" and version.published_on == date(2025, 6, 10)


def test_database_lets_drafts_change_and_go(app, make_assessment):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    _raw("UPDATE assessment_versions SET note = 'x', revision = 5 WHERE id = :id", id=draft.id)
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).revision == 5


def test_model_refuses_changes_to_frozen_versions(app, make_assessment):
    assessment = make_assessment("juki")
    version = assessment.versions[0]
    with pytest.raises(FrozenVersion):
        version.document = {}
    with pytest.raises(FrozenVersion):
        services.update_section(version, "basic", {"other_bodies": "x"}, actor=None)
    with pytest.raises(FrozenVersion):
        services.discard_draft(version, actor=None)


def test_new_draft_starts_from_the_current_version(app, make_assessment):
    assessment = make_assessment("juki")
    draft = services.start_draft(assessment, actor=None)
    assert draft.number == 2 and draft.status == "draft"
    assert draft.document == assessment.versions[0].document
    assert draft.base_version is assessment.versions[0]
    with pytest.raises(InvalidTransition):
        services.start_draft(assessment, actor=None)


def test_update_section_validates_and_counts_revisions(app, make_assessment):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    revision = draft.revision
    with pytest.raises(services.ValidationFailed) as info:
        services.update_section(
            draft,
            "basic",
            {"affair": {"name": "住民基本台帳に関する事務", "description": "x", "target_count": "たくさん"}},
            actor=None,
            expected_revision=revision,
        )
    assert any(e.path == "basic/affair/target_count" for e in info.value.errors)
    assert draft.revision == revision
    services.update_section(draft, "basic", {"other_bodies": "なし"}, actor=None, expected_revision=revision)
    assert draft.revision == revision + 1
    assert draft.document["basic"]["other_bodies"] == "なし"
    events = (
        db.session.execute(
            sa.select(AuditEvent).filter_by(object_type="AssessmentVersion", object_id=str(draft.id), action="update")
        )
        .scalars()
        .all()
    )
    assert any("basic/other_bodies" in (e.after or {}) for e in events)


def test_stale_revision_is_a_conflict_and_nothing_is_written(app, make_assessment):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    start = draft.revision
    services.update_section(draft, "basic", {"other_bodies": "一人目の記載"}, actor=None, expected_revision=start)
    with pytest.raises(services.Conflict) as info:
        services.update_section(draft, "basic", {"other_bodies": "二人目の記載"}, actor=None, expected_revision=start)
    assert info.value.theirs["other_bodies"] == "一人目の記載"
    assert info.value.mine["other_bodies"] == "二人目の記載"
    assert draft.document["basic"]["other_bodies"] == "一人目の記載"
    assert info.value.revision == start + 1


def test_significant_change_is_classified_and_needs_the_full_procedure(app, make_assessment):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    assert services.change_kind(draft) == "significant"
    assert services.procedure_steps(draft) == ["consultation", "review"]
    rows = services.generated_change_rows(draft, date(2026, 1, 5))
    assert any("ガバメントクラウド" in r["after"] and r["timing"] == "事前" for r in rows)
    assert not any(r["item"].startswith("表紙 公表日") for r in rows)


def test_correction_needs_no_procedure(app, make_assessment):
    assessment = make_assessment("juki")
    draft = services.start_draft(assessment, actor=None, changes={"basic/other_bodies": "-(修正)"})
    assert services.change_kind(draft) == "correction"
    assert services.procedure_steps(draft) == []
    rows = services.generated_change_rows(draft, date(2026, 1, 5))
    assert [r["timing"] for r in rows] == ["事後"]


def test_restore_a_past_version_as_a_new_draft(app, make_assessment):
    assessment = make_assessment("juki", draft=True)
    v2 = assessment.versions[-1]
    v2.submitted_on = date(2025, 6, 1)
    v2.status = "submitted"
    db.session.commit()
    v2.status = "published"
    v2.published_on = date(2025, 6, 2)
    db.session.commit()
    restored = services.start_draft(assessment, actor=None, base_version=assessment.versions[0])
    assert restored.number == 3
    assert restored.document == assessment.versions[0].document
    assert restored.base_version_id == assessment.versions[0].id


def test_a_draft_with_a_consultation_is_not_deleted_but_explained(app, as_role):
    """この版を削除 on a draft that a consultation points at: refused with a reason, nothing lost."""
    from common import demo
    from consultation.models import Consultation

    demo.load(evidence=False)
    consultation = db.session.execute(db.select(Consultation)).scalars().first()
    version_id = consultation.version_id
    c = as_role("officer", departments=["住民情報課"])
    response = c.post(f"/versions/{version_id}/delete", data={"confirm": "yes"}, follow_redirects=True)
    assert response.status_code == 200
    assert "削除できません" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, version_id) is not None


def _significant_paths(draft):
    return [c.path for c in services.change_diff(draft).significant_changes]


def test_a_star_change_judged_immaterial_takes_the_correction_path(app, make_assessment, as_role):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    officer = as_role("officer")
    paths = _significant_paths(draft)
    assert paths and services.change_kind(draft) == "significant"
    # an officer must give a reason; without one nothing is recorded
    response = officer.post(f"/versions/{draft.id}/changes/judgement", data={"path": paths[0], "reason": "  "})
    assert response.status_code == 302
    assert services.change_kind(draft) == "significant"
    for path in paths:
        response = officer.post(
            f"/versions/{draft.id}/changes/judgement",
            data={"path": path, "reason": "委託先の変更のみで、取り扱う情報と安全管理措置は変わらないため。"},
        )
        assert response.status_code == 302
    db.session.expire_all()
    draft = db.session.get(AssessmentVersion, draft.id)
    assert services.change_kind(draft) == "correction"
    assert services.procedure_steps(draft) == []
    rows = {r["path"]: r for r in services.generated_change_rows(draft, date(2026, 1, 5))}
    assert rows[paths[0]]["timing"] == "事後"
    assert rows[paths[0]]["timing_note"] == "委託先の変更のみで、取り扱う情報と安全管理措置は変わらないため。"
    audits = (
        db.session.execute(sa.select(AuditEvent).where(AuditEvent.summary.contains("相当程度変動させるものではない")))
        .scalars()
        .all()
    )
    assert len(audits) == len(paths)
    page = officer.get(f"/assessments/{assessment.id}/compare?a=1&b=2").get_data(as_text=True)
    assert "重要な変更に当たらないと判断されています" in page
    # withdrawn: a 重要な変更 again
    officer.post(f"/versions/{draft.id}/changes/judgement", data={"path": paths[0], "withdraw": "1"})
    db.session.expire_all()
    assert services.change_kind(db.session.get(AssessmentVersion, draft.id)) == "significant"


def test_only_officers_judge_and_only_star_items(app, make_assessment, as_role, make_user):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    paths = _significant_paths(draft)
    editor = as_role("editor", departments=["住民情報課"])
    assert (
        editor.post(f"/versions/{draft.id}/changes/judgement", data={"path": paths[0], "reason": "理由"}).status_code
        == 403
    )
    db.session.expire_all()
    assert services.change_kind(db.session.get(AssessmentVersion, draft.id)) == "significant"
    correction = services.start_draft(make_assessment("juki2"), actor=None, changes={"basic/other_bodies": "-(修正)"})
    with pytest.raises(services.ValidationFailed):
        services.judge_immaterial(correction, "basic/other_bodies", reason="理由", actor=make_user("officer"))
