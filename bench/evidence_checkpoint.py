"""Benchmark: what the evidence log's checkpoint and proofs add to the 1M-event import.

    python bench/evidence_checkpoint.py [--rows 1000000] [--batches 10000] [--pg postgresql://user@host/db]

The log already holds ``--batches`` sealed batches (written directly: about a year of 25 feed
files a day), then 1,000,000 access events are imported through ``evidence.ingest.import_feed``
(as ``bench/evidence_import.py`` does) and the door's :func:`evidence.transparency.after_import`
signs the checkpoint: it reads every batch, builds the tree and checks the previous checkpoint.
Prints both times and the ratio (target: under 5 %), the time of a report's inclusion proofs
for 100 batches and the proofs' sizes (O(log n) hashes).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _pg import ensure_database
from evidence_import import _app, fresh_db

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _fill(batches: int) -> None:
    """``batches`` sealed grants batches with distinct hashes (the tree reads only the batch rows)."""
    import sqlalchemy as sa

    from common.db import db
    from evidence.models import FeedBatch

    when = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(batches):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        rows.append(
            {
                "kind": "grants",
                "source": f"bench:grants-{i}.csv",
                "fmt": "csv",
                "received_at": when,
                "rows_total": 10,
                "rows_stored": 10,
                "raw_sha256": digest,
                "rows_digest": digest,
                "prev_hash": digest,
                "chain_hash": hashlib.sha256(digest.encode()).hexdigest(),
            }
        )
    db.session.execute(sa.insert(FeedBatch.__table__), rows)
    db.session.commit()


def bench(label: str, url: str, csv_path: Path, batches: int, key_dir: str) -> None:
    from common.db import db
    from evidence import transparency
    from evidence.ingest import import_feed

    fresh_db(url, with_state_feeds=False)
    app = _app(url)
    app.config["HYOKA_EVIDENCE_LOG_KEY"] = str(Path(key_dir) / f"{label}.key")
    with app.app_context():
        _fill(batches)
        t = time.perf_counter()
        first = transparency.make_checkpoint()  # the checkpoint the earlier imports left
        db.session.commit()
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        with csv_path.open("rb") as fh:
            result = import_feed("access", fh, source="bench:access", filename="access.csv")
        t_import = time.perf_counter() - t
        assert result.stored
        t = time.perf_counter()
        row = transparency.after_import(result)
        t_checkpoint = time.perf_counter() - t
        assert row is not None and row.tree_size == first.tree_size + 1
        import sqlalchemy as sa

        from evidence.models import FeedBatch

        sample = db.session.execute(sa.select(FeedBatch.__table__).order_by(FeedBatch.id).limit(100)).mappings().all()
        t = time.perf_counter()
        proofs = transparency.inclusion_proofs(sample)
        t_proofs = time.perf_counter() - t
        lengths = {len(e["inclusion_proof"]) for e in proofs["batches"].values()}
        log = transparency.current_log()
        consistency = len(log.tree.consistency_proof(1, log.size))
        db.engine.dispose()
    print(
        f"{label}: {batches:,} earlier batches; import of {result.rows_stored:,} events {t_import:.2f} s; "
        f"checkpoint after it {t_checkpoint * 1000:.0f} ms ({t_checkpoint / t_import:.1%} of the import; "
        f"the first checkpoint {t_first * 1000:.0f} ms); inclusion proofs of 100 batches {t_proofs * 1000:.0f} ms, "
        f"{min(lengths)}-{max(lengths)} hashes each; consistency proof from 1 to {log.size:,}: {consistency} hashes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=10_000)
    parser.add_argument("--pg", help="PostgreSQL URL (its tables are dropped and recreated)")
    args = parser.parse_args()
    from evidence.demo_gen import write_access_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.csv"
        write_access_csv(path, args.rows)
        bench("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", path, args.batches, tmp)
        if args.pg:
            bench("PostgreSQL", ensure_database(args.pg), path, args.batches, tmp)


if __name__ == "__main__":
    main()
