"""Benchmark: how long ``flask --app app --help`` takes, as a whole process.

    .venv/bin/python bench/startup.py [--runs 9]

Target (issue 15): under 1 s. Every ``flask`` command creates the app first (``--help`` too,
to list the app's commands), so this is the wait before any command starts. The baselines are
measured in the same run, the commands taking turns: the interpreter alone (``python -c
pass``) and the interpreter importing Flask (``python -c 'import flask'``); the difference to
the second is what the app's own start-up costs. Wall and CPU time (user + system) are both
printed: on a shared machine the wall time also measures the other processes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.0


def flask_command() -> list[str]:
    script = Path(sys.executable).parent / "flask"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flask"]


COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import flask'": [sys.executable, "-c", "import flask"],
    "flask --app app --help": [*flask_command(), "--app", "app", "--help"],
}


def run_once(args: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of the command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="counted runs of each command (after one warm-up)")
    options = parser.parse_args()

    for args in COMMANDS.values():  # warm-up: the file cache
        run_once(args)
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(options.runs):
        for name, args in COMMANDS.items():  # in turns, so that a busy moment hits all of them
            wall, cpu = run_once(args)
            walls[name].append(wall)
            cpus[name].append(cpu)

    cache = "not written (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "written"
    print(f"{options.runs} runs of each command, in turns; the app's bytecode cache: {cache}")
    print(f"{'command':<28}{'wall median':>12}{'min':>8}{'max':>8}{'CPU median':>12}")
    for name in COMMANDS:
        print(
            f"{name:<28}{statistics.median(walls[name]):>11.3f}s{min(walls[name]):>7.3f}s"
            f"{max(walls[name]):>7.3f}s{statistics.median(cpus[name]):>11.3f}s"
        )
    app_wall = statistics.median(walls["flask --app app --help"])
    flask_wall = statistics.median(walls["python -c 'import flask'"])
    print(f"the app's own start-up (median minus importing Flask): {app_wall - flask_wall:.3f} s")
    app_cpu = statistics.median(cpus["flask --app app --help"])
    verdict = "met" if app_wall < TARGET_SECONDS else "NOT met"
    print(f"flask --app app --help: {app_wall:.3f} s (target < {TARGET_SECONDS:.0f} s): {verdict}")
    if app_wall > 1.2 * app_cpu:
        print(f"the machine was busy (wall {app_wall / app_cpu:.1f}× the CPU time): run again when it is quiet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
