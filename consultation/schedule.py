"""What the consultations do by themselves (``flask tick``) and the notifications they give.

:func:`open_and_close` opens each consultation (募集前 → 募集中) on its start date and closes it
(募集中 → 募集終了) the day after its end date, through the same transitions as an officer's
button (the draft's snapshot, the period rules, the audit trail, here under the actor
``tick``). A consultation whose whole period passed before it was opened is left alone and
reported: opening it now would put the draft out for no days at all.

The notifications (:mod:`common.notify`), to the privacy officers who run consultations: one
opening tomorrow, one closing within 3 days, one closed with opinions still without a reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import sqlalchemy as sa

from common.db import db, savepoint
from common.errors import InvalidTransition
from common.jpdate import format_date
from common.notify import Kind, Notice, page_url, users_with_roles
from common.schedule import ACTOR
from common.timeutil import to_jst
from consultation.models import Consultation
from consultation.services import close_consultation, unanswered_count

#: a consultation's end is announced this many days before
CLOSING_NOTICE_DAYS = 3


def _consultations(status: str, *conditions) -> list[Consultation]:
    stmt = sa.select(Consultation).where(Consultation.status == status, *conditions).order_by(Consultation.id)
    return list(db.session.execute(stmt).scalars())


def open_and_close(today: date) -> str | None:
    """Open the consultations whose period has begun and close those whose period has ended."""
    opened, closed, missed, refused = [], [], [], []
    for c in _consultations("scheduled", Consultation.start_date <= today):
        if c.end_date < today:
            missed.append(c)
            continue
        try:
            with savepoint():
                c.open(actor=ACTOR, today=today)
        except InvalidTransition as error:
            refused.append(f"「{c.title}」を開始できません: {error}")
        else:
            opened.append(c)
    for c in _consultations("open", Consultation.end_date < today):
        with savepoint():
            close_consultation(c, actor=ACTOR, today=today)
        closed.append(c)
    db.session.commit()
    lines = [f"「{c.title}」の募集を開始しました。" for c in opened]
    lines += [f"「{c.title}」の募集期間が終わったため締め切りました。" for c in closed]
    lines += [
        f"「{c.title}」は募集期間({format_date(c.start_date)}～{format_date(c.end_date)})が過ぎましたが、"
        "開始されていません。募集期間を設定し直してください。"
        for c in missed
    ]
    if refused:
        raise RuntimeError(" ".join(lines + refused))
    return " ".join(lines) or None


def _notice(c: Consultation, key: str, subject: str, paragraphs: list[str]) -> Notice:
    return Notice(
        key=f"{key}:{c.id}",
        subject=f"{subject}: {c.title}",
        paragraphs=paragraphs,
        link=page_url("consultation.show", consultation_id=c.id),
        recipients=users_with_roles("officer"),
    )


def opening_notices(today: date) -> Iterator[Notice]:
    """Consultations that open tomorrow."""
    tomorrow = today + timedelta(days=1)
    for c in _consultations("scheduled", Consultation.start_date == tomorrow):
        yield _notice(
            c,
            f"consultation_opens:{c.start_date.isoformat()}",
            "意見募集が明日始まります",
            [
                f"意見募集「{c.title}」は、明日({format_date(c.start_date)})から{format_date(c.end_date)}まで意見を募集します。",
                "開始日になると自動で募集中になり、公開ページに評価書の案が掲載されます。"
                "案の内容と募集の設定をもう一度確認してください。",
            ],
        )


def closing_notices(today: date) -> Iterator[Notice]:
    """Open consultations whose period ends within 3 days."""
    last = today + timedelta(days=CLOSING_NOTICE_DAYS)
    for c in _consultations("open", Consultation.end_date >= today, Consultation.end_date <= last):
        left = (c.end_date - today).days
        when = "本日" if left == 0 else f"あと{left}日"
        yield _notice(
            c,
            f"consultation_closes:{c.end_date.isoformat()}",
            "意見募集の締切が近づいています",
            [
                f"意見募集「{c.title}」の募集期間は{format_date(c.end_date)}までです({when})。"
                f"これまでに{len(c.submissions)}件の提出がありました。",
                "募集期間が終わると、翌日に自動で締め切られます。",
            ],
        )


def reply_notices(today: date) -> Iterator[Notice]:
    """Closed consultations with opinions still without the body's reply (once per closing)."""
    for c in _consultations("closed"):
        unanswered = unanswered_count(c)
        if not unanswered:
            continue
        closed_on = to_jst(c.closed_at).date().isoformat() if c.closed_at else ""
        yield _notice(
            c,
            f"consultation_replies:{closed_on}",
            "意見への市の考え方が入力されていません",
            [
                f"意見募集「{c.title}」は募集を終了しました。"
                f"市の考え方が入力されていない意見が{unanswered}件あります。",
                "すべての意見に考え方を入力し、結果を公表してください。",
            ],
        )


KINDS = (
    Kind(
        name="consultation_opens",
        label="意見募集の開始(前日)",
        audience="保護評価担当",
        roles=frozenset({"officer"}),
        produce=opening_notices,
        order=40,
    ),
    Kind(
        name="consultation_closes",
        label="意見募集の締切(3日前から)",
        audience="保護評価担当",
        roles=frozenset({"officer"}),
        produce=closing_notices,
        order=41,
    ),
    Kind(
        name="consultation_replies",
        label="募集終了後、市の考え方が未入力の意見",
        audience="保護評価担当",
        roles=frozenset({"officer"}),
        produce=reply_notices,
        order=42,
    ),
)
