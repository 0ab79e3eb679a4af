"""``flask doctor``: what is wrong, in Japanese, and exit 1; the packages add their checks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import stamp

from common import doctor
from common.db import db
from tests.conftest import free_port


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def migrated(app):
    """The test database, recorded as migrated to ``migrated(revision)`` (head by default)."""

    def do(revision="head"):
        stamp(revision=revision)

    yield do
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def _lines(result, label):
    return [line for line in result.output.splitlines() if f"] {label}: " in line]


class TestWithServer:
    @pytest.fixture
    def app_config(self, smtp_server):
        return smtp_server.config

    def test_a_sound_installation_passes(self, app, runner, migrated, smtp_server):
        migrated()
        result = runner.invoke(args=["doctor"])
        assert result.exit_code == 0, result.output
        [line] = _lines(result, "メール")  # ends with the server's greeting (its host name)
        assert line.startswith(f"[OK] メール: 127.0.0.1:{smtp_server.port}(暗号化なし)に接続できます: ")
        assert _lines(result, "データベース")[0].startswith("[OK] データベース: ")
        assert _lines(result, "マイグレーション")[0].startswith("[OK] マイグレーション: 最新です")
        assert _lines(result, "PDFのフォント") == ["[OK] PDFのフォント: IPAexMincho、IPAexGothic があります。"]
        assert result.output.splitlines()[-1] == "問題は見つかりませんでした。"

    def test_starttls_to_a_server_without_it_is_explained(self, app, runner, migrated):
        migrated()
        app.extensions["hyoka_mail"].tls = "starttls"
        app.extensions["mailman"].use_tls = True
        result = runner.invoke(args=["doctor"])
        assert result.exit_code == 1
        assert "STARTTLS に対応していません。暗号化しない場合は HYOKA_SMTP_TLS=none" in _lines(result, "メール")[0]
        assert result.output.splitlines()[-1] == "問題が 1 件あります。"

    def test_a_server_that_does_not_answer_is_explained(self, app, runner, migrated):
        migrated()
        port = free_port()
        app.extensions["hyoka_mail"].port = app.extensions["mailman"].port = port
        result = runner.invoke(args=["doctor"])
        assert result.exit_code == 1
        assert _lines(result, "メール") == [
            f"[問題] メール: SMTPサーバー 127.0.0.1:{port} に接続できません(接続を拒否されました)。"
            "ホスト名とポート番号を確認してください。"
        ]

    def test_links_without_a_base_url_are_a_problem(self, app, runner, migrated):
        migrated()
        app.config["HYOKA_BASE_URL"] = None
        result = runner.invoke(args=["doctor"])
        assert result.exit_code == 1
        assert "HYOKA_BASE_URL" in _lines(result, "メール")[0]


class TestBadSettings:
    @pytest.fixture
    def app_config(self):
        return {
            "HYOKA_SMTP_HOST": "mail.city.example.lg.jp",
            "HYOKA_SMTP_TLS": "tls",
            "HYOKA_SMTP_PORT": "abc",
            "HYOKA_SMTP_USER": "hyoka",
            "HYOKA_SMTP_SENDER": "Hyoka",
        }

    def test_every_unusable_setting_is_named_and_mail_stays_off(self, app, runner, migrated):
        from common import mail

        migrated()
        result = runner.invoke(args=["doctor"])
        assert result.exit_code == 1
        problems = _lines(result, "メール")
        assert len(problems) == 4
        assert "HYOKA_SMTP_TLS の値「tls」は使えません" in problems[0]
        assert "HYOKA_SMTP_PORT の値「abc」はポート番号ではありません" in problems[1]
        assert "HYOKA_SMTP_USER と HYOKA_SMTP_PASSWORD は両方を指定してください" in problems[2]
        assert "HYOKA_SMTP_SENDER の値「Hyoka」はメールアドレスではありません" in problems[3]
        assert not mail.mail_enabled()


def test_without_a_mail_server_mail_is_fine_and_off(app, runner, migrated):
    migrated()
    result = runner.invoke(args=["doctor"])
    assert _lines(result, "メール") == [
        "[OK] メール: 送信しない設定です(HYOKA_SMTP_HOST が未設定のため、通知メールは送りません)。"
    ]


def test_a_database_not_at_head_is_told_to_upgrade(app, runner, migrated):
    migrated("b7d41c2e9a55")
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    [line] = _lines(result, "マイグレーション")
    assert "最新ではありません(現在 b7d41c2e9a55" in line and "flask --app app db upgrade" in line


def test_a_database_made_without_migrations_is_named(app, runner):
    result = runner.invoke(args=["doctor"])
    assert "alembic_version" in _lines(result, "マイグレーション")[0]


def test_missing_fonts_are_named_with_the_packages(app, runner, migrated, monkeypatch):
    migrated()
    monkeypatch.setattr(doctor, "PDF_FONTS", ("IPAexMincho", "NoSuchFamilyGothic"))
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    [line] = _lines(result, "PDFのフォント")
    assert "NoSuchFamilyGothic がインストールされていません" in line and "fonts-ipaexfont-gothic" in line


def test_an_evidence_log_key_others_can_read_is_a_problem(app, runner, migrated):
    from evidence import transparency

    migrated()
    transparency.load_signer(create=True)
    assert _lines(runner.invoke(args=["doctor"]), "証跡ログの署名鍵")[0].startswith("[OK]")
    transparency.key_path().chmod(0o640)
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "chmod 600" in _lines(result, "証跡ログの署名鍵")[0]


def test_a_package_adds_its_check_and_a_check_that_breaks_is_a_problem(app, runner, migrated):
    migrated()
    doctor.register_check(app, "directory", "ディレクトリ", lambda: doctor.Result(summary="接続できます。"), order=70)

    def broken():
        raise OSError("no route")

    doctor.register_check(app, "broken", "壊れた確認", broken, order=80)
    result = runner.invoke(args=["doctor"])
    assert "[OK] ディレクトリ: 接続できます。" in result.output
    assert "[問題] 壊れた確認: 確認中にエラーが発生しました(OSError: no route)。" in result.output
    assert result.exit_code == 1


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 signed by itself, and its key: (cert path, key path)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "庁内メールサーバー")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TestStartTLS:
    """STARTTLS verifies the server's certificate: one nobody vouches for is refused, and is
    accepted once its authority is given (HYOKA_SMTP_CA_FILE)."""

    @pytest.fixture
    def tls_server(self, tmp_path):
        import ssl

        from aiosmtpd.controller import Controller

        from tests.conftest import SMTPInbox

        cert, key = _self_signed(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        inbox = SMTPInbox()
        inbox.port = free_port()
        inbox.cert = cert
        controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, tls_context=context)
        controller.start()
        try:
            yield inbox
        finally:
            controller.stop()

    @pytest.fixture
    def app_config(self, tls_server):
        return {**tls_server.config, "HYOKA_SMTP_TLS": "starttls"}

    def test_an_unknown_certificate_is_refused_and_its_authority_accepted(self, app, runner, migrated, tls_server):
        migrated()
        result = runner.invoke(args=["doctor"])
        assert result.exit_code == 1
        [line] = _lines(result, "メール")
        assert "の証明書を検証できません" in line and "HYOKA_SMTP_CA_FILE" in line
        app.extensions["hyoka_mail"].ca_file = str(tls_server.cert)
        result = runner.invoke(args=["doctor"])
        [line] = _lines(result, "メール")
        assert line.startswith(f"[OK] メール: 127.0.0.1:{tls_server.port}(STARTTLS)に接続できます"), line
