"""Sending mail over SMTP (Flask-Mailman), with the settings taken from the environment.

Mail is off until ``HYOKA_SMTP_HOST`` names a server; then ``HYOKA_SMTP_PORT``,
``HYOKA_SMTP_TLS`` (``starttls``, ``ssl`` or ``none``), ``HYOKA_SMTP_USER`` /
``HYOKA_SMTP_PASSWORD``, ``HYOKA_SMTP_SENDER`` (the From address), ``HYOKA_SMTP_TIMEOUT``
(seconds) and ``HYOKA_SMTP_CA_FILE`` (a CA bundle for a 庁内 certificate authority) apply.
A setting that cannot be used is reported at start-up (logged) and by ``flask doctor``,
and mail stays off.

Every outgoing message goes through :func:`compose`, which masks any 個人番号 in its
subject and both of its parts (text and HTML) before it leaves: no mail carries one.
STARTTLS verifies the server's certificate against the system's (or the configured) CA
certificates; Flask-Mailman's own SMTP backend would accept any certificate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from functools import cached_property

from flask import current_app
from flask_mailman import EmailMultiAlternatives, Mail
from flask_mailman.backends.smtp import EmailBackend

from common.mynumber import find_my_numbers
from common.mynumber_guard import mask_my_numbers

log = logging.getLogger(__name__)

TLS_MODES = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT = 10
ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")

mailman = Mail()


@dataclass
class MailSettings:
    """The SMTP settings as read from the configuration; ``problems`` say what cannot be used."""

    host: str = ""
    port: int = 0
    tls: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    timeout: float = DEFAULT_TIMEOUT
    ca_file: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        """Mail is sent: a host is configured and every setting can be used."""
        return bool(self.host) and not self.problems


def _env_config(app) -> None:
    """Defaults of the ``HYOKA_SMTP_*`` settings and ``HYOKA_BASE_URL`` from the environment."""
    env = os.environ
    for key in (
        "HYOKA_SMTP_HOST",
        "HYOKA_SMTP_PORT",
        "HYOKA_SMTP_TLS",
        "HYOKA_SMTP_USER",
        "HYOKA_SMTP_PASSWORD",
        "HYOKA_SMTP_SENDER",
        "HYOKA_SMTP_TIMEOUT",
        "HYOKA_SMTP_CA_FILE",
        "HYOKA_BASE_URL",
    ):
        app.config.setdefault(key, env.get(key) or None)


def read_settings(config) -> MailSettings:
    """The SMTP settings of ``config``, checked (nothing is contacted)."""
    s = MailSettings(host=(config.get("HYOKA_SMTP_HOST") or "").strip())
    if not s.host:
        return s
    tls = str(config.get("HYOKA_SMTP_TLS") or "starttls").strip().lower()
    if tls not in TLS_MODES:
        s.problems.append(
            f"HYOKA_SMTP_TLS の値「{tls}」は使えません。starttls、ssl、none のいずれかを指定してください。"
        )
        tls = "starttls"
    s.tls = tls
    port = config.get("HYOKA_SMTP_PORT")
    try:
        s.port = int(port) if port not in (None, "") else TLS_MODES[tls]
        if not 0 < s.port < 65536:
            raise ValueError
    except (TypeError, ValueError):
        s.problems.append(f"HYOKA_SMTP_PORT の値「{port}」はポート番号ではありません(1〜65535)。")
    timeout = config.get("HYOKA_SMTP_TIMEOUT")
    try:
        s.timeout = float(timeout) if timeout not in (None, "") else DEFAULT_TIMEOUT
        if s.timeout <= 0:
            raise ValueError
    except (TypeError, ValueError):
        s.problems.append(f"HYOKA_SMTP_TIMEOUT の値「{timeout}」は秒数ではありません。")
    s.user = config.get("HYOKA_SMTP_USER") or ""
    s.password = config.get("HYOKA_SMTP_PASSWORD") or ""
    if bool(s.user) != bool(s.password):
        s.problems.append(
            "HYOKA_SMTP_USER と HYOKA_SMTP_PASSWORD は両方を指定してください(認証しない場合は両方とも空に)。"
        )
    s.sender = (config.get("HYOKA_SMTP_SENDER") or "").strip()
    if not s.sender:
        s.problems.append("HYOKA_SMTP_SENDER(送信元のメールアドレス)を指定してください。")
    elif not is_address(s.sender):
        s.problems.append(f"HYOKA_SMTP_SENDER の値「{s.sender}」はメールアドレスではありません。")
    s.ca_file = config.get("HYOKA_SMTP_CA_FILE") or ""
    if s.ca_file and not os.path.isfile(s.ca_file):
        s.problems.append(f"HYOKA_SMTP_CA_FILE のファイル {s.ca_file} が見つかりません。")
    return s


def is_address(value: str) -> bool:
    """A plain mail address (``name@example.lg.jp``), without a display name."""
    return len(value) <= 254 and bool(ADDRESS.match(value))


def init_app(app) -> None:
    """Read the settings, log what cannot be used, and set up Flask-Mailman."""
    _env_config(app)
    settings = read_settings(app.config)
    app.extensions["hyoka_mail"] = settings
    for problem in settings.problems:
        log.error("mail is off: %s", problem)
    app.config.update(
        MAIL_SERVER=settings.host or "localhost",
        MAIL_PORT=settings.port or 25,
        MAIL_USE_TLS=settings.tls == "starttls",
        MAIL_USE_SSL=settings.tls == "ssl",
        MAIL_USERNAME=settings.user or None,
        MAIL_PASSWORD=settings.password or None,
        MAIL_DEFAULT_SENDER=settings.sender or None,
        MAIL_TIMEOUT=settings.timeout,
        MAIL_BACKEND="smtp",
    )
    mailman.init_app(app)


def settings() -> MailSettings:
    return current_app.extensions["hyoka_mail"]


def mail_enabled() -> bool:
    return settings().enabled


# --------------------------------------------------------------------------- the connection


class _VerifyingSMTP(smtplib.SMTP):
    """STARTTLS with certificate verification (smtplib's default context verifies nothing)."""

    ca_file: str | None = None

    def starttls(self, *args, context=None, **kwargs):  # type: ignore[override]
        return super().starttls(*args, context=context or ssl.create_default_context(cafile=self.ca_file), **kwargs)


class SMTPBackend(EmailBackend):
    """Flask-Mailman's SMTP backend, verifying the server's certificate on STARTTLS and SSL."""

    def __init__(self, *args, ca_file: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.ca_file = ca_file or None

    @property
    def connection_class(self):
        if self.use_ssl:
            return smtplib.SMTP_SSL
        return type("VerifyingSMTP", (_VerifyingSMTP,), {"ca_file": self.ca_file})

    @cached_property
    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca_file)

    def open(self):
        """Open the connection; one that fails half-way (STARTTLS refused, a wrong password)
        is closed, not left to the garbage collector."""
        try:
            return super().open()
        except BaseException:
            if self.connection is not None:
                with contextlib.suppress(Exception):
                    self.connection.close()
                self.connection = None
            raise


def connection() -> SMTPBackend:
    """A connection to the configured server (opened by ``open()`` or on the first send)."""
    s = settings()
    return mailman.get_connection(backend=SMTPBackend, ca_file=s.ca_file)


def smtp_error_text(error: BaseException) -> str:
    """What went wrong with the SMTP server, in words an administrator acts on."""
    s = settings()
    where = f"SMTPサーバー {s.host}:{s.port}"
    if isinstance(error, socket.gaierror):
        return f"{where} のホスト名を解決できません。HYOKA_SMTP_HOST を確認してください。"
    if isinstance(error, ConnectionRefusedError):
        return f"{where} に接続できません(接続を拒否されました)。ホスト名とポート番号を確認してください。"
    if isinstance(error, TimeoutError | socket.timeout):
        return f"{where} から{s.timeout:g}秒以内に応答がありません。"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"{where} の証明書を検証できません({error.verify_message})。"
            "庁内の認証局の証明書を HYOKA_SMTP_CA_FILE に指定してください。"
        )
    if isinstance(error, ssl.SSLError):
        return f"{where} との暗号化通信を確立できません({error.reason})。HYOKA_SMTP_TLS の設定を確認してください。"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"{where} は STARTTLS に対応していません。暗号化しない場合は HYOKA_SMTP_TLS=none を指定してください。"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"{where} での認証に失敗しました。HYOKA_SMTP_USER と HYOKA_SMTP_PASSWORD を確認してください。"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return f"{where} が宛先を受け付けませんでした。"
    if isinstance(error, smtplib.SMTPSenderRefused):
        return f"{where} が送信元 {s.sender} を受け付けませんでした。HYOKA_SMTP_SENDER を確認してください。"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{where} がエラーを返しました({error.smtp_code})。"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"{where} が接続を切断しました。"
    return f"{where} とのやり取りに失敗しました({type(error).__name__})。"


def check_server() -> str:
    """Connect, say EHLO (and STARTTLS and log in as configured), and quit; returns what the
    server answered. Raises the connection's error (see :func:`smtp_error_text`)."""
    backend = connection()
    backend.fail_silently = False
    backend.open()
    try:
        code, answer = backend.connection.ehlo()
        if code != 250:
            raise smtplib.SMTPResponseException(code, answer)
        return answer.decode("utf-8", "replace").splitlines()[0]
    finally:
        backend.close()


# --------------------------------------------------------------------------- messages


@dataclass
class Composed:
    message: EmailMultiAlternatives
    #: 個人番号 masked in the subject or a part (the message carries none)
    masked: int = 0


def _clean(text: str) -> tuple[str, int]:
    found = len(find_my_numbers(text))
    return (mask_my_numbers(text) if found else text), found


def compose(to: str, subject: str, text: str, html: str) -> Composed:
    """A message with a plain-text body and an HTML alternative, every 個人番号 masked
    (a warning is logged without the number)."""
    subject, a = _clean(subject)
    text, b = _clean(text)
    html, c = _clean(html)
    masked = a + b + c
    if masked:
        log.warning("an outgoing mail carried %d 個人番号; masked before sending", masked)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings().sender, to=[to])
    message.attach_alternative(html, "text/html")
    return Composed(message, masked)
