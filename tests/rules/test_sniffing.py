"""What a file is comes from its bytes; its name must agree (fundcircle/attachments/sniffing.py), worked examples."""

from __future__ import annotations

import io
import zipfile

import pytest

from fundcircle.attachments import sniffing
from fundcircle.attachments.sniffing import FileRefused, sniff

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"


def _zip(entries: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in entries.items():
            archive.writestr(
                name, text, compress_type=zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            )
    return out.getvalue()


ODT = _zip({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<office:document-content/>"})
DOCX = _zip({
    "[Content_Types].xml": '<Types><Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    "word/document.xml": "<w:document/>",
})  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "media_type"),
    [
        ("photo.png", PNG, "image/png"),
        ("photo.JPG", JPEG, "image/jpeg"),
        ("photo.jpeg", JPEG, "image/jpeg"),
        ("anim.gif", GIF, "image/gif"),
        ("pic.webp", WEBP, "image/webp"),
        ("quote.pdf", PDF, "application/pdf"),
        ("notes.txt", "Budget: 40 € for paint\n".encode(), "text/plain"),
        ("plan.odt", ODT, "application/vnd.oasis.opendocument.text"),
        ("plan.docx", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("C:\\Users\\ana\\quote.pdf", PDF, "application/pdf"),
    ],
)
def test_a_file_whose_name_agrees_with_its_content_is_accepted(name: str, content: bytes, media_type: str) -> None:
    assert sniff(name, content).media_type == media_type


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.png", PDF, "x.png is not a PNG image: it is a PDF document."),
        ("x.png", b"<!DOCTYPE html><script>alert(1)</script>", "x.png is not a PNG image: it is a web page"),
        ("x.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.png is not a PNG"),
        ("x.jpg", PNG, "x.jpg is not a JPEG image: it is a PNG image."),
        ("x.pdf", b"\x00\x01\x02binary", "x.pdf is not a PDF document."),
        ("report.docx", ODT, "report.docx is not a Word document: it is an OpenDocument text."),
        ("notes.txt", b"\xff\xfe not utf-8 \x00", "notes.txt is not a plain text file."),
    ],
)
def test_a_file_that_is_not_what_its_name_says_is_refused_naming_it(name: str, content: bytes, message: str) -> None:
    with pytest.raises(FileRefused) as refused:
        sniff(name, content)
    assert str(refused.value).startswith(message)


def test_svg_is_refused_whatever_its_name_because_it_can_carry_scripts() -> None:
    with pytest.raises(FileRefused, match=r"^logo.svg cannot be attached: it is an SVG image, which can carry scripts"):
        sniff("logo.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>')


@pytest.mark.parametrize(
    ("name", "content", "start"),
    [
        ("setup.exe", b"MZ\x90\x00", "setup.exe cannot be attached: it is a program."),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.doc cannot be attached: it is an old binary Office"),
        ("page.html", b"<html><body>hi</body></html>", "page.html cannot be attached: it is a web page"),
        ("empty.txt", b"", "empty.txt is not a plain text file: it is an empty file."),
        ("files.zip", _zip({"a.txt": "a"}), "files.zip cannot be attached: it is a zip archive."),
        ("blob", b"\x00\x01\x02", "blob cannot be attached."),
    ],
)
def test_files_of_other_kinds_are_refused_saying_what_may_be_attached(name: str, content: bytes, start: str) -> None:
    with pytest.raises(FileRefused) as refused:
        sniff(name, content)
    assert str(refused.value).startswith(start)
    if "cannot be attached" in start:
        assert sniffing.WHAT_MAY_BE_ATTACHED in str(refused.value)


def test_a_right_file_with_a_name_that_says_nothing_is_refused_with_the_name_to_give_it() -> None:
    with pytest.raises(FileRefused, match=r"^scan is a PDF document, but its name does not say so: name it scan.pdf"):
        sniff("scan", PDF)


def test_the_folders_a_browser_sends_are_not_part_of_the_name() -> None:
    assert sniffing.display_name("C:\\fakepath\\photo.png") == "photo.png"
    assert sniffing.display_name("../../etc/passwd") == "passwd"
    assert sniffing.display_name("   ") == "The file"
