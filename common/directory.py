"""Sign-in through the 庁内 directory (LDAP / Active Directory, with ``ldap3``): off by default.

It is on when ``HYOKA_LDAP_URL`` names a server. A name typed at the login page that no
local account has is then checked against the directory:

* the user's entry is found either from ``HYOKA_LDAP_USER_DN_TEMPLATE`` (e.g.
  ``uid={username},ou=people,dc=city,dc=example,dc=lg,dc=jp``) or by a search under
  ``HYOKA_LDAP_SEARCH_BASE`` with ``HYOKA_LDAP_USER_FILTER`` (``(uid={username})``; Active
  Directory: ``(sAMAccountName={username})``), bound as ``HYOKA_LDAP_BIND_DN`` /
  ``HYOKA_LDAP_BIND_PASSWORD`` (a service account) or anonymously;
* the password is checked by binding as that entry;
* the user's groups are those under ``HYOKA_LDAP_GROUP_BASE`` matching
  ``HYOKA_LDAP_GROUP_FILTER`` (members by DN or by uid), plus the entry's ``memberOf``;
* ``HYOKA_LDAP_GROUP_ROLES`` and ``HYOKA_LDAP_GROUP_DEPARTMENTS`` map groups to roles and to
  department codes: ``cn=pia-officers,ou=groups,dc=city=officer;cn=auditors,…=auditor`` (each
  entry ``GROUP-DN=VALUE[,VALUE…]``, split at its last ``=``), or the path of a YAML/JSON file
  holding ``{GROUP-DN: VALUE or [VALUE, …]}``.

Every value typed by the user goes into a filter escaped (RFC 4515,
:func:`ldap3.utils.conv.escape_filter_chars`) and into a DN escaped (RFC 4514,
:func:`ldap3.utils.dn.escape_rdn`): ``*)(uid=*`` is a name like any other. An empty
password is refused before any bind (an LDAP "unauthenticated bind" would succeed). The
password is never logged, and the connection is encrypted (STARTTLS, or ``ldaps://``)
unless ``HYOKA_LDAP_TLS=none`` says otherwise. Which accounts result, and what is audited, is
:func:`common.auth.authenticate`'s business.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import unicodedata
from dataclasses import dataclass, field

import yaml
from flask import current_app
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPSocketOpenError, LDAPSocketReceiveError, LDAPStartTLSError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from common.db import db
from common.doctor import Result, register_check
from common.models import ROLES, Department

log = logging.getLogger(__name__)

DEFAULT_USER_FILTER = "(uid={username})"
DEFAULT_GROUP_FILTER = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
DEFAULT_TIMEOUT = 5
TLS_MODES = ("starttls", "ssl", "none")
LOCAL_LOGIN = ("all", "admin")
#: longest login name sent to the directory
MAX_NAME = 64

SETTINGS = (
    "HYOKA_LDAP_URL",
    "HYOKA_LDAP_TLS",
    "HYOKA_LDAP_CA_FILE",
    "HYOKA_LDAP_TIMEOUT",
    "HYOKA_LDAP_USER_DN_TEMPLATE",
    "HYOKA_LDAP_BIND_DN",
    "HYOKA_LDAP_BIND_PASSWORD",
    "HYOKA_LDAP_SEARCH_BASE",
    "HYOKA_LDAP_USER_FILTER",
    "HYOKA_LDAP_GROUP_BASE",
    "HYOKA_LDAP_GROUP_FILTER",
    "HYOKA_LDAP_GROUP_ROLES",
    "HYOKA_LDAP_GROUP_DEPARTMENTS",
    "HYOKA_LDAP_NAME_ATTRIBUTE",
    "HYOKA_LDAP_MAIL_ATTRIBUTE",
    "HYOKA_LDAP_LOCAL_LOGIN",
)


class DirectoryUnavailable(Exception):
    """The directory could not be asked (down, refused the service account, timed out)."""


@dataclass
class DirectorySettings:
    """The ``HYOKA_LDAP_*`` settings as read; ``problems`` say what cannot be used."""

    url: str = ""
    tls: str = "starttls"
    ca_file: str = ""
    timeout: float = DEFAULT_TIMEOUT
    user_dn_template: str = ""
    bind_dn: str = ""
    bind_password: str = field(default="", repr=False)
    search_base: str = ""
    user_filter: str = DEFAULT_USER_FILTER
    group_base: str = ""
    group_filter: str = DEFAULT_GROUP_FILTER
    #: normalised group DN -> roles / department codes
    group_roles: dict[str, set[str]] = field(default_factory=dict)
    group_departments: dict[str, set[str]] = field(default_factory=dict)
    name_attribute: str = "displayName"
    mail_attribute: str = "mail"
    #: ``all``: local accounts sign in as before; ``admin``: only local administrators
    local_login: str = "all"
    problems: list[str] = field(default_factory=list)

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def enabled(self) -> bool:
        """Directory sign-in is on: a server is named and every setting can be used."""
        return bool(self.url) and not self.problems


@dataclass
class DirectoryEntry:
    """A user the directory vouched for: name and password were right."""

    dn: str
    display_name: str
    email: str | None
    groups: set[str]
    roles: set[str]
    departments: set[str]


def normal_dn(dn: str) -> str:
    """``dn`` compared case- and space-insensitively (raises ValueError when it is no DN)."""
    parts = parse_dn(dn.strip(), escape=False, strip=True)
    if not parts:
        raise ValueError(dn)
    return ",".join(f"{attr.strip().lower()}={value.strip().lower()}" for attr, value, _sep in parts)


def _mapping(value, setting: str, problems: list[str]) -> dict[str, set[str]]:
    """A group mapping from its setting: a dict, a YAML/JSON file, or ``DN=V[,V];DN=V``."""
    if not value:
        return {}
    raw: dict = {}
    if isinstance(value, dict):
        raw = value
    elif isinstance(value, str) and os.path.isfile(value.strip()):
        path = value.strip()
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            loaded = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as error:
            problems.append(f"{setting} のファイル {path} を読み込めません({type(error).__name__})。")
            return {}
        if not isinstance(loaded, dict):
            problems.append(f"{setting} のファイル {path} は「グループのDN: 値」の対応表になっていません。")
            return {}
        raw = loaded
    else:
        for entry in str(value).replace("\n", ";").split(";"):
            entry = entry.strip()
            if not entry:
                continue
            dn, sep, values = entry.rpartition("=")
            if not sep or not dn.strip() or "=" not in dn:
                problems.append(f"{setting} の「{entry}」は「グループのDN=値」の形になっていません。")
                continue
            raw.setdefault(dn, []).extend(values.split(","))
    out: dict[str, set[str]] = {}
    for dn, values in raw.items():
        try:
            key = normal_dn(str(dn))
        except Exception:
            problems.append(f"{setting} の「{dn}」はDN(例: cn=pia-officers,ou=groups,dc=city)ではありません。")
            continue
        items = values if isinstance(values, list) else [values]
        out.setdefault(key, set()).update(str(v).strip() for v in items if str(v).strip())
    return out


def _env_config(app) -> None:
    for key in SETTINGS:
        app.config.setdefault(key, os.environ.get(key) or None)


def read_settings(config) -> DirectorySettings:
    """The directory settings of ``config``, checked (nothing is contacted)."""
    s = DirectorySettings(url=(config.get("HYOKA_LDAP_URL") or "").strip())
    if not s.url:
        return s
    p = s.problems
    if not s.url.lower().startswith(("ldap://", "ldaps://")):
        p.append(f"HYOKA_LDAP_URL の値「{s.url}」は ldap:// または ldaps:// で始まるアドレスではありません。")
    default_tls = "ssl" if s.url.lower().startswith("ldaps://") else "starttls"
    s.tls = str(config.get("HYOKA_LDAP_TLS") or default_tls).strip().lower()
    if s.tls not in TLS_MODES:
        p.append(f"HYOKA_LDAP_TLS の値「{s.tls}」は使えません。starttls、ssl、none のいずれかを指定してください。")
    elif s.tls == "ssl" and default_tls != "ssl":
        p.append("HYOKA_LDAP_TLS=ssl には ldaps:// で始まる HYOKA_LDAP_URL を指定してください。")
    elif s.tls != "ssl" and default_tls == "ssl":
        s.tls = "ssl"
    s.ca_file = config.get("HYOKA_LDAP_CA_FILE") or ""
    if s.ca_file and not os.path.isfile(s.ca_file):
        p.append(f"HYOKA_LDAP_CA_FILE のファイル {s.ca_file} が見つかりません。")
    timeout = config.get("HYOKA_LDAP_TIMEOUT")
    try:
        s.timeout = float(timeout) if timeout not in (None, "") else DEFAULT_TIMEOUT
        if s.timeout <= 0:
            raise ValueError
    except (TypeError, ValueError):
        p.append(f"HYOKA_LDAP_TIMEOUT の値「{timeout}」は秒数ではありません。")
    s.user_dn_template = (config.get("HYOKA_LDAP_USER_DN_TEMPLATE") or "").strip()
    s.bind_dn = (config.get("HYOKA_LDAP_BIND_DN") or "").strip()
    s.bind_password = config.get("HYOKA_LDAP_BIND_PASSWORD") or ""
    if s.bind_dn and not s.bind_password:
        p.append("HYOKA_LDAP_BIND_DN を指定した場合は HYOKA_LDAP_BIND_PASSWORD も指定してください。")
    s.search_base = (config.get("HYOKA_LDAP_SEARCH_BASE") or "").strip()
    s.user_filter = (config.get("HYOKA_LDAP_USER_FILTER") or DEFAULT_USER_FILTER).strip()
    if s.user_dn_template:
        if "{username}" not in s.user_dn_template:
            p.append(
                "HYOKA_LDAP_USER_DN_TEMPLATE には {username} を含めてください(例: uid={username},ou=people,dc=city)。"
            )
    elif not s.search_base:
        p.append(
            "HYOKA_LDAP_USER_DN_TEMPLATE(利用者のDNのひな形)か HYOKA_LDAP_SEARCH_BASE(利用者を検索する場所)の"
            "どちらかを指定してください。"
        )
    elif "{username}" not in s.user_filter or not (s.user_filter.startswith("(") and s.user_filter.endswith(")")):
        p.append(
            f"HYOKA_LDAP_USER_FILTER の値「{s.user_filter}」は {{username}} を含む検索条件(例: (uid={{username}}))ではありません。"
        )
    s.group_base = (config.get("HYOKA_LDAP_GROUP_BASE") or s.search_base).strip()
    s.group_filter = (config.get("HYOKA_LDAP_GROUP_FILTER") or DEFAULT_GROUP_FILTER).strip()
    for key, dn in (
        ("HYOKA_LDAP_BIND_DN", s.bind_dn),
        ("HYOKA_LDAP_SEARCH_BASE", s.search_base),
        ("HYOKA_LDAP_GROUP_BASE", s.group_base),
    ):
        if dn:
            try:
                normal_dn(dn)
            except Exception:
                p.append(f"{key} の値「{dn}」はDNではありません。")
    s.group_roles = _mapping(config.get("HYOKA_LDAP_GROUP_ROLES"), "HYOKA_LDAP_GROUP_ROLES", p)
    for dn, roles in s.group_roles.items():
        unknown = sorted(roles - set(ROLES))
        if unknown:
            p.append(
                f"HYOKA_LDAP_GROUP_ROLES のグループ {dn} の権限「{'、'.join(unknown)}」は使えません"
                f"({'、'.join(ROLES)} のいずれか)。"
            )
    if not s.group_roles:
        p.append("HYOKA_LDAP_GROUP_ROLES(グループと権限の対応)を指定してください。対応がないと誰もログインできません。")
    s.group_departments = _mapping(config.get("HYOKA_LDAP_GROUP_DEPARTMENTS"), "HYOKA_LDAP_GROUP_DEPARTMENTS", p)
    s.name_attribute = (config.get("HYOKA_LDAP_NAME_ATTRIBUTE") or "displayName").strip()
    s.mail_attribute = (config.get("HYOKA_LDAP_MAIL_ATTRIBUTE") or "mail").strip()
    s.local_login = str(config.get("HYOKA_LDAP_LOCAL_LOGIN") or "all").strip().lower()
    if s.local_login not in LOCAL_LOGIN:
        p.append(f"HYOKA_LDAP_LOCAL_LOGIN の値「{s.local_login}」は使えません。all か admin を指定してください。")
    return s


def init_app(app) -> None:
    """Read the settings and log what cannot be used (directory sign-in stays off then);
    add the directory to ``flask doctor``."""
    _env_config(app)
    s = read_settings(app.config)
    app.extensions["hyoka_directory"] = s
    for problem in s.problems:
        log.error("directory sign-in is off: %s", problem)
    register_check(app, "directory", "庁内ディレクトリ(LDAP)", check_directory, order=45)


def check_directory() -> Result:
    """``flask doctor``: the settings, a bind as the service account (or anonymous), the
    search base, and the department codes of the group mapping."""
    s = settings()
    if not s.configured:
        return Result(summary="使用しない設定です(HYOKA_LDAP_URL が未設定のため、ローカルアカウントでログインします)。")
    if s.problems:
        return Result(problems=[*s.problems, "この設定が直るまで、ディレクトリのアカウントではログインできません。"])
    problems = []
    codes = set().union(*s.group_departments.values()) if s.group_departments else set()
    if codes:
        known = set(db.session.execute(db.select(Department.code).where(Department.code.in_(sorted(codes)))).scalars())
        for code in sorted(codes - known):
            problems.append(f"HYOKA_LDAP_GROUP_DEPARTMENTS の所属コード「{code}」の所属が登録されていません。")
    who = f"サービスアカウント({s.bind_dn})" if s.bind_dn else "匿名"
    try:
        conn = service_connection(s)
    except DirectoryUnavailable as error:
        problems.append(
            f"{s.url} に{who}で接続できません({error})。HYOKA_LDAP_URL などの設定とサーバーを確認してください。"
        )
        return Result(problems=problems)
    try:
        for key, base in (("HYOKA_LDAP_SEARCH_BASE", s.search_base), ("HYOKA_LDAP_GROUP_BASE", s.group_base)):
            if base and not conn.search(base, "(objectClass=*)", BASE, attributes=[]):
                description = (conn.result or {}).get("description", "")
                problems.append(f"{key} の {base} が見つかりません({description})。")
    except LDAPException as error:
        problems.append(f"{s.url} での検索に失敗しました({_error_text(error)})。")
    finally:
        _close(conn)
    tls = {"starttls": "STARTTLS", "ssl": "SSL/TLS", "none": "暗号化なし"}[s.tls]
    local = "ローカルアカウントは管理者のみ" if s.local_login == "admin" else "ローカルアカウントも使用可"
    return Result(
        summary=f"{s.url}({tls})に{who}で接続できます。グループと権限の対応 {len(s.group_roles)} 件、{local}。",
        problems=problems,
    )


def settings() -> DirectorySettings:
    return current_app.extensions["hyoka_directory"]


# --------------------------------------------------------------------------- the connection


def _server(s: DirectorySettings) -> Server:
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=s.ca_file or None) if s.tls != "none" else None
    return Server(s.url, use_ssl=s.tls == "ssl", tls=tls, connect_timeout=s.timeout, get_info=NONE)


def _connect(s: DirectorySettings, server: Server, user: str | None, password: str | None) -> tuple[Connection, bool]:
    """A connection bound as ``user`` (anonymous when None); the bool says whether the bind
    succeeded. Raises :class:`DirectoryUnavailable` when the server cannot be reached."""
    conn = Connection(server, user=user, password=password, receive_timeout=s.timeout, read_only=True)
    try:
        conn.open()
        if s.tls == "starttls" and not conn.start_tls():
            _close(conn)
            raise DirectoryUnavailable("STARTTLS に対応していません")
        return conn, conn.bind()
    except LDAPException as error:
        _close(conn)
        raise DirectoryUnavailable(_error_text(error)) from None


def _close(conn: Connection) -> None:
    try:
        conn.unbind()
    except LDAPException:
        pass
    # ldap3 keeps the socket of a connection that failed to open, unclosed
    sock = getattr(conn, "socket", None)
    if sock is not None:
        sock.close()


def _error_text(error: Exception) -> str:
    """What went wrong, in Japanese first, then ldap3's own words (which never hold a password)."""
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    text = str(error).lower()
    if isinstance(error, LDAPSocketOpenError):
        if "timed out" in text:
            lead = "サーバーから応答がありません"
        elif "refused" in text:
            lead = "サーバーが接続を拒否しました"
        elif "certificate" in text or "ssl" in text:
            lead = "サーバーの証明書を確認できません"
        else:
            lead = "サーバーに接続できません"
    elif isinstance(error, LDAPStartTLSError):
        lead = "STARTTLS を開始できません"
    elif isinstance(error, LDAPSocketReceiveError):
        lead = "サーバーからの応答が途切れました"
    else:
        lead = "ディレクトリとの通信に失敗しました"
    return f"{lead}: {detail}"


def service_connection(s: DirectorySettings) -> Connection:
    """Bound as the service account (or anonymously): raises DirectoryUnavailable if refused."""
    conn, bound = _connect(s, _server(s), s.bind_dn or None, s.bind_password or None)
    if not bound:
        description = conn.result.get("description", "") if conn.result else ""
        _close(conn)
        who = f"サービスアカウント({s.bind_dn})" if s.bind_dn else "匿名"
        raise DirectoryUnavailable(f"{who}での接続が拒否されました({description})")
    return conn


def _first(entry_attrs: dict, name: str) -> str | None:
    value = entry_attrs.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip() if value not in (None, "") else None


def acceptable_name(name: str) -> bool:
    """A name worth asking the directory about: printable, not empty, not too long."""
    name = name.strip()
    return 0 < len(name) <= MAX_NAME and not any(unicodedata.category(c)[0] == "C" for c in name)


def authenticate(s: DirectorySettings, username: str, password: str) -> DirectoryEntry | None:
    """The directory's entry for ``username`` when ``password`` is its password; None when
    the name is unknown or the password wrong. Raises :class:`DirectoryUnavailable`."""
    username = username.strip()
    if not password or not acceptable_name(username):
        return None
    server = _server(s)
    attributes = [s.name_attribute, "cn", s.mail_attribute, "memberOf"]
    service = None
    try:
        if s.user_dn_template:
            dn = s.user_dn_template.replace("{username}", escape_rdn(username))
        else:
            service = service_connection(s)
            query = s.user_filter.replace("{username}", escape_filter_chars(username))
            try:
                service.search(s.search_base, query, SUBTREE, attributes=attributes, size_limit=2)
            except LDAPException as error:
                raise DirectoryUnavailable(_error_text(error)) from None
            found = [e for e in service.response or () if e.get("type") == "searchResEntry"]
            if len(found) != 1:
                if len(found) > 1:
                    log.warning("directory sign-in: the user filter matches more than one entry: refused")
                return None
            dn = found[0]["dn"]
        user_conn, bound = _connect(s, server, dn, password)
        try:
            if not bound:
                return None
            reader = service or user_conn
            try:
                reader.search(dn, "(objectClass=*)", BASE, attributes=attributes)
                entries = [e for e in reader.response or () if e.get("type") == "searchResEntry"]
                attrs = dict(entries[0]["attributes"]) if entries else {}
                groups = {normal_dn(g) for g in _values(attrs.get("memberOf"))}
                if s.group_base:
                    query = s.group_filter.replace("{dn}", escape_filter_chars(dn)).replace(
                        "{username}", escape_filter_chars(username)
                    )
                    reader.search(s.group_base, query, SUBTREE, attributes=[])
                    groups |= {normal_dn(e["dn"]) for e in reader.response or () if e.get("type") == "searchResEntry"}
            except LDAPException as error:
                raise DirectoryUnavailable(_error_text(error)) from None
        finally:
            _close(user_conn)
    finally:
        if service is not None:
            _close(service)
    roles: set[str] = set()
    departments: set[str] = set()
    for group in groups:
        roles |= s.group_roles.get(group, set())
        departments |= s.group_departments.get(group, set())
    return DirectoryEntry(
        dn=dn,
        display_name=_first(attrs, s.name_attribute) or _first(attrs, "cn") or username,
        email=_first(attrs, s.mail_attribute),
        groups=groups,
        roles=roles,
        departments=departments,
    )


def _values(value) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in items]
