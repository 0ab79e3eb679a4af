"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py 'app:create_app()'`.

Runs behind a reverse proxy (nginx/Apache) that terminates TLS on the municipal network;
the proxy passes X-Forwarded-For / X-Forwarded-Proto from 127.0.0.1 only.
"""

import multiprocessing
import os

bind = os.environ.get("HYOKA_BIND", "127.0.0.1:8000")
# one process per core and one more: the requests are mostly Python (the GIL lets one
# thread of a process run at a time), and with two threads each, a worker whose request
# waits on the database still has work; more processes only take turns on the cores
# (bench/load.py on 2 cores, three runs each: 3 workers p95 183–212 ms at 414–456 req/s,
# 4 workers 207–216 ms at 404–442 req/s)
workers = int(os.environ.get("HYOKA_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = "gthread"
# the requests are short and mostly Python: processes give the concurrency, and more threads
# per process only contend for the GIL; two let a worker answer while another request of
# it waits on the database or renders a PDF (bench/load.py: no config better by more than
# run-to-run noise on 2 cores; 2 had the best mean and p95)
threads = int(os.environ.get("HYOKA_THREADS", "2"))
# connections a worker takes on at once (in progress, waiting and kept alive); the rest wait
# in the listen queue for a worker with room, instead of piling up behind a busy one
# (gunicorn's default of 1000 let one worker hold 22 of 50 clients while another had 1;
# three workers need room for 17 each to serve 50 keep-alive clients at once)
worker_connections = int(os.environ.get("HYOKA_WORKER_CONNECTIONS", "20"))
#: requests one keep-alive connection may carry; the response to the last one closes it
#: (like nginx's keepalive_requests), and the client's next connection goes to whichever
#: worker accepts it first: a worker with fewer connections is idle more and wins. A
#: connection otherwise stays with the worker that accepted it for as long as the client
#: keeps it busy (bench/load.py: after a worker restart or at start, one worker held 16
#: connections and another 2 for the whole run: their clients waited 8 times as long)
keepalive_requests = int(os.environ.get("HYOKA_KEEPALIVE_REQUESTS", "20"))
timeout = 120  # PDF rendering and feed imports can take a while
graceful_timeout = 30
keepalive = 5
# a worker is replaced after this many requests (a guard against slow leaks, none known).
# Each restart closes the worker's keep-alive connections and starts from cold caches
# (compiled SQL, prepared statements, the cached public pages): at 2000 a worker restarted
# every 15 s or so under the load of bench/load.py, which cost 5% of its throughput and
# doubled p99 (two runs each: 2000 → 433–441 req/s, p99 328–408 ms; 20000 → 451–463
# req/s, p99 228–237 ms)
max_requests = 20000
max_requests_jitter = 2000
# import and build the app once in the master: a worker (also one restarted after
# max_requests) is ready as soon as it is forked, instead of spending a second or more of
# CPU importing while requests queue for it, and the workers share the code pages
preload_app = True
forwarded_allow_ips = os.environ.get("HYOKA_PROXY_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("HYOKA_LOG_LEVEL", "info")
# query strings may carry search terms typed by residents: keep them out of the access log
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
# every atom of the access log (the path above, and whatever a changed format adds: the raw
# request line, the query string, the Referer) and the error log go through the 個人番号
# redaction of common/logs.py: a number in a path such as /public/x/5702-9131-1807, also
# percent-encoded or split by %20, %09 or ・, is never written
logger_class = "common.logs.GunicornLogger"


def pre_request(worker, req):
    """Close the connection after its keepalive_requests-th request (see above)."""
    if keepalive_requests and req.req_number >= keepalive_requests:
        req.must_close = True


def post_fork(server, worker):
    """A forked worker opens its own database connections, never ones the master may hold."""
    if not server.cfg.preload_app:
        return
    from common.db import db

    app = server.app.wsgi()
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


def when_ready(server):
    """Before the first worker is forked: compile every template and configure the mappers
    once in the master, so that each worker (also one restarted by max_requests) answers
    its first requests without compiling them itself."""
    if not server.cfg.preload_app:
        return
    from sqlalchemy.orm import configure_mappers

    app = server.app.wsgi()
    configure_mappers()
    app.url_map.update()
    for name in app.jinja_env.list_templates():
        try:
            app.jinja_env.get_template(name)
        except Exception:  # noqa: BLE001 - a template that does not compile fails in its view, with its page
            server.log.warning("template %s could not be compiled in advance", name, exc_info=True)
