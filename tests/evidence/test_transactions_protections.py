"""The transactions and protections feeds and the assignments' display_name, through the three doors."""

from __future__ import annotations

import json
import os
import time

import pytest
import sqlalchemy as sa

from common.auth import issue_token
from common.db import db
from evidence.chain import verify
from evidence.models import Assignment, FeedBatch, Protection, Transaction

TX_HEADER = "transaction_id,occurred_at,system,department,kind,subject_id,user_id\n"
TX_GOOD = (
    TX_HEADER
    + "T1,2025-04-01T09:00:00+09:00,JUKI,中央区戸籍住民課,転入届,S1,u1\n"
    + "T2,2025-04-01T10:00:00+09:00,JUKI,中央区戸籍住民課,住民票の写し交付,S2,\n"
)
TX_BAD = (
    TX_HEADER
    + "T1,2025-04-01T09:00:00+09:00,JUKI,中央区戸籍住民課,転入届,S1,u1\n"
    + "T3,きのう,JUKI,中央区戸籍住民課,転出届,S3,u1\n"
    + "T4,2025-04-01T11:00:00+09:00,ZEI,中央区戸籍住民課,,S4,u1\n"
)
PR_HEADER = "subject_id,measure,start_date,end_date\n"
PR_GOOD = PR_HEADER + "S1,dv_support,2025-04-01,\nS2,other,2025-04-01,2025-06-30\n"
PR_BAD = PR_HEADER + "S1,dv_support,2025-04-01,\nS2,dv,2025-04-01,\nS3,other,2025-05-01,2025-04-01\n"
MY_NUMBER = "123456789018"


def test_cli_imports_transactions_all_or_nothing_naming_every_bad_line(app, juki, tmp_path, count_rows):
    runner = app.test_cli_runner()
    bad = tmp_path / "tx.csv"
    bad.write_text(TX_BAD, encoding="utf-8")
    result = runner.invoke(args=["evidence", "import", "transactions", str(bad)])
    assert result.exit_code != 0
    assert "3行目 occurred_at" in result.output
    assert "4行目 system" in result.output and "4行目 kind" in result.output
    assert count_rows(Transaction) == 0
    good = tmp_path / "good.csv"
    good.write_text(TX_GOOD, encoding="utf-8")
    assert runner.invoke(args=["evidence", "import", "transactions", str(good)]).exit_code == 0
    again = runner.invoke(args=["evidence", "import", "transactions", str(good)])
    assert again.exit_code == 0 and "重複 2 件" in again.output
    assert count_rows(Transaction) == 2
    kinds = db.session.execute(sa.select(Transaction.kind).order_by(Transaction.transaction_id)).scalars().all()
    assert kinds == ["転入届", "住民票の写し交付"]
    assert verify().ok


def test_api_takes_protections_only_with_a_token_allowed_to(client, juki, count_rows):
    _t, plain = issue_token("juki", system_code="JUKI")
    _t2, plain2 = issue_token("juki-pr", system_code="JUKI", feeds=("protections", "transactions"))
    db.session.commit()
    r = client.post(
        "/api/v1/feeds/protections", data=PR_GOOD, headers={"Authorization": f"Bearer {plain}"}, content_type="text/csv"
    )
    assert r.status_code == 403
    headers = {"Authorization": f"Bearer {plain2}"}
    r = client.post("/api/v1/feeds/protections", data=PR_BAD, headers=headers, content_type="text/csv")
    assert r.status_code == 422 and not r.json["stored"]
    assert {(e["line"], e["field"]) for e in r.json["errors"]} == {(3, "measure"), (4, "end_date")}
    assert count_rows(Protection) == 0
    r = client.post("/api/v1/feeds/protections", data=PR_GOOD, headers=headers, content_type="text/csv")
    assert r.status_code == 201 and r.json["accepted"] == 2
    r = client.post("/api/v1/feeds/protections", data=PR_GOOD, headers=headers, content_type="text/csv")
    assert r.json["accepted"] == 0 and r.json["duplicate"] == 2
    r = client.post("/api/v1/feeds/transactions", data=TX_GOOD, headers=headers, content_type="text/csv")
    assert r.status_code == 201 and r.json["accepted"] == 2
    assert count_rows(Protection) == 2 and count_rows(Transaction) == 2


def test_drop_folder_takes_both_new_feeds(app, juki, tmp_path, count_rows):
    from evidence.watch import watch

    (tmp_path / "transactions-0401.csv").write_text(TX_GOOD, encoding="utf-8")
    (tmp_path / "protections").mkdir()
    (tmp_path / "protections" / "bad.csv").write_text(PR_BAD, encoding="utf-8")
    old = time.time() - 60
    for p in tmp_path.rglob("*.csv"):
        os.utime(p, (old, old))
    watch(tmp_path, once=True, echo=lambda *_: None)
    assert (tmp_path / "done" / "transactions-0401.csv").exists()
    bad = json.loads((tmp_path / "rejected" / "bad.csv.report.json").read_text(encoding="utf-8"))
    assert not bad["stored"] and {(e["line"], e["field"]) for e in bad["errors"]} == {(3, "measure"), (4, "end_date")}
    assert count_rows(Transaction) == 2 and count_rows(Protection) == 0
    kinds = db.session.execute(sa.select(FeedBatch.kind)).scalars().all()
    assert kinds == ["transactions"]


def test_assignments_keep_the_display_name_and_refuse_a_my_number(feed, count_rows):
    header = "user_id,department,start_date,end_date,display_name\n"
    bad = feed(
        "assignments",
        header + "u1,中央区戸籍住民課,2025-04-01,,札幌 太郎\n" + f"u2,中央区戸籍住民課,2025-04-01,,{MY_NUMBER}\n",
    )
    assert not bad.stored and [(e.line, e.field) for e in bad.errors] == [(3, "display_name")]
    assert MY_NUMBER not in repr(bad.errors)
    assert count_rows(Assignment) == 0
    ok = feed("assignments", header + "u1,中央区戸籍住民課,2025-04-01,,札幌 太郎\n")
    assert ok.stored
    assert db.session.execute(sa.select(Assignment.display_name)).scalar_one() == "札幌 太郎"
    # a file without the column still imports (the field is optional)
    assert feed("assignments", "user_id,department,start_date,end_date\nu2,北区戸籍住民課,2025-04-01,\n").stored
    assert verify().ok


@pytest.mark.parametrize("model", [Transaction, Protection])
def test_stored_rows_are_append_only(feed, model):
    feed("transactions", TX_GOOD)
    feed("protections", PR_GOOD)
    db.session.commit()
    with pytest.raises(sa.exc.DatabaseError):
        db.session.execute(sa.update(model).values(subject_id="X"))
    db.session.rollback()
    with pytest.raises(sa.exc.DatabaseError):
        db.session.execute(sa.delete(model))
    db.session.rollback()
