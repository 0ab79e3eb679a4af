"""HTML → PDF for everything the body publishes (assessments, result reports, evidence reports).

One place decides what a rendered document may load: :class:`SafeURLFetcher` lets
WeasyPrint read ``data:`` URLs and the project's own static files (a whitelist of
suffixes under ``static/``), and refuses everything else — ``file:`` URLs, remote
``http(s)`` URLs, other schemes — so that text written by users can never make the
server read a local file or call another host while rendering.

Templates refer to static files as ``/static/...`` (``url_for("static", ...)``): the
document's base URL is the internal root :data:`INTERNAL_ROOT`, and the fetcher maps
``https://hyoka.internal/static/<path>`` to ``static/<path>`` on disk.

Japanese text is set in IPAex Mincho/Gothic, which ``static/css/pdf.css`` names through
``@font-face`` rules with ``local()`` sources (fontconfig finds the installed fonts);
WeasyPrint embeds the subset of glyphs it uses.
"""

from __future__ import annotations

import functools
import gc
import mimetypes
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:  # the fetchers are SafeURLFetcher, built with WeasyPrint on first use
    from weasyprint.urls import URLFetcher

# WeasyPrint (a second to import) is loaded on first use: commands and requests that never
# render a PDF do not pay for it (``flask --help`` starts at once)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
INTERNAL_HOST = "hyoka.internal"
#: base URL of every rendered document: ``/static/x.css`` resolves to the project's static dir
INTERNAL_ROOT = f"https://{INTERNAL_HOST}/"
#: the only files a document may load from disk (by suffix), all under ``static/``
ALLOWED_SUFFIXES = {
    ".css": "text/css",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".otf": "font/otf",
    ".ttf": "font/ttf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
#: the print stylesheet every document gets unless the caller says otherwise
DEFAULT_STYLESHEETS = ("css/pdf.css",)
GENERATOR = "Hyoka"


class RefusedURL(ValueError):
    """A document tried to load something it may not (file:, remote, outside static/)."""


@functools.cache
def _fetcher_class():
    """The WeasyPrint URL fetcher class (built on first use, with WeasyPrint)."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class SafeURLFetcher(URLFetcher):
        """WeasyPrint URL fetcher: ``data:`` and whitelisted static files, nothing else."""

        def __init__(self, static_dir: Path = STATIC_DIR):
            # urllib only ever sees data: URLs; everything else is answered or refused below
            super().__init__(allowed_protocols=("data",), allow_redirects=False)
            self.static_dir = Path(static_dir).resolve()
            #: URLs refused while rendering (for tests and logs)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            if url[:5].lower() == "data:":
                return super().fetch(url, headers)
            path = self.static_path(url)
            if path is None:
                self.refused.append(url)
                raise RefusedURL(f"refused to load {url[:200]}")
            content_type = ALLOWED_SUFFIXES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})

        def static_path(self, url: str) -> Path | None:
            """The file under ``static/`` that ``url`` names, or None when it is not allowed."""
            try:
                parts = urlsplit(url)
            except ValueError:
                return None
            if parts.scheme != "https" or parts.netloc != INTERNAL_HOST or parts.query:
                return None
            relative = unquote(parts.path)
            if not relative.startswith("/static/"):
                return None
            candidate = (self.static_dir / relative[len("/static/") :]).resolve()
            if not candidate.is_relative_to(self.static_dir) or not candidate.is_file():
                return None
            if candidate.suffix.lower() not in ALLOWED_SUFFIXES:
                return None
            return candidate

    return SafeURLFetcher


def __getattr__(name: str):
    # ``common.publish.SafeURLFetcher`` without importing WeasyPrint at module import
    if name == "SafeURLFetcher":
        return _fetcher_class()
    raise AttributeError(name)


@functools.lru_cache(maxsize=32)
def _stylesheet_text(name: str) -> str:
    path = (STATIC_DIR / name).resolve()
    if not path.is_relative_to(STATIC_DIR) or path.suffix != ".css":
        raise RefusedURL(f"not a project stylesheet: {name}")
    return path.read_text(encoding="utf-8")


def _as_datetime(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    raise TypeError(f"not a date: {value!r}")


def _pdf_date(value) -> str | None:
    moment = _as_datetime(value)
    return None if moment is None else moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pages: int


def render_pdf(html: str, **options) -> bytes:
    """Render ``html`` to PDF bytes (the keyword options of :func:`render`)."""
    return render(html, **options).pdf


def render(
    html: str,
    *,
    base_url: str | None = None,
    stylesheets: Iterable[str] = DEFAULT_STYLESHEETS,
    metadata: Mapping[str, object] | None = None,
    pdf_variant: str | None = None,
    fetcher: URLFetcher | None = None,
) -> Rendered:
    """Render ``html`` to PDF; returns the bytes and the number of pages.

    :param html: a complete HTML document (escape user text before: Jinja autoescape).
    :param base_url: base for relative URLs; defaults to :data:`INTERNAL_ROOT`. Whatever
        it is, only ``data:`` and whitelisted static files are ever loaded.
    :param stylesheets: project stylesheets relative to ``static/`` (``"css/pdf.css"``),
        applied after the document's own styles.
    :param metadata: ``title``, ``author`` (str or list), ``subject``, ``keywords``
        (str or list), ``lang``, ``created``/``modified`` (date or datetime; pass fixed
        values for documents that must render to the same bytes twice).
    :param pdf_variant: a WeasyPrint variant such as ``"pdf/a-3b"`` (archival copies).
    :param fetcher: a :class:`SafeURLFetcher` to use (to inspect what was refused).
    """
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    fetcher = fetcher or _fetcher_class()()
    base_url = base_url or INTERNAL_ROOT
    font_config = FontConfiguration()
    css = [
        CSS(
            string=_stylesheet_text(name),
            base_url=f"{INTERNAL_ROOT}static/{name}",
            url_fetcher=fetcher,
            font_config=font_config,
        )
        for name in stylesheets
    ]
    # WeasyPrint allocates millions of short-lived objects; the cyclic collector's passes
    # over them cost a third of the time, and everything is freed when rendering ends
    collecting = gc.isenabled()
    gc.disable()
    try:
        document = HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(
            font_config=font_config, stylesheets=css, pdf_variant=pdf_variant
        )
        _apply_metadata(document.metadata, metadata or {})
        with warnings.catch_warnings():
            # WeasyPrint opens its sRGB profile for PDF/A and leaves closing it to the
            # garbage collector (a ResourceWarning, an error under the test settings)
            warnings.simplefilter("ignore", ResourceWarning)
            pdf = document.write_pdf(pdf_variant=pdf_variant)
        pages = len(document.pages)
        del document
    finally:
        if collecting:
            gc.enable()
    return Rendered(pdf, pages)


def _listify(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value if v]


def _apply_metadata(target, metadata: Mapping[str, object]) -> None:
    if metadata.get("title"):
        target.title = str(metadata["title"])
    if metadata.get("author"):
        target.authors = _listify(metadata["author"])
    if metadata.get("subject"):
        target.description = str(metadata["subject"])
    if metadata.get("keywords"):
        target.keywords = _listify(metadata["keywords"])
    if metadata.get("lang"):
        target.lang = str(metadata["lang"])
    for key in ("created", "modified"):
        if metadata.get(key):
            setattr(target, key, _pdf_date(metadata[key]))
    target.generator = GENERATOR
