"""The ZIP planner: archives built from a plan must be what every reader expects."""

import io
import shutil
import subprocess
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carton.downloads.models import Target
from carton.packaging.formats.base import Member
from carton.packaging.formats.zip import ZIP32_LIMIT, dos_datetime, first_entry_small, plan_archive
from carton.shared.names import MAX_NAME_BYTES, safe_entry_name, unique_names

STAMP = datetime(2026, 11, 23, 9, 42, 16, tzinfo=UTC)


def build(files: dict[str, bytes]) -> bytes:
    """Assemble an archive exactly as the packager does: header, data, ..., directory."""
    members = [Member(name, len(data), zlib.crc32(data)) for name, data in files.items()]
    plan = plan_archive(members, STAMP)
    out = io.BytesIO()
    for entry, data in zip(plan.entries, files.values(), strict=True):
        assert out.tell() == entry.offset
        out.write(entry.header)
        out.write(data)
    assert out.tell() == plan.tail_offset
    out.write(plan.tail)
    assert out.tell() == plan.size
    return out.getvalue()


def test_archive_reads_back_in_zipfile_with_names_sizes_crcs_and_dates() -> None:
    files = {"a.txt": b"hello", "dir/b.bin": bytes(range(256)) * 40, "empty": b"", "ñandú/fotó.png": b"\x89PNG"}
    archive = zipfile.ZipFile(io.BytesIO(build(files)))
    assert archive.testzip() is None
    assert archive.namelist() == list(files)
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.flag_bits & 0x08 == 0, "no data descriptors"
        assert info.flag_bits & 0x0800, "names are flagged UTF-8"
        assert info.date_time == (2026, 11, 23, 9, 42, 16)
        assert archive.read(info) == files[info.filename]
        assert zlib.crc32(files[info.filename]) == info.CRC


def test_empty_archive_is_valid() -> None:
    archive = zipfile.ZipFile(io.BytesIO(build({})))
    assert archive.namelist() == []


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed (make tools)")
def test_unzip_accepts_the_archive(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "a.zip"  # type: ignore[operator]
    path.write_bytes(build({"a.txt": b"x" * 1000, "Fotografía ñandú.png": b"png"}))
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


def test_zip64_records_appear_only_where_sizes_or_offsets_need_them() -> None:
    small = Member("small.txt", 10, 0)
    huge = Member("huge.bin", ZIP32_LIMIT + 10, 1234)
    after = Member("after.txt", 5, 0)
    plan = plan_archive([small, huge, after], STAMP)
    first, big, last = plan.entries
    assert b"\x01\x00" not in first.header[30 + len(b"small.txt") :], "no ZIP64 extra on the first entry"
    assert len(big.header) == 30 + len(b"huge.bin") + 20, "sizes moved into a ZIP64 extra"
    assert last.offset > ZIP32_LIMIT
    assert plan.tail_offset == last.end
    # The end records carry the offsets past 4 GiB: ZIP64 end record and locator present.
    assert b"PK\x06\x06" in plan.tail and b"PK\x06\x07" in plan.tail


def test_more_than_65535_entries_gets_zip64_end_records() -> None:
    plan = plan_archive([Member(f"f{i}", 0, 0) for i in range(65_536)], STAMP)
    assert b"PK\x06\x06" in plan.tail
    plan = plan_archive([Member(f"f{i}", 0, 0) for i in range(100)], STAMP)
    assert b"PK\x06\x06" not in plan.tail


def test_dos_dates_clamp_to_what_zip_can_express() -> None:
    assert dos_datetime(datetime(1970, 1, 1)) == (0, (0 << 9) | (1 << 5) | 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "etc/passwd"),
        ("/absolute/path.txt", "absolute/path.txt"),
        ("C:\\Windows\\system32\\a.dll", "Windows/system32/a.dll"),
        ("a/./b/../c.txt", "a/b/c.txt"),
        ("bad\x00name\x1f.txt", "badname.txt"),
        ("what?<>|.txt", "what____.txt"),
        ("trailing. ", "trailing"),
        ("CON.txt", "_CON.txt"),
        ("..", "file"),
        ("", "file"),
        ("e\u0301.txt", "\u00e9.txt"),
    ],
)
def test_safe_entry_name_examples(raw: str, expected: str) -> None:
    assert safe_entry_name(raw) == expected


@settings(max_examples=300)
@given(st.text(min_size=0, max_size=400))
def test_safe_names_never_escape_or_carry_control_characters(raw: str) -> None:
    name = safe_entry_name(raw)
    path = PurePosixPath(name)
    assert name and not name.startswith("/") and "\\" not in name
    assert ".." not in path.parts and "." not in path.parts
    assert all(ord(ch) >= 0x20 and ch != "\x7f" for ch in name)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert safe_entry_name(name) == name, "sanitising is idempotent"


@given(st.lists(st.sampled_from(["a.jpg", "A.jpg", "a (1).jpg", "b", "B", "dir/a.jpg", "a.JPG"]), max_size=30))
def test_unique_names_are_unique_ignoring_case_and_keep_order(names: list[str]) -> None:
    result = unique_names(names)
    assert len(result) == len(names)
    assert len({name.casefold() for name in result}) == len(result)
    for original, final in zip(names, result, strict=True):
        if original != final:
            assert final.startswith(original.rsplit(".", 1)[0]) and " (" in final


def test_unique_names_counts_before_the_extension() -> None:
    assert unique_names(["a.jpg", "A.JPG", "a.jpg"]) == ["a.jpg", "A (1).JPG", "a (2).jpg"]


def test_a_huge_first_file_gives_way_to_a_small_one() -> None:
    def target(asset_id: str, size: int) -> Target:
        return Target(download_id="d", asset_id=asset_id, position=0, size=size)

    order = first_entry_small([target("huge", ZIP32_LIMIT + 1), target("big", ZIP32_LIMIT), target("tiny", 5)])
    assert [t.asset_id for t in order] == ["tiny", "huge", "big"]
    assert [t.asset_id for t in first_entry_small([target("a", 1), target("b", ZIP32_LIMIT + 1)])] == ["a", "b"]
