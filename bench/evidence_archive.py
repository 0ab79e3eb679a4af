"""Benchmark: ``flask evidence archive`` of N access events, against one full scan of the table.

    python bench/evidence_archive.py [--rows 100000] [--pg postgresql://user@host/db]

Imports two batches of ``--rows`` events each through the import service (an old quarter of
2018, a recent one of 2025), then archives the old one (``evidence.retention``: the covering
checkpoint, the file with every row's digest recomputed and screened for 個人番号, the guarded
DELETE through the marker list, the per-user-day summary recounted, the decision) and checks
the file (``verify_archive``). Baseline, same run, same store before the archive: one full scan
reading every column of the table (``SELECT * … ORDER BY id``, streamed). Prints the seconds,
the rate and the ratio to the baseline (per archived row).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _pg import ensure_database  # noqa: E402
from evidence_import import _app, fresh_db  # noqa: E402


def write_csv(path: Path, rows: int, start: date, first_id: int) -> Path:
    import _events

    from common import csvsafe

    days = _events.year_days(start, start + timedelta(days=90))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csvsafe.writer(fh, lineterminator="\n")
        writer.writerow(_events.COLUMNS.split(", "))
        for row in _events.iter_rows(rows, days, first_id=first_id):
            writer.writerow([row[0], row[1].isoformat(), *("" if v is None else v for v in row[2:])])
    return path


def bench(label: str, url: str, rows: int, tmp: Path) -> None:
    import sqlalchemy as sa

    from common import audit
    from common.db import db, unit_of_work
    from evidence import retention
    from evidence.ingest import import_feed

    fresh_db(url, with_state_feeds=False)
    old = write_csv(tmp / "old.csv", rows, date(2018, 4, 2), 0)
    new = write_csv(tmp / "new.csv", rows, date(2025, 4, 1), rows)
    app = _app(url)
    app.config["HYOKA_EVIDENCE_LOG_KEY"] = str(tmp / f"{label}.key")
    with app.app_context():
        for path in (old, new):
            with path.open("rb") as fh, unit_of_work():
                assert import_feed("access", fh, source="bench", filename=path.name).stored
        t = time.perf_counter()
        scanned = sum(1 for _ in db.session.execute(sa.text("SELECT * FROM evidence_access ORDER BY id")))
        scan = time.perf_counter() - t
        db.session.rollback()
        out = tmp / f"{label}.jsonl"
        t = time.perf_counter()
        with audit.acting_as("bench"), unit_of_work():
            done = retention.archive(retention.plan(date(2019, 1, 1)), out, reason="bench", by="bench")
        archived = time.perf_counter() - t
        t = time.perf_counter()
        report = retention.verify_archive(out)
        checked = time.perf_counter() - t
        assert report.ok, report.problems[:3]
        left = db.session.execute(sa.text("SELECT count(*) FROM evidence_access")).scalar_one()
        db.engine.dispose()
    per_scan_row = scan / scanned
    print(f"[{label}] baseline: full scan of {scanned:,} events, every column: {scan:.2f} s")
    print(
        f"[{label}] archive of {done.rows:,} events ({out.stat().st_size / 1e6:.0f} MB file, {left:,} left): "
        f"{archived:.2f} s ({done.rows / archived:,.0f} rows/s) = {archived / done.rows / per_scan_row:.0f}× a scanned row"
    )
    print(
        f"[{label}] verify --archive: {checked:.2f} s ({report.rows / checked:,.0f} rows/s) "
        f"= {checked / report.rows / per_scan_row:.0f}× a scanned row"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", help="also on this PostgreSQL database (created if missing; emptied)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench("SQLite", f"sqlite:///{tmp}/bench.sqlite3", args.rows, Path(tmp))
        if args.pg:
            bench("PostgreSQL", ensure_database(args.pg), args.rows, Path(tmp))


if __name__ == "__main__":
    main()
