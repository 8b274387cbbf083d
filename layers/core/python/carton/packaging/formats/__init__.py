"""The archive formats a download can be packed in (the seam a new format plugs into: a
module here holding every fact of it, registered in FORMATS)."""

from __future__ import annotations

from carton.downloads.models import Download
from carton.packaging.formats.base import ArchiveFormat
from carton.packaging.formats.zip import ZIP

FORMATS: dict[str, ArchiveFormat] = {ZIP.name: ZIP}
DEFAULT_FORMAT = ZIP.name


def format_of(download: Download) -> ArchiveFormat:
    """The format a download is packed and served in (ZIP: the only one offered yet)."""
    del download  # every download is a ZIP until a client may choose
    return FORMATS[DEFAULT_FORMAT]
