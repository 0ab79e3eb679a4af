"""Load test: 50 concurrent clients on the public portal and the comment form.

Starts Hyoka under gunicorn on PostgreSQL (a fresh database migrated with Alembic and loaded
with the demo data), opens a consultation, and lets N clients loop for a fixed time over
  GET /public/                       (the portal)
  GET /public/consultations/<id>     (the form: session cookie + CSRF token)
  POST /public/consultations/<id>    (an opinion; 303 to the receipt)
Then it checks that every submission answered 303 is stored exactly once (count in the
database == count sent) and that each opinion got a position and a No. of its own, and
prints p50/p95/p99 latency and throughput.

    .venv/bin/python bench/load.py [--pg URL] [--clients 50] [--seconds 20] [--warmup 3] [--workers N]
                                   [--access-log FILE]

The clients start once the server answers and has forked all its workers (a client keeps its
connection, hence its worker, for the whole run), and the clock once they have run --warmup
seconds (workers booting and first-request imports are not the steady state); the exactly-once check counts
every submission, warm-up included. The last lines show how the CPU seconds of the measured
window were shared between the client, gunicorn and PostgreSQL (from /proc, on Linux).

Traffic goes to 127.0.0.1 only; the loops stop after --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import runpy
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
TOKEN_RE = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def prepare(base_url: str, name: str, env: dict) -> int:
    """Fresh database: migrations, demo data, and a consultation open today. Returns its id."""
    admin(base_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(base_url, f"CREATE DATABASE {name}")
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run(flask + ["db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        flask + ["demo", "load", "--no-evidence"],
        env={**env, "HYOKA_ENV": "development"},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    code = (
        "from datetime import timedelta\n"
        "from app import create_app\n"
        "from common import audit\n"
        "from common.db import db\n"
        "from common.timeutil import today_jst\n"
        "from consultation import services\n"
        "from consultation.models import Consultation\n"
        "app = create_app()\n"
        "with app.app_context(), audit.acting_as('bench'):\n"
        "    base = db.session.execute(db.select(Consultation)).scalars().first()\n"
        "    today = today_jst()\n"
        "    c = services.create_consultation(base.version, actor=None, title='負荷試験用の意見募集',\n"
        "        start_date=today - timedelta(days=1), end_date=today + timedelta(days=30),\n"
        "        channels=['web'], places=[])\n"
        "    c.open(actor=None)\n"
        "    db.session.commit()\n"
        "    print(c.id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def count_stored(url: str, cid: int, marker: str) -> dict[str, int]:
    """The submissions stored with ``marker``, and the consultation's opinions: how many, how
    many share their position or their No. in a category with another, how many are unnumbered."""
    import psycopg

    shared = (
        "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM consultation_opinions "
        "WHERE consultation_id = %s AND {col} IS NOT NULL GROUP BY {by} HAVING count(*) > 1) d"
    )
    with psycopg.connect(url) as conn:

        def one(sql: str, *params) -> int:
            return conn.execute(sql, params).fetchone()[0]

        return {
            "stored": one("SELECT count(*) FROM consultation_submissions WHERE body LIKE %s", marker + "%"),
            "opinions": one("SELECT count(*) FROM consultation_opinions WHERE consultation_id = %s", cid),
            "shared_position": one(shared.format(col="position", by="position"), cid),
            "shared_number": one(shared.format(col="number", by="category, number"), cid),
            "unnumbered": one(
                "SELECT count(*) FROM consultation_opinions WHERE consultation_id = %s "
                "AND (position = 0 OR number IS NULL)",
                cid,
            ),
        }


class Client:
    """A tiny HTTP/1.1 keep-alive client with its own cookie jar (one per simulated resident)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None
        self.cookies: dict[str, str] = {}

    async def _connect(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, method: str, path: str, body: bytes = b"", content_type: str = ""):
        if self.writer is None:
            await self._connect()
        headers = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "User-Agent: hyoka-load",
            "Accept: text/html",
            "Connection: keep-alive",
        ]
        if self.cookies:
            headers.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if body:
            headers += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
            elif name == "connection" and value.lower() == "close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            self.reader = self.writer = None
        return status, data


async def resident(n: int, port: int, cid: int, measure_from: float, deadline: float, marker: str, stats: dict):
    """One resident looping portal → form → submit until ``deadline``.

    Latencies count from ``measure_from`` on (the warm-up before it is not measured); every
    submission answered 303, warm-up included, counts as sent.
    """
    client = Client(port)
    i = 0

    async def timed(key, *args):
        t = time.perf_counter()
        result = await client.request(*args)
        if t >= measure_from:
            stats[key].append(time.perf_counter() - t)
            stats["clients"][n].append(time.perf_counter() - t)
        return result

    while time.perf_counter() < deadline:
        i += 1
        try:
            status, _ = await timed("portal", "GET", "/public/")
            if status != 200:
                stats["errors"].append(f"portal {status}")
            status, page = await timed("form", "GET", f"/public/consultations/{cid}")
            token = TOKEN_RE.search(page)
            if status != 200 or not token:
                stats["errors"].append(f"form {status}")
                continue
            body = urlencode(
                {
                    "csrf_token": token.group(1).decode(),
                    "submitter_kind": "individual",
                    "body": f"{marker} client {n} opinion {i}: ガバメントクラウドへの移行について意見を述べます。",
                    "consent": "y",
                    "website": "",
                }
            ).encode()
            t = time.perf_counter()
            status, _ = await timed(
                "submit", "POST", f"/public/consultations/{cid}", body, "application/x-www-form-urlencoded"
            )
            if status == 303:
                stats["sent"] += 1
                stats["measured_sent"] += t >= measure_from
            else:
                stats["errors"].append(f"submit {status}")
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            stats["errors"].append(f"{type(exc).__name__}: {exc}")
            client = Client(port)


def wait_until_ready(port: int, server: subprocess.Popen, timeout: float = 120) -> None:
    """Return once the server answers GET /public/ with 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited: " + server.stderr.read().decode(errors="replace")[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /public/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if sock.recv(65536).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("gunicorn did not answer in time")


def wait_for_workers(server: subprocess.Popen, workers: int, timeout: float = 60, settle: float = 0.5) -> None:
    """Return once gunicorn has forked all its workers (and they had ``settle`` seconds to
    start polling). The master forks them one after another with a random pause between:
    clients started at the first answer would all connect to the workers up by then, and
    a keep-alive connection stays with the worker that accepted it for the whole run (one
    run had 16, 16, 16 and 2 clients per worker). Where there is no /proc, waits ``settle``."""
    deadline = time.monotonic() + timeout
    while Path("/proc").exists() and time.monotonic() < deadline:
        children = sum(1 for _pid, (_n, ppid, *_rest) in _proc_stats().items() if ppid == server.pid)
        if children >= workers:
            break
        time.sleep(0.05)
    time.sleep(settle)


def _proc_stats() -> dict[int, tuple[str, int, float, float]]:
    """pid -> (name, parent pid, own CPU seconds, CPU seconds of reaped children), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        out[int(stat.parent.name)] = (
            name,
            int(fields[1]),
            (int(fields[11]) + int(fields[12])) / tick,
            (int(fields[13]) + int(fields[14])) / tick,
        )
    return out


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(server_pid: int) -> dict | None:
    """What :func:`cpu_share` compares; None where there is no /proc (not Linux)."""
    if not Path("/proc/stat").exists():
        return None
    procs = _proc_stats()
    gunicorn, todo = {server_pid}, [server_pid]
    while todo:
        parent = todo.pop()
        for pid, (_name, ppid, _own, _reaped) in procs.items():
            if ppid == parent and pid not in gunicorn:
                gunicorn.add(pid)
                todo.append(pid)
    return {"busy": _machine_busy(), "procs": procs, "gunicorn": gunicorn}


def cpu_share(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds between two snapshots: the client (this process), gunicorn (master and
    workers, also workers restarted meanwhile: a reaped worker's time is its parent's),
    PostgreSQL (processes named postgres and the backends they reaped: on a shared machine
    also other people's databases) and "other" (the rest of the machine)."""

    def total(snap, pids):
        return sum(own + reaped for pid, (_n, _pp, own, reaped) in snap["procs"].items() if pid in pids)

    def named_postgres(snap):
        return {pid for pid, (name, *_rest) in snap["procs"].items() if name.startswith("postgres")}

    client = {os.getpid()}
    gunicorn = before["gunicorn"] | after["gunicorn"]
    postgres = named_postgres(before) | named_postgres(after)
    spent = {
        name: total(after, pids) - total(before, pids)
        for name, pids in (("client", client), ("gunicorn", gunicorn), ("PostgreSQL", postgres))
    }
    spent["other"] = max(0.0, after["busy"] - before["busy"] - sum(spent.values()))
    return spent


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("HYOKA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py)")
    ap.add_argument("--threads", type=int, help="threads per worker (default: gunicorn.conf.py)")
    ap.add_argument("--worker-class", help="gunicorn worker class (default: gunicorn.conf.py)")
    ap.add_argument("--worker-connections", type=int, help="gunicorn worker_connections (default: gunicorn.conf.py)")
    ap.add_argument(
        "--keep-alive",
        type=int,
        help="gunicorn keep-alive seconds, 0: a connection per request (default: gunicorn.conf.py)",
    )
    ap.add_argument(
        "--access-log",
        default="/dev/null",
        help="gunicorn's access log (production writes one line per request to stdout; default: /dev/null, no log)",
    )
    ap.add_argument(
        "--warmup", type=float, default=3, help="seconds of the same traffic before the measured window (not measured)"
    )
    args = ap.parse_args()
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    args.workers = args.workers or conf["workers"]

    name = f"hyoka_load_{os.getpid()}"
    parts = urlsplit(args.pg)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    env = {
        **os.environ,
        "HYOKA_DATABASE_URL": url,
        "HYOKA_SECRET_KEY": "load-test",
        # every client comes from 127.0.0.1: lift the per-address limit for this measurement
        "HYOKA_CONSULTATION_RATE_LIMIT": "100000000",
        "PYTHONPATH": str(ROOT),
    }
    print(f"preparing {name} (migrations, demo data, an open consultation) …", flush=True)
    cid = prepare(args.pg, name, env)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            args.access_log,
            *(["--threads", str(args.threads)] if args.threads else []),
            *(["--worker-class", args.worker_class] if args.worker_class else []),
            *(["--keep-alive", str(args.keep_alive)] if args.keep_alive is not None else []),
            *(["--worker-connections", str(args.worker_connections)] if args.worker_connections else []),
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_ready(port, server)
        wait_for_workers(server, args.workers)
        marker = f"LOAD-{os.getpid()}"
        stats = {
            "portal": [],
            "form": [],
            "submit": [],
            "errors": [],
            "sent": 0,
            "measured_sent": 0,
            "clients": {n: [] for n in range(args.clients)},
        }

        async def run():
            measure_from = time.perf_counter() + args.warmup
            deadline = measure_from + args.seconds
            await asyncio.gather(
                *(resident(n, port, cid, measure_from, deadline, marker, stats) for n in range(args.clients))
            )

        cpu_before = None

        async def snapshot_after_warmup():
            nonlocal cpu_before
            await asyncio.sleep(args.warmup)
            cpu_before = cpu_snapshot(server.pid)

        async def measured_run():
            await asyncio.gather(run(), snapshot_after_warmup())

        started = time.perf_counter()
        asyncio.run(measured_run())
        elapsed = time.perf_counter() - started - args.warmup
        cpu_after = cpu_snapshot(server.pid)
        cpu = cpu_share(cpu_before, cpu_after) if cpu_before and cpu_after else {}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    counts = count_stored(url, cid, marker)
    stored = counts["stored"]
    admin(args.pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    everything = stats["portal"] + stats["form"] + stats["submit"]
    # gunicorn's own defaults for what the config file leaves out
    setup = (
        f"{args.workers} workers × {args.threads or conf.get('threads', 1)} threads "
        f"({args.worker_class or conf.get('worker_class', 'sync')}, worker_connections "
        f"{args.worker_connections or conf.get('worker_connections', 1000)}, keep-alive "
        f"{conf.get('keepalive', 2) if args.keep_alive is None else args.keep_alive} s)"
    )
    print(
        f"\nHyoka load test: {args.clients} clients, {elapsed:.1f} s measured after {args.warmup:g} s warm-up, "
        f"gunicorn {setup}, PostgreSQL, {os.cpu_count()} cores (client and server on the same machine)"
    )
    print(f"{'request':<10}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for key in ("portal", "form", "submit"):
        v = stats[key]
        print(f"{key:<10}{len(v):>8}{pct(v, 50):>10.1f}{pct(v, 95):>10.1f}{pct(v, 99):>10.1f}")
    print(
        f"{'all':<10}{len(everything):>8}{pct(everything, 50):>10.1f}{pct(everything, 95):>10.1f}{pct(everything, 99):>10.1f}"
    )
    print(
        f"throughput: {len(everything) / elapsed:.0f} requests/s, {stats['measured_sent'] / elapsed:.0f} submissions/s"
    )
    # a client keeps its connection, hence its worker: clients far faster than the others
    # sit on a worker with fewer clients (the server's share is uneven)
    means = sorted(statistics.mean(v) * 1000 for v in stats["clients"].values() if v)
    if means:
        print(
            f"mean latency per client: min {means[0]:.0f}, p10 {means[len(means) // 10]:.0f}, median {means[len(means) // 2]:.0f}, p90 {means[len(means) * 9 // 10]:.0f}, max {means[-1]:.0f} ms"
        )
    if any(cpu.values()):
        print(
            "CPU seconds in the measured window: "
            + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
            + f" (of {elapsed * (os.cpu_count() or 1):.1f} available)"
        )
        flows = max(1, min(len(stats[k]) for k in ("portal", "form", "submit")))
        print(
            "CPU per portal + form + submit round: "
            + ", ".join(f"{k} {cpu[k] / flows * 1000:.1f} ms" for k in ("client", "gunicorn", "PostgreSQL"))
        )
    print(f"errors: {len(stats['errors'])}" + (f" (first: {stats['errors'][:5]})" if stats["errors"] else ""))
    print(
        f"submissions sent (303): {stats['sent']}, stored: {stored} → "
        + ("every submission stored exactly once" if stored == stats["sent"] else "MISMATCH")
    )
    numbered = not (counts["shared_position"] or counts["shared_number"] or counts["unnumbered"])
    print(
        f"opinions: {counts['opinions']}; sharing a position {counts['shared_position']}, sharing a No. "
        f"{counts['shared_number']}, unnumbered {counts['unnumbered']} → "
        + ("each has its own position and No." if numbered else "NUMBERING BROKEN")
    )
    ok = not stats["errors"] and stored == stats["sent"] and numbered
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
