"""common.publish: HTML → PDF with a fetcher that loads nothing but data: and static files."""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import threading
import zlib
from pathlib import Path

import pytest

from common.publish import (
    INTERNAL_ROOT,
    RefusedURL,
    SafeURLFetcher,
    render,
    render_pdf,
)

POPPLER = all(shutil.which(tool) for tool in ("pdftotext", "pdffonts", "pdfinfo"))
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")

#: a 1×1 PNG
PNG_DATA = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def page(body: str, head: str = "") -> str:
    return f'<!doctype html><html lang="ja"><head><meta charset="utf-8">{head}</head><body>{body}</body></html>'


def tool(name: str, pdf: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [name, *args, str(path), *(["-"] if name == "pdftotext" else [])], check=True, capture_output=True, text=True
    ).stdout


class CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        CountingHandler.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    CountingHandler.hits = []
    server = http.server.HTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_remote_urls_are_never_fetched(http_server):
    fetcher = SafeURLFetcher()
    html = page(
        f'<p>外部参照</p><img src="{http_server}/image.png" alt="">',
        head=f'<link rel="stylesheet" href="{http_server}/style.css">',
    )
    pdf = render_pdf(html, fetcher=fetcher)
    assert pdf.startswith(b"%PDF")
    assert CountingHandler.hits == []
    assert f"{http_server}/image.png" in fetcher.refused
    assert f"{http_server}/style.css" in fetcher.refused
    # the server does answer when asked directly, so "no hits" means "never asked"
    import urllib.request

    urllib.request.urlopen(f"{http_server}/direct").read()
    assert CountingHandler.hits == ["/direct"]


def test_file_urls_are_never_read(tmp_path):
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: #ff0000 }")
    image = tmp_path / "secret.png"
    image.write_bytes(b"not really a png")
    fetcher = SafeURLFetcher()
    html = page(
        f'<p>ローカルファイル</p><img src="{image.as_uri()}" alt=""><img src="/etc/passwd" alt="">',
        head=f'<link rel="stylesheet" href="{secret.as_uri()}">',
    )
    render_pdf(html, fetcher=fetcher)
    assert image.as_uri() in fetcher.refused
    assert secret.as_uri() in fetcher.refused
    assert f"{INTERNAL_ROOT}etc/passwd" in fetcher.refused


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://example.com/x.css",
        "https://example.com/static/css/pdf.css",
        "ftp://example.com/x.css",
        f"{INTERNAL_ROOT}static/../common/publish.py",
        f"{INTERNAL_ROOT}static/%2e%2e/app.py",
        f"{INTERNAL_ROOT}static/css/../../pyproject.toml",
        f"{INTERNAL_ROOT}static/css/nothing-here.css",
        f"{INTERNAL_ROOT}common/publish.py",
        f"{INTERNAL_ROOT}static/css/pdf.css?x=1",
        "http://hyoka.internal/static/css/pdf.css",
    ],
)
def test_fetcher_refuses(url):
    with pytest.raises(RefusedURL):
        SafeURLFetcher().fetch(url)


def test_fetcher_serves_static_files_and_data_urls():
    fetcher = SafeURLFetcher()
    response = fetcher.fetch(f"{INTERNAL_ROOT}static/css/pdf.css")
    assert b"@page" in response.read()
    assert response.content_type == "text/css"
    response.close()
    response = fetcher.fetch(PNG_DATA)
    assert response.read().startswith(b"\x89PNG")
    response.close()


def test_static_and_data_resources_are_used():
    fetcher = SafeURLFetcher()
    html = page(
        f'<p>画像</p><img src="{PNG_DATA}" alt="">', head='<link rel="stylesheet" href="/static/css/hyoka.css">'
    )
    render_pdf(html, fetcher=fetcher)
    assert fetcher.refused == []


@needs_poppler
def test_japanese_text_fonts_metadata_and_page_numbers(tmp_path):
    body = "".join(f'<p class="x">第{n}段落 特定個人情報保護評価書 住民基本台帳に関する事務</p>' for n in range(1, 4))
    html = page(
        f'<h1>評価書名 ①事務の名称</h1>{body}<div class="next">二頁目の本文（明朝）</div>',
        head="<style>.next { break-before: page } h1 { font-family: IPAexGothic }</style>",
    )
    result = render(
        html,
        metadata={
            "title": "住民基本台帳に関する事務 全項目評価書",
            "author": "札幌市長",
            "subject": "特定個人情報保護評価書(全項目評価書)",
            "keywords": ["特定個人情報保護評価", "住基"],
        },
    )
    assert result.pages == 2
    text = tool("pdftotext", result.pdf, tmp_path, "-layout")
    assert "評価書名 ①事務の名称" in text
    assert "第3段落 特定個人情報保護評価書" in text
    assert "二頁目の本文（明朝）" in text
    assert re.search(r"\b1\s*/\s*2\b", text) and re.search(r"\b2\s*/\s*2\b", text), text

    info = tool("pdfinfo", result.pdf, tmp_path)
    assert "Title:           住民基本台帳に関する事務 全項目評価書" in info
    assert "Author:          札幌市長" in info
    assert "Subject:         特定個人情報保護評価書(全項目評価書)" in info
    assert "特定個人情報保護評価" in info and "Keywords:" in info
    assert "Page size:       595.276 x 841.89 pts (A4)" in info

    fonts = tool("pdffonts", result.pdf, tmp_path).splitlines()[2:]
    names = {line.split()[0].split("+")[-1]: line.split() for line in fonts}
    assert "IPAexMincho" in names and "IPAexGothic" in names, fonts
    for columns in names.values():
        assert columns[-5] == "yes", fonts  # emb


@needs_poppler
def test_archival_variant_and_fixed_dates(tmp_path):
    from datetime import date

    html = page("<p>公表済みの評価書</p>")
    metadata = {"title": "公表版", "created": date(2026, 2, 16), "modified": date(2026, 2, 16)}
    first = render_pdf(html, metadata=metadata, pdf_variant="pdf/a-3b")
    info = tool("pdfinfo", first, tmp_path)
    assert "Metadata Stream: yes" in info
    assert "2026" in info.split("CreationDate:")[1].splitlines()[0]
    assert b"pdfaid" in first or b"pdfaid" in _inflate_all(first)


def _inflate_all(pdf: bytes) -> bytes:
    out = []
    for chunk in pdf.split(b"stream")[1:]:
        data = chunk.lstrip(b"\r\n").split(b"endstream")[0]
        try:
            out.append(zlib.decompress(data))
        except zlib.error:
            out.append(data)
    return b"".join(out)
