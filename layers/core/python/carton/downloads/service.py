"""Downloads: creating them, showing them, and handing out their archives."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from botocore.exceptions import ClientError

from carton.accounts.models import Principal, Role
from carton.accounts.service import refused_recipients
from carton.downloads.api import MAX_ASSETS_PER_DOWNLOAD, CreateDownloadRequest
from carton.downloads.models import Download, DownloadError, DownloadState, Target
from carton.downloads.selection import select_assets
from carton.packaging.formats import FORMATS, format_of
from carton.packaging.leftovers import archive_key_of, remove_leftovers
from carton.shared import aws, presign
from carton.shared.config import settings
from carton.shared.errors import Conflict, Forbidden, Gone, NotFound, ValidationFailed, error_code
from carton.shared.fields import utcnow
from carton.shared.names import safe_entry_name
from carton.shared.safehttp import DeliveryFailed, UnsafeDestination, checked_destination
from carton.storage.schema import TABLE_KEYS
from carton.store import Store
from carton.web.routes import API_PREFIX

_LISTED_UNKNOWN_IDS = 20


def archive_filename_for(requested: str | None, name: str | None, download_id: str, extension: str) -> str:
    """A safe archive file name: the requested one, else from the name, else the id."""
    base = requested or f"{name or download_id}{extension}"
    safe = safe_entry_name(base.replace("/", "_"), fallback=f"{download_id}{extension}")
    return safe if safe.lower().endswith(extension) else f"{safe}{extension}"


def chosen_assets(principal: Principal, request: CreateDownloadRequest, store: Store) -> list[str]:
    """The request's asset ids, then what its selection matches (each once)."""
    if request.selection is None:
        return list(request.asset_ids)
    selected = select_assets(principal.account_id, request.selection, store, MAX_ASSETS_PER_DOWNLOAD)
    if not selected:
        raise ValidationFailed("Selection matches nothing", {"selection": ["no live asset of this account matches it"]})
    chosen = list(dict.fromkeys([*request.asset_ids, *selected]))
    if len(chosen) > MAX_ASSETS_PER_DOWNLOAD:
        too_many = f"with asset_ids, {len(chosen):,} assets: at most {MAX_ASSETS_PER_DOWNLOAD:,}"
        raise ValidationFailed("Too many assets", {"selection": [too_many]})
    return chosen


def create_download(
    principal: Principal, request: CreateDownloadRequest, store: Store, base_url: str | None = None
) -> Download:
    """`base_url`: the API's address as the client called it (the links e-mails carry)."""
    if not principal.may_create(request.download_type):
        raise Forbidden(
            f"This key may not create downloads of type {request.download_type!r}",
            {"download_type": [f"allowed: {', '.join(principal.download_types or ())}"]},
        )
    asset_ids = chosen_assets(principal, request, store)
    assets = store.get_assets(principal.account_id, asset_ids)
    unknown = [asset_id for asset_id in asset_ids if asset_id not in assets]
    if unknown:
        shown = ", ".join(unknown[:_LISTED_UNKNOWN_IDS]) + (" …" if len(unknown) > _LISTED_UNKNOWN_IDS else "")
        raise ValidationFailed(
            "Unknown asset ids",
            {"asset_ids": [f"{len(unknown)} unknown or deleted asset id(s): {shown}"]},
        )
    longest = settings().archive_expiry_days
    if request.expires_in_days is not None and request.expires_in_days > longest:
        raise ValidationFailed(
            "Archive life too long",
            {"expires_in_days": [f"1 to {longest}: this deployment keeps archives {longest} days"]},
        )
    if request.notify.webhook_url is not None:
        check_webhook(request.notify.webhook_url)
    if refused := refused_recipients(principal.account_id, request.notify.emails, store):
        raise ValidationFailed(
            "Refused notify.emails",
            {
                "notify.emails": [
                    f"{', '.join(refused)}: neither a user of this account nor in its notify_domains "
                    f"(admins set them with PUT {API_PREFIX}/account)"
                ]
            },
        )
    download_id = uuid.uuid4().hex
    creator = store.get_user(principal.account_id, principal.user_id)
    download = Download(
        account_id=principal.account_id,
        download_id=download_id,
        created_by=principal.user_id,
        created_by_email=creator.email,
        name=request.name or f"Download {download_id[:8]}",
        zip_filename=archive_filename_for(
            request.zip_filename, request.name, download_id, FORMATS[request.format].extension
        ),
        layout=request.layout,
        download_type=request.download_type,
        asset_ids=asset_ids,
        options=request.options(),
        has_conversions=request.renditions.has_conversions,
        api_base_url=base_url,
    )
    planned = [
        Target(download_id=download_id, asset_id=asset_id, position=position)
        for position, asset_id in enumerate(asset_ids)
    ]
    store.create_download(download, planned)
    return start_workflow(download, store)


def check_webhook(url: str) -> None:
    """Refuse at once a webhook that would never be called: its host must resolve, and only
    to public addresses (checked again before every delivery, against DNS rebinding)."""
    try:
        checked_destination(url, settings().fetch_policy)
    except (UnsafeDestination, DeliveryFailed) as refused:
        raise ValidationFailed("Refused webhook_url", {"notify.webhook_url": [str(refused)]}) from refused


def execution_arn(download_id: str) -> str:
    """Executions are named after their download, so the ARN needs no extra record."""
    machine = settings().state_machine_arn
    return f"{machine.replace(':stateMachine:', ':execution:', 1)}:{download_id}"


def start_workflow(download: Download, store: Store) -> Download:
    try:
        aws.stepfunctions().start_execution(
            stateMachineArn=settings().state_machine_arn,
            name=download.download_id,
            input=json.dumps({"account_id": download.account_id, "download_id": download.download_id}),
        )
    except Exception:
        # Never leave a pending record that nothing will ever pick up.
        store.fail_download(
            download.account_id,
            download.download_id,
            DownloadError(code="workflow_unavailable", message="the packaging workflow could not be started"),
        )
        raise
    return download


def readable_download(principal: Principal, download_id: str, store: Store) -> Download:
    """The download, if the caller may see it: its creator, or an admin of its account."""
    download = store.get_download(principal.account_id, download_id)
    if principal.role is not Role.ADMIN and download.created_by != principal.user_id:
        raise Forbidden("This download belongs to another user", {"download_id": ["not yours"]})
    return download


def archive_link(principal: Principal, download_id: str, store: Store) -> str:
    """A presigned GET for a finished archive, signed for this request only."""
    return presigned_archive(readable_download(principal, download_id, store))


def presigned_archive(download: Download) -> str:
    """A presigned GET for the download's archive: 410 once it expired, 404 until it is complete."""
    if download.state is DownloadState.EXPIRED:
        raise Gone("The archive has expired", {"download_id": ["archive removed; create the download again"]})
    if download.expires_at is not None and utcnow() >= download.expires_at:
        # S3's lifecycle removes it within a day (then the download turns expired): gone already.
        raise Gone("The archive has expired", {"download_id": [f"expired at {download.expires_at:%Y-%m-%d %H:%M} UTC"]})
    if download.state is not DownloadState.COMPLETE or download.archive_key is None:
        raise NotFound(
            "The archive is not ready",
            {"state": [f"download is {download.state.value}; the file exists once it is complete"]},
        )
    content_type = format_of(download).content_type
    return presign.archive_get(settings().archives_bucket, download.archive_key, download.zip_filename, content_type)


def delete_download(principal: Principal, download_id: str, store: Store) -> None:
    """Mark the download as being deleted (no workflow step changes it after that), then
    remove everything it has, the record last; a DELETE interrupted anywhere is finished
    by the client's retry or by the sweeper."""
    finish_delete(store.mark_deleting(readable_download(principal, download_id, store)), store)


def finish_delete(download: Download, store: Store) -> None:
    """Stop the workflow, abort the upload, remove plan, archive and targets, then the
    record. Each part may run again: what is gone already stays gone."""
    if download.state in (DownloadState.PENDING, DownloadState.PACKAGING):
        stop_workflow(download.download_id)
    archive_key = archive_key_of(download)
    remove_leftovers(
        download.account_id,
        download.download_id,
        upload=(archive_key, download.upload_id) if download.upload_id else None,
        archive_key=archive_key,
    )
    store.delete_links(download.account_id, download.download_id)
    with contextlib.suppress(NotFound):  # a concurrent DELETE finished first
        store.delete_download(download)


def stop_workflow(download_id: str, error: str = "DownloadDeleted", cause: str = "deleted by the client") -> None:
    """Stop the download's execution, if it runs (one that ended or never started is fine)."""
    try:
        aws.stepfunctions().stop_execution(executionArn=execution_arn(download_id), error=error, cause=cause)
    except ClientError as error_:
        if error_code(error_) not in ("ExecutionDoesNotExist", "ValidationException"):
            raise


IDEMPOTENCY_HOURS = 24
MAX_IDEMPOTENCY_KEY = 255


def create_download_once(
    principal: Principal,
    request: CreateDownloadRequest,
    idempotency_key: str | None,
    store: Store,
    lambda_context: Any = None,
    base_url: str | None = None,
) -> Download:
    """With an Idempotency-Key, the same key and body create one download however often
    they are sent (within a day); the same key with another body is a conflict."""
    if idempotency_key is None:
        return create_download(principal, request, store, base_url)
    if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(
            "Invalid Idempotency-Key", {"Idempotency-Key": [f"1 to {MAX_IDEMPOTENCY_KEY} characters"]}
        )
    persistence = DynamoDBPersistenceLayer(
        table_name=settings().table_name,
        key_attr=TABLE_KEYS.partition_key,
        sort_key_attr=TABLE_KEYS.sort_key,
        # One partition per user: a key replayed by anyone else starts afresh, never
        # returning another user's download.
        static_pk_value=f"IDEMPOTENCY#{principal.account_id}#{principal.user_id}",
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        expires_after_seconds=IDEMPOTENCY_HOURS * 3600,
    )

    if lambda_context is not None:
        config.register_lambda_context(lambda_context)  # in-progress records expire with the invocation

    def create_new(payload: dict[str, Any]) -> dict[str, str]:
        return {"download_id": create_download(principal, request, store, base_url).download_id}

    create: Callable[..., dict[str, str]] = idempotent_function(
        data_keyword_argument="payload", persistence_store=persistence, config=config
    )(create_new)

    payload = {"key": idempotency_key, "request": request.model_dump(mode="json")}
    try:
        download_id = create(payload=payload)["download_id"]
    except IdempotencyValidationError as error:
        raise Conflict(
            "Idempotency-Key already used with a different request",
            {"Idempotency-Key": ["send a new key for a different download"]},
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed",
            {"Idempotency-Key": ["retry in a moment"]},
        ) from error
    return readable_download(principal, download_id, store)
