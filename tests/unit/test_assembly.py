"""The part split: invariants S3 does not check locally (moto validates none of them)."""

from __future__ import annotations

import io
import itertools
import os
import zipfile
import zlib
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from carton.packaging import assembly
from carton.packaging.assembly import MAX_PARTS, Copy, Literal, Part, Source, Span, assemble, crc32_combine
from carton.packaging.formats.base import Member
from carton.packaging.formats.zip import plan_archive
from carton.packaging.workers import PlanDocument, pack_parts
from carton.shared.errors import StorageThrottled

STAMP = datetime(2026, 11, 23, tzinfo=UTC)


@given(st.binary(max_size=200), st.binary(max_size=5000))
def test_crc32_combine_matches_zlib(first: bytes, second: bytes) -> None:
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(first + second)


def rebuild(parts: tuple[assembly.Part, ...], contents: list[bytes]) -> bytes:
    out = io.BytesIO()
    for part in parts:
        for piece in part.pieces:
            out.write(piece.data if isinstance(piece, Literal) else contents[piece.member][piece.start : piece.end])
    return out.getvalue()


def check_invariants(result: assembly.Assembly, sizes: list[int]) -> None:
    parts = result.parts
    assert [part.number for part in parts] == list(range(1, len(parts) + 1))
    assert len(parts) <= MAX_PARTS
    assert all(assembly.MIN_PART <= part.size <= assembly.MAX_PART for part in parts[:-1])
    assert sum(part.size for part in parts) == result.size
    for part in parts:
        for piece in part.pieces:
            if isinstance(piece, Span | Copy):
                assert 0 <= piece.start < piece.end <= sizes[piece.member]
        if any(isinstance(piece, Copy) for piece in part.pieces):
            assert part.is_copy, "a copy is a part of its own"
    groups = result.groups()
    assert groups[0][0] == 1 and groups[-1][1] == len(parts)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(groups))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=0, max_size=25))
def test_scaled_down_archives_rebuild_exactly_and_read_back(sizes: list[int]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        # The real rules at 1/65,536 scale: 80-byte parts, copies from 256 bytes.
        patch.setattr(assembly, "MIN_PART", 80)
        patch.setattr(assembly, "GLUE_PART", 128)
        patch.setattr(assembly, "COPY_THRESHOLD", 256)
        patch.setattr(assembly, "MAX_PART", 1000)
        patch.setattr(assembly, "MiB", 16)
        contents = [os.urandom(size) for size in sizes]
        members = [Member(f"f{i}.bin", len(data), zlib.crc32(data)) for i, data in enumerate(contents)]
        plan = plan_archive(members, STAMP)
        result = assemble(plan, [Source(f"k{i}", "e", len(data)) for i, data in enumerate(contents)])
        check_invariants(result, sizes)
    archive = rebuild(result.parts, contents)
    assert len(archive) == plan.size
    assert zlib.crc32(archive) == result.crc32
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert opened.testzip() is None
        assert [opened.read(f"f{i}.bin") for i in range(len(sizes))] == contents


def test_large_members_are_copied_server_side_and_borrow_at_most_one_part() -> None:
    mib = assembly.MiB
    sizes = [3 * mib, 700 * mib, 20 * mib, 12 * 1024 * mib]
    members = [Member(f"m{i}", size, 0) for i, size in enumerate(sizes)]
    plan = plan_archive(members, STAMP)
    result = assemble(plan, [Source(f"k{i}", "e", size) for i, size in enumerate(sizes)])
    check_invariants(result, sizes)
    streamed = result.size - result.copied_bytes
    assert streamed < 3 * mib + 3 * assembly.MIN_PART + 4096
    assert result.copied_bytes / result.size > 0.99
    copies = [part.pieces[0] for part in result.parts if part.is_copy]
    assert {piece.member for piece in copies} == {1, 2, 3}
    assert sum(1 for piece in copies if piece.member == 3) == 3, "12 GiB is copied as three parts of 4 GiB"


def test_many_small_files_grow_the_glue_parts_to_stay_under_10000() -> None:
    sizes = [2 * assembly.MiB] * 60_000  # ~120 GiB of small files
    plan = plan_archive([Member(f"f{i}", size, 0) for i, size in enumerate(sizes)], STAMP)
    result = assemble(plan, [Source(f"k{i}", "e", size) for i, size in enumerate(sizes)])
    check_invariants(result, sizes)
    assert result.copied_bytes == 0


def test_s3_throttling_while_packing_is_a_retryable_error() -> None:
    # botocore's own stubber stands in for S3 here: moto cannot answer SlowDown.
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    document = PlanDocument(
        archive_key="archives/a.zip",
        upload_id="u",
        size=10,
        crc32=0,
        sources=(),
        parts=(Part(1, [Literal(b"0123456789")]),),
        counted=(),
    )
    with Stubber(s3) as stub:
        stub.add_client_error("upload_part", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(StorageThrottled):
            pack_parts(s3, document, 1, 1, "assets", "archives")
