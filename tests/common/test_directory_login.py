"""Sign-in through the 庁内 directory, against a real OpenLDAP server (slapd) the tests start.

slapd runs in a temporary directory on a free port with a slapd.conf written here; the
directory (people, a service account, groups) is loaded with slapadd. Skipped only when
slapd is not installed (``scripts/sysdeps.sh test`` installs it, so ``make test`` runs these).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import shutil
import socket
import subprocess
import time

import pytest
from ldap3 import MODIFY_REPLACE, Connection, Server

from common import directory
from common.db import db
from common.doctor import run_checks
from common.models import AuditEvent, LoginAttempt, User
from tests.conftest import TEST_PASSWORD

SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
SLAPD = shutil.which("slapd", path=SBIN)
SLAPADD = shutil.which("slapadd", path=SBIN)
SCHEMA = "/etc/ldap/schema"
pytestmark = pytest.mark.skipif(
    SLAPD is None or SLAPADD is None or not os.path.isdir(SCHEMA),
    reason="OpenLDAP (slapd) is not installed: scripts/sysdeps.sh test installs it (apt-get install slapd ldap-utils)",
)

SUFFIX = "dc=city,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "root-secret-1"
SERVICE_DN = f"cn=hyoka-svc,ou=services,{SUFFIX}"
SERVICE_PW = "service-secret-1"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
OFFICERS = f"cn=pia-officers,{GROUPS}"
AUDITORS = f"cn=auditors,{GROUPS}"
KOSEKI = f"cn=koseki,{GROUPS}"
NOBODY = f"cn=nobody,{PEOPLE}"
PASSWORDS = {"tanaka": "tanaka-pass-1", "sato": "sato-pass-1", "suzuki": "suzuki-pass-1", "yamada": "yamada-pass-1"}


def _attr(name: str, value: str) -> str:
    if value.isascii():
        return f"{name}: {value}"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}"


def _ldif() -> str:
    entries = [
        [f"dn: {SUFFIX}", "objectClass: dcObject", "objectClass: organization", "dc: city", "o: city"],
        [f"dn: {PEOPLE}", "objectClass: organizationalUnit", "ou: people"],
        [f"dn: {GROUPS}", "objectClass: organizationalUnit", "ou: groups"],
        [f"dn: ou=services,{SUFFIX}", "objectClass: organizationalUnit", "ou: services"],
        [f"dn: {SERVICE_DN}", "objectClass: person", "cn: hyoka-svc", "sn: svc", f"userPassword: {SERVICE_PW}"],
        [f"dn: {NOBODY}", "objectClass: person", "cn: nobody", "sn: nobody"],
    ]
    names = {"tanaka": "田中 一郎", "sato": "佐藤 花子", "suzuki": "鈴木 次郎", "yamada": "山田 三郎"}
    for uid, display in names.items():
        entries.append(
            [
                f"dn: uid={uid},{PEOPLE}",
                "objectClass: inetOrgPerson",
                f"uid: {uid}",
                f"cn: {uid}",
                f"sn: {uid}",
                _attr("displayName", display),
                f"mail: {uid}@city.example.lg.jp",
                f"userPassword: {PASSWORDS[uid]}",
            ]
        )
    for dn, members in ((OFFICERS, ["tanaka"]), (AUDITORS, ["sato"]), (KOSEKI, ["tanaka"])):
        cn = dn.split(",")[0].split("=")[1]
        entries.append(
            [f"dn: {dn}", "objectClass: groupOfNames", f"cn: {cn}"] + [f"member: uid={m},{PEOPLE}" for m in members]
        )
    # a posixGroup lists its members by uid; suzuki is in a group that gives no role
    entries.append(
        [
            f"dn: cn=reviewers,{GROUPS}",
            "objectClass: posixGroup",
            "cn: reviewers",
            "gidNumber: 5001",
            "memberUid: yamada",
        ]
    )
    entries.append(
        [f"dn: cn=staff,{GROUPS}", "objectClass: posixGroup", "cn: staff", "gidNumber: 5002", "memberUid: suzuki"]
    )
    return "\n\n".join("\n".join(lines) for lines in entries) + "\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    """A running slapd: yields its URL; stopped at the end."""
    base = tmp_path_factory.mktemp("slapd")
    (base / "data").mkdir()
    conf = base / "slapd.conf"
    conf.write_text(
        "\n".join(
            [
                *(f"include {SCHEMA}/{name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")),
                f"pidfile {base / 'slapd.pid'}",
                "modulepath /usr/lib/ldap",
                "moduleload back_mdb",
                "database mdb",
                f'suffix "{SUFFIX}"',
                f'rootdn "{ROOT_DN}"',
                f"rootpw {ROOT_PW}",
                f"directory {base / 'data'}",
                "maxsize 10485760",
                "access to attrs=userPassword by self write by anonymous auth by * none",
                "access to * by users read by * none",
                "",
            ]
        )
    )
    (base / "data.ldif").write_text(_ldif())
    subprocess.run([SLAPADD, "-f", str(conf), "-l", str(base / "data.ldif")], check=True, capture_output=True)
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
    log = open(base / "slapd.log", "wb")  # noqa: SIM115 - closed below, after slapd stops
    proc = subprocess.Popen([SLAPD, "-f", str(conf), "-h", f"{url}/", "-d", "0"], stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                raise RuntimeError(f"slapd did not start: {(base / 'slapd.log').read_text(errors='replace')}") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _ldap_config(url: str, **extra) -> dict:
    return {
        "HYOKA_LDAP_URL": url,
        "HYOKA_LDAP_TLS": "none",
        "HYOKA_LDAP_BIND_DN": SERVICE_DN,
        "HYOKA_LDAP_BIND_PASSWORD": SERVICE_PW,
        "HYOKA_LDAP_SEARCH_BASE": SUFFIX,
        "HYOKA_LDAP_GROUP_BASE": GROUPS,
        "HYOKA_LDAP_GROUP_ROLES": f"{OFFICERS}=officer;{AUDITORS}=auditor;cn=reviewers,{GROUPS}=reviewer",
        "HYOKA_LDAP_GROUP_DEPARTMENTS": f"{KOSEKI}=koseki",
        **extra,
    }


@pytest.fixture
def app_config(slapd):
    return _ldap_config(slapd)


@pytest.fixture
def koseki(department):
    return department("中央区戸籍住民課", code="koseki")


def _set_members(group: str, members: list[str], slapd_url: str) -> None:
    conn = Connection(Server(slapd_url), ROOT_DN, ROOT_PW, auto_bind=True)
    try:
        assert conn.modify(group, {"member": [(MODIFY_REPLACE, members or [NOBODY])]}), conn.result
    finally:
        conn.unbind()


def _post_login(client, username, password):
    return client.post("/login", data={"username": username, "password": password})


def _user(name: str) -> User | None:
    db.session.expire_all()
    return db.session.execute(db.select(User).filter_by(username=name)).scalar_one_or_none()


def test_directory_user_signs_in_with_the_roles_of_their_groups(app, client, koseki):
    response = _post_login(client, "tanaka", PASSWORDS["tanaka"])
    assert response.status_code == 302 and response.headers["Location"] == "/"
    user = _user("tanaka")
    assert user.roles == {"officer"}
    assert [d.code for d in user.departments] == ["koseki"]
    assert user.directory_dn == f"uid=tanaka,{PEOPLE}"
    assert user.display_name == "田中 一郎" and user.email == "tanaka@city.example.lg.jp"
    assert not user.password_hash.startswith(("scrypt", "pbkdf2"))
    page = client.get("/")
    assert page.status_code == 200 and "田中 一郎" in page.text
    created = db.session.execute(db.select(AuditEvent).filter_by(action="create", object_type="User")).scalars()
    summaries = [e.summary for e in created if e.summary]
    assert summaries == [
        "ディレクトリからの初回ログインでアカウントを作成（権限: 保護評価担当、所属: 中央区戸籍住民課）"
    ]
    # a member by uid (posixGroup) counts too
    client.post("/logout")
    assert _post_login(client, "yamada", PASSWORDS["yamada"]).status_code == 302
    assert _user("yamada").roles == {"reviewer"}


def test_a_changed_group_changes_the_roles_at_the_next_sign_in(app, client, koseki, slapd):
    assert _post_login(client, "tanaka", PASSWORDS["tanaka"]).status_code == 302
    client.post("/logout")
    try:
        _set_members(OFFICERS, [], slapd)
        _set_members(AUDITORS, [f"uid=sato,{PEOPLE}", f"uid=tanaka,{PEOPLE}"], slapd)
        # the same person, typed in another case: the same account
        assert _post_login(client, "Tanaka", PASSWORDS["tanaka"]).status_code == 302
        user = _user("tanaka")
        assert user.roles == {"auditor"}
        assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one() == 1
        updates = [
            e.summary
            for e in db.session.execute(db.select(AuditEvent).filter_by(action="update", object_type="User")).scalars()
            if e.summary
        ]
        assert any("保護評価担当 → 証跡の確認" in s for s in updates)
        client.post("/logout")
        # out of every mapped group: refused, and the account keeps no role
        _set_members(AUDITORS, [f"uid=sato,{PEOPLE}"], slapd)
        response = _post_login(client, "tanaka", PASSWORDS["tanaka"])
        assert response.status_code == 200 and "権限が割り当てられていません" in response.text
        assert _user("tanaka").roles == set()
    finally:
        _set_members(OFFICERS, [f"uid=tanaka,{PEOPLE}"], slapd)
        _set_members(AUDITORS, [f"uid=sato,{PEOPLE}"], slapd)


def test_wrong_password_is_refused_counted_and_locks(app, client, koseki):
    response = _post_login(client, "tanaka", "not-the-password")
    assert response.status_code == 200 and "ユーザーIDまたはパスワードが正しくありません" in response.text
    assert _user("tanaka") is None
    failed = db.session.execute(db.select(AuditEvent).filter_by(action="login_failed")).scalars().all()
    assert len(failed) == 1
    for _ in range(app.config["HYOKA_LOGIN_MAX_FAILURES"] - 1):
        _post_login(client, "tanaka", "not-the-password")
    response = _post_login(client, "tanaka", PASSWORDS["tanaka"])
    assert "ロックされています" in response.text
    assert db.session.execute(db.select(LoginAttempt)).scalar_one().locked_until is not None
    assert _user("tanaka") is None


def test_an_empty_password_is_never_an_anonymous_bind(app, slapd):
    settings = directory.settings()
    assert directory.authenticate(settings, "tanaka", "") is None
    assert directory.authenticate(settings, "tanaka", PASSWORDS["tanaka"]) is not None


@pytest.mark.parametrize("name", ["*)(uid=*", "*", "tanaka)(|(uid=*", "tan*", "*)(objectClass=*"])
def test_injection_in_the_name_is_refused(app, client, koseki, name):
    response = _post_login(client, name, PASSWORDS["tanaka"])
    assert response.status_code == 200 and "ユーザーIDまたはパスワードが正しくありません" in response.text
    assert db.session.execute(db.select(User)).scalars().all() == []


@pytest.mark.parametrize("name", ["tanaka,ou=people", "*", "tanaka+cn=x", "uid=tanaka"])
def test_injection_into_the_dn_template_is_refused(app, slapd, name):
    settings = directory.read_settings(
        _ldap_config(slapd, HYOKA_LDAP_USER_DN_TEMPLATE=f"uid={{username}},{PEOPLE}", HYOKA_LDAP_BIND_DN="")
        | {"HYOKA_LDAP_BIND_PASSWORD": ""}
    )
    assert settings.problems == []
    assert directory.authenticate(settings, name, PASSWORDS["tanaka"]) is None
    entry = directory.authenticate(settings, "tanaka", PASSWORDS["tanaka"])
    assert entry.roles == {"officer"} and entry.departments == {"koseki"}


def test_local_admin_signs_in_with_the_directory_down(app, client, make_user):
    admin = make_user("admin")
    down = f"ldap://127.0.0.1:{_free_port()}"
    app.extensions["hyoka_directory"] = dataclasses.replace(directory.settings(), url=down, timeout=2)
    response = _post_login(client, "tanaka", PASSWORDS["tanaka"])
    assert response.status_code == 200 and "ディレクトリ(LDAP)に接続できない" in response.text
    assert db.session.execute(db.select(LoginAttempt)).scalars().all() == []  # not the user's failure
    assert _post_login(client, admin.username, TEST_PASSWORD).status_code == 302
    assert client.get("/").status_code == 200


def test_only_local_admins_when_so_configured(app, client, make_user, koseki):
    app.extensions["hyoka_directory"] = dataclasses.replace(directory.settings(), local_login="admin")
    officer, admin = make_user("officer"), make_user("admin")
    response = _post_login(client, officer.username, TEST_PASSWORD)
    assert response.status_code == 200 and "ローカルアカウントは管理者のみ" in response.text
    assert _post_login(client, admin.username, TEST_PASSWORD).status_code == 302
    client.post("/logout")
    assert _post_login(client, "tanaka", PASSWORDS["tanaka"]).status_code == 302


def test_no_mapped_group_no_account(app, client, koseki):
    response = _post_login(client, "suzuki", PASSWORDS["suzuki"])
    assert response.status_code == 200 and "権限が割り当てられていません" in response.text
    assert _user("suzuki") is None


def test_the_password_is_never_logged_nor_audited(app, client, koseki, caplog):
    caplog.set_level(logging.DEBUG)
    _post_login(client, "tanaka", "wrong-Secret-42")
    assert _post_login(client, "tanaka", PASSWORDS["tanaka"]).status_code == 302
    client.post("/logout")
    app.extensions["hyoka_directory"] = dataclasses.replace(
        directory.settings(), url=f"ldap://127.0.0.1:{_free_port()}", timeout=2
    )
    _post_login(client, "sato", PASSWORDS["sato"])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "directory sign-in" in logged  # the outage is logged
    audited = " ".join(f"{e.summary} {e.before} {e.after}" for e in db.session.execute(db.select(AuditEvent)).scalars())
    for secret in ("wrong-Secret-42", PASSWORDS["tanaka"], PASSWORDS["sato"], SERVICE_PW):
        assert secret not in logged and secret not in audited


def test_a_directory_account_has_no_password_to_change_here(app, client, koseki):
    _post_login(client, "tanaka", PASSWORDS["tanaka"])
    response = client.get("/account/password", follow_redirects=True)
    assert "ディレクトリ側" in response.text
    assert _post_login(client, "tanaka", "!directory").status_code in (200, 302)
    client.post("/logout")
    assert _post_login(client, "tanaka", "!directory").status_code == 200


def test_doctor_reports_the_directory(app, slapd, koseki):
    results = {check.name: result for check, result in run_checks()}
    assert results["directory"].problems == []
    assert slapd in results["directory"].summary and "サービスアカウント" in results["directory"].summary
    s = directory.settings()
    app.extensions["hyoka_directory"] = dataclasses.replace(s, bind_password="wrong-one")
    problems = {check.name: result for check, result in run_checks()}["directory"].problems
    assert len(problems) == 1 and "接続できません" in problems[0] and "拒否されました" in problems[0]
    assert "wrong-one" not in problems[0]
    app.extensions["hyoka_directory"] = dataclasses.replace(s, url=f"ldap://127.0.0.1:{_free_port()}", timeout=2)
    problems = {check.name: result for check, result in run_checks()}["directory"].problems
    assert "接続できません" in problems[0] and "サーバーが接続を拒否しました" in problems[0]
    # a server without TLS, asked for STARTTLS (the default): said so, no password sent
    app.extensions["hyoka_directory"] = dataclasses.replace(s, tls="starttls")
    problems = {check.name: result for check, result in run_checks()}["directory"].problems
    assert len(problems) == 1 and "STARTTLS" in problems[0], problems
    app.extensions["hyoka_directory"] = dataclasses.replace(s, group_departments={KOSEKI: {"koseki", "nai"}})
    problems = {check.name: result for check, result in run_checks()}["directory"].problems
    assert problems == ["HYOKA_LDAP_GROUP_DEPARTMENTS の所属コード「nai」の所属が登録されていません。"]
    app.extensions["hyoka_directory"] = directory.read_settings({})
    assert "使用しない設定" in {check.name: result for check, result in run_checks()}["directory"].summary


def test_settings_are_checked(tmp_path):
    assert not directory.read_settings({}).enabled
    s = directory.read_settings(
        {
            "HYOKA_LDAP_URL": "ldap://dir.city.example",
            "HYOKA_LDAP_SEARCH_BASE": SUFFIX,
            "HYOKA_LDAP_GROUP_ROLES": f"{OFFICERS}=officer,auditor; CN=Auditors, OU=Groups, DC=city, DC=example=auditor",
        }
    )
    assert s.problems == [] and s.tls == "starttls"
    assert s.group_roles == {
        "cn=pia-officers,ou=groups,dc=city,dc=example": {"officer", "auditor"},
        "cn=auditors,ou=groups,dc=city,dc=example": {"auditor"},
    }
    mapping = tmp_path / "roles.yaml"
    mapping.write_text(f'"{OFFICERS}": [officer]\n"{AUDITORS}": auditor\n', encoding="utf-8")
    s = directory.read_settings(
        {
            "HYOKA_LDAP_URL": "ldaps://dir.city.example",
            "HYOKA_LDAP_SEARCH_BASE": SUFFIX,
            "HYOKA_LDAP_GROUP_ROLES": str(mapping),
        }
    )
    assert s.problems == [] and s.tls == "ssl" and len(s.group_roles) == 2
    s = directory.read_settings(
        {
            "HYOKA_LDAP_URL": "http://dir",
            "HYOKA_LDAP_GROUP_ROLES": f"{OFFICERS}=chief;nonsense",
            "HYOKA_LDAP_LOCAL_LOGIN": "never",
            "HYOKA_LDAP_BIND_DN": SERVICE_DN,
        }
    )
    text = "\n".join(s.problems)
    assert not s.enabled
    for needle in (
        "ldap:// または ldaps://",
        "「chief」は使えません",
        "「nonsense」",
        "HYOKA_LDAP_LOCAL_LOGIN",
        "HYOKA_LDAP_BIND_PASSWORD",
        "HYOKA_LDAP_SEARCH_BASE",
    ):
        assert needle in text


def test_an_administrator_sees_a_directory_account_and_cannot_give_it_a_password(app, client, koseki, make_user, login):
    _post_login(client, "tanaka", PASSWORDS["tanaka"])
    client.post("/logout")
    tanaka = _user("tanaka")
    login(make_user("admin"))
    listing = client.get("/admin/users")
    assert "庁内ディレクトリ" in listing.text
    response = client.post(
        f"/admin/users/{tanaka.id}",
        data={
            "username": "tanaka",
            "display_name": "田中 一郎",
            "roles": ["officer"],
            "active": "y",
            "password": "local-password-99",
        },
    )
    assert response.status_code == 200 and "パスワードを設定できません" in response.text
    assert _user("tanaka").password_hash == "!directory"


def test_a_local_account_keeps_its_name_and_a_disabled_directory_account_stays_out(app, client, koseki, make_user):
    local = make_user("editor", username="sato")
    # the directory's sato cannot take over the local account, in any spelling
    for typed in ("sato", "SATO"):
        response = _post_login(client, typed, PASSWORDS["sato"])
        assert response.status_code == 200 and "ユーザーIDまたはパスワードが正しくありません" in response.text
    assert _user("sato").directory_dn is None and _user("sato").roles == {"editor"}
    assert _post_login(client, "SATO", TEST_PASSWORD).status_code == 302
    assert _user("sato").id == local.id
    client.post("/logout")
    assert _post_login(client, "tanaka", PASSWORDS["tanaka"]).status_code == 302
    client.post("/logout")
    tanaka = _user("tanaka")
    tanaka.active = False
    db.session.commit()
    response = _post_login(client, "tanaka", PASSWORDS["tanaka"])
    assert response.status_code == 200 and "ユーザーIDまたはパスワードが正しくありません" in response.text
