import ipaddress
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carton.assets.models import Translation
from carton.shared.checksums import checksums
from carton.shared.images import DimensionReader, ImageTooLarge
from carton.shared.media import agrees, media_group, sniff
from carton.shared.safehttp import Policy, UnsafeDestination, checked_destination, is_public
from carton_local.demo import png


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"GIF89a...", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00....", "image/tiff"),
        (b"%PDF-1.7", "application/pdf"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
        (b"\x1aE\xdf\xa3....", "video/webm"),
        ("month,count\nnovember,3\ncafé".encode(), "text/plain"),
        (b"MZ\x90\x00\x03\x00", None),
        (b"", None),
    ],
)
def test_sniffing(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_declared_types_must_agree_with_the_bytes() -> None:
    assert agrees("image/jpg", "image/jpeg") and agrees("text/csv", "text/plain")
    assert not agrees("image/png", "image/jpeg") and not agrees("application/pdf", "text/plain")
    assert (media_group("image/webp"), media_group("video/mp4"), media_group("text/csv"), media_group("x/y")) == (
        "image",
        "video",
        "document",
        "other",
    )


def test_private_tags_move_to_the_front_keeping_order() -> None:
    tags = Translation(language="en", tags=["b", "$x", "a", "$y"]).tags
    assert tags == ["$x", "$y", "b", "a"]


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_checksums_match_zlib_and_hashlib_over_any_chunking(chunks: list[bytes]) -> None:
    joined = b"".join(chunks)
    sums = checksums(chunks)
    assert (sums.size, sums.crc32) == (len(joined), zlib.crc32(joined))


def test_dimensions_are_read_from_the_first_bytes() -> None:
    reader = DimensionReader()
    data = png(321, 123)
    for start in range(0, len(data), 50):
        reader.feed(data[start : start + 50])
    assert reader.size == (321, 123)


def test_enormous_dimensions_are_refused_from_the_header() -> None:
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)
    idat = struct.pack(">I", 0) + b"IDAT" + struct.pack(">I", zlib.crc32(b"IDAT"))
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + idat
    with pytest.raises(ImageTooLarge):
        DimensionReader().feed(header)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address to refuse; nothing binds)
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "2002:a00:1::",
        "64:ff9b::a00:1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://2130706433/x",  # decimal 127.0.0.1
        "https://0x7f.0.0.1/x",  # hexadecimal
        "https://017700000001/x",  # octal
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://localhost/x",
        "http://8.8.8.8/x",  # not https
        "ftp://8.8.8.8/x",
    ],
)
def test_unsafe_destinations_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(UnsafeDestination):
        checked_destination(url, Policy())


def test_loopback_only_with_the_developer_opt_in() -> None:
    assert checked_destination("http://127.0.0.1:8080/h", Policy(allow_loopback=True))[3] == ipaddress.ip_address(
        "127.0.0.1"
    )
    with pytest.raises(UnsafeDestination):
        checked_destination("http://10.0.0.1/h", Policy(allow_loopback=True))
