"""The 本人開示 page (evidence.disclosure): an officer produces a resident's access record.

The routes are added to the evidence blueprint (``evidence.views.bp``). The request is a
POST (the resident's key stays out of addresses and server logs)."""

from __future__ import annotations

from flask import Response, render_template
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired

from common.auth import requires
from common.db import db
from common.forms import JapaneseDateField, NoMyNumber
from evidence import disclosure
from evidence.disclosure import FORMATS, DisclosureError
from evidence.views import bp


class DisclosureForm(FlaskForm):
    subject = StringField(
        "対象者の番号",
        validators=[DataRequired("対象者の番号(宛名番号など)を入力してください。"), NoMyNumber()],
        render_kw={"size": 24},
    )
    start = JapaneseDateField("期間(から)", validators=[DataRequired("期間の開始日を入力してください。")])
    end = JapaneseDateField("期間(まで)", validators=[DataRequired("期間の終了日を入力してください。")])
    format = RadioField("形式", choices=list(FORMATS.items()), default="html")


def _page(form, data=None, status=200):
    return render_template("evidence/disclosure.html", form=form, d=data, staff_shown=disclosure.staff_shown()), status


@bp.get("/disclosure")
@requires("officer")
def disclosure_form():
    """Choose the resident and the period of the access record."""
    return _page(DisclosureForm(formdata=None))


@bp.post("/disclosure")
@requires("officer")
def disclosure_produce():
    """Produce the resident's access record (shown, or as PDF / CSV); every production is audited."""
    form = DisclosureForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        data, body = disclosure.produce(
            form.subject.data, form.start.data, form.end.data, form.format.data, actor=current_user
        )
    except DisclosureError as exc:
        form.subject.errors = list(form.subject.errors) + [str(exc)]
        return _page(form, status=400)
    db.session.commit()
    if form.format.data == "html":
        return _page(form, data)
    name = f"disclosure-{data['start']:%Y%m%d}-{data['end']:%Y%m%d}.{form.format.data}"
    mimetype = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}[form.format.data]
    response = Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    response.cache_control.no_store = True
    return response
