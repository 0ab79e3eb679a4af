"""Public PDFs rendered once per content, and never more than a few at a time.

Rendering a 49-page assessment takes seconds of CPU: six anonymous requests at once used to
render six times and starve every other request (``/healthz`` included). Here:

- :func:`cached_pdf` keeps each rendered PDF under ``instance/pdf-cache/`` by a key made of
  what is shown (``key_parts``, e.g. ``("consultation-draft", 3)``), a digest of the content
  rendered (the caller's: a changed text is a new key) and a fingerprint of the templates and
  stylesheets (a new release renders again). A file once written is served as it is.
- One render per key: requests for a key being rendered wait for it (a lock per key within
  the process, a file lock across gunicorn workers) instead of rendering it again.
- At most ``HYOKA_PDF_RENDERS`` renders at a time per worker (default 1). A request that
  would wait longer than ``HYOKA_PDF_WAIT_SECONDS`` (default 2) for either is answered
  503 with ``Retry-After``: it frees its thread for the other requests rather than queue.

Route bodies stay small: ``return pdf_response(cached_pdf(parts, digest, render), name)``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from io import BytesIO
from pathlib import Path

from flask import current_app, render_template, send_file

#: default settings (the environment, then app.config, override them); HYOKA_PDF_CACHE=off
#: renders on every request without any bound, as before the cache (bench/public_pdf.py's baseline)
DEFAULTS = {
    "HYOKA_PDF_RENDERS": 1,
    "HYOKA_PDF_WAIT_SECONDS": 2.0,
    "HYOKA_PDF_RETRY_AFTER": 10,
    "HYOKA_PDF_CACHE_FILES": 500,
    "HYOKA_PDF_CACHE_DIR": "",
    "HYOKA_PDF_CACHE": "on",
}
BUSY_MESSAGE = "PDFを作成しています。しばらくしてからもう一度お試しください。"
#: what the rendered bytes depend on besides the content: hashed once per process
FINGERPRINT_GLOBS = (
    "templates/pdf/**/*",
    "templates/pia/publication/**/*",
    "templates/consultation/*print*.html",
    "static/css/**/*.css",
    "common/publish.py",
    "pia/publication/pdf.py",
    "consultation/report.py",
)

_ROOT = Path(__file__).resolve().parent.parent
_key_locks: dict[str, threading.Lock] = {}
_key_locks_guard = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}
_fingerprint: str | None = None


class Busy(Exception):
    """Too many renders at once, or this PDF is still being rendered: answer 503."""


def _setting(name: str):
    return current_app.config.get(name, DEFAULTS[name])


def fingerprint() -> str:
    """A digest of the templates, stylesheets and code that lay out the PDFs."""
    global _fingerprint
    if _fingerprint is None:
        digest = hashlib.sha256()
        paths = sorted({p for pattern in FINGERPRINT_GLOBS for p in _ROOT.glob(pattern) if p.is_file()})
        for path in paths:
            digest.update(str(path.relative_to(_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
        _fingerprint = digest.hexdigest()[:16]
    return _fingerprint


def content_digest(*parts: str | bytes) -> str:
    """SHA-256 of the content a PDF is rendered from (text or bytes, in order)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def cache_dir() -> Path:
    path = Path(current_app.config.get("HYOKA_PDF_CACHE_DIR") or Path(current_app.instance_path) / "pdf-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(key_parts: Iterable[object], digest: str) -> str:
    return content_digest(*(str(p) for p in key_parts), digest, fingerprint())


def cached_pdf(key_parts: Iterable[object], digest: str, render: Callable[[], bytes]) -> bytes:
    """The PDF of ``key_parts`` at content ``digest``: read from the cache, or rendered once
    by ``render()`` (bytes) and kept. Raises :class:`Busy` when it cannot be had in time."""
    if _setting("HYOKA_PDF_CACHE") == "off":
        return render()
    key = cache_key(key_parts, digest)
    path = cache_dir() / f"{key}.pdf"
    data = _read(path)
    if data is not None:
        return data
    with _render_turn(key, path.with_suffix(".lock")):
        data = _read(path)  # rendered by whoever held the lock before
        if data is not None:
            return data
        data = render()
        _write(path, data)
    return data


def render_once(key_parts: Iterable[object], produce: Callable[[], object]):
    """Run ``produce`` (which renders and stores a PDF elsewhere, e.g. in the database) as a
    render: one at a time per key, within the render limit; :class:`Busy` when not in time.
    ``produce`` should look first whether another request has stored it meanwhile."""
    if _setting("HYOKA_PDF_CACHE") == "off":
        return produce()
    key = cache_key(key_parts, "")
    with _render_turn(key, cache_dir() / f"{key}.lock"):
        return produce()


class _render_turn:
    """Hold the key (thread lock, then file lock across workers), then a render slot."""

    def __init__(self, key: str, lock_path: Path):
        self.key, self.lock_path = key, lock_path
        self.deadline = time.monotonic() + float(_setting("HYOKA_PDF_WAIT_SECONDS"))
        self.slots = _slots_of(int(_setting("HYOKA_PDF_RENDERS")))
        self.file = None
        self.lock = None
        self.slot = False

    def __enter__(self):
        try:
            with _key_locks_guard:
                self.lock = _key_locks.setdefault(self.key, threading.Lock())
            if not self.lock.acquire(timeout=self._left()):
                self.lock = None
                raise Busy(self.key)
            self.file = open(self.lock_path, "a+b")  # noqa: SIM115 — closed in __exit__
            while True:
                try:
                    fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self._left() <= 0:
                        raise Busy(self.key) from None
                    time.sleep(min(0.05, self._left()))
            if not self.slots.acquire(timeout=self._left()):
                raise Busy(self.key)
            self.slot = True
            return self
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        if self.slot:
            self.slots.release()
            self.slot = False
        if self.file is not None:
            self.file.close()  # releases the file lock
            self.file = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        return False

    def _left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


def _slots_of(count: int) -> threading.BoundedSemaphore:
    with _key_locks_guard:
        return _slots.setdefault(count, threading.BoundedSemaphore(max(1, count)))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, data: bytes) -> None:
    """Write atomically (a reader sees the whole file or none), then keep the cache small."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    limit = int(_setting("HYOKA_PDF_CACHE_FILES"))
    files = list(path.parent.glob("*.pdf"))
    if len(files) > limit:
        files.sort(key=lambda p: p.stat().st_mtime)
        for old in files[: len(files) - limit]:
            old.unlink(missing_ok=True)
            old.with_suffix(".lock").unlink(missing_ok=True)


def pdf_response(data: bytes, download_name: str, *, max_age: int = 60):
    """An inline PDF response with an ETag (its SHA-256): 304 when the client has it."""
    return send_file(
        BytesIO(data),
        mimetype="application/pdf",
        download_name=download_name,
        etag=hashlib.sha256(data).hexdigest(),
        max_age=max_age,
        conditional=True,
    )


def init_app(app) -> None:
    for name, value in DEFAULTS.items():
        if name not in app.config and os.environ.get(name):
            app.config[name] = type(value)(os.environ[name])
        app.config.setdefault(name, value)

    @app.errorhandler(Busy)
    def _busy(_error):
        response = current_app.make_response((render_template("error.html", code=503, message=BUSY_MESSAGE), 503))
        response.headers["Retry-After"] = str(_setting("HYOKA_PDF_RETRY_AFTER"))
        return response
