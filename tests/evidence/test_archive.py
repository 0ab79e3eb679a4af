"""保存期間: flask evidence archive writes old batches to a file, then deletes their rows under a
recorded, audited decision; verify still passes and verify --archive checks the file."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
import sqlalchemy as sa

from common.db import db
from common.models import AuditEvent
from evidence import retention
from evidence.chain import verify
from evidence.models import (
    AccessDay,
    AccessEvent,
    FeedBatch,
    LogCheckpoint,
    RetentionBatch,
    RetentionDecision,
    RetentionOpen,
)
from tests.evidence.conftest import access_csv


@pytest.fixture
def planted(feed):
    """Five batches: two old access batches (archived before 2020), a grants batch (state: kept),
    an access batch spanning 2018 and 2025 (kept whole) and a recent one."""
    ids = {
        "old1": feed(
            "access",
            access_csv(
                "e1,2018-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,",
                "e2,2018-04-01T10:00:00+09:00,JUKI,u1,view,S2,T1,,",
            ),
        ).batch_id,
        "grants": feed("grants", "user_id,system,role,granted_at\nu1,JUKI,参照,2017-04-01\n").batch_id,
        "span": feed(
            "access",
            access_csv(
                "e3,2018-04-01T11:00:00+09:00,JUKI,u1,view,S3,T1,,",
                "e4,2025-04-01T09:00:00+09:00,JUKI,u1,view,S4,T1,,",
            ),
        ).batch_id,
        "old2": feed("access", access_csv("e5,2019-06-03T09:00:00+09:00,JUKI,u2,update,S5,T2,,")).batch_id,
        "recent": feed("access", access_csv("e6,2025-05-01T09:00:00+09:00,JUKI,u2,view,S6,T2,,")).batch_id,
    }
    assert verify().ok
    return ids


def run(app, *args):
    db.session.remove()
    result = app.test_cli_runner().invoke(args=["evidence", *args])
    db.session.remove()
    return result


def archive(app, out, *extra, before="2020-01-01"):
    return run(
        app,
        "archive",
        "--before",
        before,
        "--reason",
        "保存期間(5年)の満了",
        "--by",
        "情報政策課 山田",
        "--out",
        str(out),
        *extra,
    )


def events_of(batch_id):
    return db.session.execute(sa.select(AccessEvent.event_id).where(AccessEvent.batch_id == batch_id)).scalars().all()


def count(model):
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_archive_writes_the_file_records_the_decision_and_deletes_the_rows(app, planted, tmp_path):
    out = tmp_path / "archive-2019.jsonl"
    result = archive(app, out)
    assert result.exit_code == 0, result.output
    assert "バッチ 2 件の行 3 件を削除しました" in result.output

    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    header, batches, rows = (
        lines[0],
        [x for x in lines if x["type"] == "batch"],
        [x for x in lines if x["type"] == "row"],
    )
    assert header["type"] == "archive" and header["format"] == retention.FORMAT and header["before"] == "2020-01-01"
    assert "— " in header["checkpoint"]["note"]  # the signed note, with its signature line
    assert [b["record"]["id"] for b in batches] == [planted["old1"], planted["old2"]]
    assert all(b["inclusion_proof"] is not None for b in batches)
    assert [(r["batch"], r["row"]["event_id"]) for r in rows] == [
        (planted["old1"], "e1"),
        (planted["old1"], "e2"),
        (planted["old2"], "e5"),
    ]
    # the chain links run from the first archived batch to the last, the kept ones between included
    assert [c["id"] for c in header["chain"]] == list(range(planted["old1"], planted["old2"] + 1))

    # rows gone; the spanning, grants and recent batches untouched; batch records kept
    assert events_of(planted["old1"]) == [] and events_of(planted["old2"]) == []
    assert sorted(events_of(planted["span"])) == ["e3", "e4"] and events_of(planted["recent"]) == ["e6"]
    assert count(FeedBatch) == 5
    # the summary of 2018-04-01 is recounted from the one event left; u2's archived day is gone
    day = db.session.get(AccessDay, ("JUKI", "u1", date(2018, 4, 1)))
    assert day is not None and day.events == 1 and day.subjects == 1
    assert db.session.get(AccessDay, ("JUKI", "u2", date(2019, 6, 3))) is None
    assert db.session.get(AccessDay, ("JUKI", "u2", date(2025, 5, 1))).events == 1

    decision = db.session.execute(sa.select(RetentionDecision)).scalar_one()
    old2 = db.session.get(FeedBatch, planted["old2"])
    assert decision.decided_by == "情報政策課 山田" and decision.reason == "保存期間(5年)の満了"
    assert decision.before == date(2020, 1, 1) and not decision.forced
    assert (decision.batches, decision.rows) == (2, 3)
    assert decision.head_hash == old2.chain_hash
    assert decision.archive_sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert decision.retention == {"access": 5, "provisions": 5, "transactions": 5}
    assert dict(db.session.execute(sa.select(RetentionBatch.batch_id, RetentionBatch.decision_id)).all()) == {
        planted["old1"]: decision.id,
        planted["old2"]: decision.id,
    }
    assert count(RetentionOpen) == 0
    entry = db.session.execute(sa.select(AuditEvent).where(AuditEvent.object_type == "evidence_retention")).scalar_one()
    assert entry.action == "delete" and entry.object_id == str(decision.id)
    assert entry.actor_name == "cli:情報政策課 山田"
    assert (
        entry.after["batches"] == [planted["old1"], planted["old2"]]
        and entry.after["sha256"] == decision.archive_sha256
    )

    # the chain and the log still verify; the file verifies; the log can be signed again
    verified = run(app, "verify")
    assert verified.exit_code == 0, verified.output
    assert "書き出して行を削除したバッチ 2 件" in verified.output
    checked = run(app, "verify", "--archive", str(out))
    assert checked.exit_code == 0, checked.output
    assert f"保存期間の判断 {decision.id}" in checked.output
    assert run(app, "checkpoint").exit_code == 0

    # a second run finds nothing more before the same day
    again = archive(app, tmp_path / "again.jsonl")
    assert again.exit_code == 0 and "ありません" in again.output
    assert not (tmp_path / "again.jsonl").exists()


def test_a_tampered_archive_fails_naming_the_batch(app, planted, tmp_path):
    out = tmp_path / "a.jsonl"
    assert archive(app, out).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert text.count('"subject_id":"S5"') == 1
    out.write_text(text.replace('"subject_id":"S5"', '"subject_id":"S8"'), encoding="utf-8")
    result = run(app, "verify", "--archive", str(out))
    assert result.exit_code == 2
    assert f"バッチ {planted['old2']} の行が記録と一致しません" in result.output
    assert f"バッチ {planted['old1']} の行" not in result.output


def test_a_file_that_is_not_an_archive_or_is_cut_is_told(app, planted, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("これは書き出しファイルではありません\n", encoding="utf-8")
    result = run(app, "verify", "--archive", str(other))
    assert result.exit_code == 2 and "1行目を読めません" in result.output
    out = tmp_path / "a.jsonl"
    assert archive(app, out).exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    lines[-1] = lines[-1][: len(lines[-1]) // 2]  # the last row (batch old2) cut in the middle
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(app, "verify", "--archive", str(out))
    assert result.exit_code == 2
    assert f"バッチ {planted['old2']} の行" in result.output and "Traceback" not in result.output


def test_an_archive_batch_record_changed_fails_its_proof(app, planted, tmp_path):
    out = tmp_path / "a.jsonl"
    assert archive(app, out).exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        obj = json.loads(line)
        if obj["type"] == "batch" and obj["record"]["id"] == planted["old1"]:
            obj["record"]["source"] = "test:other"
            lines[i] = json.dumps(obj, ensure_ascii=False)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(app, "verify", "--archive", str(out))
    assert result.exit_code == 2
    assert f"バッチ {planted['old1']} が署名されたチェックポイントに含まれることを証明できません" in result.output


def _raw_delete(statement):
    db.session.remove()
    with db.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_a_plain_delete_is_still_refused(app, planted):
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        _raw_delete(f"DELETE FROM evidence_access WHERE batch_id = {planted['old1']}")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        _raw_delete("DELETE FROM evidence_grants")
    # the bypass opens only for the batches listed, and only for DELETE
    db.session.remove()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO evidence_retention_open (batch_id) VALUES ({planted['old1']})")
        conn.exec_driver_sql(f"UPDATE evidence_access SET user_id = 'x' WHERE batch_id = {planted['old1']}")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO evidence_retention_open (batch_id) VALUES ({planted['old1']})")
        conn.exec_driver_sql(f"DELETE FROM evidence_access WHERE batch_id = {planted['span']}")
    assert count(AccessEvent) == 6 and verify().ok


def test_rows_deleted_through_an_open_marker_without_a_decision_fail_verify(app, planted):
    db.session.remove()
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO evidence_retention_open (batch_id) VALUES ({planted['old1']})")
        conn.exec_driver_sql(f"DELETE FROM evidence_access WHERE batch_id = {planted['old1']}")
    report = verify()
    failing = {p.batch_id for p in report.problems}
    assert planted["old1"] in failing
    assert any("evidence_retention_open" in p.message for p in report.problems)


def test_altered_evidence_is_not_archived(app, planted, tmp_path):
    from common.db import drop_guard_sql

    db.session.remove()
    with db.engine.begin() as conn:
        drop_guard_sql(conn, "evidence_access", "evidence_access_append_only")
        conn.exec_driver_sql("UPDATE evidence_access SET subject_id = 'S9' WHERE event_id = 'e5'")
    out = tmp_path / "a.jsonl"
    result = archive(app, out)
    assert result.exit_code == 2
    assert f"バッチ {planted['old2']} の行または記録が封印時と一致しません" in result.output
    assert not out.exists() and list(tmp_path.glob(".*tmp")) == []
    assert count(AccessEvent) == 6 and count(RetentionDecision) == 0 and count(RetentionOpen) == 0


def test_a_my_number_planted_in_the_store_stops_the_archive(app, planted, tmp_path):
    from common.db import drop_guard_sql
    from common.mynumber import my_number_check_digit

    number = "12345678901" + str(my_number_check_digit("12345678901"))
    db.session.remove()
    with db.engine.begin() as conn:
        drop_guard_sql(conn, "evidence_access", "evidence_access_append_only")
        conn.exec_driver_sql(f"UPDATE evidence_access SET terminal = '{number}' WHERE event_id = 'e2'")
    out = tmp_path / "a.jsonl"
    result = archive(app, out)
    assert result.exit_code == 2
    assert f"バッチ {planted['old1']} の行に個人番号とみられる値があります" in result.output
    assert number not in result.output
    assert not out.exists() and list(tmp_path.glob(".*tmp")) == [] and count(AccessEvent) == 6


def test_decisions_cannot_be_changed(app, planted, tmp_path):
    assert archive(app, tmp_path / "a.jsonl").exit_code == 0
    for statement in (
        "DELETE FROM evidence_retention_decisions",
        "UPDATE evidence_retention_decisions SET reason = 'x'",
        "DELETE FROM evidence_retention_batches",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            _raw_delete(statement)


def test_dry_run_writes_nothing(app, planted, tmp_path):
    out = tmp_path / "a.jsonl"
    checkpoints = count(LogCheckpoint)
    result = archive(app, out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "操作履歴: バッチ 2 件、行 3 件" in result.output
    assert "書き出しも削除もしていません" in result.output
    assert not out.exists() and list(tmp_path.glob(".*tmp")) == []
    assert count(AccessEvent) == 6 and count(RetentionDecision) == 0 and count(LogCheckpoint) == checkpoints


def test_a_day_within_the_retention_is_refused_unless_forced(app, planted, tmp_path):
    out = tmp_path / "a.jsonl"
    refused = archive(app, out, before="2025-06-01")
    assert refused.exit_code == 2
    assert "保存期間 5 年" in refused.output and "--force-retention" in refused.output
    assert not out.exists() and count(AccessEvent) == 6

    forced = archive(app, out, "--force-retention", before="2025-04-15")
    assert forced.exit_code == 0, forced.output
    decision = db.session.execute(sa.select(RetentionDecision)).scalar_one()
    assert decision.forced and decision.batches == 3  # old1, span (its last event 2025-04-01), old2
    assert events_of(planted["recent"]) == ["e6"] and count(AccessEvent) == 1
    assert count(AccessDay) == 1
    assert verify().ok
    entry = db.session.execute(sa.select(AuditEvent).where(AuditEvent.object_type == "evidence_retention")).scalar_one()
    assert entry.after["forced"] is True and "保存期間内を含む" in entry.summary


@pytest.mark.parametrize("app_config", [{"HYOKA_EVIDENCE_RETENTION": "access=10"}])
def test_the_feed_retention_setting_is_applied(app, planted, tmp_path):
    result = archive(app, tmp_path / "a.jsonl")
    assert result.exit_code == 2
    assert "保存期間 10 年" in result.output
    assert count(AccessEvent) == 6


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("access=ten", "整数ではありません"),
        ("grants=3", "設定できるフィードではありません"),
        ("access", "フィード=年数"),
    ],
)
def test_a_bad_retention_setting_is_told(app, setting, message):
    app.config["HYOKA_EVIDENCE_RETENTION"] = setting
    with pytest.raises(retention.RetentionError, match=message):
        retention.retention_years()
    result = run(app, "archive", "--before", "2020-01-01", "--dry-run")
    assert result.exit_code == 2 and message in result.output


def test_years_before_a_leap_day():
    assert retention.years_before(date(2028, 2, 29), 5) == date(2023, 2, 28)


def test_a_crash_after_deleting_leaves_everything(app, planted, tmp_path, monkeypatch):
    def crash(*_a, **_k):
        raise RuntimeError("simulated crash after the rows were deleted")

    monkeypatch.setattr(retention.audit, "record", crash)
    out = tmp_path / "a.jsonl"
    result = archive(app, out)
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    assert not out.exists()
    assert count(AccessEvent) == 6 and count(RetentionDecision) == 0 and count(RetentionBatch) == 0
    assert count(RetentionOpen) == 0
    assert db.session.get(AccessDay, ("JUKI", "u2", date(2019, 6, 3))) is not None
    assert verify().ok


def test_missing_reason_or_operator_is_refused(app, planted, tmp_path):
    result = run(app, "archive", "--before", "2020-01-01", "--out", str(tmp_path / "a.jsonl"))
    assert result.exit_code == 2 and "--reason" in result.output
    assert count(AccessEvent) == 6


def test_an_existing_file_is_not_overwritten(app, planted, tmp_path):
    out = tmp_path / "a.jsonl"
    out.write_text("kept\n", encoding="utf-8")
    result = archive(app, out)
    assert result.exit_code == 2 and "既にあります" in result.output
    assert out.read_text(encoding="utf-8") == "kept\n" and count(AccessEvent) == 6


def test_a_reason_with_a_my_number_is_refused(app, planted, tmp_path):
    from common.mynumber import my_number_check_digit

    number = "12345678901" + str(my_number_check_digit("12345678901"))
    out = tmp_path / "a.jsonl"
    result = run(
        app, "archive", "--before", "2020-01-01", "--reason", f"本人 {number}", "--by", "山田", "--out", str(out)
    )
    assert result.exit_code == 2 and "個人番号" in result.output
    assert not out.exists() and count(AccessEvent) == 6


def test_the_batches_page_shows_the_retention_and_the_archived_batches(
    app, planted, client, login, make_user, tmp_path
):
    app.config["HYOKA_EVIDENCE_RETENTION"] = "access=7"
    login(make_user("auditor"))
    page = client.get("/evidence/batches").text
    assert "保存期間" in page and "操作履歴 7年" in page and "情報提供等記録 5年" in page
    assert "書出し・削除済" not in page
    assert archive(app, tmp_path / "a.jsonl", "--force-retention").exit_code == 0
    page = client.get("/evidence/batches").text
    assert page.count("書出し・削除済") == 2


PROVISIONS = (
    "record_id,occurred_at,direction,counterpart,table_item,info_item,affair,subject_id,result\n"
    "r1,2018-04-02T10:00:00+09:00,provide,札幌市国民健康保険,31,住民票関係情報,juki,S1,success\n"
    "r2,2018-04-03T11:00:00+09:00,inquire,北海道,9,地方税関係情報,,S1,success\n"
)
TRANSACTIONS = (
    "transaction_id,occurred_at,system,department,kind,subject_id,user_id\n"
    "T1,2018-04-01T09:00:00+09:00,JUKI,中央区戸籍住民課,転入届,S1,u1\n"
    "T2,2018-04-01T10:00:00+09:00,JUKI,中央区戸籍住民課,住民票の写し交付,S2,\n"
)


def test_provisions_and_transactions_are_archived_and_the_kind_option_narrows(app, feed, tmp_path):
    from evidence.models import Provision, Transaction

    provisions = feed("provisions", PROVISIONS).batch_id
    transactions = feed("transactions", TRANSACTIONS).batch_id
    first = tmp_path / "provisions.jsonl"
    assert archive(app, first, "--kind", "provisions").exit_code == 0
    assert count(Provision) == 0 and count(Transaction) == 2
    second = tmp_path / "transactions.jsonl"
    assert archive(app, second).exit_code == 0
    assert count(Transaction) == 0
    decisions = db.session.execute(sa.select(RetentionDecision).order_by(RetentionDecision.id)).scalars().all()
    assert [d.head_hash for d in decisions] == [
        db.session.get(FeedBatch, provisions).chain_hash,
        db.session.get(FeedBatch, transactions).chain_hash,
    ]
    assert verify().ok
    for out in (first, second):
        checked = run(app, "verify", "--archive", str(out))
        assert checked.exit_code == 0, checked.output
    rows = [json.loads(x) for x in first.read_text(encoding="utf-8").splitlines()[2:]]
    assert [(r["kind"], r["row"]["record_id"], r["row"]["table_item"]) for r in rows] == [
        ("provisions", "r1", 31),
        ("provisions", "r2", 9),
    ]


def test_doctor_tells_the_retention_and_what_is_due(app, planted, tmp_path):
    result = retention.doctor_check()
    assert not result.problems
    assert "操作履歴 5年" in result.summary and "操作履歴 2 バッチ" in result.summary
    assert archive(app, tmp_path / "a.jsonl").exit_code == 0
    assert "過ぎたバッチ" not in retention.doctor_check().summary
    app.config["HYOKA_EVIDENCE_RETENTION"] = "access=x"
    assert "整数ではありません" in retention.doctor_check().problems[0]


def test_a_disclosure_and_a_report_over_an_archived_period_say_what_they_no_longer_hold(
    app, planted, tmp_path, department
):
    from evidence import disclosure, report
    from pia.assessments.models import Affair, Assessment

    assert archive(app, tmp_path / "a.jsonl").exit_code == 0
    with app.test_request_context():
        # S5 was accessed on 2019-06-03 (archived): the record says so instead of just "none"
        data = disclosure.build("S5", date(2019, 1, 1), date(2019, 12, 31))
        assert data["accesses"] == []
        assert len(data["archived"]) == 1
        assert data["archived"][0].startswith("職員による取り扱いの記録のうち2019年6月3日の分(保存期間の満了により")
        html = disclosure.render_html(data)
        assert "保存期間が満了したため" in html and "2019年6月3日の分" in html and "削除した記録を除きます" in html
        csv_text = disclosure.render_csv(data).decode("utf-8-sig")
        assert "含まれていない記録" in csv_text and "2019年6月3日" in csv_text
        # a period with nothing archived says nothing of it
        recent = disclosure.build("S6", date(2025, 5, 1), date(2025, 5, 31))
        assert recent["archived"] == [] and "保存期間が満了" not in disclosure.render_html(recent)

        affair = Affair(code="juki", name="住民基本台帳に関する事務", department=department("住民情報課"))
        a = Assessment(affair=affair, form="zenkoumoku", title="住民基本台帳に関する事務 全項目評価書")
        db.session.add(a)
        db.session.commit()
        # 2019-06-03 (a Monday) lost its rows to the archive: not a gap of the feed; 6/4 is one
        data = report.build_report(a.id, date(2019, 6, 3), date(2019, 6, 4))
        cov = data["coverage"][0]
        assert cov["gaps"] == ["2019-06-04"]
        assert [d["archived"] for d in cov["days"]] == [True, False]
        assert data["archived"] == [{"from": "2019-06-03", "to": "2019-06-03", "decision": 1}]
        assert "欠落として数えていません" in report.render_html(data)
        assert "archived" in report.render_csv(data).decode("utf-8-sig")
