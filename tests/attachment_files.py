"""Files for the attachment tests, made here with Pillow: a JPEG with a camera's EXIF (its GPS position
included), a PNG with a script appended after its image data, a PDF."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112
#: A small but real PDF (what the PDF checks look at is its header).
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"  # noqa: E501
SCRIPT = b"<script>alert(document.cookie)</script>"


def jpeg_with_gps(width: int = 64, height: int = 32, *, orientation: int = 1) -> bytes:
    image = Image.new("RGB", (width, height), (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"taken at home")
    return out.getvalue()


def png_with_script(width: int = 20, height: int = 10) -> bytes:
    image = Image.new("RGBA", (width, height), (10, 120, 200, 255))
    out = io.BytesIO()
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "secret note")
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue() + SCRIPT


def exif_of(content: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(content)) as image:
        exif = image.getexif()
        found = dict(exif)
        gps = exif.get_ifd(GPS_IFD)
        if gps:
            found[GPS_IFD] = dict(gps)
        return found


def size_of(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as image:
        return image.size
