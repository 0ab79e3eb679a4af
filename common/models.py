"""Accounts, departments, settings, API tokens and the audit trail."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common.db import JSONType, UTCDateTime, db, guard, utcnow

ROLES = {
    "admin": "システム管理者",
    "officer": "保護評価担当",
    "editor": "事務担当課",
    "reviewer": "第三者点検",
    "auditor": "証跡の確認",
}

user_departments = sa.Table(
    "user_departments",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("department_id", sa.ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True),
)


class Department(db.Model):
    __tablename__ = "departments"
    __audit__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    #: short code used in feeds and imports, e.g. ``chuo-koseki``
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: the name as staff write it, e.g. 中央区戸籍住民課 (also used by the assignments feed)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    def __repr__(self):
        return f"<Department {self.code}>"


class UserRole(db.Model):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(20), primary_key=True)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __audit__ = True
    __audit_exclude__ = {"password_hash", "session_epoch", "last_login_at"}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    active: Mapped[bool] = mapped_column(default=True)
    #: kept in each session at sign-in; raising it ends every session of the user
    #: (common.auth.end_sessions: logout, password change or reset, roles, disabling)
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: where notifications go (none: no mail)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    #: ``immediate``: each notification when it is due; ``digest``: one mail a day (NOTIFY_MODES)
    notify_mode: Mapped[str] = mapped_column(sa.String(10), default="immediate", server_default="immediate")
    #: the kinds of notification the user turned off (common.notify), None: none
    notify_off: Mapped[list | None] = mapped_column(JSONType)
    #: the user's entry in the 庁内 directory: set, the account signs in through LDAP
    #: (common.directory), has no local password, and its roles and departments follow its
    #: groups at each sign-in; None: a local account
    directory_dn: Mapped[str | None] = mapped_column(sa.String(1000))

    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    departments: Mapped[list[Department]] = relationship(
        secondary=user_departments, lazy="selectin", order_by=Department.sort_order
    )

    @property
    def roles(self) -> set[str]:
        return {row.role for row in self.role_rows}

    def set_roles(self, roles) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles: {sorted(unknown)}")
        keep = [row for row in self.role_rows if row.role in roles]
        have = {row.role for row in keep}
        self.role_rows = keep + [UserRole(role=r) for r in sorted(set(roles) - have)]

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_active(self) -> bool:  # Flask-Login: disabled users cannot log in
        return self.active

    @property
    def department_ids(self) -> set[int]:
        return {d.id for d in self.departments}

    def __repr__(self):
        return f"<User {self.username}>"


NOTIFY_MODES = {"immediate": "その都度受け取る", "digest": "1日1回まとめて受け取る"}


class Setting(db.Model):
    """Body-wide settings an administrator can change (団体名, rule tables, …)."""

    __tablename__ = "settings"
    __audit__ = True

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[dict | list | str | int | None] = mapped_column(JSONType)


class LoginAttempt(db.Model):
    """Failed sign-ins under one typed login name, whether a user has it or not.

    Every name locks after the same number of failures, so the lockout does not tell which
    names exist. The name itself is not kept (it may be a password or a 個人番号 typed into
    the wrong box), only a keyed digest of it (common.auth.login_name_key).
    """

    __tablename__ = "login_attempts"

    #: HMAC-SHA-256 of the normalised name under the secret key
    name_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    #: failures since the last lock or successful sign-in
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


#: the evidence feeds a system token may be allowed to post (evidence.feeds.KINDS), with
#: the names people know them by
FEED_KINDS = {
    "access": "操作履歴",
    "grants": "権限付与",
    "assignments": "人事配置",
    "relations": "職員と住民記録の関係",
    "provisions": "情報提供等記録",
    "transactions": "窓口・届出・請求の受付記録",
    "protections": "支援措置対象者",
}
#: what a system token may post unless chosen otherwise: its own system's logs and grants (the
#: other feeds change what every check relies on, for every system)
DEFAULT_TOKEN_FEEDS = ("access", "grants")


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __audit__ = True
    __audit_exclude__ = {"token_hash", "last_used_at"}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: first characters of the token, shown so people can tell tokens apart
    prefix: Mapped[str] = mapped_column(sa.String(12))
    #: feed tokens are bound to one system code; read tokens to a user
    system_code: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: the feeds a system token may post, comma-separated (``access,grants``); None: none
    feeds: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User | None] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def feed_kinds(self) -> tuple[str, ...]:
        """The feeds this token may post, in the order of :data:`FEED_KINDS`."""
        chosen = set((self.feeds or "").split(","))
        return tuple(kind for kind in FEED_KINDS if kind in chosen)

    @property
    def feed_labels(self) -> str:
        return "、".join(FEED_KINDS[kind] for kind in self.feed_kinds)


class AuditEvent(db.Model):
    """One change made by someone. Append-only (a database trigger refuses UPDATE and DELETE)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    #: kept as text so the trail survives renamed or removed accounts
    actor_name: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(40), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(60), index=True)
    object_id: Mapped[str | None] = mapped_column(sa.String(60))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    before: Mapped[dict | None] = mapped_column(JSONType)
    after: Mapped[dict | None] = mapped_column(JSONType)
    ip: Mapped[str | None] = mapped_column(sa.String(64))


class Notification(db.Model):
    """A notification for one person, kept once (``dedupe_key``), mailed once (common.notify)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: the kind's name (common.notify.Kind)
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: the event's key and the person: the same event never gives a person a second notification
    dedupe_key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    #: the text, paragraphs separated by blank lines
    body: Mapped[str] = mapped_column(sa.Text)
    #: the page it is about (absolute URL)
    link: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: when it was handed to the SMTP server (or set aside, see ``outcome``); None while pending
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: ``immediate``, ``digest``, ``combined`` (several at once in one mail), ``off`` (the kind
    #: was turned off before it went), ``no_address``, ``failed`` (gave up after MAX_ATTEMPTS)
    outcome: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str] = mapped_column(sa.Text, default="", server_default="")

    user: Mapped[User] = relationship()


class ScheduledRun(db.Model):
    """A job of ``flask tick`` done for a day (a daily job runs once a day)."""

    __tablename__ = "scheduled_runs"

    job: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


guard(AuditEvent.__table__, "audit_events_append_only", message="audit trail is append-only")
