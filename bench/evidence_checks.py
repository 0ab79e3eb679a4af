"""Benchmark: the check suite over 1M, 3M (and, opt-in, 10M) access events vs one full scan.

    python bench/evidence_checks.py [--sizes 1000000,3000000] [--pg postgresql://user@host/db] [--no-transactions]

For each size: loads the demo grants, assignments, relations and provisions and that many
access events over the demo quarter (by ``COPY`` / ``executemany``, see ``bench/_events.py``;
``--via-import`` through the import service, much slower), then times, against one full scan
``count(*)`` of ``evidence_access`` on the same engine and in the same run (best of three
each): every check alone, the whole suite (``evidence.checks.run_checks``, findings stored
and committed) over an empty findings table ("first run") and again over the findings
already stored ("re-run"). Target: the suite in at most 5x the full scan at every size.
``--rows N`` is the same as ``--sizes N``; the 10M point is opt-in (``--sizes ...,10000000``).

With transactions (the default): a transaction explains about 86 % of the accesses that ask
for one (照会・印刷・出力・更新) and 100 residents are protected, so the explanation checks run
over the same events.

``--year N`` also loads N events over a fiscal year and times the suite over one month
against the whole year (target: about a twelfth: a period's checks read only that period).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import _events
from _pg import ensure_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _best(func, repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        runs.append(time.perf_counter() - t)
    return min(runs)


def write_explanation_feeds(directory: Path, rows: int, days) -> dict[str, Path]:
    """Transactions for ~86 % of the explainable accesses of ``_events.iter_rows(rows, days)``
    (same seed, same rows), by the user's department up to an hour before; 100 protected
    residents: the explanation checks (``protected_subject``, ``coworker_record``,
    ``unexplained_access``) then work over the same events."""
    import random
    from datetime import timedelta

    from common import csvsafe
    from evidence.demo_gen import DEPARTMENTS

    rng = random.Random(7)
    tx_path, pr_path = directory / "transactions.csv", directory / "protections.csv"
    protected = 0
    with tx_path.open("w", newline="", encoding="utf-8") as tx, pr_path.open("w", newline="", encoding="utf-8") as pr:
        tw, pw = csvsafe.writer(tx), csvsafe.writer(pr)
        tw.writerow(["transaction_id", "occurred_at", "system", "department", "kind", "subject_id", "user_id"])
        pw.writerow(["subject_id", "measure", "start_date", "end_date"])
        for i, (_eid, at, system, user, action, subject, *_rest) in enumerate(_events.iter_rows(rows, days)):
            if action not in ("view", "print", "update", "export"):
                continue
            if i % 10_007 == 0 and protected < 100:
                pw.writerow([subject, "dv_support", "2025-01-01", ""])
                protected += 1
            if rng.random() < 0.86:
                when = at - timedelta(seconds=rng.randrange(60, 3600))
                dept = DEPARTMENTS[(int(user[1:]) - 1) % len(DEPARTMENTS)]
                tw.writerow([f"TX-{i:08d}", when.isoformat(), system, dept, "住民票の写し交付", subject, user])
    return {"transactions": tx_path, "protections": pr_path}


def bench(
    label: str, url: str, rows: int, csv_path: Path | None, per_check: bool = True, extra: dict | None = None
) -> dict:
    import sqlalchemy as sa
    from evidence_import import _app, fresh_db

    fresh_db(url)
    app = _app(url)
    with app.app_context():
        from common.db import db, unit_of_work
        from evidence import demo_gen
        from evidence.checks import RUNNERS, Period, closed_days, run_checks
        from evidence.ingest import import_feed

        t = time.perf_counter()
        if csv_path is None:
            _events.load(_events.iter_rows(rows, demo_gen.business_days()))
        else:
            with csv_path.open("rb") as fh, unit_of_work():
                assert import_feed("access", fh, source="bench", filename="access.csv").stored
        load_s = time.perf_counter() - t
        for kind, path in (extra or {}).items():
            with path.open("rb") as fh, unit_of_work():
                assert import_feed(kind, fh, source="bench", filename=path.name).stored
        if extra:
            counts = {
                kind: db.session.execute(sa.text(f"SELECT count(*) FROM evidence_{kind}")).scalar_one()
                for kind in extra
            }
            print(f"[{label} {rows:,}] with " + ", ".join(f"{n:,} {kind}" for kind, n in counts.items()), flush=True)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        sqlite = db.engine.dialect.name == "sqlite"
        # SQLite answers a bare count(*) from the smallest index (a few MB of b-tree pages,
        # ~1 ms) without reading the events; NOT INDEXED makes it scan the events table, as
        # PostgreSQL's count(*) does. Both are printed; the ratio uses the table scan.
        queries = {"count(*)": "SELECT count(*) FROM evidence_access"}
        if sqlite:
            queries["count(*) NOT INDEXED"] = "SELECT count(*) FROM evidence_access NOT INDEXED"
        timings = {}
        n = 0
        for name, sql in queries.items():
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                n = db.session.execute(sa.text(sql)).scalar_one()
                runs.append(time.perf_counter() - t)
            timings[name] = min(runs)
        db.session.commit()
        count_s = timings["count(*) NOT INDEXED" if sqlite else "count(*)"]
        closed_days(date(2025, 1, 1), date(2025, 1, 2))  # the holiday tables load once per process

        def clear():
            # an empty findings table for each first run (on PostgreSQL a DELETE would leave
            # the dead rows of the previous run for the anti-join to read)
            if sqlite:
                db.session.execute(sa.text("DELETE FROM evidence_findings"))
            else:
                db.session.execute(sa.text("TRUNCATE evidence_findings, evidence_decisions"))
            db.session.commit()

        checks: dict[str, float] = {}
        if per_check:
            for name in RUNNERS:
                runs = []
                for _ in range(3):
                    clear()
                    t = time.perf_counter()
                    run_checks(Period(), only=[name])
                    db.session.commit()
                    runs.append(time.perf_counter() - t)
                checks[name] = min(runs)
        first, again = [], []
        for _ in range(3):
            clear()
            t = time.perf_counter()
            run = run_checks(Period())
            db.session.commit()
            first.append(time.perf_counter() - t)
            t = time.perf_counter()
            rerun = run_checks(Period())
            db.session.commit()
            again.append(time.perf_counter() - t)
        assert sum(rerun.new.values()) == 0 and rerun.found == run.found
        baseline = "; ".join(f"{k}: {v * 1000:.1f} ms" for k, v in timings.items())
        print(f"[{label} {rows:,}] {n:,} events (imported in {load_s:.1f} s); {baseline}")
        for name, s in checks.items():
            print(f"[{label} {rows:,}]   {name:<24} {s * 1000:8.1f} ms  {s / count_s:5.2f}x")
        print(
            f"[{label} {rows:,}] check suite, first run (stores {run.found:,} findings): "
            f"{min(first) * 1000:.0f} ms -> {min(first) / count_s:.1f}x (target <= 5x)"
        )
        print(
            f"[{label} {rows:,}] check suite, re-run (same findings kept): "
            f"{min(again) * 1000:.0f} ms -> {min(again) / count_s:.1f}x (target <= 5x)",
            flush=True,
        )
        db.engine.dispose()
    return {"scan": count_s, "first": min(first), "again": min(again), "checks": checks}


def bench_period(label: str, url: str, rows: int) -> None:
    """The suite over one month of a year's events vs over the whole year (target: about
    a twelfth)."""
    import sqlalchemy as sa
    from evidence_import import _app, fresh_db

    fresh_db(url)
    app = _app(url)
    with app.app_context():
        from common.db import db
        from evidence.checks import Period, closed_days, run_checks

        _events.load(_events.iter_rows(rows, _events.year_days()))
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        closed_days(date(2025, 1, 1), date(2025, 1, 2))
        times = {}
        for name, period in (
            ("year", Period(date(2025, 4, 1), date(2026, 3, 31))),
            ("month", Period(date(2025, 10, 1), date(2025, 10, 31))),
        ):
            runs = []
            for _ in range(3):
                if db.engine.dialect.name == "sqlite":
                    db.session.execute(sa.text("DELETE FROM evidence_findings"))
                else:
                    db.session.execute(sa.text("TRUNCATE evidence_findings, evidence_decisions"))
                db.session.commit()
                t = time.perf_counter()
                run_checks(period)
                db.session.commit()
                runs.append(time.perf_counter() - t)
            times[name] = min(runs)
        print(
            f"[{label}] {rows:,} events over fiscal 2025: suite over the year {times['year'] * 1000:.0f} ms, "
            f"over October {times['month'] * 1000:.0f} ms = 1/{times['year'] / times['month']:.1f} "
            "(target about 1/12)",
            flush=True,
        )
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000", help="comma-separated event counts (10000000: opt-in)")
    parser.add_argument("--rows", type=int, help="one size (same as --sizes N)")
    parser.add_argument("--pg")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-transactions", action="store_true", help="only the access events, no explanations")
    parser.add_argument("--no-per-check", action="store_true", help="only the suite")
    parser.add_argument(
        "--via-import",
        action="store_true",
        help="load the events through the import service (slow; by default COPY / executemany)",
    )
    parser.add_argument(
        "--year",
        type=int,
        default=1_000_000,
        help="also: N events over a fiscal year, the suite over one month vs the year",
    )
    args = parser.parse_args()
    from evidence.demo_gen import write_access_csv

    sizes = [args.rows] if args.rows else [int(s) for s in args.sizes.split(",") if s]
    engines = [] if args.no_sqlite else [("SQLite", None)]
    if args.pg:
        ensure_database(args.pg)
        engines.append(("PostgreSQL", args.pg))
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = None
            if args.via_import:
                t = time.perf_counter()
                path = write_access_csv(Path(tmp) / "access.csv", size)
                print(f"generated {size:,} events in {time.perf_counter() - t:.1f} s", flush=True)
            extra = None
            if not args.no_transactions:
                from evidence.demo_gen import business_days

                extra = write_explanation_feeds(Path(tmp), size, business_days())
            for label, url in engines:
                db_file = Path(tmp) / "checks.sqlite3"
                r = bench(label, url or f"sqlite:///{db_file}", size, path, not args.no_per_check, extra)
                table.append((label, size, r))
                db_file.unlink(missing_ok=True)
        if args.year:
            for label, url in engines:
                db_file = Path(tmp) / "year.sqlite3"
                bench_period(label, url or f"sqlite:///{db_file}", args.year)
                db_file.unlink(missing_ok=True)
    print("\n| engine | events | full scan | suite, first run | re-run |")
    print("|---|---|---|---|---|")
    for label, size, r in table:
        s = r["scan"]
        print(
            f"| {label} | {size:,} | {s * 1000:.0f} ms | {r['first'] * 1000:.0f} ms = {r['first'] / s:.1f}x "
            f"| {r['again'] * 1000:.0f} ms = {r['again'] / s:.1f}x |"
        )


if __name__ == "__main__":
    main()
