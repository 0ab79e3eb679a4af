import mailbox
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consultation.mail import MailParseError, ParsedMail, html_to_text, parse_eml, parse_mbox

JST = timezone(timedelta(hours=9))
PDF_DATA = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n%%EOF\n"
OPINION = "住民基本台帳事務の評価書案について意見を提出します。\nアクセス記録の点検を強化してください。\n"


def opinion_message(*, body=OPINION, charset="utf-8", message_id="<opinion-1@example.jp>", **headers):
    msg = EmailMessage()
    msg["From"] = headers.get("sender", "山田 太郎 <taro@example.jp>")
    msg["To"] = "pia@city.example.lg.jp"
    msg["Subject"] = headers.get("subject", "評価書案への意見")
    msg["Date"] = headers.get("date", "Wed, 12 Nov 2025 10:15:00 +0900")
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(body, charset=charset)
    return msg


def test_utf8_message_with_japanese_pdf_attachment():
    msg = opinion_message()
    msg.add_attachment(PDF_DATA, maintype="application", subtype="pdf", filename="意見書（山田）.pdf")
    parsed = parse_eml(msg.as_bytes())
    assert parsed.message_id == "<opinion-1@example.jp>"
    assert parsed.fingerprint == "<opinion-1@example.jp>"
    assert (parsed.sender_name, parsed.sender_address) == ("山田 太郎", "taro@example.jp")
    assert parsed.date == datetime(2025, 11, 12, 10, 15, tzinfo=JST)
    assert parsed.subject == "評価書案への意見"
    assert parsed.body.strip() == OPINION.strip()
    assert len(parsed.attachments) == 1
    attachment = parsed.attachments[0]
    assert (attachment.filename, attachment.content_type, attachment.data) == (
        "意見書（山田）.pdf",
        "application/pdf",
        PDF_DATA,
    )


def test_iso_2022_jp_message_with_encoded_headers():
    body = "個人番号カードの交付について意見があります。\n"
    subject = Header("評価書案への意見", "iso-2022-jp").encode()
    name = Header("山田 花子", "iso-2022-jp").encode()
    raw = (
        f"From: {name} <hanako@example.jp>\r\n"
        f"Subject: {subject}\r\n"
        "Date: Thu, 11 Dec 2025 23:59:00 +0900\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="ISO-2022-JP"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
    ).encode("ascii") + body.replace("\n", "\r\n").encode("iso2022_jp")
    parsed = parse_eml(raw)
    assert parsed.sender_name == "山田 花子"
    assert parsed.subject == "評価書案への意見"
    assert parsed.body == body
    assert parsed.message_id is None
    assert parsed.fingerprint.startswith("sha256:")


def test_iso_2022_jp_with_windows_characters_is_read_as_cp50221():
    # ① (NEC row 13) and 髙 (IBM extension) are outside JIS X 0208: Windows mailers send
    # them anyway, and Python's iso2022_jp codec refuses them.
    raw = (
        b"From: a@example.jp\r\nSubject: x\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n"
        b"\x1b$B-!\x1b(B \x1b$B|b\x1b(B \x1b$B0U8+\x1b(B\r\n"
    )
    assert parse_eml(raw).body.strip() == "① 髙 意見"


def test_shift_jis_quoted_printable_and_base64_bodies():
    for charset, cte in [("shift_jis", "base64"), ("utf-8", "quoted-printable"), ("utf-8", "base64")]:
        msg = EmailMessage()
        msg["From"] = "a@example.jp"
        msg["Subject"] = "意見"
        msg.set_content(OPINION, charset=charset, cte=cte)
        assert parse_eml(msg.as_bytes()).body.strip() == OPINION.strip(), (charset, cte)


def test_plain_text_is_preferred_over_html():
    msg = opinion_message()
    msg.add_alternative("<p>HTML版</p>", subtype="html")
    parsed = parse_eml(msg.as_bytes())
    assert parsed.body.strip() == OPINION.strip()
    assert parsed.attachments == []


def test_html_only_message_is_converted_to_text():
    msg = opinion_message()
    msg.set_content(
        "<html><head><style>p{color:red}</style></head><body>"
        "<p>評価書案について</p><p>意見&amp;要望<br>です。</p><script>alert(1)</script></body></html>",
        subtype="html",
    )
    parsed = parse_eml(msg.as_bytes())
    assert parsed.body == "評価書案について\n\n意見&要望\nです。"


def test_html_to_text_tables():
    assert html_to_text("<table><tr><td>郵送</td><td>1</td></tr></table>").split() == ["郵送", "1"]


def test_attachment_without_body():
    msg = EmailMessage()
    msg["From"] = "a@example.jp"
    msg["Subject"] = "意見書"
    msg.add_attachment(PDF_DATA, maintype="application", subtype="pdf", filename="意見書.pdf")
    parsed = parse_eml(msg.as_bytes())
    assert parsed.body == ""
    assert [a.filename for a in parsed.attachments] == ["意見書.pdf"]


def test_forwarded_message_is_kept_as_an_attachment():
    inner = opinion_message(message_id="<inner@example.jp>")
    outer = opinion_message(message_id="<outer@example.jp>", body="転送します。")
    outer.add_attachment(inner)
    parsed = parse_eml(outer.as_bytes())
    assert parsed.body.strip() == "転送します。"
    [attachment] = parsed.attachments
    assert attachment.content_type == "message/rfc822"
    assert attachment.filename.endswith(".eml")
    assert parse_eml(attachment.data).message_id == "<inner@example.jp>"


def test_attachment_file_names_cannot_traverse():
    msg = opinion_message()
    msg.add_attachment(PDF_DATA, maintype="application", subtype="pdf", filename="../../etc/意見.pdf")
    assert parse_eml(msg.as_bytes()).attachments[0].filename == "意見.pdf"


@pytest.mark.parametrize(
    "date_header, expected",
    [
        ("Wed, 12 Nov 2025 01:15:00 -0000", datetime(2025, 11, 12, 1, 15, tzinfo=UTC)),
        ("not a date", None),
        (None, None),
    ],
)
def test_dates_are_aware_or_none(date_header, expected):
    msg = opinion_message()
    del msg["Date"]
    if date_header:
        msg["Date"] = date_header
    assert parse_eml(msg.as_bytes()).date == expected


@pytest.mark.parametrize(
    "raw, message_part",
    [
        (b"", "空"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "メールの形式ではありません"),
        (b"hello world, this is not an e-mail\n", "メールの形式ではありません"),
        (b"From: a@example.jp\r\nSubject: empty\r\n\r\n \r\n", "本文も添付ファイルもない"),
        (
            b"From: a@example.jp\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe\xfa broken",
            "文字コード",
        ),
    ],
)
def test_malformed_messages(raw, message_part):
    with pytest.raises(MailParseError) as excinfo:
        parse_eml(raw)
    assert message_part in excinfo.value.message
    assert excinfo.value.index is None


def test_unknown_charset_falls_back_to_what_decodes():
    raw = b"From: a@example.jp\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n" + "意見です".encode("cp932")
    assert parse_eml(raw).body == "意見です"


def test_fingerprint_without_message_id_ignores_line_ends_and_from_escaping():
    body = "意見です。\nFrom the resident's point of view, 反対です。\n"
    msg = opinion_message(message_id=None, body=body)
    crlf = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    lf = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\nFrom the", b"\n>From the")
    assert parse_eml(crlf).fingerprint == parse_eml(lf).fingerprint
    other = opinion_message(message_id=None, body=body.replace("反対", "賛成"))
    assert parse_eml(other.as_bytes()).fingerprint != parse_eml(crlf).fingerprint


@pytest.fixture
def mbox_path(tmp_path):
    path = tmp_path / "opinions.mbox"
    box = mailbox.mbox(path)
    first = opinion_message(message_id=None, body="意見1です。\nFrom here on, 反対です。\n")
    second = opinion_message(message_id="<opinion-2@example.jp>", sender="b@example.jp", body="意見2です。")
    box.add(first)
    box.add(first)  # the same message twice
    box.flush()
    box.close()
    with open(path, "ab") as f:
        f.write(b"From broken@example.jp Wed Nov 12 10:00:00 2025\nthis is not a message at all\n\n")
    box = mailbox.mbox(path)
    box.add(second)
    box.flush()
    box.close()
    return path, first


def test_mbox_with_a_duplicate_and_a_broken_message(mbox_path):
    path, first = mbox_path
    results = parse_mbox(path)
    assert len(results) == 4
    one, duplicate, broken, two = results
    assert isinstance(one, ParsedMail) and isinstance(duplicate, ParsedMail) and isinstance(two, ParsedMail)
    assert isinstance(broken, MailParseError)
    assert broken.index == 2
    assert str(broken).startswith("3通目のメール：")
    assert one.fingerprint == duplicate.fingerprint != two.fingerprint
    assert "From here on" in one.body and ">From" not in one.body
    assert two.message_id == "<opinion-2@example.jp>"
    # The same message imported as an .eml file has the same fingerprint.
    assert parse_eml(first.as_bytes()).fingerprint == one.fingerprint
    assert parse_mbox(path.read_bytes())[0].fingerprint == one.fingerprint


def test_not_an_mbox(tmp_path):
    with pytest.raises(MailParseError):
        parse_mbox(b"Subject: hello\n\nbody\n")
    with pytest.raises(MailParseError):
        parse_mbox(b"")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_parse_eml_never_fails_otherwise(data):
    try:
        result = parse_eml(data)
    except MailParseError:
        return
    assert isinstance(result, ParsedMail)


header_names = st.sampled_from(["From", "Subject", "Date", "Message-ID", "Content-Type", "Content-Transfer-Encoding"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(header_names, st.text(max_size=40)), max_size=6), st.binary(max_size=200))
def test_parse_eml_with_odd_headers_never_fails_otherwise(headers, body):
    raw = b"".join(f"{k}: {v}".encode("utf-8", "surrogatepass") + b"\r\n" for k, v in headers) + b"\r\n" + body
    try:
        parse_eml(raw)
    except MailParseError:
        pass


def test_raw_eight_bit_headers_are_decoded():
    raw = (
        "From: 山田 太郎 <taro@example.jp>\r\n".encode()
        + "Subject: 評価書案への意見\r\n".encode("cp932")
        + b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + "意見です。\x00\r\n".encode()
    )
    parsed = parse_eml(raw)
    assert parsed.sender_name == "山田 太郎"
    assert parsed.sender_address == "taro@example.jp"
    assert parsed.subject == "評価書案への意見"
    assert parsed.body == "意見です。\n"


def test_raw_shift_jis_sender_name_is_decoded():
    raw = "From: 山田 花子 <hanako@example.jp>\r\n".encode("cp932") + b"Subject: x\r\n\r\nbody\r\n"
    parsed = parse_eml(raw)
    assert (parsed.sender_name, parsed.sender_address) == ("山田 花子", "hanako@example.jp")
