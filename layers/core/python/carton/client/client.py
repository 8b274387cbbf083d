"""One method per API operation, typed with the API's own models.

Errors come back as ApiError carrying the API's `{message, errors}`. Reads, PUTs and
creates sent with an Idempotency-Key are retried with exponential backoff (honouring
Retry-After) on 429, 5xx and lost connections; other POSTs and DELETEs only when they surely
did nothing (no connection, or 429), since repeating them could act twice.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from carton.accounts.api import AccountOut, AccountSettings, CreateTokenRequest, CreateUserRequest, TokenOut, UserOut
from carton.assets.api import (
    AssetOut,
    CompleteUploadRequest,
    ReplaceAssetRequest,
    SignedParts,
    SignPartsRequest,
    UploadOut,
    UploadRequest,
)
from carton.assets.models import UploadState
from carton.downloads.api import CreateDownloadRequest, DownloadOut, TargetOut
from carton.downloads.models import DownloadState
from carton.sharing.api import CreateLinkRequest, LinkOut
from carton.web.routes import API_PREFIX

API = API_PREFIX
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
ENDED = (DownloadState.COMPLETE, DownloadState.FAILED, DownloadState.EXPIRED)
ModelT = TypeVar("ModelT", bound=BaseModel)


class ApiError(Exception):
    """The API said no: its status, message and per-field reasons."""

    def __init__(self, status: int, message: str, errors: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors or {})

    def __str__(self) -> str:
        details = "; ".join(f"{field}: {', '.join(reasons)}" for field, reasons in self.errors.items())
        return f"{self.message} ({self.status})" + (f" — {details}" if details else "")

    @property
    def is_authentication(self) -> bool:
        return self.status == 401


def _error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return ApiError(response.status_code, body["message"], body.get("errors") or {})
    reason = response.reason_phrase or "error"
    return ApiError(response.status_code, f"{response.request.method} {response.request.url.path}: {reason}")


def _retry_after(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        try:
            return min(float(response.headers.get("Retry-After", "")), 30.0)
        except ValueError:
            pass
    return float(min(2**attempt * 0.25, 8.0) * (0.5 + random.random() / 2))  # noqa: S311 (jitter, not a secret)


class Client:
    """A Carton API at `api_url` (scheme://host[/stage]), called with `token`."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "carton-client/1"}
        if token:
            headers["Authorization"] = f"Token {token}"
        self.api_url = api_url.rstrip("/")
        self.retries = retries
        self.http = httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout, transport=transport)
        # Presigned S3 requests carry their own signature: never the API key.
        self.storage = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.http.close()
        self.storage.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- transport ------------------------------------------------------------------------

    def send(self, attempt_request: Callable[[], httpx.Response], *, repeatable: bool = True) -> httpx.Response:
        """Run a request, again after backoff on a transient answer or a lost connection.
        One that is not `repeatable` (a POST or DELETE without an Idempotency-Key) is sent
        again only when it surely did nothing: the connection never opened, or 429."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = attempt_request()
            except httpx.ConnectError:
                if last:
                    raise
                time.sleep(_retry_after(None, attempt))
                continue
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.TimeoutException):
                if last or not repeatable:
                    raise
                time.sleep(_retry_after(None, attempt))
                continue
            retried = RETRIED_STATUSES if repeatable else {429}
            if response.status_code not in retried or last:
                return response
            time.sleep(_retry_after(response, attempt))
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **options: Any) -> httpx.Response:
        repeatable = method in ("GET", "HEAD", "PUT") or "Idempotency-Key" in options.get("headers", {})
        response = self.send(lambda: self.http.request(method, path, **options), repeatable=repeatable)
        if response.status_code not in expect:
            raise _error_of(response)
        return response

    def _model(self, model: type[ModelT], method: str, path: str, **options: Any) -> ModelT:
        expect = options.pop("expect", (200,))
        return model.model_validate(self.request(method, path, expect=expect, **options).json())

    def _pages(self, model: type[ModelT], path: str, params: Mapping[str, str] | None = None) -> Iterator[ModelT]:
        """Every item of a list, page after page (the next links carry signed cursors)."""
        url: str | None = path
        query: Mapping[str, str] | None = {**(params or {}), "limit": "100"}
        while url is not None:
            body = self.request("GET", url, params=query).json()
            for item in body["results"]:
                yield model.model_validate(item)
            url, query = body.get("next"), None

    @staticmethod
    def _body(request: BaseModel) -> dict[str, Any]:
        return request.model_dump(mode="json", by_alias=True, exclude_unset=True)

    # ---- downloads --------------------------------------------------------------------------

    def create_download(self, request: CreateDownloadRequest, idempotency_key: str | None = None) -> DownloadOut:
        """Create a download; retried safely (one Idempotency-Key for every attempt)."""
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._model(
            DownloadOut, "POST", f"{API}/downloads", json=self._body(request), headers=headers, expect=(200, 201)
        )

    def get_download(self, download_id: str) -> DownloadOut:
        return self._model(DownloadOut, "GET", f"{API}/downloads/{download_id}")

    def list_downloads(self, **filters: str) -> Iterator[DownloadOut]:
        return self._pages(DownloadOut, f"{API}/downloads", filters)

    def delete_download(self, download_id: str) -> None:
        self.request("DELETE", f"{API}/downloads/{download_id}", expect=(204,))

    def list_targets(self, download_id: str) -> Iterator[TargetOut]:
        return self._pages(TargetOut, f"{API}/downloads/{download_id}/targets")

    def archive_url(self, download_id: str) -> str:
        """A fresh presigned link to the finished archive (short-lived: ask again when it expires)."""
        response = self.request("GET", f"{API}/downloads/{download_id}/file", expect=(302, 303, 307))
        return response.headers["Location"]

    def wait_for(
        self, download_id: str, *, interval: float = 1.0, timeout: float | None = None
    ) -> Iterator[DownloadOut]:
        """The download as it changes, until it is complete, failed or expired (the last one
        yielded). Polls no faster than the API's Retry-After hint, when it gives one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            response = self.request("GET", f"{API}/downloads/{download_id}")
            download = DownloadOut.model_validate(response.json())
            yield download
            if download.state in ENDED:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"download {download_id} still {download.state.value} after {timeout} s")
            time.sleep(max(interval, _retry_after(response, 0) if "Retry-After" in response.headers else 0))

    def create_link(self, download_id: str, request: CreateLinkRequest | None = None) -> LinkOut:
        """A share link to the finished archive; its shared_url is in this answer only."""
        body = self._body(request or CreateLinkRequest())
        return self._model(LinkOut, "POST", f"{API}/downloads/{download_id}/links", json=body, expect=(201,))

    def list_links(self, download_id: str) -> Iterator[LinkOut]:
        return self._pages(LinkOut, f"{API}/downloads/{download_id}/links")

    def delete_link(self, download_id: str, link_id: str) -> None:
        self.request("DELETE", f"{API}/downloads/{download_id}/links/{link_id}", expect=(204,))

    # ---- assets -----------------------------------------------------------------------------

    def list_assets(self, **filters: str) -> Iterator[AssetOut]:
        return self._pages(AssetOut, f"{API}/assets", filters)

    def get_asset(self, key: str) -> AssetOut:
        return self._model(AssetOut, "GET", f"{API}/assets/{key}")

    def replace_asset(self, key: str, request: ReplaceAssetRequest) -> AssetOut:
        body = request.model_dump(mode="json", by_alias=True)  # PUT replaces everything
        return self._model(AssetOut, "PUT", f"{API}/assets/{key}", json=body)

    def delete_asset(self, key: str) -> None:
        self.request("DELETE", f"{API}/assets/{key}", expect=(204,))

    def create_upload(self, request: UploadRequest) -> UploadOut:
        return self._model(UploadOut, "POST", f"{API}/assets/uploads", json=self._body(request), expect=(201,))

    def get_upload(self, upload_id: str) -> UploadOut:
        return self._model(UploadOut, "GET", f"{API}/assets/uploads/{upload_id}")

    def sign_parts(self, upload_id: str, request: SignPartsRequest) -> SignedParts:
        return self._model(SignedParts, "POST", f"{API}/assets/uploads/{upload_id}/parts", json=self._body(request))

    def complete_upload(self, upload_id: str, request: CompleteUploadRequest) -> UploadOut:
        body = self._body(request)
        return self._model(UploadOut, "POST", f"{API}/assets/uploads/{upload_id}/complete", json=body)

    def wait_for_upload(self, upload_id: str, *, interval: float = 0.5, timeout: float = 300) -> UploadOut:
        """The upload once it is ingested or rejected (S3 tells Carton; that takes a moment)."""
        deadline = time.monotonic() + timeout
        while (upload := self.get_upload(upload_id)).state is UploadState.PENDING:
            if time.monotonic() > deadline:
                raise TimeoutError(f"upload {upload_id} still pending after {timeout} s")
            time.sleep(interval)
        return upload

    # ---- account ----------------------------------------------------------------------------

    def get_account(self) -> AccountOut:
        return self._model(AccountOut, "GET", f"{API}/account")

    def replace_account(self, request: AccountSettings) -> AccountOut:
        return self._model(AccountOut, "PUT", f"{API}/account", json=self._body(request))

    def list_users(self) -> Iterator[UserOut]:
        return self._pages(UserOut, f"{API}/account/users")

    def create_user(self, request: CreateUserRequest) -> UserOut:
        return self._model(UserOut, "POST", f"{API}/account/users", json=self._body(request), expect=(201,))

    def get_user(self, user_id: str) -> UserOut:
        return self._model(UserOut, "GET", f"{API}/account/users/{user_id}")

    def create_token(self, request: CreateTokenRequest) -> TokenOut:
        return self._model(TokenOut, "POST", f"{API}/account/tokens", json=self._body(request), expect=(201,))

    def delete_token(self, token_id: str) -> None:
        self.request("DELETE", f"{API}/account/tokens/{token_id}", expect=(204,))
