"""What a file really is, read from its bytes (magic numbers), never from its name; and whether its name agrees.

Pure: no Flask, no database. A name is only believed when the content says the same thing: `x.png` holding a PDF,
HTML or SVG is refused, because a browser or a desktop program that trusts the name would treat it as something
it is not. SVG is refused whatever its name: it is XML that can carry scripts.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Literal

from fundcircle.phrases import N_, PhrasedError

#: Only this much of a text file is read to decide that it is text (the whole file is checked to be UTF-8).
_MARKUP_SNIFF = 1024


class FileRefused(PhrasedError):
    """The file is not one that may be attached; the message names the file and says why. The values named in
    `WORDS` are marked words themselves (a kind of file, what it is instead), said in the reader's language too."""

    WORDS = frozenset({"said", "found", "allowed", "label"})


@dataclass(frozen=True)
class FileType:
    """A kind of file that may be attached."""

    media_type: str
    #: In a sentence: "x.png is not {label}".
    label: str
    #: The name endings that say this kind, the first one the usual.
    extensions: tuple[str, ...]
    #: Images are re-encoded and shown in the page; documents are offered as downloads.
    kind: Literal["image", "document"]


PNG = FileType("image/png", N_("a PNG image"), (".png",), "image")
JPEG = FileType("image/jpeg", N_("a JPEG image"), (".jpg", ".jpeg"), "image")
GIF = FileType("image/gif", N_("a GIF image"), (".gif",), "image")
WEBP = FileType("image/webp", N_("a WebP image"), (".webp",), "image")
PDF = FileType("application/pdf", N_("a PDF document"), (".pdf",), "document")
TEXT = FileType("text/plain", N_("a plain text file"), (".txt", ".text", ".md", ".csv"), "document")
ODT = FileType("application/vnd.oasis.opendocument.text", N_("an OpenDocument text"), (".odt",), "document")
ODS = FileType(
    "application/vnd.oasis.opendocument.spreadsheet", N_("an OpenDocument spreadsheet"), (".ods",), "document"
)
ODP = FileType(
    "application/vnd.oasis.opendocument.presentation", N_("an OpenDocument presentation"), (".odp",), "document"
)
DOCX = FileType(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    N_("a Word document"),
    (".docx",),
    "document",
)
XLSX = FileType(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", N_("an Excel workbook"), (".xlsx",), "document"
)
PPTX = FileType(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    N_("a PowerPoint presentation"),
    (".pptx",),
    "document",
)

ALLOWED: tuple[FileType, ...] = (PNG, JPEG, GIF, WEBP, PDF, TEXT, ODT, ODS, ODP, DOCX, XLSX, PPTX)
BY_MEDIA_TYPE = {file_type.media_type: file_type for file_type in ALLOWED}
BY_EXTENSION = {extension: file_type for file_type in ALLOWED for extension in file_type.extensions}
#: What the refusals say may be attached.
WHAT_MAY_BE_ATTACHED = N_(
    "images (PNG, JPEG, GIF, WebP), PDF, plain text, and OpenDocument or Office documents (.odt, .ods, .odp, "
    ".docx, .xlsx, .pptx)"
)

#: An OpenDocument file's first entry, stored uncompressed, is `mimetype` holding its media type.
_ODF = {ODT.media_type: ODT, ODS.media_type: ODS, ODP.media_type: ODP}
#: An Office Open XML file's main part, and the content type [Content_Types].xml gives it.
_OOXML = (
    (DOCX, "word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
    (XLSX, "xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
    (
        PPTX,
        "ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    ),
)
#: Text that a browser would take for a page or a picture with scripts.
_MARKUP_STARTS = ("<!doctype", "<html", "<svg", "<?xml", "<head", "<body", "<script", "<iframe")


def sniff(filename: str, content: bytes) -> FileType:
    """The kind of file `content` is, provided it is one that may be attached and `filename` says the same kind.

    :raises FileRefused: naming the file, when its content is of no allowed kind (SVG, HTML, an executable, an old
        binary Office file...), when its name's ending says another kind ("x.png is not a PNG image: it is a PDF
        document."), or when its name has no ending of an allowed kind.
    """
    name = display_name(filename)
    found = content_type_of(content)
    extension = _extension(name)
    said = BY_EXTENSION.get(extension)
    if isinstance(found, str):
        if said is not None:
            if found:
                raise FileRefused(
                    N_("%(name)s is not %(said)s: it is %(found)s."), name=name, said=said.label, found=found
                )
            raise FileRefused(N_("%(name)s is not %(said)s."), name=name, said=said.label)
        if found:
            raise FileRefused(
                N_("%(name)s cannot be attached: it is %(found)s. Attach %(allowed)s."),
                name=name,
                found=found,
                allowed=WHAT_MAY_BE_ATTACHED,
            )
        raise FileRefused(
            N_("%(name)s cannot be attached. Attach %(allowed)s."), name=name, allowed=WHAT_MAY_BE_ATTACHED
        )
    if said is None:
        raise FileRefused(
            N_("%(name)s is %(found)s, but its name does not say so: name it %(suggested)s."),
            name=name,
            found=found.label,
            suggested=f"{_stem(name)}{found.extensions[0]}",
        )
    if said is not found:
        raise FileRefused(
            N_("%(name)s is not %(said)s: it is %(found)s."), name=name, said=said.label, found=found.label
        )
    return found


def content_type_of(content: bytes) -> FileType | str:
    """What the bytes are: an allowed kind, or else words for what they are ("an SVG image", "" when unknown)."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return WEBP
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"PK\x03\x04"):
        return _zip_document(content)
    if content.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return N_("an old binary Office file (save it as .docx, .xlsx, .pptx or as OpenDocument)")
    if content.startswith((b"MZ", b"\x7fELF", b"#!")):
        return N_("a program")
    return _text(content)


def _zip_document(content: bytes) -> FileType | str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        names = set(archive.namelist())
        if "mimetype" in names:
            declared = archive.read("mimetype").decode("ascii", "replace").strip()
            return _ODF.get(declared, N_("an archive that is no OpenDocument this accepts"))
        if "[Content_Types].xml" in names:
            types = archive.read("[Content_Types].xml").decode("utf-8", "replace")
            for file_type, main_part, main_type in _OOXML:
                if main_part in names and main_type in types:
                    return file_type
            return N_("an Office file of a kind this does not accept (macros, templates)")
    except (zipfile.BadZipFile, KeyError, ValueError, NotImplementedError, OSError):
        return N_("a damaged archive")
    return N_("a zip archive")


def _text(content: bytes) -> FileType | str:
    if not content:
        return N_("an empty file")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    if any(ord(char) < 32 and char not in "\t\n\r\f" for char in text):
        return ""
    head = text[:_MARKUP_SNIFF].lstrip("\ufeff \t\r\n").lower()
    if head.startswith("<svg") or "<svg" in head[:_MARKUP_SNIFF]:
        return N_("an SVG image, which can carry scripts (attach it as a PNG instead)")
    if head.startswith(_MARKUP_STARTS):
        return N_("a web page or other markup, which a browser would run")
    return TEXT


def display_name(filename: str) -> str:
    """The file's own name, as a person would say it: without the folders some browsers send, at most 200
    characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:200] or "The file"


def _extension(name: str) -> str:
    stem, dot, ending = name.rpartition(".")
    return f".{ending.lower()}" if dot and stem else ""


def _stem(name: str) -> str:
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name
