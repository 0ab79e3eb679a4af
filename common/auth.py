"""Authentication and the owner role of every route.

Every view is decorated with :func:`requires` (the roles that may use it) or :func:`public`.
``tests/common/test_route_roles.py`` walks ``app.url_map`` and fails for any endpoint that
has neither, and checks that every other role is refused.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from datetime import timedelta

from flask import abort, current_app, g, has_app_context, jsonify, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user
from flask_login.config import SESSION_KEYS
from flask_login.signals import session_protected
from werkzeug.security import check_password_hash, generate_password_hash

from common.db import db, utcnow
from common.models import DEFAULT_TOKEN_FEEDS, FEED_KINDS, ROLES, ApiToken, User


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
        for key in SESSION_KEYS:
            session.pop(key, None)
        session_protected.send(current_app._get_current_object())
        logger.warning("signed-in session of user %s presented from another address or browser: ended",
                       user_id)
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


@login_manager.user_loader
def _load_user(user_id):
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


def hash_password(password: str) -> str:
    method = PASSWORD_METHOD
    if has_app_context():
        method = current_app.config.get("HYOKA_PASSWORD_METHOD", PASSWORD_METHOD)
    return generate_password_hash(password, method=method)


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


def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def register_failed_login(user: User) -> None:
    user.failed_logins += 1
    limit = current_app.config["HYOKA_LOGIN_MAX_FAILURES"]
    if user.failed_logins >= limit:
        user.locked_until = utcnow() + timedelta(minutes=current_app.config["HYOKA_LOCKOUT_MINUTES"])
        user.failed_logins = 0


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


def issue_token(name: str, *, system_code: str | None = None, user: User | None = None,
                feeds=None):
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
    token = ApiToken(name=name, token_hash=hash_token(plain), prefix=plain[:10],
                     system_code=system_code, user=user, feeds=feeds_text)
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


def login_redirect_target(default: str = "common.dashboard") -> str:
    target = request.args.get("next", "")
    # only same-site relative paths: never an open redirect
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for(default)
