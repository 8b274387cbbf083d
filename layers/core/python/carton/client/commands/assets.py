"""`carton assets`: upload, list, show, remove."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock
from typing import Annotated

import typer

from carton.assets.api import ReplaceAssetRequest, UploadOut
from carton.assets.models import Translation, UploadState
from carton.client.client import ApiError, Client
from carton.client.commands.common import session
from carton.client.output import human_bytes, plain_table
from carton.client.transfer import TransferError, upload_file

assets = typer.Typer(no_args_is_help=True, help="Files: upload, list, show, remove.")
ASSET_COLUMNS = ("key", "filename", "media_type", "size", "sha256", "created_at")
BATCH = ["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"]  # as the API shows batches, or to the second


def files_under(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            yield path
        else:
            raise typer.BadParameter(f"{path}: no such file or folder", param_hint="PATH")


def tag_asset(client: Client, key: str, tags: list[str]) -> None:
    """Add `tags` to the asset's English translation (PUT replaces it whole: the rest is kept)."""
    asset = client.get_asset(key)
    translations = list(asset.translations)
    english = next((t for t in translations if t.language == "en"), None)
    merged = Translation(
        language="en",
        title=english.title if english else None,
        description=english.description if english else None,
        tags=list(dict.fromkeys([*(english.tags if english else []), *tags])),
    )
    translations = [merged if t.language == "en" else t for t in translations] if english else [*translations, merged]
    request = ReplaceAssetRequest(
        filename=asset.filename, translations=translations, note=asset.note, mature=asset.mature
    )
    client.replace_asset(key, request)


@assets.command("add")
def assets_add(
    context: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="files and folders (recursively)")],
    tag: Annotated[list[str] | None, typer.Option(help="tag every asset so (repeatable)")] = None,
    batch: Annotated[
        datetime | None,
        typer.Option(
            help="the assets' batch, UTC (default: one batch, now)",
            formats=["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"],
        ),
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, max=32, help="uploads at once")] = 4,
) -> None:
    """Upload files; files Carton has already are reported as duplicates of their asset."""
    s = session(context)
    chosen_batch = (batch or datetime.now(UTC)).replace(tzinfo=UTC)
    chosen_batch = chosen_batch.replace(microsecond=chosen_batch.microsecond // 1000 * 1000)
    files = list(files_under(paths))
    total = sum(path.stat().st_size for path in files)
    results: list[tuple[Path, UploadOut | None, str]] = []
    lock, moved, done = Lock(), [0], [0]
    with s.output.progress("uploading") as bar:

        def moved_bytes(count: int) -> None:
            with lock:
                moved[0] += count
                bar.update(files_done=done[0], files_total=len(files), bytes_done=moved[0], bytes_total=total)

        def one(path: Path) -> tuple[Path, UploadOut | None, str]:
            try:
                upload = upload_file(s.client, path, moved_bytes, chosen_batch)
                if upload.state is UploadState.INGESTED and upload.asset and tag:
                    tag_asset(s.client, upload.asset, tag)
                return path, upload, upload.reason or ""
            except TimeoutError:
                return path, None, "sent; still being ingested (carton assets ls shows it once it is)"
            except (ApiError, TransferError) as error:
                if isinstance(error, ApiError) and error.is_authentication:
                    raise
                return path, None, str(error)

        with ThreadPoolExecutor(jobs) as pool:
            for future in as_completed([pool.submit(one, path) for path in files]):
                results.append(future.result())
                with lock:
                    done[0] += 1
                moved_bytes(0)
    ingested = [upload for _, upload, _ in results if upload is not None and upload.state is UploadState.INGESTED]
    if s.output.json:
        s.output.result([u for _, u, _ in results if u is not None], ())
    else:
        for upload in ingested:
            if s.output.quiet:
                typer.echo(upload.asset)
        rows = [
            (str(path), _upload_outcome(upload, reason), (upload.asset or "-") if upload else "-")
            for path, upload, reason in results
        ]
        plain_table(s.output, sorted(rows), ("file", "outcome", "asset"))
        duplicates = sum(1 for upload in ingested if upload.duplicate)
        s.output.note(
            f"{len(ingested)} of {len(files)} files are assets ({duplicates} already were), {human_bytes(total)}; "
            f"batch {chosen_batch.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}"
        )
    if len(ingested) != len(files):
        if s.output.quiet:  # the table was left out: say what went wrong all the same
            for path, outcome, reason in results:
                if outcome is None or outcome.state is not UploadState.INGESTED:
                    s.output.err.print(f"carton: {path}: {_upload_outcome(outcome, reason)}", markup=False)
        raise typer.Exit(1)


def _upload_outcome(upload: UploadOut | None, reason: str) -> str:
    if upload is None:
        return f"failed: {reason}"
    if upload.state is UploadState.INGESTED:
        return "duplicate" if upload.duplicate else "new"
    return f"{upload.state.value}: {reason}"


@assets.command("ls")
def assets_ls(
    context: typer.Context,
    tag: Annotated[str | None, typer.Option(help="tagged so")] = None,
    media_type: Annotated[str | None, typer.Option(help="image, video, document or other")] = None,
    batch: Annotated[str | None, typer.Option(help="imported in this batch")] = None,
) -> None:
    """List the account's assets, newest first."""
    s = session(context)
    filters = {name: value for name, value in (("tag", tag), ("media_type", media_type), ("batch", batch)) if value}
    s.output.result(list(s.client.list_assets(**filters)), ASSET_COLUMNS)


@assets.command("show")
def assets_show(context: typer.Context, key: str) -> None:
    s = session(context)
    s.output.result(s.client.get_asset(key), ASSET_COLUMNS)


@assets.command("rm")
def assets_rm(context: typer.Context, keys: list[str]) -> None:
    """Delete assets (archives built already keep their files)."""
    s = session(context)
    for key in keys:
        s.client.delete_asset(key)
        s.output.note(f"deleted {key}")
