"""The portal publishes the evidence log's checkpoints (HTML, Atom, each note as text, the key)
and consistency proofs a person holding an older checkpoint checks offline."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from common.db import db, drop_guard_sql
from evidence import transparency
from tests.evidence.conftest import access_csv
from tests.evidence.test_merkle import STANDALONE

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def signed(feed):
    """Five batches, a checkpoint after each."""
    rows = []
    for n in range(5):
        assert feed("access", access_csv(f"e{n},2025-04-0{n + 1}T09:00:00+09:00,JUKI,u1,view,S1,T1,,")).stored
        rows.append(transparency.make_checkpoint())
        db.session.commit()
    return rows


def test_the_list_shows_the_key_and_every_checkpoint(client, signed):
    page = client.get("/public/checkpoints")
    assert page.status_code == 200
    key = transparency.public_key()
    assert key.encode() in page.text and key.fingerprint in page.text
    for row in signed:
        assert row.root_hash in page.text and f"/public/checkpoints/{row.id}.txt" in page.text
    assert "テキストで保存" in page.text and transparency.when_label(signed[-1].signed_at) in page.text
    assert "令和" in transparency.when_label(signed[-1].signed_at)
    assert "/public/checkpoints" in client.get("/public/").text  # linked from every portal page


def test_each_checkpoint_as_text_and_the_key(client, signed):
    r = client.get(f"/public/checkpoints/{signed[2].id}.txt")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert r.text == signed[2].note
    assert client.get("/public/checkpoints/999999.txt").status_code == 404
    key = client.get("/public/checkpoints/key.txt")
    assert key.text.strip() == transparency.public_key().encode()


def test_no_key_yet(client, app):
    assert client.get("/public/checkpoints/key.txt").status_code == 404
    page = client.get("/public/checkpoints")
    assert "署名の鍵はまだ作成されていません" in page.text and "チェックポイントはまだありません" in page.text


def test_the_atom_feed_carries_the_notes(client, signed):
    r = client.get("/public/checkpoints.atom")
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    feed = ET.fromstring(r.data)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 5
    assert entries[0].find(f"{ATOM}content").text == signed[-1].note


def _kept(client, row, tmp_path):
    path = tmp_path / "kept.txt"
    path.write_bytes(client.get(f"/public/checkpoints/{row.id}.txt").data)
    return path.read_text(encoding="utf-8")


def _standalone(client, kept, old_size):
    proof = client.get(f"/public/checkpoints/consistency?from={old_size}").json
    key = STANDALONE.Key(client.get("/public/checkpoints/key.txt").text)
    return STANDALONE.check_consistency(proof, kept, key)


def test_a_kept_checkpoint_is_extended_by_the_latest(client, signed, tmp_path):
    for row in signed:
        failures, summary = _standalone(client, _kept(client, row, tmp_path), row.tree_size)
        assert failures == [] and "削除も書き換えもなく" in summary


def test_a_person_with_a_kept_checkpoint_sees_the_deletion(client, signed, tmp_path):
    """Issue 18, from outside: the newest batch and every checkpoint since deleted by the DBA;
    the portal's latest checkpoint is then shorter than the one kept."""
    kept = _kept(client, signed[-1], tmp_path)
    newest = transparency.current_log().batch_ids[-1]
    db.session.remove()
    with db.engine.begin() as conn:
        for table, name in (
            ("evidence_access", "evidence_access_append_only"),
            ("evidence_batches", "evidence_batches_kept"),
            ("evidence_checkpoints", "evidence_checkpoints_append_only"),
            ("evidence_log_leaves", "evidence_log_leaves_append_only"),
        ):
            drop_guard_sql(conn, table, name)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        conn.exec_driver_sql(f"DELETE FROM evidence_access WHERE batch_id = {newest}")
        conn.exec_driver_sql(f"DELETE FROM evidence_batches WHERE id = {newest}")
        conn.exec_driver_sql("DELETE FROM evidence_checkpoints WHERE tree_size = 5")
    r = client.get("/public/checkpoints/consistency?from=5")
    assert r.status_code == 404 and "1〜4" in r.json["error"]
    failures, _ = _standalone(client, kept, 5)
    assert failures and "ポータルが証明を出せませんでした" in failures[0]
    # a forged proof document claiming the old size is no better
    proof = client.get("/public/checkpoints/consistency?from=4").json
    proof["old_size"] = 5
    key = STANDALONE.Key(client.get("/public/checkpoints/key.txt").text)
    failures, _ = STANDALONE.check_consistency(proof, kept, key)
    assert failures and "短くなっています" in failures[0]


def test_a_bit_flipped_in_the_proof_fails(client, signed, tmp_path):
    kept = _kept(client, signed[2], tmp_path)
    proof = client.get("/public/checkpoints/consistency?from=3").json
    proof["proof"][0] = ("1" if proof["proof"][0][0] == "0" else "0") + proof["proof"][0][1:]
    key = STANDALONE.Key(client.get("/public/checkpoints/key.txt").text)
    failures, _ = STANDALONE.check_consistency(proof, kept, key)
    assert failures and "一貫性の証明が成り立ちません" in failures[0]


def test_bad_requests_get_a_clear_answer(client, signed):
    r = client.get("/public/checkpoints/consistency")
    assert r.status_code == 400 and "?from=" in r.json["error"]
    assert client.get("/public/checkpoints/consistency?from=0").status_code == 404
    assert client.get("/public/checkpoints/consistency?from=abc").status_code == 400
    assert client.get("/public/checkpoints?page=abc").status_code == 200  # the first page
