"""Two people save the same section at the same moment: exactly one save wins, the other
gets the conflict page with what they typed, and nothing is lost (compare-and-set)."""

from __future__ import annotations

import re
import threading

import pytest

from common.db import db
from pia.assessments.models import AssessmentVersion

ROUNDS = 20


@pytest.fixture(autouse=True)
def fresh_user_per_request(app):
    from flask import g

    @app.before_request
    def _forget_user():
        g.pop("_login_user", None)


def _post_together(clients_and_data, url):
    """POST from each client in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(clients_and_data))
    results: list = [None] * len(clients_and_data)

    def run(index, client, data):
        barrier.wait()
        try:
            response = client.post(url, data=data)
            results[index] = (response.status_code, response.get_data(as_text=True))
        except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
            results[index] = (None, repr(exc))

    threads = [threading.Thread(target=run, args=(i, c, d)) for i, (c, d) in enumerate(clients_and_data)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_simultaneous_saves_of_one_revision_one_wins_the_other_sees_the_conflict(make_assessment, as_role):
    assessment = make_assessment("juki", draft=True)
    draft = assessment.versions[-1]
    url = f"/versions/{draft.id}/sections/basic"
    first, second = as_role("officer"), as_role("editor", departments=["住民情報課"])
    for round_ in range(ROUNDS):
        db.session.expire_all()
        revision = db.session.get(AssessmentVersion, draft.id).revision
        texts = [f"一人目の記載 第{round_}回", f"二人目の記載 第{round_}回"]
        results = _post_together(
            [
                (first, {"revision": str(revision), "other_bodies": texts[0]}),
                (second, {"revision": str(revision), "other_bodies": texts[1]}),
            ],
            url,
        )
        statuses = sorted(status for status, _ in results)
        assert statuses == [302, 409], (round_, [(s, t[:300]) for s, t in results])
        winner = next(i for i, (status, _) in enumerate(results) if status == 302)
        loser_page = re.sub(r"<[^>]+>", "", results[1 - winner][1])
        # the loser sees both texts: theirs is kept on the page, the saved one beside it
        assert texts[1 - winner] in loser_page and texts[winner] in loser_page
        db.session.expire_all()
        saved = db.session.get(AssessmentVersion, draft.id)
        assert saved.document["basic"]["other_bodies"] == texts[winner]
        assert saved.revision == revision + 1
