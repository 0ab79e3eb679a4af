"""Notifications by mail: the kinds the packages register, kept once per event and person,
mailed at once or in a daily digest as each person chose.

A package registers its kinds in its ``init_app`` (:func:`register_kind`); a kind's
``produce(today)`` yields a :class:`Notice` for each event that is due on ``today`` (Japan
time) — its recipients, subject, paragraphs, the page it is about and a key naming the
event. ``flask tick`` (:func:`run`) keeps one :class:`common.models.Notification` per key and
person (a unique ``dedupe_key``: a second tick adds nothing), then sends what is pending:

* to a person who chose ``immediate``, each notification (several at once in one mail);
* to a person who chose ``digest``, one mail a day with everything pending, at the first tick
  from ``HYOKA_NOTIFY_DIGEST_HOUR`` o'clock (Japan time, default 8).

A notification is marked sent before it is handed to the SMTP server (and unmarked when the
server refuses it), so that no tick sends it twice. Kinds a person turned off, and people
without an address, get nothing. Every mail goes through :func:`common.mail.compose`, which
masks any 個人番号; the texts name documents and counts, never a resident's data.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, render_template

from common import mail
from common.db import db, dialect_insert, savepoint, utcnow
from common.models import Notification, User, UserRole, user_departments
from common.schedule import claim_day, forget_day, register_job
from common.timeutil import JST, clock_offset

log = logging.getLogger(__name__)

#: a notification the SMTP server refused this many times is given up
MAX_ATTEMPTS = 5
#: more immediate notifications than this for one person in one tick go in one mail
COMBINE_ABOVE = 3
DEFAULT_DIGEST_HOUR = 8
DEFAULT_BASE_URL = "http://127.0.0.1:5000"


@dataclass
class Notice:
    """One event to tell people about."""

    #: names the event (``consultation_closes:12:2025-12-11``): the same key never goes twice
    key: str
    subject: str
    #: the text, one paragraph each
    paragraphs: list[str]
    #: the page it is about (:func:`page_url`)
    link: str
    recipients: Iterable[User] = field(default_factory=list)


@dataclass(frozen=True)
class Kind:
    """A kind of notification, as people see it on their preferences page."""

    name: str
    #: what it is about, e.g. 見直しの期限(30日前・期限超過)
    label: str
    #: who receives it, e.g. 保護評価担当、評価書を担当する事務担当課
    audience: str
    #: roles that may receive it (the preferences page offers it to them)
    roles: frozenset[str]
    produce: Callable[[date], Iterable[Notice]]
    order: int = 100


def register_kind(app, kind: Kind) -> None:
    """Add a kind of notification (packages call this in their ``init_app``)."""
    app.extensions.setdefault("hyoka_notify_kinds", {})[kind.name] = kind


def kinds() -> list[Kind]:
    return sorted(current_app.extensions.get("hyoka_notify_kinds", {}).values(), key=lambda k: (k.order, k.name))


def kinds_for(user: User) -> list[Kind]:
    """The kinds ``user``'s roles may receive."""
    return [kind for kind in kinds() if kind.roles & user.roles]


def wants(user: User, kind: str) -> bool:
    return kind not in (user.notify_off or [])


# --------------------------------------------------------------------------- recipients and links


def users_with_roles(*roles: str) -> list[User]:
    """Active users holding one of ``roles``."""
    stmt = (
        sa.select(User)
        .where(User.active.is_(True), User.id.in_(sa.select(UserRole.user_id).where(UserRole.role.in_(roles))))
        .order_by(User.id)
    )
    return list(db.session.execute(stmt).scalars())


def users_of_departments(department_ids: Iterable[int | None], *roles: str) -> list[User]:
    """Active users of the departments, holding one of ``roles`` (any role when none given)."""
    ids = [i for i in department_ids if i is not None]
    if not ids:
        return []
    members = sa.select(user_departments.c.user_id).where(user_departments.c.department_id.in_(ids))
    stmt = sa.select(User).where(User.active.is_(True), User.id.in_(members)).order_by(User.id)
    if roles:
        stmt = stmt.where(User.id.in_(sa.select(UserRole.user_id).where(UserRole.role.in_(roles))))
    return list(db.session.execute(stmt).scalars())


def base_url() -> str:
    return (current_app.config.get("HYOKA_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def page_url(endpoint: str, **values) -> str:
    """The absolute URL of a page, under ``HYOKA_BASE_URL`` (no request needed)."""
    base = urlsplit(base_url())
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http")
    return adapter.build(endpoint, values, force_external=True)


def now_jst() -> datetime:
    """Now in Japan, on the clock of :func:`common.timeutil.today_jst` (moved in tests only)."""
    return datetime.now(JST) + clock_offset()


# --------------------------------------------------------------------------- collecting


def collect(today: date) -> tuple[int, list[str]]:
    """Keep a notification for each due event and each of its recipients who has an address
    and wants the kind. Returns how many were new (those kept before are left alone) and what
    went wrong: a kind that fails is reported, the others are still collected."""
    new = 0
    errors = []
    for kind in kinds():
        try:
            with savepoint():
                new += _collect_kind(kind, today)
        except Exception:
            log.exception("notifications: the kind %s failed", kind.name)
            errors.append(f"「{kind.label}」の通知を作成できませんでした。")
    return new, errors


def _collect_kind(kind: Kind, today: date) -> int:
    table = Notification.__table__
    now = utcnow()
    new = 0
    for notice in kind.produce(today):
        seen: set[int] = set()
        for user in notice.recipients:
            if user.id in seen or not user.active or not user.email or not wants(user, kind.name):
                continue
            seen.add(user.id)
            stmt = (
                dialect_insert(table)
                .values(
                    user_id=user.id,
                    kind=kind.name,
                    dedupe_key=f"{notice.key}|u{user.id}",
                    subject=notice.subject,
                    body="\n\n".join(notice.paragraphs),
                    link=notice.link,
                    created_at=now,
                    outcome="",
                    attempts=0,
                    last_error="",
                )
                .on_conflict_do_nothing(index_elements=[table.c.dedupe_key])
                .returning(table.c.id)
            )
            new += db.session.execute(stmt).first() is not None
    return new


# --------------------------------------------------------------------------- sending


@dataclass
class SendReport:
    sent: int = 0  #: mails handed to the SMTP server
    notifications: int = 0  #: notifications in them
    failed: int = 0  #: mails the server refused (retried at the next tick)
    errors: list[str] = field(default_factory=list)


def _pending() -> dict[int, list[Notification]]:
    rows = db.session.execute(
        sa.select(Notification).where(Notification.sent_at.is_(None)).order_by(Notification.user_id, Notification.id)
    ).scalars()
    by_user: dict[int, list[Notification]] = defaultdict(list)
    for row in rows:
        by_user[row.user_id].append(row)
    return by_user


def _claim(rows: list[Notification], outcome: str) -> list[Notification]:
    """Mark ``rows`` sent unless another tick did first; returns those this one has."""
    now = utcnow()
    claimed = []
    for row in rows:
        result = db.session.execute(
            sa.update(Notification)
            .where(Notification.id == row.id, Notification.sent_at.is_(None))
            .values(sent_at=now, outcome=outcome)
            .execution_options(synchronize_session=False, preserve_rowcount=True)
        )
        if result.rowcount == 1:
            claimed.append(row)
    return claimed


def _release(rows: list[Notification], error: str) -> None:
    for row in rows:
        gave_up = row.attempts + 1 >= MAX_ATTEMPTS
        db.session.execute(
            sa.update(Notification)
            .where(Notification.id == row.id)
            .values(
                sent_at=utcnow() if gave_up else None,
                outcome="failed" if gave_up else "",
                attempts=Notification.attempts + 1,
                last_error=error,
            )
            .execution_options(synchronize_session=False)
        )


def digest_hour() -> int:
    return int(current_app.config.get("HYOKA_NOTIFY_DIGEST_HOUR", DEFAULT_DIGEST_HOUR))


def send_pending(today: date) -> SendReport:
    """Send what is due now (see the module's docstring); commits as it goes."""
    report = SendReport()
    now = now_jst()
    labels = {kind.name: kind.label for kind in kinds()}
    outgoing: list[tuple[User, list[Notification], str]] = []
    for user_id, rows in _pending().items():
        user = db.session.get(User, user_id)
        if user is None:
            continue
        unwanted = [r for r in rows if not wants(user, r.kind)]
        if not user.active or not user.email:
            _claim(rows, "no_address")
            continue
        _claim(unwanted, "off")
        rows = [r for r in rows if wants(user, r.kind)]
        if not rows:
            continue
        if user.notify_mode == "digest":
            if now.hour < digest_hour() or not claim_day(f"digest:u{user.id}", today):
                continue
            outgoing.append((user, _claim(rows, "digest"), "digest"))
        elif len(rows) > COMBINE_ABOVE:
            outgoing.append((user, _claim(rows, "combined"), "combined"))
        else:
            outgoing.extend((user, _claim([row], "immediate"), "immediate") for row in rows)
    db.session.commit()  # claimed before they go: no other tick sends them
    outgoing = [item for item in outgoing if item[1]]
    if not outgoing:
        return report
    backend = mail.connection()
    try:
        backend.open()
    except Exception as error:  # nothing went: every claim is released, no attempt counted
        for user, rows, how in outgoing:
            _unclaim(rows, user, how, today)
        db.session.commit()
        report.errors.append(mail.smtp_error_text(error))
        return report
    try:
        for user, rows, how in outgoing:
            try:
                backend.send_messages([_compose(user, rows, how, labels).message])
            except Exception as error:
                log.warning("mail to user %s refused: %s", user.id, error)
                _release(rows, mail.smtp_error_text(error))
                if how == "digest":
                    _forget_digest(user, today)
                report.failed += 1
                text = mail.smtp_error_text(error)
                if text not in report.errors:
                    report.errors.append(text)
            else:
                report.sent += 1
                report.notifications += len(rows)
            db.session.commit()
    finally:
        backend.close()
    return report


def _unclaim(rows: list[Notification], user: User, how: str, today: date) -> None:
    for row in rows:
        db.session.execute(
            sa.update(Notification)
            .where(Notification.id == row.id)
            .values(sent_at=None, outcome="")
            .execution_options(synchronize_session=False)
        )
    if how == "digest":
        _forget_digest(user, today)


def _forget_digest(user: User, today: date) -> None:
    forget_day(f"digest:u{user.id}", today)


def _compose(user: User, rows: list[Notification], how: str, labels: dict[str, str]) -> mail.Composed:
    context = {
        "user": user,
        "items": [
            {"subject": r.subject, "paragraphs": r.body.split("\n\n"), "link": r.link, "label": labels.get(r.kind, "")}
            for r in rows
        ],
        "preferences_url": page_url("notifications.preferences"),
        "digest": how == "digest",
    }
    if len(rows) == 1:
        subject = f"【Hyoka】{rows[0].subject}"
    elif how == "digest":
        subject = f"【Hyoka】本日のお知らせ({len(rows)}件)"
    else:
        subject = f"【Hyoka】お知らせ({len(rows)}件)"
    text = render_template("mail/notification.txt", **context)
    html = render_template("mail/notification.html", **context)
    return mail.compose(user.email or "", subject, text, html)


# --------------------------------------------------------------------------- the tick's job


def run(today: date) -> str:
    """``flask tick``: keep the due notifications and send what is pending."""
    if not mail.settings().host:
        return "メールの送信先サーバーが設定されていない(HYOKA_SMTP_HOST)ため、通知メールは送りません。"
    if not mail.mail_enabled():
        raise RuntimeError(
            "メールの設定に誤りがあるため、通知メールを送れません: " + " ".join(mail.settings().problems)
        )
    new, errors = collect(today)
    db.session.commit()
    report = send_pending(today)
    line = f"新しい通知 {new} 件、送信したメール {report.sent} 通(通知 {report.notifications} 件)"
    if report.failed:
        line += f"、送信できなかったメール {report.failed} 通(次回に再送)"
    if errors or report.errors:
        raise RuntimeError(line + "。" + " ".join(errors + report.errors))
    return line + "。"


def init_app(app) -> None:
    app.config.setdefault(
        "HYOKA_NOTIFY_DIGEST_HOUR", int(os.environ.get("HYOKA_NOTIFY_DIGEST_HOUR") or DEFAULT_DIGEST_HOUR)
    )
    register_job(app, "notifications", "通知メール", run, order=90)
