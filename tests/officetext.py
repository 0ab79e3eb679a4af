"""Reading Word and PDF output back as text, as a person's office software shows it."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile

import pytest

needs_office = pytest.mark.skipif(
    not (shutil.which("soffice") and shutil.which("pdftotext")), reason="LibreOffice or poppler-utils not installed"
)


def squash(text: str) -> str:
    """Text without any white space (PDF and Word wrap lines in different places)."""
    return re.sub(r"\s+", "", text)


def office_text(data: bytes, tmp_path, name: str = "in") -> str:
    """The text LibreOffice reads from the .docx ``data`` (``soffice --headless --convert-to txt``)."""
    source = tmp_path / f"{name}.docx"
    source.write_bytes(data)
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "txt:Text (encoded):UTF8",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return (tmp_path / f"{name}.txt").read_text(encoding="utf-8-sig")


def pdf_text(data: bytes, tmp_path, name: str = "x", *, raw: bool = False) -> str:
    """The text of a PDF in reading order, or with ``raw`` in the order it was drawn
    (`pdftotext -raw`: cells of side-by-side columns one after another)."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", *(["-raw"] if raw else []), str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))


def assert_no_formula(data: bytes) -> None:
    from openpyxl import load_workbook

    """No cell of any sheet is a formula (no <f> element) and every dangerous text is a string with the quote prefix."""
    assert not re.search(r"<f[ >]", sheet_xml(data))
    book = load_workbook(io.BytesIO(data))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.lstrip(" \t\r")[:1] in "=+-@＝＋－＠":
                    assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
