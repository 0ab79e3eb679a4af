"""Proofs in the evidence report, checked offline by tools/verify_evidence_report.py; a report
tampered with in any of the ways below fails, with the public key as the only other input."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from common.db import db
from evidence import transparency
from evidence.note import Checkpoint, Signer
from tests.evidence.conftest import access_csv
from tests.evidence.test_merkle import ROOT, STANDALONE

TOOL = ROOT / "tools" / "verify_evidence_report.py"


@pytest.fixture
def assessment(app, department):
    from pia.assessments.models import Affair, Assessment

    affair = Affair(code="juki", name="住民基本台帳に関する事務", department=department("住民情報課"))
    a = Assessment(affair=affair, form="zenkoumoku", title="住民基本台帳に関する事務 全項目評価書")
    db.session.add(a)
    db.session.commit()
    return a


@pytest.fixture
def batches(feed):
    """Four batches (three access days and a grants file), then a checkpoint."""
    for day in ("2025-04-01", "2025-04-02", "2025-04-03"):
        assert feed("access", access_csv(f"{day}-e1,{day}T10:00:00+09:00,JUKI,u9,view,S1,T1,,")).stored
    assert feed("grants", "user_id,system,role,granted_at\nu9,JUKI,照会,2025-03-01\n").stored
    transparency.make_checkpoint()
    db.session.commit()


def _report(app, assessment, tmp_path, fmt="json"):
    out = tmp_path / f"report.{fmt}"
    result = app.test_cli_runner().invoke(
        args=["evidence", "report", str(assessment.id), "--from", "2025-04-01", "--to", "2025-04-02"]
        + ["--format", fmt, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def _check(data, capsys, key=None):
    key = key or transparency.public_key().encode()
    failures, _summary = STANDALONE.check_report(data, STANDALONE.Key(key))
    return failures


def _resealed(data):
    """The report with its content SHA-256 recomputed, as a careful forger would."""
    data["manifest"]["report_sha256"] = STANDALONE.report_sha256(data)
    return data


def test_the_json_report_verifies_offline(app, assessment, batches, tmp_path):
    path = _report(app, assessment, tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    manifest = data["manifest"]
    assert manifest["checkpoint"]["tree_size"] == 4 and manifest["checkpoint"]["covers_all"]
    # the access batches of the two days and the grants batch: each with its leaf and proof
    assert [b["leaf_index"] for b in manifest["batches"]] == [0, 1, 3]
    assert all(len(b["inclusion_proof"]) == 2 for b in manifest["batches"])
    key = tmp_path / "key.pub"
    key.write_text(transparency.public_key().encode() + "\n")
    run = subprocess.run(
        [sys.executable, str(TOOL), "report", str(path), "--key", str(key)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("OK 報告書の 3 件のバッチは、すべてチェックポイント(")
    assert transparency.public_key().fingerprint in run.stdout


def _flip(hex_hash):
    return f"{int(hex_hash[0], 16) ^ 1:x}{hex_hash[1:]}"


TAMPERINGS = {
    "one bit of a proof": (
        lambda d: d["manifest"]["batches"][0]["inclusion_proof"].__setitem__(
            0, _flip(d["manifest"]["batches"][0]["inclusion_proof"][0])
        ),
        "包含証明が成り立ちません",
    ),
    "a batch record": (
        lambda d: d["manifest"]["batches"][1]["leaf"].__setitem__("rows_stored", 5),
        "包含証明が成り立ちません",
    ),
    "a leaf position": (lambda d: d["manifest"]["batches"][1].__setitem__("leaf_index", 2), "包含証明が成り立ちません"),
    "a shown hash": (lambda d: d["manifest"]["batches"][0].__setitem__("sha256", "0" * 64), "報告書に載せた値(sha256)"),
    "the checkpoint's size": (
        lambda d: d["manifest"]["checkpoint"].__setitem__(
            "note", d["manifest"]["checkpoint"]["note"].replace("\n4\n", "\n5\n", 1)
        ),
        "署名が公開鍵",
    ),
    "a proof removed": (lambda d: d["manifest"]["batches"][2].__setitem__("inclusion_proof", None), "含まれていない"),
}


@pytest.mark.parametrize("change", TAMPERINGS)
def test_a_tampered_report_fails(app, assessment, batches, tmp_path, capsys, change):
    data = json.loads(_report(app, assessment, tmp_path).read_text(encoding="utf-8"))
    assert _check(copy.deepcopy(data), capsys) == []
    tamper, message = TAMPERINGS[change]
    tamper(data)
    failures = _check(_resealed(data), capsys)
    assert failures and any(message in f for f in failures), failures


def test_changed_findings_fail_on_the_content_digest(app, assessment, batches, tmp_path, capsys):
    path = _report(app, assessment, tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["checks"][0]["total"] += 1
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    key = transparency.public_key().encode()
    assert STANDALONE.main(["report", str(path), "--key", key]) == 1
    assert "報告書の内容が改変されています" in capsys.readouterr().err


def test_a_checkpoint_signed_by_another_key_fails(app, assessment, batches, tmp_path, capsys):
    data = json.loads(_report(app, assessment, tmp_path).read_text(encoding="utf-8"))
    cp = data["manifest"]["checkpoint"]
    impostor = Signer.generate(transparency.load_signer().name)
    cp["note"] = impostor.sign(Checkpoint(impostor.name, cp["tree_size"], bytes.fromhex(cp["root_hash"])).text())
    failures = _check(_resealed(data), capsys)
    assert any("この公開鍵" in f and "署名がありません" in f for f in failures)
    # with the impostor's key everything else holds: only the published key tells them apart
    assert _check(data, capsys, key=impostor.verifier.encode()) == []


def test_a_batch_newer_than_the_checkpoint_has_no_proof(app, assessment, batches, feed, tmp_path, capsys):
    assert feed("access", access_csv("late,2025-04-02T11:00:00+09:00,JUKI,u9,view,S2,T1,,")).stored
    data = json.loads(_report(app, assessment, tmp_path).read_text(encoding="utf-8"))
    assert not data["manifest"]["checkpoint"]["covers_all"]
    failures = _check(data, capsys)
    assert len(failures) == 1 and "含まれていないため、証明がありません" in failures[0]
    html = _report(app, assessment, tmp_path, "html").read_text(encoding="utf-8")
    assert "このチェックポイントより後に取り込んだバッチには証明がありません" in html
    assert "チェックポイントに未収録" in html


def test_the_html_report_shows_the_checkpoint_and_proofs(app, assessment, batches, tmp_path):
    html = _report(app, assessment, tmp_path, "html").read_text(encoding="utf-8")
    row = transparency.latest_checkpoint()
    assert "5 証跡ログによる証明" in html and row.root_hash in html and row.key_fingerprint in html
    assert row.note.splitlines()[0] in html and "1 番目" in html


def test_a_report_without_any_checkpoint_says_so(app, assessment, feed, tmp_path, capsys):
    assert feed("access", access_csv("e1,2025-04-01T10:00:00+09:00,JUKI,u9,view,S1,T1,,")).stored
    transparency.load_signer(create=True)
    data = json.loads(_report(app, assessment, tmp_path).read_text(encoding="utf-8"))
    assert data["manifest"]["checkpoint"] is None
    assert _check(data, capsys) == ["報告書にチェックポイントがありません"]
    html = _report(app, assessment, tmp_path, "html").read_text(encoding="utf-8")
    assert "チェックポイントがまだないため" in html


def test_the_verifier_refuses_unreadable_input(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert STANDALONE.main(["report", str(bad), "--key", "x+00000000+AAAA"]) == 2
    assert "読み込めません" in capsys.readouterr().err
