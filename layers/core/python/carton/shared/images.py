"""Image dimensions and decodability, with Pillow, which is loaded on first use: only
what reads an image (an import, an ingest, a rendition) pays for it."""

from __future__ import annotations

import io
from types import ModuleType

# Decompression bombs: refuse images over this many pixels (100 MP, a large photo is ~50 MP).
MAX_PIXELS = 100_000_000


def pillow() -> ModuleType:
    """PIL.Image, with Carton's decompression-bomb limit set (every use goes through here)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image


class ImageTooLarge(ValueError):
    pass


class DimensionReader:
    """Feeds an image's first bytes to Pillow until it knows the width and height."""

    def __init__(self) -> None:
        from PIL import ImageFile

        self._image = pillow()
        self._parser = ImageFile.Parser()
        self._fed = 0
        self.size: tuple[int, int] | None = None

    def feed(self, chunk: bytes) -> None:
        if self.size is not None or self._fed > 8 * 1024 * 1024:
            return
        self._fed += len(chunk)
        try:
            self._parser.feed(chunk)
        except self._image.DecompressionBombError as error:
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
    Image = pillow()  # noqa: N806 (the module, by its own name)
    try:
        with Image.open(io.BytesIO(data)) as image:
            size: tuple[int, int] = image.size
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
