"""Images are re-encoded before they are stored: only the pixels survive.

A camera's EXIF (with the GPS position of the photographer's home), comments, ICC profiles with text, and anything
appended after the image data (a `<script>`, a zip) are dropped because nothing but the decoded pixels is written
back. The orientation EXIF asked for is applied first, so the picture still stands the right way up. Pillow's
decompression-bomb limit and our own pixel cap are checked from the header, before any pixel is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from fundcircle.attachments.sniffing import GIF, JPEG, PNG, WEBP, FileRefused, FileType
from fundcircle.phrases import N_

#: Pillow's encoder for each image kind we keep as it came (a GIF stays a GIF, its first frame).
_FORMATS = {PNG.media_type: "PNG", JPEG.media_type: "JPEG", GIF.media_type: "GIF", WEBP.media_type: "WEBP"}


@dataclass(frozen=True)
class Reencoded:
    content: bytes
    width: int
    height: int


def reencode(name: str, content: bytes, file_type: FileType, *, max_pixels: int, max_dimension: int) -> Reencoded:
    """The image's pixels written anew in its own format, turned as its EXIF orientation says, scaled down to at
    most `max_dimension` pixels on its longer side, without any metadata. An animated image keeps its first frame.

    :raises FileRefused: naming the file, if it cannot be decoded, or has more than `max_pixels` pixels (a
        decompression bomb among them).
    """
    if file_type.media_type not in _FORMATS:
        raise FileRefused(N_("%(name)s is not an image that can be shown."), name=name)
    try:
        with warnings.catch_warnings():
            # Pillow warns (and our tests turn warnings into errors) past its own limit; refuse instead.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[_FORMATS[file_type.media_type]]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise FileRefused(
                        N_(
                            "%(name)s is %(width)d × %(height)d pixels; images may have at most %(millions)d million "
                            "pixels. Make it smaller and attach it again."
                        ),
                        name=name,
                        width=width,
                        height=height,
                        millions=max_pixels // 1_000_000,
                    )
                image.seek(0)
                turned = ImageOps.exif_transpose(image)
                pixels = _plain_pixels(turned, file_type)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FileRefused(
            N_("%(name)s would take too much memory to open; make it smaller and attach it again."), name=name
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise FileRefused(
            N_("%(name)s could not be read as %(label)s (%(error)s)."),
            name=name,
            label=file_type.label,
            error=str(error),
        ) from None
    pixels.thumbnail((max_dimension, max_dimension), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    options: dict[str, object] = {"optimize": True}
    if file_type is JPEG:
        options["quality"] = 88
    elif file_type is WEBP:
        options = {"quality": 88}
    pixels.save(out, format=_FORMATS[file_type.media_type], **options)
    return Reencoded(out.getvalue(), pixels.width, pixels.height)


def _plain_pixels(image: Image.Image, file_type: FileType) -> Image.Image:
    """A new image holding the decoded pixels alone: no `info` (EXIF, ICC, comments, text chunks) is carried over,
    because the encoders write what `info` holds."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if file_type is JPEG:
        mode = "L" if image.mode in ("L", "1") else "RGB"
    elif has_alpha:
        mode = "RGBA"
    else:
        mode = "L" if image.mode in ("L", "1") else "RGB"
    converted = image.convert(mode)
    clean = Image.new(mode, converted.size)
    clean.paste(converted)
    return clean
