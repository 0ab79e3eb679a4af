"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py 'app:create_app()'`.

Runs behind a reverse proxy (nginx/Apache) that terminates TLS on the municipal network;
the proxy passes X-Forwarded-For / X-Forwarded-Proto from 127.0.0.1 only.
"""
import multiprocessing
import os

bind = os.environ.get("HYOKA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("HYOKA_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("HYOKA_THREADS", "4"))
timeout = 120  # PDF rendering and feed imports can take a while
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
forwarded_allow_ips = os.environ.get("HYOKA_PROXY_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("HYOKA_LOG_LEVEL", "info")
# query strings may carry search terms typed by residents: keep them out of the access log
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
