"""`carton`: the command line over carton.client.

Exit status: 0 done; 1 the API refused, a download failed, or an archive did not verify;
2 bad usage, configuration or credentials.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError

from carton.accounts.api import CreateTokenRequest, CreateUserRequest
from carton.accounts.models import Role
from carton.assets.api import ReplaceAssetRequest, UploadOut
from carton.assets.models import Translation, UploadState
from carton.client.client import ApiError, Client
from carton.client.config import ConfigError, load_profile
from carton.client.output import Output, human_bytes, plain_table
from carton.client.transfer import TransferError, extract_archive, fetch_archive, upload_file, verify_archive
from carton.downloads.api import CreateDownloadRequest, DownloadOut
from carton.downloads.models import DownloadState, Layout

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False, help=__doc__)
assets = typer.Typer(no_args_is_help=True, help="Files: upload, list, show, remove.")
downloads = typer.Typer(no_args_is_help=True, help="Archives: create, watch, fetch, verify.")
account = typer.Typer(no_args_is_help=True, help="Your account, its users and keys.")
app.add_typer(assets, name="assets")
app.add_typer(downloads, name="downloads")
app.add_typer(account, name="account")

ASSET_COLUMNS = ("key", "filename", "media_type", "size", "sha256", "created_at")
DOWNLOAD_COLUMNS = ("id", "name", "state", "target_count", "size", "created_at")
MAX_IDS = 10_000
BATCH = ["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"]  # as the API shows batches, or to the second


class Session:
    """What every command gets: the client and where output goes."""

    def __init__(self, client: Client, output: Output) -> None:
        self.client, self.output = client, output


def _version(value: bool) -> None:
    if value:
        typer.echo(f"carton {importlib.metadata.version('carton')}")
        raise typer.Exit


@app.callback()
def main_options(
    context: typer.Context,
    profile: Annotated[str | None, typer.Option(help="a profile of ~/.config/carton/config.toml")] = None,
    api_url: Annotated[
        str | None, typer.Option(help="the API (default: $CARTON_API_URL, the profile, make run's)")
    ] = None,
    token: Annotated[str | None, typer.Option(help="the API key (default: $CARTON_TOKEN, the profile)")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="results only: no progress, no notes")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    if output not in ("table", "json"):
        raise typer.BadParameter("table or json", param_hint="--output")
    chosen = load_profile(profile, api_url, token)
    context.obj = Session(Client(chosen.api_url, chosen.token), Output(json=output == "json", quiet=quiet))
    context.call_on_close(context.obj.client.close)


def session(context: typer.Context) -> Session:
    found: Session = context.obj
    return found


# ---- assets -------------------------------------------------------------------------------


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


# ---- downloads ----------------------------------------------------------------------------


@downloads.command("create")
def downloads_create(
    context: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument(help="asset keys")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="and every asset tagged so (repeatable)")] = None,
    layout: Annotated[str, typer.Option(help="flat or folders")] = "flat",
    name: Annotated[str | None, typer.Option(help="the download's name (and its archive's)")] = None,
    archive_format: Annotated[str, typer.Option("--format", help="zip or tar")] = "zip",
    wait: Annotated[bool, typer.Option("--wait", help="follow it until it is complete or failed")] = False,
) -> None:
    """Create a download of the given assets; with --wait, follow its packaging."""
    s = session(context)
    chosen = list(ids or [])
    for wanted in tag or []:
        chosen += [asset.key for asset in s.client.list_assets(tag=wanted)]
    chosen = list(dict.fromkeys(chosen))
    if not chosen:
        raise typer.BadParameter("no assets: give keys, or a --tag that some assets have", param_hint="IDS")
    if len(chosen) > MAX_IDS:
        raise typer.BadParameter(f"{len(chosen)} assets; a download holds at most {MAX_IDS:,}", param_hint="--tag")
    if layout not in ("flat", "folders"):
        raise typer.BadParameter("flat or folders", param_hint="--layout")
    chosen_layout: Layout = "flat" if layout == "flat" else "folders"
    request = CreateDownloadRequest.model_validate(
        {"asset_ids": chosen, "layout": chosen_layout, "name": name, "format": archive_format}
    )
    download = s.client.create_download(request)
    s.output.note(f"download {download.id}: {len(chosen)} assets, {download.state.value}")
    if wait:
        download = follow(s, download.id)
    if s.output.quiet and not s.output.json:
        typer.echo(download.id)  # for scripts: ID=$(carton -q downloads create ...)
    else:
        s.output.result(download, DOWNLOAD_COLUMNS)
    if download.state is DownloadState.FAILED:
        raise typer.Exit(1)


def follow(s: Session, download_id: str) -> DownloadOut:
    """Watch a download until it ends, with its progress; the reason when it failed."""
    download: DownloadOut | None = None
    with s.output.progress("packaging") as bar:
        for download in s.client.wait_for(download_id):
            progress = download.progress
            bar.update(
                files_done=progress.files_done,
                files_total=progress.files_total,
                bytes_done=progress.bytes_done,
                bytes_total=progress.bytes_total,
            )
    assert download is not None  # wait_for yields at least once
    if download.state is DownloadState.FAILED:
        error = download.error
        s.output.err.print(
            f"carton: download {download_id} failed: {error.message if error else 'no reason given'}"
            + (f" ({error.code})" if error else ""),
            markup=False,
        )
    return download


@downloads.command("wait")
def downloads_wait(context: typer.Context, download_id: str) -> None:
    """Follow a download until it is complete or failed."""
    s = session(context)
    download = follow(s, download_id)
    s.output.result(download, DOWNLOAD_COLUMNS)
    if download.state is not DownloadState.COMPLETE:
        raise typer.Exit(1)


@downloads.command("ls")
def downloads_ls(
    context: typer.Context, state: Annotated[str | None, typer.Option(help="in this state")] = None
) -> None:
    """Your downloads (admins: the account's), newest first."""
    s = session(context)
    s.output.result(list(s.client.list_downloads(**({"state": state} if state else {}))), DOWNLOAD_COLUMNS)


@downloads.command("show")
def downloads_show(context: typer.Context, download_id: str) -> None:
    s = session(context)
    s.output.result(s.client.get_download(download_id), DOWNLOAD_COLUMNS)


@downloads.command("targets")
def downloads_targets(context: typer.Context, download_id: str) -> None:
    """What the archive holds: each asset's path, size, checksums, or why it was skipped."""
    s = session(context)
    columns = ("asset_id", "path", "size", "crc32", "state", "reason")
    s.output.result(list(s.client.list_targets(download_id)), columns)


@downloads.command("rm")
def downloads_rm(context: typer.Context, download_ids: list[str]) -> None:
    """Delete downloads (their packaging stops; their archives go)."""
    s = session(context)
    for download_id in download_ids:
        s.client.delete_download(download_id)
        s.output.note(f"deleted {download_id}")


@downloads.command("fetch")
def downloads_fetch(
    context: typer.Context,
    download_id: str,
    to: Annotated[Path | None, typer.Option("--to", "-O", help="the file (default: the archive's name, here)")] = None,
    extract: Annotated[Path | None, typer.Option(help="then extract it into this folder")] = None,
    verify: Annotated[bool, typer.Option(help="check every CRC-32 and the manifest's SHA-256")] = True,
    limit_rate: Annotated[int | None, typer.Option(help="bytes per second at most", min=1)] = None,
) -> None:
    """Fetch the archive (resuming an interrupted fetch), verify it, optionally extract it."""
    s = session(context)
    download = s.client.get_download(download_id)
    target = to or Path(download.zip_filename)
    with s.output.progress("fetching") as bar:

        def moved(done: int, total: int) -> None:
            bar.update(files_done=0, files_total=0, bytes_done=done, bytes_total=total)

        fetched = fetch_archive(s.client, download_id, target, progress=moved, limit_rate=limit_rate)
    if fetched.resumed_from:
        s.output.note(f"resumed at {human_bytes(fetched.resumed_from)}")
    s.output.note(f"{target}: {human_bytes(fetched.size)}")
    if verify:
        checked = verify_archive(target)
        s.output.note(
            f"verified {checked.files} files (CRC-32), {checked.checked_sha256} against the manifest (SHA-256)"
        )
    if extract is not None:
        count = extract_archive(target, extract)
        s.output.note(f"extracted {count} files into {extract}")
    if s.output.json:
        s.output.result({"path": str(target), "size": fetched.size, "resumed_from": fetched.resumed_from}, ())
    elif s.output.quiet:
        typer.echo(str(target))


@downloads.command("verify")
def downloads_verify(context: typer.Context, archive: Path) -> None:
    """Check an archive on disk: every CRC-32, and the manifest's sizes and SHA-256."""
    _verified(session(context), archive)


def _verified(s: Session, archive: Path) -> None:
    checked = verify_archive(archive)
    s.output.note(f"verified {checked.files} files (CRC-32), {checked.checked_sha256} against the manifest (SHA-256)")


# ---- account ------------------------------------------------------------------------------


@account.command("show")
def account_show(context: typer.Context) -> None:
    s = session(context)
    s.output.result(s.client.get_account(), ())


@account.command("create-key")
def account_create_key(
    context: typer.Context,
    user: Annotated[str | None, typer.Option(help="for this user (default: you)")] = None,
    name: Annotated[str | None, typer.Option(help="what the key is for")] = None,
    download_type: Annotated[list[str] | None, typer.Option(help="only these download types")] = None,
) -> None:
    """Issue an API key (admins). The secret is shown once."""
    s = session(context)
    request = CreateTokenRequest(user_id=user, name=name, download_types=download_type or None)
    s.output.result(s.client.create_token(request), ())


@account.command("revoke-key")
def account_revoke_key(context: typer.Context, key_id: str) -> None:
    s = session(context)
    s.client.delete_token(key_id)
    s.output.note(f"revoked {key_id}")


@account.command("users")
def account_users(context: typer.Context) -> None:
    """The account's users (members: themselves)."""
    s = session(context)
    s.output.result(list(s.client.list_users()), ("id", "email", "role", "created_at"))


@account.command("add-user")
def account_add_user(
    context: typer.Context, email: str, admin: Annotated[bool, typer.Option(help="an admin")] = False
) -> None:
    s = session(context)
    s.output.result(s.client.create_user(CreateUserRequest(email=email, role=Role.ADMIN if admin else Role.MEMBER)), ())


def main() -> None:
    """The console script: one line on stderr for what went wrong, and the exit status."""
    try:
        app()
    except ApiError as error:
        typer.echo(f"carton: {error}", err=True)
        sys.exit(2 if error.is_authentication else 1)
    except ConfigError as error:
        typer.echo(f"carton: {error}", err=True)
        sys.exit(2)
    except TransferError as error:
        typer.echo(f"carton: {error}", err=True)
        sys.exit(1)
    except httpx.TransportError as error:
        typer.echo(f"carton: cannot reach the API ({error}); is it running (make run)?", err=True)
        sys.exit(1)
    except ValidationError as error:  # a request model refused the input before it was sent
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())
        typer.echo(f"carton: {reasons}", err=True)
        sys.exit(2)
