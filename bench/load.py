"""Load test: 50 concurrent clients on the public portal and the comment form.

Starts Hyoka under gunicorn on PostgreSQL (a fresh database migrated with Alembic and loaded
with the demo data), opens a consultation, and lets N clients loop for a fixed time over
  GET /public/                       (the portal)
  GET /public/consultations/<id>     (the form: session cookie + CSRF token)
  POST /public/consultations/<id>    (an opinion; 303 to the receipt)
Then it checks that every submission answered 303 is stored exactly once (count in the
database == count sent) and prints p50/p95/p99 latency and throughput.

    .venv/bin/python bench/load.py [--pg URL] [--clients 50] [--seconds 20] [--workers 4]

Traffic goes to 127.0.0.1 only; the loops stop after --seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
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
    subprocess.run(flask + ["demo", "load", "--no-evidence"], env={**env, "HYOKA_ENV": "development"},
                   cwd=ROOT, check=True, capture_output=True)
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


def count_submissions(env: dict, marker: str) -> int:
    code = (
        "import sys\n"
        "from app import create_app\n"
        "from common.db import db\n"
        "from consultation.models import Submission\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    print(db.session.execute(db.select(db.func.count()).select_from(Submission).where(Submission.body.like({marker!r} + '%'))).scalar_one())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


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
        headers = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "User-Agent: hyoka-load",
                   "Accept: text/html", "Connection: keep-alive"]
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


async def resident(n: int, port: int, cid: int, deadline: float, marker: str, stats: dict):
    client = Client(port)
    i = 0
    while time.perf_counter() < deadline:
        i += 1
        try:
            t = time.perf_counter()
            status, _ = await client.request("GET", "/public/")
            stats["portal"].append(time.perf_counter() - t)
            if status != 200:
                stats["errors"].append(f"portal {status}")
            t = time.perf_counter()
            status, page = await client.request("GET", f"/public/consultations/{cid}")
            stats["form"].append(time.perf_counter() - t)
            token = TOKEN_RE.search(page)
            if status != 200 or not token:
                stats["errors"].append(f"form {status}")
                continue
            body = urlencode({"csrf_token": token.group(1).decode(), "submitter_kind": "individual",
                              "body": f"{marker} client {n} opinion {i}: ガバメントクラウドへの移行について意見を述べます。",
                              "consent": "y", "website": ""}).encode()
            t = time.perf_counter()
            status, _ = await client.request("POST", f"/public/consultations/{cid}", body,
                                             "application/x-www-form-urlencoded")
            stats["submit"].append(time.perf_counter() - t)
            if status == 303:
                stats["sent"] += 1
            else:
                stats["errors"].append(f"submit {status}")
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            stats["errors"].append(f"{type(exc).__name__}: {exc}")
            client = Client(port)


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
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()

    name = f"hyoka_load_{os.getpid()}"
    parts = urlsplit(args.pg)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    env = {**os.environ, "HYOKA_DATABASE_URL": url, "HYOKA_SECRET_KEY": "load-test",
           # every client comes from 127.0.0.1: lift the per-address limit for this measurement
           "HYOKA_CONSULTATION_RATE_LIMIT": "100000000", "PYTHONPATH": str(ROOT)}
    print(f"preparing {name} (migrations, demo data, an open consultation) …", flush=True)
    cid = prepare(args.pg, name, env)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", str(args.workers),
         "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "app:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        marker = f"LOAD-{os.getpid()}"
        stats = {"portal": [], "form": [], "submit": [], "errors": [], "sent": 0}

        async def run():
            deadline = time.perf_counter() + args.seconds
            await asyncio.gather(*(resident(n, port, cid, deadline, marker, stats) for n in range(args.clients)))

        started = time.perf_counter()
        asyncio.run(run())
        elapsed = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    stored = count_submissions(env, marker)
    admin(args.pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    everything = stats["portal"] + stats["form"] + stats["submit"]
    print(f"\nHyoka load test: {args.clients} clients, {elapsed:.1f} s, gunicorn {args.workers} workers "
          f"(gthread), PostgreSQL, {os.cpu_count()} cores (client and server on the same machine)")
    print(f"{'request':<10}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for key in ("portal", "form", "submit"):
        v = stats[key]
        print(f"{key:<10}{len(v):>8}{pct(v, 50):>10.1f}{pct(v, 95):>10.1f}{pct(v, 99):>10.1f}")
    print(f"{'all':<10}{len(everything):>8}{pct(everything, 50):>10.1f}{pct(everything, 95):>10.1f}{pct(everything, 99):>10.1f}")
    print(f"throughput: {len(everything) / elapsed:.0f} requests/s, {stats['sent'] / elapsed:.0f} submissions/s")
    print(f"errors: {len(stats['errors'])}" + (f" (first: {stats['errors'][:5]})" if stats["errors"] else ""))
    print(f"submissions sent (303): {stats['sent']}, stored: {stored} → "
          + ("every submission stored exactly once" if stored == stats["sent"] else "MISMATCH"))
    ok = not stats["errors"] and stored == stats["sent"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
