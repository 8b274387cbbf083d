"""The tar planner: archives built from its plan are what tarfile, GNU tar and bsdtar read."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carton.downloads.models import ArchiveFormatName
from carton.packaging.assembly import Source, assemble
from carton.packaging.formats import FORMATS
from carton.packaging.formats.base import Member
from carton.packaging.formats.tar import BLOCK, TAR, header

STAMP = datetime(2026, 11, 25, 9, 42, 16, tzinfo=UTC)
LONG = "folder with a long name/" * 6 + "and a file whose name alone is longer than a hundred bytes " * 2 + ".txt"
FILES = {
    "notes.txt": b"first day\n",
    "empty.txt": b"",
    "block.bin": bytes(range(256)) * 2,  # exactly one block: no padding
    "día 2/Überblick – 東京.md": b"# zweiter Tag\n",
    LONG: b"long name\n",
    "manifest.json": b'{"files": []}\n',
}


def build(files: dict[str, bytes]) -> bytes:
    """Assemble as the packager does: header, data, padding, ..., the end blocks."""
    plan = TAR.plan([Member(name, len(data), zlib.crc32(data)) for name, data in files.items()], STAMP)
    out = io.BytesIO()
    for entry, data in zip(plan.entries, files.values(), strict=True):
        assert out.tell() == entry.offset
        out.write(entry.header + data + entry.padding)
    assert out.tell() == plan.tail_offset
    out.write(plan.tail)
    assert out.tell() == plan.size and plan.size % BLOCK == 0
    return out.getvalue()


def test_every_format_a_client_may_ask_for_has_a_planner() -> None:
    assert set(FORMATS) == set(get_args(ArchiveFormatName))


def test_tarfile_reads_names_sizes_bytes_and_order() -> None:
    with tarfile.open(fileobj=io.BytesIO(build(FILES))) as archive:
        members = archive.getmembers()
        assert [member.name for member in members] == list(FILES)
        for member, data in zip(members, FILES.values(), strict=True):
            assert member.isfile() and member.mode == 0o644 and member.mtime == int(STAMP.timestamp())
            extracted = archive.extractfile(member)
            assert extracted is not None and extracted.read() == data


@pytest.mark.parametrize("reader", ["tar", "bsdtar"])
def test_gnu_tar_and_bsdtar_list_and_extract_it(tmp_path: Path, reader: str) -> None:
    if shutil.which(reader) is None:
        pytest.skip(f"{reader} is not installed (make test installs it)")
    archive = tmp_path / "a.tar"
    archive.write_bytes(build(FILES))
    listed = subprocess.run([reader, "-tf", str(archive)], capture_output=True, check=True)
    assert listed.stdout.decode().splitlines() == list(FILES)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([reader, "-xf", str(archive), "-C", str(out)], check=True, capture_output=True)
    for name, data in FILES.items():
        assert (out / name).read_bytes() == data


def test_a_member_of_8_gib_or_more_has_its_size_in_a_pax_record() -> None:
    small, large = header(Member("a.bin", 8 * 1024**3 - 1, 0), STAMP), header(Member("a.bin", 8 * 1024**3, 0), STAMP)
    assert len(small) == BLOCK and b"size=" not in small  # ustar's 11 octal digits still hold it
    assert b" size=8589934592\n" in large and len(large) % BLOCK == 0


def test_assembly_glues_headers_and_padding_around_members() -> None:
    data = {"a.bin": b"x" * 700, "b.bin": b"y" * 3}
    members = [Member(name, len(body), zlib.crc32(body)) for name, body in data.items()]
    plan = TAR.plan(members, STAMP)
    parts = assemble(plan, [Source(name, "etag", len(body)) for name, body in data.items()])
    assert parts.size == plan.size
    assert parts.crc32 == zlib.crc32(build(data))  # headers, members, padding and tail in order


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=120).filter(
    lambda name: name.strip("/") == name and "//" not in name and name not in (".", "..") and "/./" not in name
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(names, st.binary(max_size=1500), min_size=1, max_size=6))
def test_any_names_and_sizes_read_back(files: dict[str, bytes]) -> None:
    files = {name: data for name, data in files.items() if ".." not in name.split("/")}
    if not files:
        return
    with tarfile.open(fileobj=io.BytesIO(build(files))) as archive:
        read = {member.name: archive.extractfile(member).read() for member in archive.getmembers()}  # type: ignore[union-attr]
    assert read == files
