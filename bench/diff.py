"""Benchmark: the comparison of a long section text (3,000 lines, one line changed).

    .venv/bin/python bench/diff.py [--lines 3000] [--runs 5]

``pia.diff.text_ops`` compares long texts line by line and character by character only
inside the changed lines. Baseline, measured in the same run: ``difflib.SequenceMatcher``
over the lines alone (the least any line-aware comparison must do). Target: text_ops within
3x the baseline, and under 2 s on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def texts(n: int) -> tuple[str, str]:
    lines = [f"第{i}条 住民票の記載事項に関する規定の内容を記載する。" for i in range(n)]
    changed = list(lines)
    changed[n // 2] = f"第{n // 2}条 住民票の記載事項に関する規定の内容を改めて記載する。"
    return "\n".join(lines), "\n".join(changed)


def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from pia.diff import text_ops

    before, after = texts(args.lines)
    a_lines, b_lines = before.splitlines(keepends=True), after.splitlines(keepends=True)
    baseline = median_seconds(lambda: SequenceMatcher(None, a_lines, b_lines, autojunk=False).get_opcodes(), args.runs)
    ours = median_seconds(lambda: text_ops(before, after), args.runs)
    print(f"section text of {args.lines} lines, one changed (median of {args.runs})")
    print(f"  baseline difflib over lines  {baseline * 1000:8.1f} ms")
    print(f"  pia.diff.text_ops            {ours * 1000:8.1f} ms   ratio {ours / baseline:.2f}x (target <= 3x)")
    return 0 if ours <= 3 * baseline and ours < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
