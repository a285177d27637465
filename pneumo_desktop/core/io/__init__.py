"""Reading X-ray files: from a path to a display-ready :class:`XRay`. No model, no policy.

Modules, from the bottom (each imports only those above it in this list; no cycle):

=================  ==========================================================================
``xray``           the :class:`XRay` dataclass, size limits, pixel checks, colourfulness
``failures``       OS errors and ``MemoryError`` -> the user's :class:`XRayLoadError`
``sniff``          a file's kind from its first bytes (PNG, JPEG, TIFF, BMP, DICOM)
``codecs``         THE codecs table: transfer syntax -> decoder -> package -> licence
``raster``         PNG/JPEG/TIFF/BMP through Pillow
``dicom_elements`` defensive reads of single DICOM elements
``dicom_display``  modality LUT, VOI LUT / window, Presentation LUT, MONOCHROME1, colour
``dicom_decode``   transfer syntax (guessed when absent) and the first frame's pixels
``dicom``          a DICOM file -> XRay
``loader``         :func:`load_xray`: sniff, dispatch, the one ``MemoryError`` mapping
``dicomdir``       the index of a CD or USB stick
``walk``           the files of the folders a user opens
=================  ==========================================================================

Whether the model can judge an XRay (modality, view, age, colour...) is decided by the quality
gate, :mod:`pneumo_desktop.core.quality`. Importing this package imports neither pydicom nor
Pillow: they are imported when a file needs them.
"""

from __future__ import annotations

from .failures import MEMORY_MESSAGE, load_error_from_os
from .loader import load_xray
from .sniff import detect_format, sniff_format
from .walk import iter_image_files, walk_files
from .xray import MAX_PIXELS, MIN_SIDE, XRay

__all__ = [
    "MAX_PIXELS",
    "MEMORY_MESSAGE",
    "MIN_SIDE",
    "XRay",
    "detect_format",
    "iter_image_files",
    "load_error_from_os",
    "load_xray",
    "sniff_format",
    "walk_files",
]
