"""The archive formats a download can be packed in (the seam a new format plugs into: a
module here holding every fact of it, registered in FORMATS)."""

from __future__ import annotations

from carton.downloads.models import Download
from carton.packaging.formats.base import ArchiveFormat
from carton.packaging.formats.tar import TAR
from carton.packaging.formats.zip import ZIP

FORMATS: dict[str, ArchiveFormat] = {ZIP.name: ZIP, TAR.name: TAR}


def format_of(download: Download) -> ArchiveFormat:
    """The format a download is packed and served in."""
    return FORMATS[download.options.format]
