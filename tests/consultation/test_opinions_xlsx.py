"""consultation.xlsx: opinions to Excel and replies back, with a preview; no formula, no submitter."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from common.db import db
from consultation import services
from consultation.models import Opinion
from tests.conftest import csrf_token_from
from tests.officetext import assert_no_formula

VALID_MY_NUMBER = "123456789018"


@pytest.fixture
def officer(app, make_user, app_config):
    """An officer's client, signed in through the login form (its CSRF token when enabled)."""
    from tests.conftest import TEST_PASSWORD

    user = make_user("officer", departments=["住民情報課"])
    c = app.test_client()
    data = {"username": user.username, "password": TEST_PASSWORD}
    if app_config.get("WTF_CSRF_ENABLED"):
        data["csrf_token"] = csrf_token_from(c.get("/login").text)
    assert c.post("/login", data=data).status_code == 302
    return c


@pytest.fixture
def answered(make_consultation):
    """A closed consultation with three opinions (one hostile, one unanswered)."""
    c = make_consultation(status="closed")
    texts = [
        ("アクセス権のある職員の不正閲覧への対策は。", "操作履歴を記録しています。", "システム総論"),
        ('=HYPERLINK("http://evil.example","x") のような入力は?', "@SUM(A1) ではありません。", "=1+1"),
        ("個人番号カードの写真取り違えについて。", "", ""),
    ]
    for body, reply, topic in texts:
        sub = services.add_paper_submission(
            c,
            actor="test",
            channel="post",
            received_on=date(2025, 11, 20),
            body=body,
            name="山田花子",
            address="札幌市中央区北1条西2丁目",
            contact="011-211-2111",
        )
        services.update_opinion(sub.opinions[0], actor="test", reply=reply, topic=topic)
    db.session.commit()
    return c


def sheet(data: bytes):
    return load_workbook(io.BytesIO(data)).active


def edited(data: bytes, changes: dict[tuple[int, int], str]) -> bytes:
    book = load_workbook(io.BytesIO(data))
    for (row, column), value in changes.items():
        book.active.cell(row=row, column=column).value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, c, data: bytes, name="opinions.xlsx"):
    page = client.get(f"/consultations/{c.id}/opinions/import")
    return client.post(
        f"/consultations/{c.id}/opinions/import",
        data={"csrf_token": csrf_token_from(page.text), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def replies(c):
    return [o.reply for o in sorted(c.opinions, key=lambda o: o.number)]


def test_export_has_the_columns_and_no_submitter_data(app, officer, answered):
    response = officer.get(f"/consultations/{answered.id}/opinions.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet") and "attachment" in response.headers["Content-Disposition"]
    rows = [[c.value for c in row] for row in sheet(response.data).iter_rows()]
    assert rows[0] == ["No.", "区分", "見出し", "寄せられたご意見", "市の考え方", "受付方法"]
    assert [r[0] for r in rows[1:]] == [1, 2, 3]
    assert rows[1][3] == "アクセス権のある職員の不正閲覧への対策は。" and rows[1][4] == "操作履歴を記録しています。"
    assert rows[1][5] == "郵送"
    flat = " ".join(str(v) for r in rows for v in r)
    for private in ("山田花子", "札幌市中央区北1条西2丁目", "011-211-2111"):
        assert private not in flat
    assert_no_formula(response.data)
    assert sheet(response.data)["C3"].value == "=1+1" and sheet(response.data)["C3"].quotePrefix


def test_my_number_is_never_in_the_export(app, officer, make_consultation):
    c = make_consultation(status="closed")
    sub = services.add_paper_submission(
        c, actor="test", channel="post", received_on=date(2025, 11, 20), body=f"番号は{VALID_MY_NUMBER}です。"
    )
    # even a number written straight into the column (not through the services) stays out
    sub.opinions[0].reply = f"回答 {VALID_MY_NUMBER}"
    db.session.commit()
    data = officer.get(f"/consultations/{c.id}/opinions.xlsx").data
    flat = " ".join(str(v) for row in sheet(data).iter_rows(values_only=True) for v in row)
    assert VALID_MY_NUMBER not in flat


def test_import_previews_the_diff_and_stores_only_on_confirm(app, officer, answered):
    data = officer.get(f"/consultations/{answered.id}/opinions.xlsx").data
    before = replies(answered)
    new_data = edited(data, {(4, 5): "ご指摘を踏まえ、確認の手順を改めました。\n複数人で確認します。", (3, 5): "=2+2"})
    preview = upload(officer, answered, new_data)
    assert preview.status_code == 200
    assert "2件の市の考え方が変わります" in preview.text and "1件は変更なし" in preview.text
    assert "@SUM(A1) ではありません。" in preview.text and "ご指摘を踏まえ" in preview.text
    db.session.expire_all()
    assert replies(answered) == before  # nothing stored by the preview
    form = {
        "csrf_token": csrf_token_from(preview.text),
        "opinion_id": [],
        "old_digest": [],
        "reply": [],
    }

    for name in ("opinion_id", "old_digest", "reply"):
        form[name] = re.findall(rf'name="{name}" value="([^"]*)"', preview.text)
    form["reply"] = [r.replace("&#34;", '"').replace("&amp;", "&") for r in form["reply"]]
    response = officer.post(f"/consultations/{answered.id}/opinions/import/confirm", data=form)
    assert response.status_code == 302
    db.session.expire_all()
    assert replies(answered) == [before[0], "=2+2", "ご指摘を踏まえ、確認の手順を改めました。\n複数人で確認します。"]
    # the stored hostile reply is still only text in the next export
    assert_no_formula(officer.get(f"/consultations/{answered.id}/opinions.xlsx").data)


def test_confirm_refuses_a_reply_changed_since_the_preview(app, officer, answered):
    data = officer.get(f"/consultations/{answered.id}/opinions.xlsx").data
    preview = upload(officer, answered, edited(data, {(2, 5): "新しい考え方"}))

    form = {
        name: re.findall(rf'name="{name}" value="([^"]*)"', preview.text)
        for name in ("opinion_id", "old_digest", "reply")
    }
    first = db.session.execute(db.select(Opinion).filter_by(consultation_id=answered.id, number=1)).scalar_one()
    services.update_opinion(first, actor="test", reply="別の職員が直した考え方")
    db.session.commit()
    response = officer.post(
        f"/consultations/{answered.id}/opinions/import/confirm",
        data={**form, "csrf_token": csrf_token_from(preview.text)},
        follow_redirects=True,
    )
    assert "確認画面を開いた後に変更されています" in response.text
    db.session.expire_all()
    assert first.reply == "別の職員が直した考え方"


def test_unknown_number_or_changed_opinion_is_named_and_nothing_stored(app, officer, answered):
    data = officer.get(f"/consultations/{answered.id}/opinions.xlsx").data
    before = replies(answered)
    bad = edited(data, {(2, 5): "変えた考え方", (3, 4): "意見の文を書き換えた", (4, 1): 99})
    response = upload(officer, answered, bad)
    assert response.status_code == 400
    assert "何も保存していません" in response.text
    assert "3行目" in response.text and "「寄せられたご意見」の文が変わっています" in response.text
    assert "4行目" in response.text and "No.99" in response.text
    assert 'name="opinion_id"' not in response.text  # no confirm form
    db.session.expire_all()
    assert replies(answered) == before


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "ファイルを選んでください"),
        (b"%PDF-1.7 not a sheet", "読み込めませんでした"),
        ("No.,区分".encode(), "読み込めませんでした"),
    ],
)
def test_other_files_get_a_clear_message(app, officer, answered, content, message):
    response = upload(officer, answered, content, name="x.xlsx")
    assert response.status_code == 400 and message in response.text


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_import_form_needs_csrf(app, officer, answered):
    data = officer.get(f"/consultations/{answered.id}/opinions.xlsx").data
    response = officer.post(
        f"/consultations/{answered.id}/opinions/import",
        data={"file": (io.BytesIO(data), "o.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "不正な送信" in response.text
    confirm = officer.post(
        f"/consultations/{answered.id}/opinions/import/confirm",
        data={"opinion_id": ["1"], "old_digest": ["x"], "reply": ["y"]},
    )
    assert confirm.status_code == 400
    db.session.expire_all()
    assert "y" not in replies(answered)


def test_routes_are_the_officers_and_linked(app, as_role, officer, answered):
    page = officer.get(f"/consultations/{answered.id}/opinions").text
    assert (
        f"/consultations/{answered.id}/opinions.xlsx" in page
        and f"/consultations/{answered.id}/opinions/import" in page
    )
    editor = as_role("editor", departments=["住民情報課"])
    assert editor.get(f"/consultations/{answered.id}/opinions.xlsx").status_code == 403
    assert editor.get(f"/consultations/{answered.id}/opinions/import").status_code == 403
