"""Uploads over the multipart threshold: a ticket of parts signed on demand, the parts
sent, the upload completed, then ingested as any upload; and the copy in parts that ingest
makes of a file too large for one CopyObject."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from carton.accounts.keys import principal_from_context
from carton.accounts.models import Principal, Role
from carton.assets import multipart
from carton.assets.api import CompletedPart, CompleteUploadRequest, SignPartsRequest, UploadRequest
from carton.assets.models import MIN_PART_SIZE, UploadState, part_size_for
from carton.assets.multipart import complete, sign_parts
from carton.assets.uploads import create_upload, upload_key
from carton.shared import aws, config
from carton.shared.errors import Conflict, Forbidden, ValidationFailed
from tests.integration.conftest import Carton, load_event
from tests.integration.test_feeds import with_key

MiB = 1024 * 1024


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(config.ENV_MULTIPART_THRESHOLD, str(MiB))
    config.settings.cache_clear()
    yield
    config.settings.cache_clear()


def principal() -> Principal:
    return principal_from_context(load_event("api/create_download")["requestContext"]["authorizer"])


def text(size: int) -> bytes:
    line = b"a line of a large text file, long enough to need parts\n"
    return (line * (size // len(line) + 1))[:size]


@pytest.mark.usefixtures("small_threshold")
def test_a_large_file_goes_in_signed_parts_and_becomes_an_asset(carton: Carton) -> None:
    data = text(2 * MIN_PART_SIZE + 12_345)
    ticket = create_upload(
        principal(),
        UploadRequest(filename="big.txt", content_type="text/plain", size=len(data)),
        carton.store,
        "https://x",
    )
    assert ticket.upload_method == "MULTIPART" and ticket.upload_fields is None
    assert (ticket.part_size, ticket.part_count) == (MIN_PART_SIZE, 3)
    assert ticket.parts_url == f"https://x/api/v1/assets/uploads/{ticket.id}/parts"
    signed = sign_parts(principal(), ticket.id, SignPartsRequest(numbers=[3, 1, 2]), carton.store)
    assert [part.number for part in signed.parts] == [1, 2, 3]
    assert [part.size for part in signed.parts] == [MIN_PART_SIZE, MIN_PART_SIZE, 12_345]
    upload = carton.store.get_upload("demo", ticket.id)
    assert parse_qs(urlsplit(signed.parts[0].url).query)["uploadId"] == [upload.multipart_id]
    s3, bucket, key = aws.s3(), carton.resources.buckets["assets"], upload_key(upload)
    etags = [
        s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload.multipart_id or "",
            PartNumber=part.number,
            Body=data[(part.number - 1) * MIN_PART_SIZE : (part.number - 1) * MIN_PART_SIZE + part.size],
        )["ETag"]
        for part in signed.parts
    ]
    with pytest.raises(ValidationFailed) as incomplete:
        complete(
            principal(), ticket.id, CompleteUploadRequest(parts=[CompletedPart(number=1, etag=etags[0])]), carton.store
        )
    assert incomplete.value.errors == {"parts": ["list every part, 1 to 3, once, in order"]}
    parts = [CompletedPart(number=number, etag=etag) for number, etag in enumerate(etags, start=1)]
    complete(principal(), ticket.id, CompleteUploadRequest(parts=parts), carton.store)
    event = with_key(load_event("feeds/upload_created"), key)
    assert carton.invoke("ingest_upload", event) == {"batchItemFailures": []}
    settled = carton.store.get_upload("demo", ticket.id)
    assert settled.state is UploadState.INGESTED and settled.asset_id
    asset = carton.store.get_assets("demo", [settled.asset_id])[settled.asset_id]
    assert asset.size == len(data) and asset.sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(Conflict):  # settled: no more parts
        sign_parts(principal(), ticket.id, SignPartsRequest(numbers=[1]), carton.store)


@pytest.mark.usefixtures("small_threshold")
def test_parts_beyond_the_last_are_refused_naming_the_range(carton: Carton) -> None:
    ticket = create_upload(
        principal(), UploadRequest(filename="b.txt", content_type="text/plain", size=3 * MiB), carton.store, "https://x"
    )
    with pytest.raises(ValidationFailed) as refused:
        sign_parts(principal(), ticket.id, SignPartsRequest(numbers=[1, 2]), carton.store)
    assert refused.value.errors == {"numbers": ["this upload has parts 1 to 1; not 2"]}


def test_a_small_upload_is_one_form_and_has_no_parts(carton: Carton) -> None:
    ticket = create_upload(
        principal(), UploadRequest(filename="s.txt", content_type="text/plain", size=10), carton.store, "https://x"
    )
    assert ticket.upload_method == "POST" and ticket.parts_url is None
    with pytest.raises(Conflict):
        sign_parts(principal(), ticket.id, SignPartsRequest(numbers=[1]), carton.store)


def test_a_file_over_one_copys_limit_is_copied_in_parts(carton: Carton, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multipart, "MAX_FORM_BYTES", MiB)
    monkeypatch.setattr(multipart, "COPY_PART", MIN_PART_SIZE)
    data = text(MIN_PART_SIZE * 2 + 99)
    s3, bucket = aws.s3(), carton.resources.buckets["assets"]
    etag = s3.put_object(Bucket=bucket, Key="uploads/x/y/source.txt", Body=data)["ETag"]
    multipart.copy_object("uploads/x/y/source.txt", etag, "assets/x/y/copy.txt", "text/plain", len(data))
    assert s3.get_object(Bucket=bucket, Key="assets/x/y/copy.txt")["Body"].read() == data


def test_part_sizes_keep_within_s3s_ten_thousand_parts() -> None:
    assert part_size_for(100 * MiB) == MIN_PART_SIZE
    fifty_gib = 50 * 1024 * MiB
    assert part_size_for(fifty_gib) % MiB == 0 and -(-fifty_gib // part_size_for(fifty_gib)) <= 10_000


@pytest.mark.usefixtures("small_threshold")
def test_only_its_creator_or_an_admin_sends_an_uploads_parts(carton: Carton) -> None:
    carton.add_member("maria")
    ticket = create_upload(
        principal(), UploadRequest(filename="c.txt", content_type="text/plain", size=3 * MiB), carton.store, "https://x"
    )
    maria = principal().model_copy(update={"user_id": "maria", "role": Role.MEMBER})
    with pytest.raises(Forbidden):
        sign_parts(maria, ticket.id, SignPartsRequest(numbers=[1]), carton.store)
