"""Public PDFs under simultaneous requests: the draft put out for comment, six anonymous
clients at once, against a real gunicorn on PostgreSQL, with /healthz polled meanwhile.

Runs the same traffic twice on a fresh demo database (bench/load.py's preparation):
  baseline  HYOKA_PDF_CACHE=off — every request renders (the code before common/pdf_cache)
  cached    the defaults: one render per text, 1 render per worker, 503 + Retry-After after 2 s
For each: the six first answers (status, seconds), how long each client took to hold the PDF
when it honours Retry-After, /healthz latency while they ran (p50 / max, one poll every
0.1 s), and then six simultaneous requests once more (the cache is warm; the baseline renders
again).

    .venv/bin/python bench/public_pdf.py [--pg URL] [--clients 6] [--workers N]
"""

from __future__ import annotations

import argparse
import http.client
import os
import runpy
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from load import admin, free_port, prepare, wait_for_workers, wait_until_ready  # noqa: E402


def get(port: int, path: str, timeout: float = 120) -> tuple[int, float, dict, int]:
    """(status, seconds, headers, body bytes) of one GET on a connection of its own."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, time.perf_counter() - started, dict(response.getheaders()), len(body)
    finally:
        conn.close()


def burst(port: int, path: str, clients: int, *, honour_retry_after: bool) -> list[dict]:
    """``clients`` simultaneous GETs; with ``honour_retry_after`` each retries a 503 after
    the time it names until it holds the PDF."""
    barrier = threading.Barrier(clients)
    results: list[dict] = [{} for _ in range(clients)]

    def client(i):
        barrier.wait()
        started = time.perf_counter()
        status, seconds, headers, size = get(port, path)
        results[i] = {
            "first_status": status,
            "first_seconds": seconds,
            "retry_after": headers.get("Retry-After"),
            "tries": 1,
        }
        while honour_retry_after and status == 503:
            time.sleep(float(headers.get("Retry-After") or 1))
            status, _seconds, headers, size = get(port, path)
            results[i]["tries"] += 1
        results[i].update(status=status, size=size, seconds_to_pdf=time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def poll_healthz(port: int, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        try:
            _status, seconds, _h, _n = get(port, "/healthz", timeout=60)
            out.append(seconds)
        except OSError:
            out.append(float("inf"))
        stop.wait(0.1)


def run(mode: str, args, env: dict, cid: int, workers: int) -> dict:
    port = free_port()
    cache_dir = tempfile.mkdtemp(prefix="hyoka-pdf-cache-")
    mode_env = {**env, "HYOKA_PDF_CACHE_DIR": cache_dir, **({"HYOKA_PDF_CACHE": "off"} if mode == "baseline" else {})}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "/dev/null",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=mode_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    path = f"/public/consultations/{cid}/draft.pdf"
    try:
        wait_until_ready(port, server)
        wait_for_workers(server, workers)
        out = {}
        for round_name, honour in (("cold", True), ("again", True)):
            health: list[float] = []
            stop = threading.Event()
            poller = threading.Thread(target=poll_healthz, args=(port, stop, health))
            poller.start()
            started = time.perf_counter()
            results = burst(port, path, args.clients, honour_retry_after=honour)
            elapsed = time.perf_counter() - started
            stop.set()
            poller.join()
            out[round_name] = {"results": results, "health": health, "elapsed": elapsed}
        return out
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def summary(label: str, data: dict) -> None:
    results, health = data["results"], data["health"]
    firsts = sorted(r["first_seconds"] for r in results)
    to_pdf = sorted(r["seconds_to_pdf"] for r in results)
    statuses = {}
    for r in results:
        statuses[r["first_status"]] = statuses.get(r["first_status"], 0) + 1
    status_text = ", ".join(f"{n}×{s}" for s, n in sorted(statuses.items()))
    retry = {r["retry_after"] for r in results if r["retry_after"]}
    ok = all(r["status"] == 200 and r["size"] > 1000 for r in results)
    print(
        f"  {label:<7} first answers {status_text:<12}"
        + (f" (Retry-After {', '.join(sorted(retry))} s)" if retry else "")
        + f" in {firsts[0]:.2f}–{firsts[-1]:.2f} s; PDF held after {to_pdf[0]:.2f} / "
        f"{statistics.median(to_pdf):.2f} / {to_pdf[-1]:.2f} s (min / median / max)"
        + ("" if ok else " — NOT EVERY CLIENT GOT THE PDF")
    )
    if health:
        print(
            f"          /healthz during it: {len(health)} polls, p50 {statistics.median(health) * 1000:.0f} ms, "
            f"max {max(health) * 1000:.0f} ms"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("HYOKA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py)")
    args = ap.parse_args()
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    workers = args.workers or conf["workers"]
    name = f"hyoka_pdf_{os.getpid()}"
    url = urlunsplit(urlsplit(args.pg)._replace(path=f"/{name}"))
    env = {**os.environ, "HYOKA_DATABASE_URL": url, "HYOKA_SECRET_KEY": "pdf-bench", "PYTHONPATH": str(ROOT)}
    print(f"preparing {name} (migrations, demo data, an open consultation) …", flush=True)
    cid = prepare(args.pg, name, env)
    try:
        measured = {mode: run(mode, args, env, cid, workers) for mode in ("baseline", "cached")}
    finally:
        admin(args.pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(
        f"\n{args.clients} simultaneous anonymous GET {'/public/consultations/<id>/draft.pdf'} "
        f"(demo 全項目評価書, draft), gunicorn {workers} workers × {conf.get('threads', 1)} threads, "
        f"PostgreSQL, {os.cpu_count()} cores (client and server on the same machine)"
    )
    for mode, label in (
        ("baseline", "baseline: HYOKA_PDF_CACHE=off, a render per request"),
        ("cached", "cached: common/pdf_cache (defaults)"),
    ):
        print(label)
        summary("cold", measured[mode]["cold"])
        summary("again", measured[mode]["again"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
