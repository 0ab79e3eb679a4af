"""Benchmark: the whole check suite over 1,000,000 access events vs one full-scan count(*).

    python bench/evidence_checks.py [--rows 1000000] [--pg postgresql://user@host/db] [--keep DB]

Loads the demo grants, assignments, relations and provisions and ``--rows`` access events
(through the import service), then times ``evidence.checks.run_checks`` (every check,
findings stored) against ``SELECT count(*) FROM evidence_access`` on the same engine.
Target: the suite in at most 5x the count.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def bench(label: str, url: str, rows: int, csv_path: Path) -> None:
    import sqlalchemy as sa

    from evidence_import import _app, fresh_db

    fresh_db(url)
    app = _app(url)
    with app.app_context():
        from common.db import db
        from evidence.checks import Period, run_checks
        from evidence.ingest import import_feed

        with csv_path.open("rb") as fh:
            assert import_feed("access", fh, source="bench", filename="access.csv").stored
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        counts = []
        for _ in range(3):
            t = time.perf_counter()
            n = db.session.execute(sa.text("SELECT count(*) FROM evidence_access")).scalar_one()
            counts.append(time.perf_counter() - t)
        count_s = min(counts)
        runs = []
        for _ in range(2):
            t = time.perf_counter()
            found = run_checks(Period())
            db.session.commit()
            runs.append(time.perf_counter() - t)
        suite_s = min(runs)
        print(f"[{label}] {n:,} events; count(*): {count_s * 1000:.0f} ms; check suite: "
              f"{suite_s * 1000:.0f} ms ({len(found):,} findings); ratio {suite_s / count_s:.1f}x "
              f"(target <= 5x)")
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg")
    args = parser.parse_args()
    from evidence.demo_gen import write_access_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = write_access_csv(Path(tmp) / "access.csv", args.rows)
        bench("SQLite", f"sqlite:///{Path(tmp) / 'checks.sqlite3'}", args.rows, path)
        if args.pg:
            bench("PostgreSQL", args.pg, args.rows, path)


if __name__ == "__main__":
    main()
