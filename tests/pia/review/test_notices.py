"""第三者点検 findings awaiting a response: the officers are told, again when one is added."""

from __future__ import annotations

import pytest

from common.db import db
from common.timeutil import today_jst
from pia.review import services
from pia.review.notices import pending_finding_notices


@pytest.fixture
def officer(make_user):
    return make_user("officer")


def test_findings_without_a_response_are_announced_per_version_to_the_officers(app, version, officer, make_user):
    reviewer = make_user("reviewer")
    assert list(pending_finding_notices(today_jst())) == []
    first = services.add_finding(version, actor=reviewer, text="委託先の監督の記載が不足しています。")
    db.session.commit()
    [notice] = pending_finding_notices(today_jst())
    assert notice.key == f"review_findings:{version.id}:{first.id}"
    assert "対応が記録されていない指摘事項が1件あります。" in notice.paragraphs[0]
    assert [u.id for u in notice.recipients] == [officer.id]
    assert notice.link.endswith(f"/reviews/versions/{version.id}")
    # the reviewer's text stays on the page behind the link
    assert "委託先" not in " ".join(notice.paragraphs)

    second = services.add_finding(version, actor=reviewer, text="保管期間の根拠を記載してください。")
    db.session.commit()
    [notice] = pending_finding_notices(today_jst())
    assert notice.key == f"review_findings:{version.id}:{second.id}"  # a new event: told again
    assert "2件あります" in notice.paragraphs[0]

    for finding in (first, second):
        services.respond(finding, actor=officer, response="修正しました。", draft_changed=True)
    db.session.commit()
    assert list(pending_finding_notices(today_jst())) == []
