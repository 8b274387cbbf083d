"""What a file is, from its bytes: type sniffing, media groups, image dimensions.

Pure code. A declared content type is only believed when the bytes agree.
"""

from __future__ import annotations

import io

from PIL import Image, ImageFile

from carton.models import MediaGroup

# Decompression bombs: refuse images over this many pixels (100 MP, a large photo is ~50 MP).
Image.MAX_IMAGE_PIXELS = 100_000_000
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
SNIFF_BYTES = 4096

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff")
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
DOCUMENT_TYPES = ("application/pdf", "text/plain", "text/csv", "text/markdown")
ALLOWED_TYPES = IMAGE_TYPES + VIDEO_TYPES + DOCUMENT_TYPES
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/tif": "image/tiff",
}
_TEXT = ("text/plain", "text/csv", "text/markdown")
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/tiff": ".tif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "text/markdown": ".md",
}


def normalise(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """The content type the first bytes prove, or None if they prove none we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "video/webm"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as error:
            # A multi-byte character cut at the end of the sample is still text.
            if error.start < len(head) - 3:
                return None
        return "text/plain"
    return None


def agrees(declared: str, sniffed: str) -> bool:
    declared = normalise(declared)
    return declared == sniffed or (sniffed == "text/plain" and declared in _TEXT)


def media_group(content_type: str) -> MediaGroup:
    kind = normalise(content_type)
    if kind in IMAGE_TYPES or kind.startswith("image/"):
        return "image"
    if kind in VIDEO_TYPES or kind.startswith("video/"):
        return "video"
    if kind in DOCUMENT_TYPES or kind.startswith("text/"):
        return "document"
    return "other"


class ImageTooLarge(ValueError):
    pass


class DimensionReader:
    """Feeds an image's first bytes to Pillow until it knows the width and height."""

    def __init__(self) -> None:
        self._parser = ImageFile.Parser()
        self._fed = 0
        self.size: tuple[int, int] | None = None

    def feed(self, chunk: bytes) -> None:
        if self.size is not None or self._fed > 8 * 1024 * 1024:
            return
        self._fed += len(chunk)
        try:
            self._parser.feed(chunk)
        except Image.DecompressionBombError as error:
            raise ImageTooLarge(str(error)) from error
        except (OSError, SyntaxError, ValueError):
            self._fed = 1 << 62  # not an image Pillow can read: stop trying
            return
        if self._parser.image is not None:
            width, height = self._parser.image.size
            if width * height > MAX_PIXELS:
                raise ImageTooLarge(f"{width}x{height} is over {MAX_PIXELS:,} pixels")
            self.size = (width, height)


def verify_image(data: bytes) -> tuple[int, int]:
    """Width and height of a complete image, after Pillow checked it decodes."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
            if size[0] * size[1] > MAX_PIXELS:
                raise ImageTooLarge(f"{size[0]}x{size[1]} is over {MAX_PIXELS:,} pixels")
            image.verify()
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(str(error)) from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageTooLarge):
            raise
        raise ValueError(f"not a readable image: {error}") from error
    return size
