"""Authentication and the owner role of every route.

Every view is decorated with :func:`requires` (the roles that may use it) or :func:`public`.
``tests/common/test_route_roles.py`` walks ``app.url_map`` and fails for any endpoint that
has neither, and checks that every other role is refused.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app, g, has_app_context, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user, login_user
from flask_login.config import SESSION_KEYS
from flask_login.signals import session_protected
from werkzeug.security import check_password_hash, generate_password_hash

from common import audit, directory
from common.db import db, dialect_insert, utcnow
from common.mail import is_address
from common.models import DEFAULT_TOKEN_FEEDS, FEED_KINDS, ROLES, ApiToken, Department, LoginAttempt, User
from common.mynumber import contains_my_number


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per set of keys.

    Flask builds the serializer twice a request (to read the cookie and to write it), a
    quarter of the time of a cached public page. It holds nothing but its settings, so one
    serves every request and thread until SECRET_KEY or SECRET_KEY_FALLBACKS change.
    """

    _cached: tuple = (None, None)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached_keys, serializer = self._cached
        if cached_keys != keys:
            serializer = super().get_signing_serializer(app)
            self._cached = (keys, serializer)
        return serializer


class _LoginManager(LoginManager):
    """Session protection: a signed-in session ends when another browser presents it.

    Flask-Login compares a digest of the client's address and User-Agent with the one kept
    in the session at sign-in. In its "strong" mode it ends a non-permanent session that
    fails, but only marks a permanent one (all of ours: 8 hours) as not fresh, which nothing
    here looks at: a copied session cookie would work from any machine. Here a signed-in
    session presented from another address or browser is ended whatever its permanence;
    the person signs in again (also after a browser update changes the User-Agent).

    A session without a signed-in user has nothing to protect: an anonymous visitor's
    session (a CSRF token, a receipt number) is left alone. Flask-Login would empty it of
    the login keys and delete a remember cookie (which this application never sets) on
    every response that reads ``current_user``, rewriting the cookie each time.
    """

    def _session_protection_failed(self):
        if "_user_id" not in session or session.get("_id") == self._session_identifier_generator():
            return False
        user_id = session.get("_user_id")
        _forget_sign_in()
        session_protected.send(current_app._get_current_object())
        logger.warning("signed-in session of user %s presented from another address or browser: ended", user_id)
        return True


login_manager = _LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "ログインしてください。"
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"

logger = logging.getLogger(__name__)

ALL_ROLES = tuple(ROLES)
MIN_PASSWORD_LENGTH = 10
PASSWORD_METHOD = "scrypt"


#: the session key holding the user's session_epoch as it was when the session was signed in
EPOCH_KEY = "_epoch"


def _forget_sign_in() -> None:
    for key in (*SESSION_KEYS, EPOCH_KEY):
        session.pop(key, None)


@login_manager.user_loader
def _load_user(user_id):
    """The signed-in user, on every request: only while the account is enabled and none of
    its sessions has been ended since this one was signed in (:func:`end_sessions`)."""
    user = db.session.get(User, int(user_id))
    if user is not None and user.active and session.get(EPOCH_KEY) == user.session_epoch:
        return user
    _forget_sign_in()
    if user is not None and user.active:
        logger.warning("session of user %s signed in before its sessions were ended: refused", user_id)
    return None


def start_session(user: User) -> None:
    """Sign ``user`` in on this session (or re-issue it after :func:`end_sessions`)."""
    login_user(user)
    session[EPOCH_KEY] = user.session_epoch
    session.permanent = True


def end_sessions(user: User, reason: str | None = None) -> None:
    """End every session of ``user``, in every browser: each carries the epoch it was signed
    in under, and the epoch moves on. Recorded in the audit trail with ``reason`` if given.
    A session to keep is re-issued afterwards with :func:`start_session`."""
    user.session_epoch = User.session_epoch + 1  # in SQL: two at once both count
    db.session.flush()
    if reason:
        audit.record("sessions_ended", "User", user.id, f"全てのセッションを終了（{reason}）")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=_password_method())


def _password_method() -> str:
    if has_app_context():
        return current_app.config.get("HYOKA_PASSWORD_METHOD", PASSWORD_METHOD)
    return PASSWORD_METHOD


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def password_problems(password: str, username: str = "") -> list[str]:
    """Reasons a new password is refused (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください。")
    if username and username.lower() in password.lower():
        problems.append("パスワードにユーザーIDを含めないでください。")
    if password.isdigit() or password.isalpha():
        problems.append("パスワードには英字と数字など複数の種類の文字を含めてください。")
    return problems


#: failures under a name are forgotten this long after the last one (unless it is locked)
LOGIN_ATTEMPT_RETENTION = timedelta(days=1)
#: a hash of an unknown password per hashing method, checked when the typed name has no
#: (enabled) user: a wrong password then costs the same whether the name exists or not
_dummy_hashes: dict[str, str] = {}


#: the password hash of a directory account: no password ever matches it
DIRECTORY_PASSWORD = "!directory"


@dataclass
class SignIn:
    """The outcome of :func:`authenticate`: the user when name and password are right;
    ``locked`` when the name is locked (the same for every name, known or not);
    ``unavailable`` when the directory could not be asked; ``no_roles`` when the directory
    vouched for the user but none of their groups gives a role here; ``local_refused`` when a
    local account other than an administrator's is not to be used (HYOKA_LDAP_LOCAL_LOGIN)."""

    user: User | None
    locked: bool = False
    unavailable: bool = False
    no_roles: bool = False
    local_refused: bool = False


def login_name_key(name: str) -> str:
    """A keyed digest of a typed login name (NFKC, trimmed, case-folded): it counts the
    failures under the name without keeping the name."""
    normal = unicodedata.normalize("NFKC", name).strip().casefold()
    secret = current_app.secret_key
    secret = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(secret, normal.encode(), hashlib.sha256).hexdigest()


def _dummy_hash() -> str:
    method = _password_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash(secrets.token_urlsafe(16), method=method)
    return _dummy_hashes[method]


def authenticate(name: str, password: str) -> SignIn:
    """Check a sign-in; counts failures and locks the name, records failures in the audit trail.

    Every name is treated alike, whether a user has it or not: the same lockout after
    ``HYOKA_LOGIN_MAX_FAILURES`` failures, and one password hash checked (a dummy one when
    there is no enabled user), so neither the answer nor its time tells which names exist.

    With directory sign-in on (common.directory), a name no local account has is checked
    against the directory; the account is created at the first sign-in and its roles and
    departments follow its groups at each one (:func:`_sync_directory_user`).
    """
    key = login_name_key(name)
    now = utcnow()
    ldap = directory.settings()
    user = _find_user(name, ldap.enabled)
    locked_until = db.session.execute(
        db.select(LoginAttempt.locked_until).where(LoginAttempt.name_hash == key)
    ).scalar_one_or_none()
    if locked_until is not None and locked_until > now:
        _record_failure(name, user, "ロック中のアカウントへのログイン試行", "" if user else "ロック中のログイン試行")
        return SignIn(None, locked=True)
    if ldap.enabled and (user is None or user.directory_dn is not None):
        return _authenticate_directory(ldap, name, password, user, key, now)
    if user is not None and user.active and user.directory_dn is None:
        right = check_password_hash(user.password_hash, password)
    else:
        check_password_hash(_dummy_hash(), password)
        right = False
    if right and user is not None and ldap.enabled and ldap.local_login == "admin" and not user.has_role("admin"):
        _record_failure(name, user, "ローカルアカウントでのログイン（管理者以外は使用できない設定）")
        return SignIn(None, local_refused=True)
    if right:
        db.session.execute(db.delete(LoginAttempt).where(LoginAttempt.name_hash == key))
        return SignIn(user)
    return _refused(name, user, key, now)


def _find_user(name: str, directory_on: bool) -> User | None:
    """The account of a typed name: the one spelled so, else (with directory sign-in on)
    the one of that name in lower case, the name a directory account is created under (a
    local account of that name keeps it: the directory never takes it over)."""
    typed = name.strip()
    user = db.session.execute(db.select(User).filter_by(username=typed)).scalar_one_or_none()
    if user is None and directory_on and typed.lower() != typed:
        user = db.session.execute(db.select(User).filter_by(username=typed.lower())).scalar_one_or_none()
    return user


def _refused(name: str, user: User | None, key: str, now) -> SignIn:
    """A wrong password (or a disabled account): counted towards the lock, and recorded."""
    locked = _count_failure(key, now)
    _record_failure(
        name,
        user,
        "パスワード誤り" if user is None or user.active else "無効なアカウント",
        "失敗が続いたためロック" if locked else "",
    )
    return SignIn(None, locked=locked)


def _authenticate_directory(ldap, name: str, password: str, user: User | None, key: str, now) -> SignIn:
    """A sign-in checked by the directory (the name is no local account's)."""
    check_password_hash(_dummy_hash(), password)  # the same cost as a local sign-in
    try:
        entry = directory.authenticate(ldap, name, password)
    except directory.DirectoryUnavailable as error:
        logger.error("directory sign-in: the directory cannot be asked: %s", error)
        _record_failure(name, user, "ディレクトリサーバーに接続できないためログインできません")
        return SignIn(None, unavailable=True)
    if entry is None or (user is not None and not user.active):
        return _refused(name, user, key, now)
    db.session.execute(db.delete(LoginAttempt).where(LoginAttempt.name_hash == key))
    if not entry.roles:
        if user is not None:
            _sync_directory_user(user, entry, name)
        _record_failure(name, user, "ディレクトリのグループに権限の割り当てがないためログインできません")
        if user is None:
            logger.warning("directory sign-in: %s has no group mapped to a role", entry.dn)
        return SignIn(None, no_roles=True)
    if user is None:
        user = User(
            username=name.strip().lower(),
            display_name=entry.display_name[:200],
            password_hash=DIRECTORY_PASSWORD,
            directory_dn=entry.dn,
        )
        db.session.add(user)
    _sync_directory_user(user, entry, name)
    return SignIn(user)


def _role_names(roles) -> str:
    return "、".join(ROLES[r] for r in ROLES if r in roles) or "なし"


def _sync_directory_user(user: User, entry, name: str) -> None:
    """Give ``user`` the roles, departments and name of their directory entry; audited."""
    new = user.id is None
    departments = []
    if entry.departments:
        departments = list(
            db.session.execute(
                db.select(Department).where(Department.code.in_(sorted(entry.departments))).order_by(Department.code)
            ).scalars()
        )
        unknown = sorted(entry.departments - {d.code for d in departments})
        if unknown:
            logger.warning("directory sign-in: unknown department codes in HYOKA_LDAP_GROUP_DEPARTMENTS: %s", unknown)
    before_roles, before_departments = user.roles, {d.id for d in user.departments}
    user.directory_dn = entry.dn
    user.display_name = entry.display_name[:200]
    if entry.email and not user.email and is_address(entry.email) and len(entry.email) <= 254:
        user.email = entry.email
    user.set_roles(entry.roles)
    user.departments = departments
    db.session.flush()
    dept_names = "、".join(d.name for d in departments) or "なし"
    if new:
        audit.record(
            "create",
            "User",
            user.id,
            f"ディレクトリからの初回ログインでアカウントを作成（権限: {_role_names(entry.roles)}、所属: {dept_names}）",
            actor=user,
        )
    elif before_roles != entry.roles or before_departments != {d.id for d in departments}:
        audit.record(
            "update",
            "User",
            user.id,
            f"ディレクトリのグループにより権限・所属を更新（権限: {_role_names(before_roles)} → "
            f"{_role_names(entry.roles)}、所属: {dept_names}）",
            actor=user,
        )
        if before_roles - entry.roles:
            end_sessions(user)  # a role taken away ends the user's other sessions too


def _count_failure(key: str, now) -> bool:
    """Count a failure under ``key``; True when it locks the name. One statement (an upsert),
    so that failures arriving together all count."""
    limit = current_app.config["HYOKA_LOGIN_MAX_FAILURES"]
    until = now + timedelta(minutes=current_app.config["HYOKA_LOCKOUT_MINUTES"])
    table = LoginAttempt.__table__
    reached = table.c.failures + 1 >= limit
    stmt = (
        dialect_insert(table)
        .values(
            name_hash=key,
            failures=0 if limit <= 1 else 1,
            locked_until=until if limit <= 1 else None,
            last_failed_at=now,
        )
        .on_conflict_do_update(
            index_elements=[table.c.name_hash],
            set_={
                "failures": sa.case((reached, 0), else_=table.c.failures + 1),
                "locked_until": sa.case((reached, until), else_=table.c.locked_until),
                "last_failed_at": now,
            },
        )
        .returning(table.c.locked_until)
    )
    locked_until = db.session.execute(stmt).scalar_one()
    db.session.execute(
        db.delete(LoginAttempt).where(
            LoginAttempt.last_failed_at < now - LOGIN_ATTEMPT_RETENTION,
            sa.or_(LoginAttempt.locked_until.is_(None), LoginAttempt.locked_until < now),
        )
    )
    return locked_until == until


def _record_failure(name: str, user: User | None, summary: str, note: str = "") -> None:
    """Audit a failed sign-in: ``summary`` for a user's account, the name typed otherwise."""
    if user is None:
        if contains_my_number(name):
            # never kept, not even masked: the rest of what was typed may identify the person
            summary = "存在しないユーザーID（個人番号を含むため記録しません）"
        else:
            summary = f"存在しないユーザーID: {name.strip()[:64]}"
    audit.record(
        "login_failed",
        "User",
        None if user is None else user.id,
        summary + (f"（{note}）" if note else ""),
        actor=user or "anonymous",
    )


def locked_user_ids(users) -> set[int]:
    """Ids of those of ``users`` whose login name is locked now."""
    keys = set(
        db.session.execute(db.select(LoginAttempt.name_hash).where(LoginAttempt.locked_until > utcnow())).scalars()
    )
    return {user.id for user in users if login_name_key(user.username) in keys} if keys else set()


def unlock(user: User, *, username: str | None = None) -> None:
    """Lift a lockout of ``user``'s login name (or of ``username``, the name they had
    until now) and forget its failures."""
    key = login_name_key(username or user.username)
    db.session.execute(db.delete(LoginAttempt).where(LoginAttempt.name_hash == key))


def _mark(view, *, roles=None, public=False, api=False, feed=False):
    view.hyoka_roles = frozenset(roles or ())
    view.hyoka_public = public
    view.hyoka_api = api
    #: feed endpoints accept only a system's bearer token, never a signed-in session
    view.hyoka_feed = feed
    return view


def requires(*roles: str):
    """Allow the view only to signed-in users holding one of ``roles``."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"requires() needs known roles, got {roles!r}")

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return _mark(wrapper, roles=roles)

    return decorator


def public(view):
    """Mark a view as open to everyone (public portal, login page, consultation form)."""
    return _mark(view, public=True)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(name: str, *, system_code: str | None = None, user: User | None = None, feeds=None):
    """Create an API token; returns (ApiToken, plain token). The plain token is shown once.

    A system token (``system_code``) may post the ``feeds`` given (default
    :data:`common.models.DEFAULT_TOKEN_FEEDS`); rows of other systems are refused."""
    unknown = set(feeds or ()) - set(FEED_KINDS)
    if unknown:
        raise ValueError(f"unknown feeds: {sorted(unknown)}")
    if system_code:
        chosen = set(DEFAULT_TOKEN_FEEDS if feeds is None else feeds)
        feeds_text = ",".join(kind for kind in FEED_KINDS if kind in chosen) or None
    else:
        feeds_text = None
    plain = "hyk_" + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, token_hash=hash_token(plain), prefix=plain[:10], system_code=system_code, user=user, feeds=feeds_text
    )
    db.session.add(token)
    return token, plain


def _bearer_token() -> ApiToken | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = db.session.execute(
        db.select(ApiToken).filter_by(token_hash=hash_token(header[7:].strip()))
    ).scalar_one_or_none()
    if token is None or not token.active:
        return None
    return token


def api_error(status: int, message: str):
    response = jsonify({"error": message})
    response.status_code = status
    return response


def api_requires(*roles: str, feed: bool = False):
    if not feed and (not roles or set(roles) - set(ROLES)):
        raise ValueError(f"api_requires() needs known roles, got {roles!r}")
    """JSON API access: a Bearer token (feed tokens for feed endpoints, user tokens
    otherwise) or a signed-in session whose user holds one of ``roles``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            token = _bearer_token()
            if token is not None:
                if feed and token.system_code:
                    g.api_token = token
                    token.last_used_at = utcnow()
                    return view(*args, **kwargs)
                if not feed and token.user is not None and token.user.active and token.user.has_role(*roles):
                    g.api_token = token
                    g.api_user = token.user
                    return view(*args, **kwargs)
                return api_error(403, "このトークンでは利用できません。")
            if request.headers.get("Authorization"):
                return api_error(401, "トークンが無効です。")
            if current_user.is_authenticated and not feed:
                if current_user.has_role(*roles):
                    g.api_user = current_user
                    return view(*args, **kwargs)
                return api_error(403, "権限がありません。")
            return api_error(401, "認証が必要です。")

        return _mark(wrapper, roles=() if feed else roles, api=True, feed=feed)

    return decorator
