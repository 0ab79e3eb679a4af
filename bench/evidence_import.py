"""Benchmark: importing 1,000,000 access events from CSV, against a plain baseline.

    python bench/evidence_import.py [--rows 1000000] [--pg postgresql://user@host/db] [--repeat N]

Ours: ``evidence.ingest.import_feed`` — parse, validate, store, per-user-day summary, hash
chain and planner statistics, one transaction. Baseline, same machine, same run, same table
(same columns and indexes): SQLite — ``csv.reader`` + plain ``sqlite3`` ``executemany``;
PostgreSQL — psycopg ``COPY`` of the file. ``--grow N`` instead imports N batches of
``--rows`` events one after the other into one store and prints the last against the first
(the tenth million into nine: ``--rows 1000000 --grow 10``). Each measurement runs in its own process, so the
peak memory (``ru_maxrss``) is that of the import alone. Prints the figures and the ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _pg import ensure_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _app(url: str):
    from app import create_app, database_url

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url(url, "/tmp"), "SECRET_KEY": "bench", "TESTING": True})


def fresh_db(url: str, with_state_feeds: bool = True) -> None:
    """Empty schema, the JUKI system, and (optionally) the demo grants/assignments/relations."""
    from common.db import db, unit_of_work
    from common.models import Department
    from evidence import demo_gen
    from evidence.ingest import import_feed
    from pia.inventory.models import System

    app = _app(url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        depts = [
            Department(code=f"d{i}", name=name)
            for i, name in enumerate(demo_gen.DEPARTMENTS + [demo_gen.TRANSFER_DEPARTMENT])
        ]
        db.session.add_all(depts)
        system = System(code="JUKI", name="既存住基システム")
        system.authorised_departments = [d for d in depts if d.name in demo_gen.AUTHORISED_DEPARTMENTS]
        db.session.add(system)
        db.session.commit()
        if with_state_feeds:
            with tempfile.TemporaryDirectory() as tmp:
                paths = demo_gen.write_feeds(Path(tmp), events=1000)
                for kind in ("assignments", "grants", "relations", "provisions"):
                    with paths[kind].open("rb") as fh, unit_of_work():
                        import_feed(kind, fh, source=f"bench:{kind}", filename=paths[kind].name)
        db.engine.dispose()


def run_ours(url: str, path: str) -> dict:
    from common.db import db, unit_of_work
    from evidence.ingest import import_feed

    app = _app(url)
    with app.app_context():
        t = time.perf_counter()
        with open(path, "rb") as fh, unit_of_work():
            result = import_feed("access", fh, source="bench:access", filename="access.csv")
        elapsed = time.perf_counter() - t
        assert result.stored, result.errors[:3]
        db.engine.dispose()
    return {
        "seconds": elapsed,
        "rows": result.rows_stored,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_baseline_sqlite(url: str, path: str) -> dict:
    import sqlite3

    conn = sqlite3.connect(url[len("sqlite:///") :])
    t = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch = []
        sql = (
            "INSERT INTO evidence_access (batch_id, event_id, occurred_at, system, user_id, "
            "action, subject_id, terminal, result, purpose) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        conn.execute(
            "INSERT INTO evidence_batches (id, kind, source, fmt, received_at, rows_total, "
            "rows_stored, duplicates, rejected, raw_sha256) VALUES "
            "(1, 'access', 'baseline', 'csv', '2025-01-01 00:00:00.000000', 0, 0, 0, 0, '')"
        )
        for row in reader:
            batch.append(row)
            if len(batch) >= 5000:
                conn.executemany(sql, batch)
                batch.clear()
        conn.executemany(sql, batch)
    conn.commit()
    elapsed = time.perf_counter() - t
    n = conn.execute("SELECT count(*) FROM evidence_access").fetchone()[0]
    conn.close()
    return {"seconds": elapsed, "rows": n, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_baseline_pg(url: str, path: str) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO evidence_batches (id, kind, source, fmt, received_at, rows_total, "
            "rows_stored, duplicates, rejected, raw_sha256) VALUES "
            "(1, 'access', 'baseline', 'csv', now(), 0, 0, 0, 0, '')"
        )
        conn.execute("ALTER TABLE evidence_access ALTER COLUMN batch_id SET DEFAULT 1")
        conn.commit()
        t = time.perf_counter()
        with conn.cursor().copy(
            "COPY evidence_access (event_id, occurred_at, system, user_id, action, subject_id, "
            "terminal, result, purpose) FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy:
            with open(path, "rb") as fh:
                while data := fh.read(1 << 20):
                    copy.write(data)
        conn.commit()
        elapsed = time.perf_counter() - t
        n = conn.execute("SELECT count(*) FROM evidence_access").fetchone()[0]
    return {"seconds": elapsed, "rows": n, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(part: str, url: str, path: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", part, "--url", url, "--file", path],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_engine(label: str, url: str, path: str, rows: int, repeat: int = 1) -> dict:
    """Ours and the baseline, alternately ``repeat`` times; the best run of each counts."""
    sqlite = url.startswith("sqlite")
    base_name = "sqlite3 executemany" if sqlite else "psycopg COPY"
    runs: dict[str, list[dict]] = {"ours": [], "baseline": []}
    for _ in range(repeat):
        fresh_db(url)
        runs["ours"].append(_child("ours", url, path))
        fresh_db(url, with_state_feeds=False)
        runs["baseline"].append(_child("baseline_sqlite" if sqlite else "baseline_pg", url, path))
    ours, base = (min(runs[k], key=lambda r: r["seconds"]) for k in ("ours", "baseline"))
    ours["maxrss_mb"] = max(r["maxrss_mb"] for r in runs["ours"])
    ours_rate = rows / ours["seconds"]
    base_rate = rows / base["seconds"]
    if repeat > 1:
        every = {k: ", ".join(f"{r['seconds']:.2f}" for r in v) for k, v in runs.items()}
        print(
            f"[{label}] best of {repeat} alternating runs; all: ours {every['ours']} s, baseline {every['baseline']} s"
        )
    print(f"[{label}] ours: {ours['seconds']:.2f} s ({ours_rate:,.0f} rows/s, peak RSS {ours['maxrss_mb']:.0f} MB)")
    print(f"[{label}] baseline ({base_name}): {base['seconds']:.2f} s ({base_rate:,.0f} rows/s)")
    print(
        f"[{label}] rate ratio ours/baseline: {ours_rate / base_rate:.2f} (target >= 0.5); "
        f"peak memory {'OK' if ours['maxrss_mb'] < 300 else 'OVER'} (< 300 MB)"
    )
    return {"ours": ours, "baseline": base, "ratio": ours_rate / base_rate}


def write_batch_csv(path: Path, rows: int, k: int) -> Path:
    """The ``k``-th (from 0) batch of ``rows`` events for ``--grow``: its own event ids, over
    the quarter ``k`` quarters after April 2025 (a store grows with newer days)."""
    from datetime import date, timedelta

    import _events

    from common import csvsafe

    start = date(2025, 4, 1) + timedelta(days=91 * k)
    days = _events.year_days(start, start + timedelta(days=90))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csvsafe.writer(fh, lineterminator="\n")
        writer.writerow(_events.COLUMNS.split(", "))
        for row in _events.iter_rows(rows, days, first_id=k * rows):
            writer.writerow([row[0], row[1].isoformat(), *("" if v is None else v for v in row[2:])])
    return path


def bench_growth(label: str, url: str, tmp: Path, rows: int, batches: int) -> None:
    """Import ``batches`` batches of ``rows`` events one after the other into one store
    (each in its own process, through the import service); prints each and the last
    against the first (target: at most 1.3x)."""
    fresh_db(url)
    times = []
    for k in range(batches):
        path = write_batch_csv(tmp / f"batch{k}.csv", rows, k)
        r = _child("ours", url, str(path))
        path.unlink()
        assert r["rows"] == rows, r
        times.append(r["seconds"])
        print(f"[{label}] batch {k + 1} ({rows:,} events into {k * rows:,}): {r['seconds']:.1f} s", flush=True)
    print(
        f"[{label}] importing batch {batches} into {(batches - 1) * rows:,} events vs the first: "
        f"{times[-1]:.1f} s / {times[0]:.1f} s = {times[-1] / times[0]:.2f}x (target <= 1.3x)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", help="PostgreSQL URL (its tables are dropped and recreated)")
    parser.add_argument("--sqlite", default=None, help="SQLite file (default: a temporary file)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run ours and the baseline alternately N times, keep the best of "
        "each (a shared machine's load comes and goes)",
    )
    parser.add_argument(
        "--grow",
        type=int,
        default=0,
        help="instead: import N batches of --rows events one after the other into one store and compare "
        "the last with the first (e.g. --rows 1000000 --grow 10: the tenth million into nine)",
    )
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--file")
    args = parser.parse_args()
    if args.child:
        func = {"ours": run_ours, "baseline_sqlite": run_baseline_sqlite, "baseline_pg": run_baseline_pg}[args.child]
        print(json.dumps(func(args.url, args.file)))
        return
    if args.grow:
        with tempfile.TemporaryDirectory() as tmp:
            bench_growth(
                "SQLite", f"sqlite:///{args.sqlite or Path(tmp) / 'grow.sqlite3'}", Path(tmp), args.rows, args.grow
            )
            if args.pg:
                ensure_database(args.pg)
                bench_growth("PostgreSQL", args.pg, Path(tmp), args.rows, args.grow)
        return
    from evidence.demo_gen import write_access_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.csv"
        t = time.perf_counter()
        write_access_csv(path, args.rows)
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        sqlite_path = args.sqlite or str(Path(tmp) / "bench.sqlite3")
        bench_engine("SQLite", f"sqlite:///{sqlite_path}", str(path), args.rows, args.repeat)
        if args.pg:
            ensure_database(args.pg)
            bench_engine("PostgreSQL", args.pg, str(path), args.rows, args.repeat)


if __name__ == "__main__":
    main()
