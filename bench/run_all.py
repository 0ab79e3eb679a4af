"""Run every benchmark in bench/ and print their figures (`make bench`).

Each benchmark prints its own figures next to the baseline it is compared with, measured
in the same run on the same machine. Set HYOKA_BENCH_PG to a PostgreSQL URL to include the
PostgreSQL figures (default: a database ``hyoka_bench`` on 127.0.0.1:5432, created when
missing; bench/load.py creates and drops its own).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from _pg import ensure_database

HERE = Path(__file__).resolve().parent


def pg_url() -> str | None:
    """A database of its own for the benchmarks (they drop and recreate their tables)."""
    if os.environ.get("HYOKA_BENCH_PG"):
        return os.environ["HYOKA_BENCH_PG"]
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return None
    return ensure_database("postgresql://postgres@127.0.0.1:5432/hyoka_bench")


def main() -> int:
    pg = pg_url()
    scripts = sorted(
        p for p in HERE.glob("*.py") if p.name not in ("run_all.py", "__init__.py") and not p.name.startswith("_")
    )
    status = 0
    for script in scripts:
        args = [sys.executable, str(script)]
        if pg and "--pg" in script.read_text(encoding="utf-8"):
            args += ["--pg", pg]
        print(f"\n=== {script.name} ===", flush=True)
        result = subprocess.run(args, cwd=HERE.parent)
        status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
