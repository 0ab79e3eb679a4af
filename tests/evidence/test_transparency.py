"""The evidence log: checkpoints after imports, ``flask evidence checkpoint | key | verify
--against``, and the attacks the hash chain alone misses (issue 18), on both engines.

The attacker is a database administrator: drops the triggers, then deletes the newest batch with
its rows, its audit event and the checkpoints made since, or rewrites every hash consistently.
``verify`` is then green on the chain; a checkpoint someone kept earlier still catches it.
"""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
import sqlalchemy as sa

from common.db import db, drop_guard_sql
from evidence import transparency
from evidence.feeds import FIELDS, row_digest
from evidence.ingest import chain_hash
from evidence.models import ROW_MODELS, FeedBatch, LogCheckpoint
from evidence.note import Checkpoint, Signer
from tests.evidence.conftest import access_csv

DAYS = ("2025-04-01", "2025-04-02", "2025-04-03")


@pytest.fixture
def runner(app, juki):
    return app.test_cli_runner()


@pytest.fixture
def imported(runner, tmp_path):
    """Three access batches imported through the CLI door; each signs a checkpoint."""

    def do(days=DAYS):
        ids = []
        for n, day in enumerate(days):
            path = tmp_path / f"access-{day}.csv"
            path.write_text(
                access_csv(*(f"{day}-e{i},{day}T09:0{i}:00+09:00,JUKI,u{n},view,S{i},T1,," for i in range(3))),
                encoding="utf-8",
            )
            result = runner.invoke(args=["evidence", "import", "access", str(path)])
            assert result.exit_code == 0, result.output
            assert "チェックポイント" in result.output
            ids.append(db.session.execute(sa.select(sa.func.max(FeedBatch.id))).scalar_one())
        return ids

    return do


def _keep_latest(tmp_path, name="kept.txt"):
    """What a member of the 審議会 does: save the latest published checkpoint."""
    row = transparency.latest_checkpoint()
    path = tmp_path / name
    path.write_text(row.note, encoding="utf-8")
    return path


def _tamper(*statements):
    db.session.remove()
    with db.engine.begin() as conn:
        for table, name in (
            ("evidence_access", "evidence_access_append_only"),
            ("evidence_batches", "evidence_batches_sealed"),
            ("evidence_batches", "evidence_batches_kept"),
            ("audit_events", "audit_events_append_only"),
            ("evidence_checkpoints", "evidence_checkpoints_append_only"),
            ("evidence_log_leaves", "evidence_log_leaves_append_only"),
        ):
            drop_guard_sql(conn, table, name)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        for stmt in statements:
            conn.exec_driver_sql(stmt)


def _verify(runner, *args):
    return runner.invoke(args=["evidence", "verify", *args])


def test_each_import_signs_a_checkpoint_with_a_private_key_file(app, imported):
    ids = imported()
    rows = db.session.execute(sa.select(LogCheckpoint).order_by(LogCheckpoint.id)).scalars().all()
    assert [r.tree_size for r in rows] == [1, 2, 3]
    key_file = transparency.key_path()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().startswith("PRIVATE+KEY+localhost/hyoka-evidence+")
    current = transparency.current_log()
    assert current.batch_ids == ids and rows[-1].root_hash == current.tree.root().hex()
    key = transparency.public_key()
    assert rows[-1].key_fingerprint == key.fingerprint
    assert rows[-1].note.startswith("localhost/hyoka-evidence\n3\n")


@pytest.mark.parametrize("app_config", [{"HYOKA_EVIDENCE_CHECKPOINT_AFTER_IMPORT": False}])
def test_checkpoints_after_import_can_be_turned_off(app, runner, tmp_path, count_rows):
    path = tmp_path / "access.csv"
    path.write_text(access_csv("e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,"), encoding="utf-8")
    assert runner.invoke(args=["evidence", "import", "access", str(path)]).exit_code == 0
    assert count_rows(LogCheckpoint) == 0
    result = runner.invoke(args=["evidence", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert "バッチ 1 件" in result.output and count_rows(LogCheckpoint) == 1


def test_key_command_prints_the_public_key_and_fingerprint(app, runner):
    result = runner.invoke(args=["evidence", "key"])
    assert result.exit_code == 0, result.output
    key = transparency.public_key()
    assert f"公開鍵: {key.encode()}" in result.output and key.fingerprint in result.output
    assert runner.invoke(args=["evidence", "key"]).output == result.output  # the same key


def test_checkpoints_are_written_to_the_configured_directory(app, imported, tmp_path):
    app.config["HYOKA_EVIDENCE_CHECKPOINT_DIR"] = str(tmp_path / "worm")
    imported()
    files = sorted((tmp_path / "worm").glob("checkpoint-*.txt"))
    assert len(files) == 3
    assert files[-1].read_text(encoding="utf-8") == transparency.latest_checkpoint().note


def test_verify_checks_every_stored_checkpoint(runner, imported):
    imported()
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert "チェックポイント 3 件のすべて" in result.output


def test_deleting_the_newest_batch_passes_the_chain_but_not_a_kept_checkpoint(runner, imported, tmp_path):
    """The DBA attack of issue 18: triggers dropped, newest batch, its rows, its audit event and
    the checkpoint it caused all deleted. The chain and the stored checkpoints agree with what is
    left; the checkpoint a person kept does not, and verify names what is missing."""
    ids = imported()
    kept = _keep_latest(tmp_path)
    newest = ids[-1]
    _tamper(
        f"DELETE FROM evidence_access WHERE batch_id = {newest}",
        f"DELETE FROM evidence_access_days WHERE day = '{DAYS[-1]}'",
        f"DELETE FROM evidence_batches WHERE id = {newest}",
        f"DELETE FROM audit_events WHERE object_type = 'evidence_batch' AND object_id = '{newest}'",
        "DELETE FROM evidence_checkpoints WHERE tree_size = 3",
        f"DELETE FROM evidence_log_leaves WHERE batch_id = {newest}",
    )
    alone = _verify(runner)
    assert alone.exit_code == 0, alone.output  # what the database holds is consistent
    against = _verify(runner, "--against", str(kept))
    assert against.exit_code == 2
    assert "最新の 1 件(ログの 3〜3 番目のバッチ)が削除されています" in against.output
    assert f"現在の最後のバッチは バッチ {ids[1]}" in against.output
    # and no new checkpoint hides it while the directory or the database still has a later one
    assert runner.invoke(args=["evidence", "checkpoint"]).exit_code == 0  # the DB's latest is size 2


def test_a_stored_checkpoint_alone_catches_the_deletion(runner, imported):
    ids = imported()
    _tamper(
        f"DELETE FROM evidence_access WHERE batch_id = {ids[-1]}", f"DELETE FROM evidence_batches WHERE id = {ids[-1]}"
    )
    result = _verify(runner)
    assert result.exit_code == 2
    assert "保存されているチェックポイント" in result.output and "削除されています" in result.output
    refused = runner.invoke(args=["evidence", "checkpoint"])
    assert refused.exit_code != 0 and "署名しませんでした" in refused.output


def _rewrite_chain():
    """Change one stored event, then recompute every rows digest and chain hash, as an attacker
    who read the source would: the chain holds again."""
    batches = db.session.execute(sa.select(FeedBatch.__table__).order_by(FeedBatch.id)).mappings().all()
    statements, prev = [], "0" * 64
    for batch in batches:
        table = ROW_MODELS[batch["kind"]].__table__
        cols = [table.c[spec.name] for spec in FIELDS[batch["kind"]]] + [table.c.extra]
        rows = db.session.execute(sa.select(*cols).where(table.c.batch_id == batch["id"]).order_by(table.c.id))
        digest = hashlib.sha256()
        for row in rows.mappings():
            digest.update(row_digest(batch["kind"], row).encode("ascii"))
        record = {**batch, "rows_digest": digest.hexdigest(), "prev_hash": prev}
        record["chain_hash"] = chain_hash(record)
        statements.append(
            f"UPDATE evidence_batches SET rows_digest = '{record['rows_digest']}', prev_hash = '{prev}', "
            f"chain_hash = '{record['chain_hash']}' WHERE id = {batch['id']}"
        )
        prev = record["chain_hash"]
    db.session.remove()
    with db.engine.begin() as conn:
        for stmt in statements:
            conn.exec_driver_sql(stmt)


def test_a_consistent_rewrite_of_every_hash_fails_against_the_checkpoint(runner, imported, tmp_path):
    imported()
    kept = _keep_latest(tmp_path)
    _tamper(
        f"UPDATE evidence_access SET terminal = 'T9' WHERE event_id = '{DAYS[0]}-e1'",
        "DELETE FROM evidence_checkpoints",
        "DELETE FROM evidence_log_leaves",
        "DELETE FROM audit_events WHERE object_type = 'evidence_batch'",
    )
    _rewrite_chain()
    alone = _verify(runner)
    assert alone.exit_code == 0, alone.output  # the chain was rewritten consistently
    against = _verify(runner, "--against", str(kept))
    assert against.exit_code == 2
    assert "署名されたときの内容と一致しません" in against.output and "履歴の書き換え" in against.output


def test_verify_names_batches_changed_or_deleted_after_they_were_logged(runner, imported):
    """The kept leaves name what the checkpoints alone only show as a rewritten history."""
    ids = imported()
    _tamper(
        f"UPDATE evidence_batches SET source = 'cli:other.csv' WHERE id = {ids[0]}",
        f"DELETE FROM evidence_access WHERE batch_id = {ids[2]}",
        f"DELETE FROM evidence_batches WHERE id = {ids[2]}",
    )
    result = _verify(runner)
    assert result.exit_code == 2
    assert f"ログに記録した後にバッチの記録が変更されています: バッチ {ids[0]}(" in result.output
    assert f"ログに記録したバッチが削除されています: バッチ {ids[2]}。" in result.output


def test_a_checkpoint_signed_by_another_key_fails(app, runner, imported, tmp_path):
    imported()
    row = transparency.latest_checkpoint()
    impostor = Signer.generate(transparency.load_signer().name)
    forged = tmp_path / "forged.txt"
    forged.write_text(impostor.sign(Checkpoint(impostor.name, row.tree_size, bytes.fromhex(row.root_hash)).text()))
    result = _verify(runner, "--against", str(forged))
    assert result.exit_code == 2 and "別の鍵で署名されています" in result.output
    # a kept checkpoint with its text changed (one more batch claimed) fails on the signature
    changed = tmp_path / "changed.txt"
    changed.write_text(row.note.replace("\n3\n", "\n4\n", 1), encoding="utf-8")
    result = _verify(runner, "--against", str(changed))
    assert result.exit_code == 2 and "署名が公開鍵" in result.output


def test_verify_against_with_the_published_key(runner, imported, tmp_path):
    imported()
    kept = _keep_latest(tmp_path)
    key_file = tmp_path / "published.pub"
    key_file.write_text(transparency.public_key().encode() + "\n")
    result = _verify(runner, "--against", str(kept), "--key", str(key_file))
    assert result.exit_code == 0, result.output
    assert "までの一貫性を証明しました" in result.output
    # a copy saved with Windows line ends still verifies
    (tmp_path / "crlf.txt").write_bytes(kept.read_bytes().replace(b"\n", b"\r\n"))
    assert _verify(runner, "--against", str(tmp_path / "crlf.txt")).exit_code == 0
    other = Signer.generate("localhost/hyoka-evidence").verifier.encode()
    assert _verify(runner, "--against", str(kept), "--key", other).exit_code == 2


def test_the_configured_directory_also_refuses_a_truncated_log(app, runner, imported, tmp_path):
    """With the database's checkpoints deleted too, the copy in the WORM directory still stops
    a new checkpoint over the truncated log."""
    app.config["HYOKA_EVIDENCE_CHECKPOINT_DIR"] = str(tmp_path / "worm")
    ids = imported()
    _tamper(
        f"DELETE FROM evidence_access WHERE batch_id = {ids[-1]}",
        f"DELETE FROM evidence_batches WHERE id = {ids[-1]}",
        "DELETE FROM evidence_checkpoints",
    )
    refused = runner.invoke(args=["evidence", "checkpoint"])
    assert refused.exit_code != 0 and "checkpoint-" in refused.output and "削除されています" in refused.output
    forced = runner.invoke(args=["evidence", "checkpoint", "--accept-inconsistent"])
    assert forced.exit_code == 0 and "バッチ 2 件" in forced.output


def test_a_lost_key_is_not_replaced(app, runner, imported):
    imported(DAYS[:1])
    transparency.key_path().unlink()
    result = runner.invoke(args=["evidence", "checkpoint"])
    assert result.exit_code != 0 and "バックアップから鍵のファイルを戻してください" in result.output
    assert not transparency.key_path().exists()


def test_an_open_key_file_is_refused_and_the_import_still_stands(app, runner, imported, tmp_path, count_rows):
    imported(DAYS[:1])
    os.chmod(transparency.key_path(), 0o644)
    path = tmp_path / "more.csv"
    path.write_text(access_csv("x1,2025-04-05T09:00:00+09:00,JUKI,u1,view,S1,T1,,"), encoding="utf-8")
    result = runner.invoke(args=["evidence", "import", "access", str(path)])
    assert result.exit_code == 0 and "バッチ" in result.output
    assert "チェックポイントに署名できませんでした" in result.output and "chmod 600" in result.output
    assert count_rows(FeedBatch) == 2 and count_rows(LogCheckpoint) == 1


def test_the_api_door_signs_a_checkpoint(client, juki, count_rows):
    from common.auth import issue_token

    _token, plain = issue_token("feed", system_code="JUKI")
    db.session.commit()
    r = client.post(
        "/api/v1/feeds/access",
        data=access_csv("e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,"),
        headers={"Authorization": f"Bearer {plain}"},
        content_type="text/csv",
    )
    assert r.status_code == 201
    assert count_rows(LogCheckpoint) == 1


def test_checkpoints_are_append_only(app, imported):
    imported(DAYS[:1])
    with pytest.raises(sa.exc.DatabaseError):
        with db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE evidence_checkpoints SET tree_size = 9")
