"""The three doors (CLI, HTTP API, drop folder) behave the same; a killed import leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.auth import issue_token
from common.db import db
from evidence.chain import verify
from evidence.models import AccessEvent, FeedBatch
from tests.evidence.conftest import access_csv

GOOD = access_csv(
    "e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,", "e2,2025-04-01T10:00:00+09:00,JUKI,u1,view,S2,T1,,"
)
BAD = access_csv("e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,", "e2,yesterday,JUKI,u1,peek,S2,T1,,")


def test_cli_import_exit_status_and_errors(app, juki, tmp_path, count_rows):
    runner = app.test_cli_runner()
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    result = runner.invoke(args=["evidence", "import", "access", str(bad)])
    assert result.exit_code != 0
    assert "3行目 occurred_at" in result.output and "3行目 action" in result.output
    assert count_rows(AccessEvent) == 0
    result = runner.invoke(args=["evidence", "import", "access", str(bad), "--skip-invalid"])
    assert result.exit_code == 0 and count_rows(AccessEvent) == 1
    assert (tmp_path / "bad.csv.rejected.csv").read_text(encoding="utf-8").count("\n") == 3
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(args=["evidence", "import", "access", str(good)])
    assert result.exit_code == 0 and "重複 1 件" in result.output


def _token(system="JUKI"):
    _t, plain = issue_token("test feed", system_code=system)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def test_api_accepts_csv_and_ndjson(client, juki, count_rows):
    headers = _token()
    r = client.post("/api/v1/feeds/access", data=GOOD, headers=headers, content_type="text/csv")
    assert r.status_code == 201, r.json
    assert r.json["accepted"] == 2 and r.json["duplicate"] == 0 and r.json["stored"]
    line = json.dumps(
        {
            "event_id": "e3",
            "occurred_at": "2025-04-02T09:00:00+09:00",
            "system": "JUKI",
            "user_id": "u1",
            "action": "view",
        }
    )
    r = client.post("/api/v1/feeds/access", data=line + "\n", headers=headers, content_type="application/x-ndjson")
    assert r.status_code == 201 and r.json["accepted"] == 1
    r = client.post("/api/v1/feeds/access", data=GOOD, headers=headers, content_type="text/csv")
    assert r.json["accepted"] == 0 and r.json["duplicate"] == 2
    assert count_rows(AccessEvent) == 3


def test_api_rejects_bad_rows_and_other_systems(client, juki, count_rows):
    from pia.inventory.models import System

    db.session.add(System(code="ZEI", name="税務システム"))
    db.session.commit()
    headers = _token("ZEI")
    r = client.post("/api/v1/feeds/access", data=GOOD, headers=headers, content_type="text/csv")
    assert r.status_code == 422 and not r.json["stored"]
    assert {(e["line"], e["field"]) for e in r.json["errors"]} == {(2, "system"), (3, "system")}
    assert count_rows(AccessEvent) == 0
    r = client.post("/api/v1/feeds/access", data=BAD, headers=_token(), content_type="text/csv")
    assert r.status_code == 422 and r.json["rejected"] == 1
    r = client.post("/api/v1/feeds/access", data=GOOD, headers=_token(), content_type="text/plain")
    assert r.status_code == 415
    assert client.post("/api/v1/feeds/access", data=GOOD, content_type="text/csv").status_code == 401


def test_api_is_documented(client):
    spec = client.get("/api/v1/openapi.json").json
    op = spec["paths"]["/api/v1/feeds/{kind}"]["post"]
    assert {"201", "401", "415", "422"} <= set(op["responses"])
    assert "FeedResult" in spec["components"]["schemas"]


def test_drop_folder_moves_files_with_a_report(app, juki, tmp_path, count_rows):
    from evidence.watch import watch

    (tmp_path / "access-0401.csv").write_text(GOOD, encoding="utf-8")
    (tmp_path / "access").mkdir()
    (tmp_path / "access" / "bad.csv").write_text(BAD, encoding="utf-8")
    (tmp_path / "grants-0401.csv.part").write_text("still being written", encoding="utf-8")
    (tmp_path / "unknown.csv").write_text(GOOD, encoding="utf-8")
    old = time.time() - 60
    for p in tmp_path.rglob("*.csv"):
        os.utime(p, (old, old))
    watch(tmp_path, once=True, echo=lambda *_: None)
    assert (tmp_path / "done" / "access-0401.csv").exists()
    report = json.loads((tmp_path / "done" / "access-0401.csv.report.json").read_text(encoding="utf-8"))
    assert report["stored"] and report["accepted"] == 2
    assert (tmp_path / "rejected" / "bad.csv").exists()
    bad = json.loads((tmp_path / "rejected" / "bad.csv.report.json").read_text(encoding="utf-8"))
    assert not bad["stored"] and bad["errors"]
    assert (tmp_path / "rejected" / "unknown.csv").exists()
    assert (tmp_path / "grants-0401.csv.part").exists()  # never touched
    assert count_rows(AccessEvent) == 2


def test_drop_folder_waits_for_a_stable_size(app, juki, tmp_path):
    from evidence.watch import watch

    (tmp_path / "access-1.csv").write_text(GOOD, encoding="utf-8")
    assert watch(tmp_path, once=True, settle=30, echo=lambda *_: None) == []
    assert (tmp_path / "access-1.csv").exists()


def test_killed_import_leaves_no_partial_batch(app, juki, engine_name, tmp_path, count_rows):
    from evidence.demo_gen import write_access_csv

    path = write_access_csv(tmp_path / "big.csv", 300_000)
    db.session.commit()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from app import create_app\n"
        "from common.db import db\n"
        f"app = create_app({{'SQLALCHEMY_DATABASE_URI': {url!r}, 'SECRET_KEY': 'x'}})\n"
        "with app.app_context():\n"
        "    from evidence.ingest import import_path\n"
        "    from pathlib import Path\n"
        "    print('start', flush=True)\n"
        f"    import_path('access', Path({str(path)!r}), source='kill-test')\n"
        "    print('done', flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    time.sleep(3)  # well into the parse-and-insert loop
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    db.session.remove()
    assert count_rows(AccessEvent) == 0 and count_rows(FeedBatch) == 0
    assert verify().ok
    # the database still takes the next batch
    from evidence.ingest import import_path

    small = tmp_path / "small.csv"
    small.write_text(GOOD, encoding="utf-8")
    assert import_path("access", small, source="after-kill").stored
    assert verify().ok
