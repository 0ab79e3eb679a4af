"""Dates typed by hand into the forms of pia: 和暦, letters, full width; a date that cannot
be read is refused in Japanese and stays in the box as typed; no ``<input type=date>``."""

from __future__ import annotations

import re
from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from common.db import db
from common.forms import JapaneseDateField
from common.mynumber import REFUSED as MY_NUMBER_REFUSED
from pia.assessments.models import AssessmentVersion, ThresholdRecord


@pytest.fixture
def assessment(make_assessment):
    return make_assessment("juki", draft=True)


def test_the_date_field_reads_typed_dates_and_keeps_what_it_cannot(app):
    from flask_wtf import FlaskForm
    from wtforms.validators import DataRequired, Optional

    class Form(FlaskForm):
        on = JapaneseDateField("日付", validators=[DataRequired("日付を入力してください。")])
        maybe = JapaneseDateField("任意の日付", validators=[Optional()])

    with app.test_request_context():
        for typed in ("令和8年12月3日", "R8.12.3", "２０２６年１２月３日", "2026/12/3", "2026-12-03"):
            form = Form(formdata=MultiDict({"on": typed}))
            assert form.validate() and form.on.data == date(2026, 12, 3) and form.maybe.data is None, typed
        form = Form(formdata=MultiDict({"on": "令和8年2月30日", "maybe": "そのうち"}))
        assert not form.validate()
        assert form.on.errors == ["2026年2月30日という日はありません。"]  # not "入力してください"
        assert form.maybe.errors[0].startswith("日付として読み取れませんでした。")
        html = form.on()
        assert 'type="text"' in html and 'value="令和8年2月30日"' in html
        assert Form(formdata=MultiDict({"on": ""})).validate() is False
        number = Form(formdata=MultiDict({"on": "1234 5678 9018"}))
        assert not number.validate() and number.on.errors == [MY_NUMBER_REFUSED]
        shown = Form(formdata=None, on=date(2026, 12, 3)).on()
        assert 'value="2026年12月3日"' in shown and "例: 令和8年12月3日" in shown


def test_threshold_takes_wareki_and_refuses_a_bad_date_keeping_it(assessment, as_role):
    c = as_role("officer")
    url = f"/affairs/{assessment.affair.id}/threshold"
    page = c.get(url).text
    assert 'type="date"' not in page and "「令和8年12月3日」" in page  # the format is said beside the field
    bad = c.post(url, data={"determined_on": "令和8年13月1日", "target_count": "50000", "handlers": "100"})
    assert bad.status_code == 400
    assert "2026年13月1日という日はありません。" in bad.text and 'value="令和8年13月1日"' in bad.text
    ok = c.post(url, data={"determined_on": "R7.4.1", "target_count": "50000", "handlers": "100"})
    assert ok.status_code == 302
    record = db.session.execute(db.select(ThresholdRecord)).scalars().all()[-1]
    assert record.determined_on == date(2025, 4, 1)


def test_publishing_date_typed_wrong_stays_on_the_version_page(assessment, as_role):
    version = assessment.versions[-1]
    version.submitted_on = date(2026, 3, 1)
    version.status = "submitted"  # (as services.submit leaves it; the procedure is tested elsewhere)
    db.session.commit()
    c = as_role("officer")
    threshold = {"determined_on": "R7.4.1", "target_count": "50000", "handlers": "100"}
    assert c.post(f"/affairs/{assessment.affair.id}/threshold", data=threshold).status_code == 302
    page = c.post(f"/versions/{version.id}/transition/publish", data={"on": "R8.3.32"})
    assert page.status_code == 400
    field = re.search(r'<input[^>]*id="publish-on"[^>]*>', page.text).group()
    assert 'value="R8.3.32"' in field and 'type="text"' in field  # as typed, beside its reason
    assert "2026年3月32日という日はありません。" in page.text
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, version.id).status == "submitted"
    # read as a date, it goes on to the confirmation, which names the day in the Japanese form
    later = c.post(f"/versions/{version.id}/transition/publish", data={"on": "令和8年3月10日"}).text
    assert "という日はありません" not in later and "日付として読み取れません" not in later
    assert "公表日2026年3月10日で公表します" in later


def test_a_date_for_a_step_not_offered_is_refused_with_its_reason(assessment, as_role):
    draft = assessment.versions[-1]
    page = as_role("officer").post(f"/versions/{draft.id}/transition/submit", data={"on": "きょう"})
    assert page.status_code == 400 and "日付として読み取れませんでした。" in page.text  # said in the message
    db.session.expire_all()
    assert db.session.get(AssessmentVersion, draft.id).status == "draft"


def test_date_items_of_a_section_take_wareki_and_show_in_japanese(assessment, as_role):
    draft = assessment.versions[-1]
    c = as_role("officer")
    page = c.get(f"/versions/{draft.id}/sections/procedure").text
    inputs = re.findall(r"<input[^>]*>", page)
    assert not [i for i in inputs if 'type="date"' in i]
    dated = [i for i in inputs if "例: 令和8年12月3日" in i]
    assert dated and all('type="text"' in i for i in dated)
