"""個人番号 in every shape the detector knows, through every consultation path: web opinions
and the published report (HTML and PDF text), HTML-only mail, senders, attachment names
and contents, the refusing fields of the forms, and hostile MIME structures."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date, timedelta
from email.message import EmailMessage

import pytest

from common.db import db
from common.mynumber import REFUSED, find_my_numbers, strip_separators
from common.timeutil import today_jst
from consultation import services
from consultation.models import Consultation, Opinion, Submission, SubmissionFile

#: valid 個人番号 (check digits 7, 8 and 7)
NUMBERS = ("537164307917", "310598416868", "570291311807")
#: the shapes that passed the masking review before the detector knew them
SHAPES = {
    "two spaces": "{a}  {b}  {c}",
    "tabs": "{a}\t{b}\t{c}",
    "line breaks": "{a}\n{b}\n{c}",
    "CRLF and spaces": "{a} \r\n {b} \r\n {c}",
    "full-width hyphen": "{a}－{b}－{c}",
    "middle dot": "{a}・{b}・{c}",
    "prolonged sound mark": "{a}ー{b}ー{c}",
    "minus sign": "{a}−{b}−{c}",
    "en dash": "{a}–{b}–{c}",
    "full stop": "{a}.{b}.{c}",
    "full-width digits": "{A}　{B}　{C}",
    "slashes": "{a}/{b}/{c}",
    "parentheses": "({a}){b}-{c}",
    "commas": "{a},{b},{c}",
    "読点": "{a}、{b}、{c}",
    "markdown escapes": "{a}\\-{b}\\-{c}",
}


def shaped(number: str, shape: str) -> str:
    wide = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return SHAPES[shape].format(a=number[:4], b=number[4:8], c=number[8:], A=wide[:4], B=wide[4:8], C=wide[8:])


def _no_number(text: str) -> bool:
    """Neither a 個人番号 nor the digits of one of NUMBERS, whatever stands between them."""
    digits = strip_separators(text).translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return not find_my_numbers(text) and not any(n in digits for n in NUMBERS)


@pytest.fixture
def app_config():
    return {"CONSULTATION_RATE_LIMIT": 1000}


@pytest.fixture
def officer(as_role):
    return as_role("officer", departments=["住民情報課"])


@pytest.fixture
def open_consultation(make_consultation):
    today = today_jst()
    return make_consultation(
        status="open",
        start_date=today - timedelta(days=5),
        end_date=today + timedelta(days=25),
        form_fields={"name": "optional", "address": "optional", "contact": "optional"},
    )


def _web(client, consultation, **values):
    data = {
        "body": "意見です。",
        "name": "",
        "address": "",
        "contact": "",
        "submitter_kind": "individual",
        "consent": "y",
        "website": "",
    }
    data.update(values)
    return client.post(f"/public/consultations/{consultation.id}", data=data)


def test_web_opinions_in_every_shape_are_masked_in_the_report_html_and_pdf(app, client, officer, open_consultation):
    shapes = list(SHAPES)
    for n, shape in enumerate(shapes):
        response = _web(app.test_client(), open_consultation, body=f"意見です。{shaped(NUMBERS[n % 3], shape)} 以上")
        assert response.status_code == 303, shape
    for sub in db.session.execute(db.select(Submission)).scalars():
        assert _no_number(sub.body) and "［個人番号］" in sub.body and "受付時に" in sub.note
    c = db.session.get(Consultation, open_consultation.id)
    for opinion in c.opinions:
        services.update_opinion(opinion, actor="test", reply="ご意見として承ります。")
    services.close_consultation(c, actor="test", reason="試験のため期間の途中で締め切る。")
    services.mark_reviewed(c, actor="test")
    services.publish_result(c, actor="test", on=c.end_date + timedelta(days=10))
    db.session.commit()

    html = client.get(f"/public/consultations/{c.id}/report").text
    assert _no_number(html)
    assert html.count("［個人番号］") == len(shapes)
    pdf = client.get(f"/public/consultations/{c.id}/report.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout.decode()
        assert "意見です" in text
        assert _no_number(text)
        assert text.count("［個人番号］") == len(shapes)


def test_report_masks_an_opinion_edited_after_intake(app, client, make_consultation):
    """The officer's edits are masked when stored, and the report masks what it prints."""
    c = make_consultation(status="closed")
    sub = services.add_paper_submission(c, actor="test", channel="post", received_on=date(2025, 11, 20), body="意見")
    services.update_opinion(
        sub.opinions[0],
        actor="test",
        summary=f"番号 {shaped(NUMBERS[0], 'tabs')} の件",
        reply=f"回答 {shaped(NUMBERS[1], 'two spaces')}",
        topic=shaped(NUMBERS[2], "middle dot"),
    )
    db.session.commit()
    opinion = db.session.get(Opinion, sub.opinions[0].id)
    assert all(_no_number(t) for t in (opinion.summary, opinion.reply, opinion.topic))
    parts = services.split_opinion(opinion, [f"前半 {shaped(NUMBERS[0], 'line breaks')}", "後半"], actor="test")
    assert all(_no_number(p.summary) for p in parts)


def _html_only_mail(html: str, **headers) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.get("sender", "市民 花子 <hanako@example.jp>")
    msg["To"] = "juminjoho@example.lg.jp"
    msg["Subject"] = headers.get("subject", "評価書案への意見")
    msg["Date"] = "Thu, 20 Nov 2025 10:30:00 +0900"
    msg["Message-ID"] = headers.get("msgid", "<html-only@example.jp>")
    msg.set_content(html, subtype="html")
    for filename, data, mime in headers.get("attachments", ()):
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def test_html_only_mail_with_the_number_in_table_cells_is_masked(app, officer, make_consultation):
    c = make_consultation(status="open")
    a, b, d = NUMBERS[1][:4], NUMBERS[1][4:8], NUMBERS[1][8:]
    eml = _html_only_mail(
        "<html><body><p>意見を送ります。</p><table><tr><th>個人番号</th>"
        f"<td>{a}</td>\n<td> {b} </td><td>{d}</td></tr></table>"
        f"<div>{NUMBERS[0][:4]}&nbsp;{NUMBERS[0][4:8]}<br>{NUMBERS[0][8:]}</div></body></html>"
    )
    response = officer.post(
        f"/consultations/{c.id}/mail",
        data={"files": [(io.BytesIO(eml), "意見.eml")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and "1件を取り込みました" in response.text
    sub = db.session.execute(db.select(Submission)).scalar_one()
    assert "意見を送ります" in sub.body
    assert _no_number(sub.body) and sub.body.count("［個人番号］") == 2
    assert _no_number(sub.opinions[0].summary) and "受付時に" in sub.note


def _pdf_with_text(app, text: str) -> bytes:
    from common.publish import render_pdf

    with app.test_request_context():
        return render_pdf(f"<html lang='ja'><body><p>{text}</p></body></html>", stylesheets=())


def test_sender_attachment_names_and_contents_are_masked_or_flagged(app, client, officer, make_consultation):
    c = make_consultation(status="open")
    secret_pdf = _pdf_with_text(app, f"意見書 個人番号 {shaped(NUMBERS[0], 'two spaces')}")
    plain_pdf = _pdf_with_text(app, "意見書 番号はありません")
    eml = _html_only_mail(
        "<p>添付のとおり意見を提出します。</p>",
        sender=f'"山田 {NUMBERS[2][:4]} {NUMBERS[2][4:8]} {NUMBERS[2][8:]}" <{NUMBERS[1]}@example.jp>',
        attachments=[
            (f"意見書{shaped(NUMBERS[1], 'full-width hyphen')}.pdf", plain_pdf, "application/pdf"),
            ("意見書2.pdf", secret_pdf, "application/pdf"),
        ],
    )
    response = officer.post(
        f"/consultations/{c.id}/mail", data={"files": [(io.BytesIO(eml), "a.eml")]}, content_type="multipart/form-data"
    )
    assert response.status_code == 200 and "1件を取り込みました" in response.text
    sub = db.session.execute(db.select(Submission)).scalar_one()
    assert _no_number(sub.name) and _no_number(sub.contact) and "［個人番号］" in sub.contact
    names = [f.filename for f in sub.files]
    assert len(names) == 2 and all(_no_number(n) for n in names) and "［個人番号］" in names[0]
    assert "差出人" in sub.note and "名前に個人番号" in sub.note
    assert "「意見書2.pdf」の文字に個人番号" in sub.note and "公表されません" in sub.note
    assert "「" + names[0] + "」の文字" not in sub.note  # the PDF without a number is not flagged
    # the officer sees the flag on the submission; nobody else can download the files
    page = officer.get(f"/consultations/submissions/{sub.id}")
    assert "の文字に個人番号" in page.text and _no_number(page.text)
    stored = db.session.execute(db.select(SubmissionFile).filter_by(filename="意見書2.pdf")).scalar_one()
    assert client.get(f"/consultations/files/{stored.id}").status_code in (302, 401, 403)
    download = officer.get(f"/consultations/files/{stored.id}")
    assert download.status_code == 200
    download.close()


def test_paper_scan_with_a_number_in_its_text_is_flagged(app, officer, make_consultation):
    c = make_consultation(status="open")
    sub = services.add_paper_submission(
        c,
        actor="test",
        channel="post",
        received_on=date(2025, 11, 20),
        body="書面のとおり",
        scan=("scan.pdf", _pdf_with_text(app, shaped(NUMBERS[0], "tabs"))),
    )
    assert "「scan.pdf」の文字に個人番号" in sub.note


def _nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
    for i in range(depth):
        b = f"b{i}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="'
            + b
            + b'"\r\n\r\n--'
            + b
            + b"\r\n"
            + body
            + b"\r\n--"
            + b
            + b"--\r\n"
        )
    return b"From: a@example.jp\r\nSubject: x\r\nMIME-Version: 1.0\r\n" + body


def _many_parts(count: int) -> bytes:
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(count))
    return (
        b'From: a@example.jp\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="p"'
        b"\r\n\r\n" + parts + b"--p--\r\n"
    )


@pytest.mark.parametrize(
    "data", [_nested(3000), _nested(60), _many_parts(2000)], ids=["3000 deep", "60 deep", "2000 parts"]
)
def test_hostile_mime_structure_is_refused_with_an_error(app, officer, make_consultation, count_rows, data):
    c = make_consultation(status="open")
    response = officer.post(
        f"/consultations/{c.id}/mail",
        data={"files": [(io.BytesIO(data), "deep.eml")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "deep.eml" in response.text and "構造が複雑すぎる" in response.text
    assert count_rows(Submission) == 0


def test_ordinary_nesting_is_still_read(app, make_consultation):
    from consultation.mail import parse_eml

    assert parse_eml(_nested(5)).body.strip() == "hello"


@pytest.mark.parametrize("field", ["name", "address", "contact"])
def test_web_form_refuses_a_number_in_name_address_contact_and_keeps_the_rest(
    app, client, open_consultation, count_rows, field
):
    values = {field: f"連絡 {shaped(NUMBERS[0], 'two spaces')}", "body": "残しておく本文"}
    if field != "name":
        values["name"] = "札幌 太郎"
    response = _web(client, open_consultation, **values)
    assert response.status_code == 200
    assert REFUSED in response.text
    assert "残しておく本文" in response.text and (field == "name" or "札幌 太郎" in response.text)
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="{field}"', response.text)
    assert count_rows(Submission) == 0


def test_paper_form_refuses_a_number_in_the_submitter_fields(app, officer, make_consultation, count_rows):
    c = make_consultation(status="open")
    response = officer.post(
        f"/consultations/{c.id}/submissions/new",
        data={
            "channel": "post",
            "received_on": "2025-11-20",
            "submitter_kind": "individual",
            "name": "山田 太郎",
            "address": f"札幌市 {shaped(NUMBERS[1], 'line breaks')}",
            "contact": "",
            "body": "書き起こした本文",
            "note": "",
        },
    )
    assert response.status_code in (200, 400)
    assert REFUSED in response.text and "書き起こした本文" in response.text and "山田 太郎" in response.text
    assert count_rows(Submission) == 0
