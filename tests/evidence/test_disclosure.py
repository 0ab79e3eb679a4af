"""本人開示: a resident's access record, exact against planted data, in every format."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from common.db import db
from common.models import AuditEvent
from evidence import disclosure
from evidence.disclosure import DisclosureError
from tests.evidence.conftest import access_csv
from tests.officetext import pdf_text, squash

needs_pdftotext = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")

ASSIGNMENTS = (
    "user_id,department,start_date,end_date\n"
    "u1,中央区戸籍住民課,2024-04-01,2025-03-31\n"
    "u1,北区戸籍住民課,2025-04-01,\n"
    "u2,保険年金課,2020-04-01,\n"
)
PROVISIONS = (
    "record_id,occurred_at,direction,counterpart,table_item,info_item,affair,subject_id,result\n"
    "r1,2025-04-02T10:00:00+09:00,provide,札幌市国民健康保険,31,住民票関係情報,juki,S1,success\n"
    "r2,2025-04-03T11:00:00+09:00,inquire,北海道,9,地方税関係情報,juki,S1,success\n"
    "r3,2025-04-03T11:00:00+09:00,provide,北海道,9,住民票関係情報,juki,S2,success\n"
)


@pytest.fixture
def planted(feed):
    """Resident S1: four accesses in the period (one across UTC midnight, one denied), one
    outside it; S2's accesses are never shown. u1 moved from 中央区 to 北区 on 2025-04-01."""
    feed("assignments", ASSIGNMENTS)
    feed("provisions", PROVISIONS)
    feed(
        "access",
        access_csv(
            "a0,2025-03-31T16:00:00+09:00,JUKI,u1,view,S1,T1,,",  # the day before the period
            "a1,2025-04-01T00:30:00+09:00,JUKI,u1,view,S1,T1,,",  # 3/31 15:30 UTC: in the period (JST)
            "a2,2025-04-02T10:15:00+09:00,JUKI,u1,print,S1,T1,,",
            "a3,2025-04-03T09:00:00+09:00,JUKI,u2,update,S1,T2,denied,",
            "a4,2025-04-03T23:59:00+09:00,JUKI,u3,export,S1,T3,,",
            "a5,2025-04-04T00:00:00+09:00,JUKI,u1,view,S1,T1,,",  # the day after
            "b1,2025-04-02T10:00:00+09:00,JUKI,u1,view,S2,T1,,",
        ),
    )


PERIOD = (date(2025, 4, 1), date(2025, 4, 3))


def test_rows_are_exact(planted):
    assert disclosure.access_rows("S1", *PERIOD) == [
        {
            "at": "2025年4月1日 00:30",
            "department": "北区戸籍住民課",
            "staff": "u1",
            "system": "既存住基システム",
            "action": "照会",
            "reason": "―",
        },
        {
            "at": "2025年4月2日 10:15",
            "department": "北区戸籍住民課",
            "staff": "u1",
            "system": "既存住基システム",
            "action": "印刷",
            "reason": "―",
        },
        {
            "at": "2025年4月3日 09:00",
            "department": "保険年金課",
            "staff": "u2",
            "system": "既存住基システム",
            "action": "更新(システムにより実行されず)",
            "reason": "―",
        },
        {
            "at": "2025年4月3日 23:59",
            "department": "(所属の記録なし)",
            "staff": "u3",
            "system": "既存住基システム",
            "action": "出力",
            "reason": "―",
        },
    ]
    assert disclosure.provision_rows("S1", *PERIOD) == [
        {
            "at": "2025年4月2日 10:00",
            "direction": "提供(他の機関へ)",
            "counterpart": "札幌市国民健康保険",
            "info_item": "住民票関係情報",
            "table_item": "31の項",
        },
        {
            "at": "2025年4月3日 11:00",
            "direction": "照会(他の機関から取得)",
            "counterpart": "北海道",
            "info_item": "地方税関係情報",
            "table_item": "9の項",
        },
    ]
    # the day before the period: u1 was still in 中央区
    assert [r["department"] for r in disclosure.access_rows("S1", date(2025, 3, 31), date(2025, 3, 31))] == [
        "中央区戸籍住民課"
    ]


def test_each_access_names_the_transaction_that_explains_it(planted, feed):
    """With the system's transactions fed, each access names its reason: u1's look-ups of S1
    by the 転入届 北区 received the day before; u2 (保険年金課) and u3 (no assignment) by none."""
    feed(
        "transactions",
        "transaction_id,occurred_at,system,department,kind,subject_id,user_id\n"
        "T100,2025-03-31T16:30:00+09:00,JUKI,北区戸籍住民課,転入届,S1,u9\n"
        "T101,2025-04-02T09:00:00+09:00,JUKI,中央区戸籍住民課,住民票の写し交付,S1,\n"
        "T102,2025-04-02T09:00:00+09:00,JUKI,保険年金課,国民健康保険の資格取得,S2,\n",
    )
    assert [r["reason"] for r in disclosure.access_rows("S1", *PERIOD)] == [
        "2025年3月31日 転入届",
        "2025年3月31日 転入届",
        "見当たりません",
        "見当たりません",
    ]


def test_csv_is_exact_and_leaves_staff_out_by_default(planted):
    data, body = disclosure.produce("S1", *PERIOD, "csv")
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1] == ["対象者の番号", "S1"] and rows[2] == ["期間", "2025年4月1日～2025年4月3日"]
    assert rows[5] == ["日時", "取り扱った部署", "システム", "取り扱いの内容", "理由となった手続"]
    assert rows[6:10] == [
        ["2025年4月1日 00:30", "北区戸籍住民課", "既存住基システム", "照会", "―"],
        ["2025年4月2日 10:15", "北区戸籍住民課", "既存住基システム", "印刷", "―"],
        ["2025年4月3日 09:00", "保険年金課", "既存住基システム", "更新(システムにより実行されず)", "―"],
        ["2025年4月3日 23:59", "(所属の記録なし)", "既存住基システム", "出力", "―"],
    ]
    assert rows[12] == ["日時", "区分", "相手方", "情報の項目", "根拠規定の項番"]
    assert len(rows) == 15 and rows[13][2] == "札幌市国民健康保険"
    assert "u1" not in body.decode("utf-8-sig")
    trail = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.object_type == "evidence_disclosure")
    ).scalar_one()
    assert trail.action == "export" and trail.object_id == "S1"
    assert trail.after == {
        "subject_id": "S1",
        "from": "2025-04-01",
        "to": "2025-04-03",
        "format": "csv",
        "accesses": 4,
        "provisions": 2,
    }


def test_csv_defuses_formulas(feed):
    feed("provisions", PROVISIONS.replace("札幌市国民健康保険", "=HYPERLINK(1)"))
    _data, body = disclosure.produce("S1", *PERIOD, "csv")
    assert "'=HYPERLINK(1)" in body.decode("utf-8-sig")


@pytest.mark.parametrize("app_config", [{"HYOKA_EVIDENCE_DISCLOSE_STAFF": "1"}])
def test_staff_shown_when_configured(planted, app_config):
    _data, body = disclosure.produce("S1", *PERIOD, "csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[5] == ["日時", "取り扱った部署", "職員の識別番号", "システム", "取り扱いの内容", "理由となった手続"]
    assert rows[6][2] == "u1"


@needs_pdftotext
def test_pdf_reads_as_a_letter(planted, app, tmp_path):
    app.config["HYOKA_BODY_NAME"] = "札幌市"
    _data, body = disclosure.produce("S1", *PERIOD, "pdf")
    assert body.startswith(b"%PDF")
    text = squash(pdf_text(body, tmp_path, raw=True))
    for expected in (
        "あなたの個人情報の取扱いの記録",
        "対象者の番号S1の方へ",
        "札幌市",
        "2025年4月1日～2025年4月3日",
        "北区戸籍住民課",
        "更新(システムにより実行されず)",
        "札幌市国民健康保険",
        "取り扱った職員がその日に所属していた部署です",
    ):
        assert expected in text, expected


def test_bad_requests_are_refused(planted):
    for subject, start, end, why in (
        ("", *PERIOD, "対象者の番号"),
        ("S1", date(2025, 4, 3), date(2025, 4, 1), "終了日が開始日より前"),
        ("S1", None, date(2025, 4, 1), "開始日と終了日"),
        ("123456789018", *PERIOD, "個人番号"),
    ):
        with pytest.raises(DisclosureError, match=why):
            disclosure.produce(subject, start, end, "csv")


def test_officer_produces_it_on_the_page(as_role, planted):
    c = as_role("officer")
    assert "本人開示の記録" in c.get("/evidence/disclosure").text
    form = {"subject": "S1", "start": "令和7年4月1日", "end": "2025/4/3"}
    page = c.post("/evidence/disclosure", data={**form, "format": "html"}).text
    assert "あなたの個人情報の取扱いの記録" in page and "北区戸籍住民課" in page and "札幌市国民健康保険" in page
    r = c.post("/evidence/disclosure", data={**form, "format": "pdf"})
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    r = c.post("/evidence/disclosure", data={**form, "format": "csv"})
    assert r.mimetype == "text/csv" and "北区戸籍住民課" in r.data.decode("utf-8-sig")
    formats = (
        db.session.execute(
            sa.select(AuditEvent.after["format"].as_string())
            .where(AuditEvent.object_type == "evidence_disclosure")
            .order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )
    assert formats == ["html", "pdf", "csv"]
    r = c.post("/evidence/disclosure", data={**form, "end": "2025/3/1", "format": "html"})
    assert r.status_code == 400 and "終了日が開始日より前" in r.text


@pytest.mark.parametrize("role", ["admin", "auditor", "editor", "reviewer"])
def test_other_roles_and_anonymous_are_refused(as_role, client, planted, role):
    c = as_role(role)
    assert c.get("/evidence/disclosure").status_code == 403
    assert (
        c.post("/evidence/disclosure", data={"subject": "S1", "start": "2025/4/1", "end": "2025/4/3"}).status_code
        == 403
    )
    r = client.post("/evidence/disclosure", data={"subject": "S1", "start": "2025/4/1", "end": "2025/4/3"})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert (
        db.session.execute(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "evidence_disclosure")
        ).scalar_one()
        == 0
    )


def test_cli_writes_the_file(app, planted, tmp_path):
    out = tmp_path / "s1.csv"
    result = CliRunner().invoke(
        app.cli,
        [
            "evidence",
            "disclose",
            "S1",
            "--from",
            "2025-04-01",
            "--to",
            "2025-04-03",
            "--format",
            "csv",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "操作 4 件、情報提供等 2 件" in result.output and "北区戸籍住民課" in out.read_text(encoding="utf-8-sig")
    result = CliRunner().invoke(
        app.cli,
        ["evidence", "disclose", "S1", "--from", "2025-04-03", "--to", "2025-04-01", "--out", str(tmp_path / "x.pdf")],
    )
    assert result.exit_code == 1 and "終了日が開始日より前" in result.output
