"""Renditions (preview, thumbnail) and conversions of images, with Pillow.

Each derived file is made once per (asset, spec), stored as its own S3 object with its
size, SHA-256 and CRC-32, and reused by later downloads. EXIF orientation is applied
and metadata is stripped (nothing from the original's EXIF is written back); Pillow's
decompression-bomb limit is set in carton.shared.media.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

from carton.assets.models import Asset, Derived
from carton.downloads.models import RenditionSpec
from carton.shared import aws
from carton.shared.checksums import checksums
from carton.shared.config import settings
from carton.shared.images import pillow
from carton.shared.media import IMAGE_TYPES
from carton.storage.objects import derived_object_key
from carton.store import Store

# Named renditions: longest side, format, quality.
PRESETS = {"preview": (1024, "jpeg", 85), "thumbnail": (256, "jpeg", 80)}
FORMATS = {
    "jpeg": ("JPEG", "image/jpeg", ".jpg"),
    "png": ("PNG", "image/png", ".png"),
    "webp": ("WEBP", "image/webp", ".webp"),
}
DEFAULT_QUALITY = 85
_UNBOUNDED = 1 << 30


class CannotDerive(Exception):
    """This asset has no such rendition; the original is packed instead (the reason says why)."""


@dataclass(frozen=True)
class Rendered:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def spec_id(spec: RenditionSpec) -> str:
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def render(data: bytes, spec: RenditionSpec) -> Rendered:
    fmt: str
    if spec.conversion is not None:
        conversion = spec.conversion
        box = (conversion.max_width or _UNBOUNDED, conversion.max_height or _UNBOUNDED)
        fmt, quality = conversion.format, conversion.quality or DEFAULT_QUALITY
    else:
        side, fmt, quality = PRESETS[str(spec.rendition)]
        box = (side, side)
    pillow_format, content_type, extension = FORMATS[fmt]
    from PIL import ImageOps

    Image = pillow()  # noqa: N806 (the module, by its own name)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened)
            image.thumbnail(box, Image.Resampling.LANCZOS)  # only ever shrinks
            if pillow_format == "JPEG" and image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            out = io.BytesIO()
            image.save(out, format=pillow_format, quality=quality, optimize=True)
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise CannotDerive(f"the image could not be converted: {error}") from error
    return Rendered(out.getvalue(), content_type, extension, width, height)


def derived_for(asset: Asset, spec: RenditionSpec, store: Store) -> Derived:
    """The rendition of `asset` described by `spec`: made now, or reused if made before."""
    if asset.content_type not in IMAGE_TYPES:
        raise CannotDerive(f"renditions and conversions apply to images; {asset.content_type} is packed as it is")
    identity = spec_id(spec)
    known = store.get_derived(asset.account_id, asset.asset_id, identity)
    if known is not None and known.source_etag == asset.etag:
        return known
    s3, bucket = aws.s3(), settings().assets_bucket
    original = s3.get_object(Bucket=bucket, Key=asset.s3_key, IfMatch=asset.etag)["Body"].read()
    rendered = render(original, spec)
    key = derived_object_key(asset.account_id, asset.asset_id, identity, rendered.extension)
    stored = s3.put_object(
        Bucket=bucket, Key=key, Body=rendered.data, ContentType=rendered.content_type, ChecksumAlgorithm="CRC32"
    )
    sums = checksums([rendered.data])
    derived = Derived(
        account_id=asset.account_id,
        asset_id=asset.asset_id,
        spec_id=identity,
        label=spec.label(),
        source_etag=asset.etag,
        s3_key=key,
        etag=stored["ETag"],
        content_type=rendered.content_type,
        extension=rendered.extension,
        size=sums.size,
        sha256=sums.sha256,
        crc32=sums.crc32,
        width=rendered.width,
        height=rendered.height,
    )
    store.put_derived(derived)
    return derived
