"""Staff intake: 郵送/持参/FAX with a scan, and 電子メール from .eml and mbox files."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from common.db import db
from consultation.models import Submission, SubmissionFile

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def app_config():
    return {"CONSULTATION_MAX_SCAN_BYTES": 10_000}


@pytest.fixture
def officer(as_role):
    return as_role("officer", departments=["住民情報課"])


def _mail(
    subject="評価書案への意見",
    body="クラウド化について意見します。\n情報の管理場所を教えてください。",
    sender=("市民 花子", "hanako@example.jp"),
    when=datetime(2025, 11, 20, 1, 30, tzinfo=UTC),
    attachment=None,
    msgid=None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{sender[0]} <{sender[1]}>"
    msg["To"] = "juminjoho@example.lg.jp"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = msgid or make_msgid(domain="example.jp")
    msg.set_content(body)
    if attachment:
        msg.add_attachment(
            attachment[1],
            maintype=attachment[2].split("/")[0],
            subtype=attachment[2].split("/")[1],
            filename=attachment[0],
        )
    return msg.as_bytes()


@pytest.mark.parametrize("channel", ["post", "hand", "fax"])
def test_paper_submission_with_scan(app, officer, make_consultation, channel, count_rows):
    c = make_consultation(status="open")
    response = officer.post(
        f"/consultations/{c.id}/submissions/new",
        data={
            "channel": channel,
            "received_on": "2025-11-20",
            "submitter_kind": "organisation",
            "name": "市民団体",
            "body": "意見1です。\n\n意見2です。",
            "scan": (io.BytesIO(PDF_BYTES), "スキャン.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.text[:2000]
    sub = db.session.execute(db.select(Submission)).scalar_one()
    assert (sub.channel, sub.received_on, sub.submitter_kind) == (channel, date(2025, 11, 20), "organisation")
    assert [f.filename for f in sub.files] == ["スキャン.pdf"]
    assert sub.files[0].content_type == "application/pdf"
    download = officer.get(f"/consultations/files/{sub.files[0].id}")
    assert download.status_code == 200 and download.data == PDF_BYTES
    download.close()
    assert len(sub.opinions) == 1


def test_image_scan_is_accepted(app, officer, make_consultation):
    c = make_consultation(status="open")
    response = officer.post(
        f"/consultations/{c.id}/submissions/new",
        data={
            "channel": "fax",
            "received_on": "2025-11-21",
            "submitter_kind": "individual",
            "scan": (io.BytesIO(PNG_BYTES), "fax.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert db.session.execute(db.select(SubmissionFile)).scalar_one().content_type == "image/png"


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("偽物.pdf", b"just text pretending to be a PDF", "PDFではありません"),
        ("doc.docx", b"PK\x03\x04 word file", "形式"),
        ("big.pdf", b"%PDF-1.4\n" + b"0" * 20_000, "大きすぎます"),
    ],
)
def test_bad_scans_are_refused(app, officer, make_consultation, count_rows, name, data, message):
    c = make_consultation(status="open")
    response = officer.post(
        f"/consultations/{c.id}/submissions/new",
        data={
            "channel": "post",
            "received_on": "2025-11-20",
            "submitter_kind": "individual",
            "body": "本文は残る",
            "scan": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert message in response.text
    assert "本文は残る" in response.text
    assert count_rows(Submission) == 0 and count_rows(SubmissionFile) == 0


def test_eml_import_parses_and_refuses_the_same_message_twice(app, officer, make_consultation, count_rows):
    c = make_consultation(status="open")
    eml = _mail(attachment=("添付.pdf", PDF_BYTES, "application/pdf"))
    response = officer.post(
        f"/consultations/{c.id}/mail",
        data={"files": [(io.BytesIO(eml), "意見.eml")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and "1件を取り込みました" in response.text
    sub = db.session.execute(db.select(Submission)).scalar_one()
    assert sub.channel == "email"
    assert (sub.name, sub.contact, sub.subject) == ("市民 花子", "hanako@example.jp", "評価書案への意見")
    assert sub.received_on == date(2025, 11, 20)
    assert "クラウド化" in sub.body
    assert [f.filename for f in sub.files] == ["添付.pdf"]
    again = officer.post(
        f"/consultations/{c.id}/mail",
        data={"files": [(io.BytesIO(eml), "意見(2).eml")]},
        content_type="multipart/form-data",
    )
    assert "0件を取り込みました" in again.text and "重複" in again.text
    assert count_rows(Submission) == 1


def test_mbox_import_reports_duplicates_inside_it(app, make_consultation, count_rows):
    from consultation import services

    c = make_consultation(status="open")
    first = _mail(msgid="<a1@example.jp>")
    second = _mail(subject="別の意見", body="同一の評価書について別の意見です。", msgid="<a2@example.jp>")
    mbox = b"".join(
        b"From hanako@example.jp Thu Nov 20 10:30:00 2025\n" + m.replace(b"\r\n", b"\n") + b"\n"
        for m in (first, second, first)
    )
    result = services.import_mail(c, [("box.mbox", mbox)], actor="test")
    assert len(result.created) == 2
    assert len(result.duplicates) == 1
    assert count_rows(Submission) == 2


def test_message_id_with_a_my_number_like_run_is_still_recognised(app, make_consultation, count_rows):
    """The stored key survives the database guard that masks 個人番号-like digit runs."""
    from consultation import services

    c = make_consultation(status="open")
    eml = _mail(msgid="<123456789018.42@example.jp>")
    assert len(services.import_mail(c, [("a.eml", eml)], actor="test").created) == 1
    db.session.commit()
    again = services.import_mail(c, [("b.eml", eml)], actor="test")
    assert (len(again.created), len(again.duplicates)) == (0, 1)
    assert count_rows(Submission) == 1


def test_malformed_mail_imports_nothing(app, officer, make_consultation, count_rows):
    c = make_consultation(status="open")
    good = _mail()
    response = officer.post(
        f"/consultations/{c.id}/mail",
        data={
            "files": [(io.BytesIO(good), "good.eml"), (io.BytesIO(b"\x00\x01 this is not a mail at all"), "bad.eml")]
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "取り込めませんでした" in response.text and "bad.eml" in response.text
    assert count_rows(Submission) == 0


def test_web_intake_refused_when_closed(app, make_consultation):
    from consultation import services

    c = make_consultation(status="closed")
    with pytest.raises(services.IntakeError):
        services.submit_web(c, body="意見", today=date(2025, 11, 20))


def test_new_submissions_are_numbered_as_renumber_would(app):
    """Each intake appends one opinion with the next position and No.; a full renumber agrees."""
    from common import demo
    from consultation import services
    from consultation.models import Consultation

    demo.load(evidence=False)
    consultation = db.session.execute(db.select(Consultation)).scalars().first()
    consultation.status = "open"
    for i in range(3):
        services.submit_web(consultation, body=f"追加の意見 {i}", today=consultation.start_date)
    db.session.commit()  # the web intake's numbers are given at commit
    before = [(o.id, o.position, o.number) for o in services.ordered_opinions(consultation)]
    services.renumber(consultation)
    after = [(o.id, o.position, o.number) for o in services.ordered_opinions(consultation)]
    assert before == after
    assert [n for _, _, n in before][-3:] == [11, 12, 13]


def test_simultaneous_submissions_get_distinct_numbers(app, make_consultation):
    """Submissions arriving at the same moment each get their own position and No.

    Each thread has its own session and connection; they all read the next numbers at once
    (a barrier), so without the consultation's numbering lock they would read the same.
    """
    import threading

    from consultation import services
    from consultation.models import Consultation, Opinion

    consultation_id = make_consultation(status="open").id
    db.session.commit()
    db.session.remove()
    threads, errors, barrier = 6, [], threading.Barrier(6)

    def submit(n: int) -> None:
        try:
            with app.app_context():
                consultation = db.session.get(Consultation, consultation_id)
                barrier.wait(timeout=10)
                services.submit_web(consultation, body=f"同時の意見 {n}", today=consultation.start_date)
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below with the others
            errors.append(exc)

    workers = [threading.Thread(target=submit, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    rows = db.session.execute(
        db.select(Opinion.position, Opinion.number).where(Opinion.consultation_id == consultation_id)
    ).all()
    assert sorted(position for position, _ in rows) == list(range(1, threads + 1))
    assert sorted(number for _, number in rows) == list(range(1, threads + 1))
