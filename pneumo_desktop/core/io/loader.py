"""Open any X-ray file (PNG, JPEG, TIFF, BMP, DICOM) as an :class:`XRay`.

The file type is sniffed from its content (:mod:`.sniff`), never from its extension, and the
file is handed to its loader (:mod:`.raster` or :mod:`.dicom`). Every failure is raised as
:class:`~pneumo_desktop.core.errors.XRayLoadError` with a short human message; this is the one
place where ``MemoryError`` becomes the user's "not enough memory" error.
"""

from __future__ import annotations

import logging
import os
import stat

from ..errors import XRayLoadError
from .failures import load_error_from_os, memory_error
from .sniff import HEAD_SIZE, looks_like_text, sniff_format
from .xray import XRay, check_pixels

log = logging.getLogger(__name__)


def load_xray(path: str | os.PathLike[str]) -> XRay:
    """Load ``path`` as an X-ray. Raises :class:`XRayLoadError` (and nothing else) on bad input."""
    path = str(path)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            with os.scandir(path):  # PermissionError: a folder the scan could not list
                pass
            raise IsADirectoryError(21, "Is a directory", path)
        if not stat.S_ISREG(mode):  # opening a pipe would wait for a writer forever
            raise XRayLoadError("Not an image file: this is a device or a pipe.", code="not_a_file")
        with open(path, "rb") as fh:
            head = fh.read(HEAD_SIZE)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise load_error_from_os(exc) from exc

    if size == 0:
        raise XRayLoadError("The file is empty (0 bytes).", code="empty")
    fmt = sniff_format(head)
    if fmt is None:
        if looks_like_text(head):
            raise XRayLoadError("Not an image: the file contains text.", code="not_image")
        raise XRayLoadError("Not an image file that Pneumo Desktop can read.", code="not_image")

    try:
        if fmt == "DICOM":
            from .dicom import load_dicom  # pydicom is imported only when needed

            xray = load_dicom(path)
        else:
            from .raster import load_raster

            xray = load_raster(path, fmt)
    except XRayLoadError:
        raise
    except MemoryError as exc:  # the ONE mapping of MemoryError (the decoders let it through)
        raise memory_error() from exc
    except Exception as exc:  # a decoder may raise anything on corrupt data
        log.debug("decoder failure for %s", path, exc_info=True)
        raise XRayLoadError(
            f"The {fmt} file is damaged or truncated and cannot be decoded.", code="corrupt"
        ) from exc
    check_pixels(xray.pixels)
    return xray
