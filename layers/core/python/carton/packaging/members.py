"""What goes into an archive: each asset's target (rendition or conversion, path, size,
checksums, or why it is skipped), the manifest, the order of entries, and the check that
every source is still the ingested version."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

from botocore.exceptions import ClientError

from carton.assets.models import Asset, Derived
from carton.assets.renditions import CannotDerive, derived_for
from carton.downloads.models import Download, RenditionSpec, Target, TargetState
from carton.packaging.assembly import Source
from carton.packaging.formats import format_of
from carton.packaging.formats.base import ArchivePlan, Member
from carton.packaging.workers import source_forbidden
from carton.shared import aws
from carton.shared.config import settings
from carton.shared.errors import CHANGED, FORBIDDEN, MISSING, PackagingError, error_code
from carton.shared.media import media_group
from carton.shared.names import safe_entry_name, unique_names
from carton.store import Store

MANIFEST_NAME = "manifest.json"
# HEAD requests in flight while checking that every source is still the ingested version.
_SOURCE_CHECKS = 16


def entry_path(download: Download, asset: Asset, position: int, extension: str | None = None) -> str:
    """The file's path in the archive: the name template, made safe, in its folder.

    `extension` replaces the original's when a rendition or conversion changed the format.
    """
    # A file name is a name: whatever folders it claims (either slash) are dropped.
    path = PurePosixPath(re.split(r"[\\/]", asset.filename)[-1] or asset.asset_id)
    ext = extension if extension is not None else path.suffix
    fields = {
        "filename": path.stem + ext,
        "stem": path.stem,
        "ext": ext,
        "key": asset.asset_id,
        "title": asset.title(download.options.culture) or path.stem,
        "position": str(position + 1),
    }
    name = download.options.name_template.format(**fields).replace("/", "_")
    filename = safe_entry_name(name, fallback=asset.asset_id)
    if download.layout == "folders":
        return f"{safe_entry_name(asset.asset_id)}/{filename}"
    return filename


def skipped_target(
    download: Download, asset_id: str, position: int, reason: str, rendition: str = "original"
) -> Target:
    return Target(
        download_id=download.download_id,
        asset_id=asset_id,
        position=position,
        rendition=rendition,
        state=TargetState.SKIPPED,
        reason=reason,
    )


Derive = Callable[[Asset, RenditionSpec], Derived]


def plan_targets(download: Download, assets: dict[str, Asset], derive: Derive) -> list[Target]:
    """One target per requested asset, in request order, with unique safe paths.

    `derive` makes (or finds) a rendition or conversion. Raises PackagingError for a
    missing asset when the download says on_missing=fail.
    """
    targets: list[Target] = []
    missing = [asset_id for asset_id in download.asset_ids if asset_id not in assets]
    if missing and download.options.on_missing == "fail":
        raise PackagingError("asset_missing", f"{len(missing)} asset(s) no longer exist: {', '.join(missing[:10])}")
    for position, asset_id in enumerate(download.asset_ids):
        asset = assets.get(asset_id)
        if asset is None:
            targets.append(
                skipped_target(download, asset_id, position, "asset was deleted after the download was requested")
            )
            continue
        spec = download.options.renditions.for_asset(asset_id, media_group(asset.content_type))
        original = Target(
            download_id=download.download_id,
            asset_id=asset_id,
            position=position,
            path=entry_path(download, asset, position),
            size=asset.size,
            crc32=asset.crc32,
            sha256=asset.sha256,
            source_key=asset.s3_key,
            source_etag=asset.etag,
        )
        if spec.is_original:
            targets.append(original)
            continue
        try:
            derived = derive(asset, spec)
        except CannotDerive as cannot:
            targets.append(original.model_copy(update={"reason": f"{spec.label()} not made: {cannot}"}))
            continue
        targets.append(
            original.model_copy(
                update={
                    "rendition": derived.label,
                    "path": entry_path(download, asset, position, derived.extension),
                    "size": derived.size,
                    "crc32": derived.crc32,
                    "sha256": derived.sha256,
                    "source_key": derived.s3_key,
                    "source_etag": derived.etag,
                }
            )
        )
    packed = [target for target in targets if target.state is TargetState.PLANNED]
    # The manifest's name is reserved: a file called manifest.json gets a counter.
    reserved = [MANIFEST_NAME] if download.options.include_manifest else []
    names = unique_names([*reserved, *(target.path or "" for target in packed)])[len(reserved) :]
    return [
        target.model_copy(update={"path": names.pop(0)}) if target.state is TargetState.PLANNED else target
        for target in targets
    ]


def manifest_bytes(download: Download, targets: Iterable[Target]) -> bytes:
    files = [
        {
            "path": t.path,
            "asset_id": t.asset_id,
            "rendition": t.rendition,
            "size": t.size,
            "sha256": t.sha256,
            "crc32": f"{t.crc32:08x}",
        }
        for t in targets
        if t.state is not TargetState.SKIPPED and t.crc32 is not None
    ]
    skipped = [{"asset_id": t.asset_id, "reason": t.reason} for t in targets if t.state is TargetState.SKIPPED]
    document = {"download_id": download.download_id, "name": download.name, "files": files, "skipped": skipped}
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def archive_plan(download: Download, targets: list[Target]) -> tuple[ArchivePlan, list[Source], list[bool]]:
    """The archive's layout, each member's source and whether it counts as a requested file."""
    archive_format = format_of(download)
    packed = archive_format.order([t for t in targets if t.state is not TargetState.SKIPPED])
    members = [Member(name=t.path or "", size=t.size or 0, crc32=t.crc32 or 0) for t in packed]
    sources = [Source(t.source_key or "", t.source_etag or "", t.size or 0) for t in packed]
    counted = [True] * len(packed)
    if download.options.include_manifest:
        manifest = manifest_bytes(download, targets)
        members.append(Member(name=MANIFEST_NAME, size=len(manifest), crc32=zlib.crc32(manifest)))
        sources.append(Source("", "", len(manifest), inline=manifest))
        counted.append(False)
    return archive_format.plan(members, modified=download.created_at), sources, counted


def unreadable_sources(targets: list[Target]) -> dict[str, str]:
    """Sources that are gone or changed since ingest, by asset id, with the reason.

    A 404 is a missing file (skipped or fatal as the download says); a 403 is never read
    as missing: Carton may not read its own bucket, and the download fails saying so.
    """
    s3, bucket = aws.s3(), settings().assets_bucket

    def check(target: Target) -> tuple[str, str | None]:
        try:
            s3.head_object(Bucket=bucket, Key=target.source_key or "", IfMatch=target.source_etag or "")
        except ClientError as error:
            code = error_code(error)
            if code in MISSING:
                return target.asset_id, "the stored file no longer exists"
            if code in CHANGED:
                return target.asset_id, "the stored file changed after it was ingested"
            if code in FORBIDDEN:
                raise source_forbidden(f"asset {target.asset_id}") from error
            raise
        return target.asset_id, None

    with ThreadPoolExecutor(max_workers=_SOURCE_CHECKS) as pool:
        found = pool.map(check, [t for t in targets if t.state is TargetState.PLANNED])
        return {asset_id: reason for asset_id, reason in found if reason is not None}


def deriver(store: Store) -> Derive:
    """derived_for, with a source that cannot be read sorted like every other read: missing
    or changed → the original is packed instead (and checked like any other source);
    forbidden → the download fails."""

    def derive(asset: Asset, spec: RenditionSpec) -> Derived:
        try:
            return derived_for(asset, spec, store)
        except ClientError as error:
            code = error_code(error)
            if code in MISSING or code in CHANGED:
                raise CannotDerive("the stored file could not be read") from error
            if code in FORBIDDEN:
                raise source_forbidden(f"asset {asset.asset_id}") from error
            raise

    return derive
