"""False positives of the 個人番号 detector on the demo data.

Loads the demo (``flask demo load``, evidence included) into a fresh SQLite database in a
temporary directory, then scans every column of every table that is not opaque (digests,
password hashes) with :func:`common.mynumber.find_in_structure`, and every value of the
demo evidence feeds (``evidence.demo_gen.generate``: user, subject and record ids, terminals,
items …). The demo plants no 個人番号 anywhere (the planted violations are access patterns),
so every hit is a false positive. It also counts what the publication masker
(:func:`common.masking.scan`, which also masks a valid 12-digit window inside a longer run)
would mask as a 個人番号 in the same text.

    .venv/bin/python bench/mynumber_false_positives.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _flask(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def _texts(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, str):
        yield value


def main() -> None:
    import sqlalchemy as sa

    from common.masking import MY_NUMBER, scan
    from common.mynumber import find_in_structure
    from common.mynumber_guard import is_opaque

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.sqlite3"
        env = {
            **os.environ,
            "HYOKA_DATABASE_URL": url,
            "HYOKA_ENV": "development",
            "HYOKA_SECRET_KEY": "x" * 32,
            "PYTHONPATH": str(ROOT),
        }
        print("loading the demo (evidence included) …", flush=True)
        _flask(env, "db", "upgrade")
        _flask(env, "demo", "load")
        engine = sa.create_engine(url)
        from app import create_app
        from common.db import db

        create_app({"SQLALCHEMY_DATABASE_URI": url, "HYOKA_SECRET_KEY": "x" * 32})  # the models' metadata
        values = hits = masked = 0
        where: Counter = Counter()
        with engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                columns = [c for c in table.columns if not is_opaque(c)]
                for row in conn.execute(sa.select(*columns)):
                    for column, value in zip(columns, row):
                        if value is None:
                            continue
                        values += 1
                        if (
                            next(
                                find_in_structure(
                                    value if isinstance(value, (str, int, float, dict, list)) else str(value)
                                ),
                                None,
                            )
                            is not None
                        ):
                            hits += 1
                            where[f"{table.name}.{column.name}"] += 1
                        masked += sum(1 for text in _texts(value) for hit in scan(text) if hit.kind == MY_NUMBER)
        print(
            f"database: {values:,} values in {len(db.metadata.sorted_tables)} tables; "
            f"detector hits (false positives) {hits}; masker 個人番号 hits {masked}"
        )
        for name, count in where.most_common():
            print(f"  {name}: {count}")

    from evidence.demo_gen import generate

    feeds = generate()
    ids = feed_hits = feed_masked = 0
    for rows in feeds.values():
        for row in rows:
            for value in row.values():
                if value in (None, ""):
                    continue
                ids += 1
                if next(find_in_structure(value), None) is not None:
                    feed_hits += 1
                feed_masked += sum(1 for hit in scan(str(value)) if hit.kind == MY_NUMBER)
    print(
        f"demo evidence feeds: {ids:,} values ({', '.join(f'{k} {len(v):,} rows' for k, v in feeds.items())}); "
        f"detector hits (false positives) {feed_hits}; masker 個人番号 hits {feed_masked}"
    )


if __name__ == "__main__":
    main()
