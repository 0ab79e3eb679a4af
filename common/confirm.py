"""Two-step confirmation of deletions and of changes that cannot be undone.

A route that deletes something or moves a state for good answers a POST without
``confirm=yes`` (or without a valid CSRF token) with a page that says what will happen;
that page posts the same request again with ``confirm=yes``. The first POST changes
nothing, so the form works without JavaScript and a forged or half-sent POST does no harm::

    if not confirmed():
        return confirmation_page(Confirmation(
            title="この版を削除します",
            consequences=["…"],
            action_label="削除する",
            back_url=url_for(...),
        ))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template, request
from flask_wtf import FlaskForm

from common.forms import ConfirmForm

#: the value of the hidden ``confirm`` field that the confirmation page sends
CONFIRMED = "yes"


@dataclass(frozen=True)
class Confirmation:
    """What the confirmation page says."""

    #: the heading: what is about to happen (「この版を削除します」)
    title: str
    #: the button that does it (「削除する」)
    action_label: str
    #: where 「やめて戻る」 leads
    back_url: str
    #: what will happen, one sentence each (shown as a list)
    consequences: list[str] = field(default_factory=list)
    #: a sentence above the list naming the object (「住民基本台帳に関する事務 第2版(作成中)」)
    lead: str = ""
    #: other fields of the first POST sent again (e.g. the 提出日)
    carry: dict[str, str] = field(default_factory=dict)
    #: a deletion or a change that cannot be undone: the button is marked as dangerous
    danger: bool = True
    back_label: str = "やめて戻る"


def excerpt(text: str, limit: int = 80) -> str:
    """The start of a long text for the page's lead (「…」 when cut)."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "…"


def confirmed(form: FlaskForm | None = None) -> bool:
    """True when the request is a POST of a valid ``form`` (a :class:`ConfirmForm` by
    default: the CSRF token) with ``confirm=yes``."""
    form = form if form is not None else ConfirmForm()
    return bool(form.validate_on_submit() and request.form.get("confirm") == CONFIRMED)


def confirmation_page(confirmation: Confirmation, status: int = 200):
    """The page that asks; its form posts to the URL of this request."""
    return render_template(
        "confirm.html",
        c=confirmation,
        action=request.path,
        form=ConfirmForm(formdata=None),
        confirmed_value=CONFIRMED,
    ), status
