import hashlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.uploads import (
    EML,
    GIF,
    JPEG,
    MAX_NAME_BYTES,
    PDF,
    PNG,
    TIFF,
    CheckedUpload,
    UploadRejected,
    check_upload,
    safe_filename,
    sniff,
)

PDF_DATA = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
PNG_DATA = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20
JPEG_DATA = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20
EML_DATA = b"From: a@example.jp\r\nSubject: test\r\n\r\nbody\r\n"


@pytest.mark.parametrize(
    "data, expected",
    [
        (PDF_DATA, PDF),
        (PNG_DATA, PNG),
        (JPEG_DATA, JPEG),
        (b"GIF89a\x01\x00", GIF),
        (b"GIF87a\x01\x00", GIF),
        (b"II*\x00\x08\x00\x00\x00", TIFF),
        (b"MM\x00*\x00\x00\x00\x08", TIFF),
        (EML_DATA, None),
        (b"<html><script>alert(1)</script>", None),
        (b"", None),
        (b"%PD", None),
    ],
)
def test_sniff(data, expected):
    assert sniff(data) == expected


def test_accepted_upload():
    checked = check_upload("評価書案 （修正版）.pdf", PDF_DATA, allowed={PDF, PNG}, max_bytes=1024)
    assert checked == CheckedUpload(
        safe_name="評価書案 （修正版）.pdf",
        content_type=PDF,
        size=len(PDF_DATA),
        sha256=hashlib.sha256(PDF_DATA).hexdigest(),
    )


def test_upper_case_extension_is_accepted():
    assert check_upload("SCAN.JPG", JPEG_DATA, allowed={JPEG}, max_bytes=1024).content_type == JPEG


def test_eml_is_accepted_on_its_extension():
    checked = check_upload("意見.eml", EML_DATA, allowed={EML}, max_bytes=1024)
    assert checked.content_type == EML


@pytest.mark.parametrize(
    "filename, data, allowed, max_bytes, message_part",
    [
        ("empty.pdf", b"", {PDF}, 1024, "空"),
        ("big.pdf", PDF_DATA, {PDF}, 10, "大きすぎます"),
        ("image.png", PNG_DATA, {PDF}, 1024, "PNG画像は受け付けていません"),
        ("fake.pdf", b"<html><script>alert(1)</script>", {PDF}, 1024, "内容がPDFではありません"),
        ("renamed.pdf", PNG_DATA, {PDF, PNG}, 1024, "拡張子と内容が一致しません"),
        ("no-extension", PDF_DATA, {PDF}, 1024, "拡張子と内容が一致しません"),
        ("page.html", b"<html></html>", {PDF}, 1024, "形式を確認できません"),
        ("opinion.eml", PDF_DATA, {PDF, EML}, 1024, "拡張子と内容が一致しません"),
        ("opinion.eml", EML_DATA, {PDF}, 1024, "受け付けていません"),
    ],
)
def test_rejected_uploads(filename, data, allowed, max_bytes, message_part):
    with pytest.raises(UploadRejected) as excinfo:
        check_upload(filename, data, allowed=allowed, max_bytes=max_bytes)
    assert message_part in excinfo.value.message
    assert str(excinfo.value) == excinfo.value.message


def test_size_limit_is_inclusive():
    assert check_upload("a.pdf", PDF_DATA, allowed={PDF}, max_bytes=len(PDF_DATA)).size == len(PDF_DATA)
    with pytest.raises(UploadRejected):
        check_upload("a.pdf", PDF_DATA, allowed={PDF}, max_bytes=len(PDF_DATA) - 1)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("住民基本台帳事務_評価書案.pdf", "住民基本台帳事務_評価書案.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\config", "config"),
        ("C:\\Users\\山田\\意見書.pdf", "意見書.pdf"),
        ("..", "file"),
        ("...pdf", "pdf"),
        (".htaccess", "htaccess"),
        ("意見\x00書\n.pdf", "意見書.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ('a<b>c:d|e?f*g".pdf', "a_b_c_d_e_f_g_.pdf"),
        ("CON.pdf", "_CON.pdf"),
        ("意見書.pdf. ", "意見書.pdf"),
        ("", "file"),
        ("　", "file"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_safe_filename_caps_length_in_bytes_and_keeps_the_extension():
    name = safe_filename("あ" * 200 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert set(name[:-4]) == {"あ"}


@given(st.text())
def test_safe_filename_never_allows_traversal(name):
    safe = safe_filename(name)
    assert safe
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert ".." not in safe
    assert not safe.startswith(".")
    assert len(safe.encode("utf-8")) <= MAX_NAME_BYTES
    root = os.path.abspath("/srv/uploads")
    assert os.path.dirname(os.path.abspath(os.path.join(root, safe))) == root
