"""What a file is, from its bytes: type sniffing and media groups (image dimensions:
shared.images, which loads Pillow; this module stays light for every function that
only needs a file's kind).

Pure code. A declared content type is only believed when the bytes agree.
"""

from __future__ import annotations

from typing import Literal, get_args

MediaGroup = Literal["image", "video", "document", "other"]
MEDIA_GROUPS: tuple[str, ...] = get_args(MediaGroup)

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
