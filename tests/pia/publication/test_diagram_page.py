"""The 別添1 systems diagram: a landscape page of its own, legible, drawn from the version's snapshot."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest

from common.db import db
from pia.inventory import services as inventory_services
from pia.publication import pdf

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdftotext", "pdfinfo", "dot")), reason="poppler-utils or Graphviz missing"
)

#: the printable area of an A4 landscape page in pt (pdf.css: 14 mm side margins; max-height 160 mm)
PRINT_WIDTH, PRINT_HEIGHT = (297 - 28) / 25.4 * 72, 160 / 25.4 * 72


def _pages(data: bytes, tmp_path) -> tuple[list[str], list[tuple[float, float]]]:
    path = tmp_path / "v.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(path)], check=True, capture_output=True, text=True
    ).stdout
    sizes = [(float(w), float(h)) for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info)]
    return text.split("\f")[: len(sizes)], sizes


@pytest.fixture
def published(inventory, make_assessment):
    assessment = make_assessment(published=True)
    version = assessment.current_version
    inventory_services.snapshot_version(version)
    db.session.commit()
    return version


def test_the_diagram_has_a_landscape_page_of_its_own_and_is_legible(app, published, tmp_path):
    with app.test_request_context():
        context = pdf.version_context(published)
        pages, sizes = _pages(pdf.render_version(published, archival=False).pdf, tmp_path)
    diagram_pages = [i for i, text in enumerate(pages) if "システムの接続(システム台帳から作成)" in text]
    assert len(diagram_pages) == 1
    i = diagram_pages[0]
    width, height = sizes[i]
    assert width > height  # landscape
    assert all(w < h for n, (w, h) in enumerate(sizes) if n != i)  # the rest stays portrait
    assert "住民記録・印鑑オンライン" in pages[i] and "住基ネット中間サーバ" in pages[i]
    # the smallest text of the SVG at print size: font-size × the scale the page applies
    svg = base64.b64decode(context["diagram"].split(",", 1)[1]).decode("utf-8")
    svg_w, svg_h = (float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
    scale = min(1.0, PRINT_WIDTH / svg_w, PRINT_HEIGHT / svg_h)
    sizes_pt = [float(v) for v in re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes_pt and min(sizes_pt) * scale >= 7, (min(sizes_pt), scale)


def test_a_published_version_draws_the_systems_as_it_named_them(app, published, inventory, tmp_path):
    old = inventory["JUKI"].name
    inventory["JUKI"].name = "新しい名前の住基システム"
    db.session.commit()
    with app.test_request_context():
        pages, _sizes = _pages(pdf.render_version(published, archival=False).pdf, tmp_path)
        drawn = [s.name for s in pdf.diagram_systems(published)]
    diagram = next(text for text in pages if "システムの接続(システム台帳から作成)" in text)
    assert old in drawn and "新しい名前の住基システム" not in drawn
    assert "新しい名前の住基" not in diagram and old[:6] in diagram
