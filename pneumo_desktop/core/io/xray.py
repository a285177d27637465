"""The :class:`XRay` every loader returns, and the limits every loader checks.

``XRay.pixels`` is always a 2-D float32 array in [0, 1], display-ready: bone bright, air dark.
An XRay describes what the file says about itself; whether the model can judge it is decided by
the quality gate (:mod:`pneumo_desktop.core.quality`), not here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import XRayLoadError

#: Largest image (in pixels) we agree to decode. Real radiographs are below 20 MP; this stops
#: decompression bombs before they allocate gigabytes.
MAX_PIXELS = 60_000_000
#: Smallest side we agree to load at all (the quality gate has its own, stricter, limit).
MIN_SIDE = 8


@dataclass(frozen=True, eq=False)
class XRay:
    """A decoded X-ray image plus the metadata a user and the model need."""

    pixels: np.ndarray  # 2-D float32 in [0, 1], bone bright
    path: str
    format: str  # "PNG", "JPEG", "TIFF", "BMP", "DICOM"
    width: int  # original size, before any resizing
    height: int
    bit_depth: int
    modality: str | None = None  # DICOM (0008,0060), e.g. "DX", "CR", "CT"
    body_part: str | None = None  # DICOM (0018,0015)
    view_position: str | None = None  # DICOM (0018,5101), e.g. "AP", "PA", "LL"
    photometric: str | None = None  # DICOM (0028,0004) or the PIL mode for other formats
    patient_id: str | None = None
    patient_name: str | None = None  # never logged or exported unless the user asks
    study_date: str | None = None
    study_uid: str | None = None  # DICOM (0020,000D): groups the films of one study
    #: DICOM (0010,1010) Patient's Age as written (e.g. "003Y", "81"); the quality gate parses it.
    patient_age: str | None = None
    patient_birth_date: str | None = None  # DICOM (0010,0030)
    acquisition_date: str | None = None  # DICOM (0008,0022)
    content_date: str | None = None  # DICOM (0008,0023)
    transfer_syntax: str | None = None
    frames: int = 1
    #: DICOM (0008,0016) SOP Class UID by name (e.g. "CT Image Storage"); None when absent or
    #: not in pydicom's dictionary. The quality gate reads it (``quality.is_projection_radiograph``).
    sop_class: str | None = None
    #: Mean chroma (max - min channel, 0..1) of a colour file; radiographs are gray (about 0).
    colourfulness: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def check_dimensions(width: int, height: int) -> None:
    """Refuse absurd sizes before decoding (decompression bombs, corrupt headers)."""
    if width <= 0 or height <= 0:
        raise XRayLoadError("The image has no pixels (zero width or height).", code="corrupt")
    if width * height > MAX_PIXELS:
        raise XRayLoadError(
            f"The image is implausibly large ({width} x {height} pixels) and was not opened.",
            code="too_large",
        )
    if min(width, height) < MIN_SIDE:
        raise XRayLoadError(
            f"The image is too small to be an X-ray ({width} x {height} pixels).", code="too_small"
        )


def check_pixels(pixels: np.ndarray) -> None:
    """What every loader must hand back: 2-D float32, every value finite."""
    if pixels.ndim != 2 or pixels.dtype != np.float32:
        raise AssertionError(f"loader returned {pixels.dtype} {pixels.shape}")  # programming error
    if not np.isfinite(pixels).all():
        raise XRayLoadError("The image contains invalid pixel values.", code="corrupt")


def colourfulness(rgb: np.ndarray) -> float:
    """Mean of (max - min) over the colour channels, scaled to [0, 1], on a subsample of pixels."""
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        return 0.0
    step = max(1, min(rgb.shape[:2]) // 256)
    sub = rgb[::step, ::step, :3].astype(np.float32)
    top = 255.0 if rgb.dtype == np.uint8 else float(max(sub.max(initial=1.0), 1.0))
    return float((sub.max(axis=-1) - sub.min(axis=-1)).mean() / top)
