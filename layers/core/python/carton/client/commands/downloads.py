"""`carton downloads`: create, watch, fetch, verify, share, remove."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carton.client.commands.common import Session, session
from carton.client.output import human_bytes
from carton.client.transfer import extract_archive, fetch_archive, verify_archive
from carton.downloads.api import CreateDownloadRequest, DownloadOut
from carton.downloads.models import DownloadState
from carton.sharing.api import CreateLinkRequest

downloads = typer.Typer(no_args_is_help=True, help="Archives: create, watch, fetch, verify, share.")
DOWNLOAD_COLUMNS = ("id", "name", "state", "target_count", "size", "created_at")


@downloads.command("create")
def downloads_create(
    context: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument(help="asset keys")] = None,
    tag: Annotated[str | None, typer.Option(help="and the assets tagged so")] = None,
    media_type: Annotated[str | None, typer.Option(help="(with the selection) image, video, document or other")] = None,
    name_prefix: Annotated[str | None, typer.Option(help="(with the selection) file names starting so")] = None,
    batch: Annotated[str | None, typer.Option(help="(with the selection) imported in this batch")] = None,
    layout: Annotated[str, typer.Option(help="flat or folders")] = "flat",
    name: Annotated[str | None, typer.Option(help="the download's name (and its archive's)")] = None,
    archive_format: Annotated[str, typer.Option("--format", help="zip or tar")] = "zip",
    wait: Annotated[bool, typer.Option("--wait", help="follow it until it is complete or failed")] = False,
) -> None:
    """Create a download of the given assets and of those a selection matches (--tag,
    --media-type, --name-prefix, --batch: every one given must match; Carton resolves it)."""
    s = session(context)
    filters = {"tag": tag, "media_type": media_type, "filename_prefix": name_prefix, "batch": batch}
    selection = {field: value for field, value in filters.items() if value is not None}
    if not ids and not selection:
        raise typer.BadParameter("no assets: give keys, or a selection (--tag, ...)", param_hint="IDS")
    if layout not in ("flat", "folders"):
        raise typer.BadParameter("flat or folders", param_hint="--layout")
    body = {"asset_ids": list(ids or []), "layout": layout, "name": name, "format": archive_format}
    request = CreateDownloadRequest.model_validate({**body, **({"selection": selection} if selection else {})})
    download = s.client.create_download(request)
    s.output.note(
        f"download {download.id}: {download.target_count or len(download.assets)} assets, {download.state.value}"
    )
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


@downloads.command("share")
def downloads_share(
    context: typer.Context,
    download_id: str,
    days: Annotated[int, typer.Option(min=1, max=30, help="how long the link works (never past the archive)")] = 7,
) -> None:
    """A link to the finished archive that needs no key (printed once: keep it)."""
    s = session(context)
    link = s.client.create_link(download_id, CreateLinkRequest(expires_in_days=days))
    if s.output.json:
        s.output.result(link, ())
    else:
        typer.echo(link.shared_url)
        s.output.note(
            f"link {link.id}, until {link.expires_at:%Y-%m-%d %H:%M} UTC (carton downloads unshare to revoke)"
        )


@downloads.command("links")
def downloads_links(context: typer.Context, download_id: str) -> None:
    """The download's share links: expiry, uses, whether revoked."""
    s = session(context)
    s.output.result(list(s.client.list_links(download_id)), ("id", "expires_at", "uses", "revoked", "created_at"))


@downloads.command("unshare")
def downloads_unshare(context: typer.Context, download_id: str, link_id: str) -> None:
    """Revoke a share link (from then on it answers 410)."""
    s = session(context)
    s.client.delete_link(download_id, link_id)
    s.output.note(f"revoked {link_id}")


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
        _verified(s, target)
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
    s.output.note(verify_archive(archive).summary())
