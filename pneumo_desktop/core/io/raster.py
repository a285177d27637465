"""PNG, JPEG, TIFF and BMP through Pillow: any mode to 2-D float32 gray in [0, 1].

A colour file is converted to gray for the model, and its colourfulness is kept on the
:class:`~pneumo_desktop.core.io.xray.XRay` for the quality gate (a colour photo is no radiograph).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..errors import XRayLoadError
from .xray import XRay, check_dimensions, colourfulness

if TYPE_CHECKING:
    from PIL.Image import Image

#: PIL modes that hold no colour.
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def load_raster(path: str, fmt: str) -> XRay:
    """Load a PNG/JPEG/TIFF/BMP file (``fmt``: its sniffed format) as an :class:`XRay`."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    with warnings.catch_warnings():
        # Our own MAX_PIXELS check runs first; turn PIL's bomb warning into an error just in case.
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            opened = PILImage.open(path)
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
            # PIL refuses absurd sizes while reading the header, before our own check can run.
            raise XRayLoadError("The image is implausibly large and was not opened.", code="too_large") from exc
        with opened as img:
            check_dimensions(*img.size)
            mode = img.mode
            bits = _bit_depth(img)
            # No draft("L") for JPEG: decoding a colour JPEG straight to gray would hide its colour
            # from the quality gate, and a colour photo would get a pneumonia label.
            img.load()
            shown: Image = ImageOps.exif_transpose(img) or img
            width, height = shown.size  # as displayed, i.e. after the EXIF rotation
            colour = colourfulness(np.asarray(shown.convert("RGB"))) if shown.mode not in GRAY_MODES else 0.0
            pixels = to_gray(shown)
    return XRay(
        colourfulness=colour,
        pixels=pixels,
        path=path,
        format=fmt,
        width=width,
        height=height,
        bit_depth=bits,
        photometric=mode,
        modality=None,
    )


def _bit_depth(img: Image) -> int:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return 16
    if img.mode == "F":
        return 32
    if img.mode == "1":
        return 1
    return 8


def to_gray(img: Image) -> np.ndarray:
    """Any PIL image -> 2-D float32 gray in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.float32) / 65535.0
    elif mode == "I":
        wide = np.asarray(img, dtype=np.float64)
        # 16-bit PNGs open as mode "I" in PIL: scale by the container's range.
        if wide.max(initial=0) <= 65535 and wide.min(initial=0) >= 0:
            wide = wide / 65535.0
        else:
            lo, hi = float(wide.min()), float(wide.max())
            wide = (wide - lo) / (hi - lo) if hi > lo else np.zeros_like(wide)
        arr = wide.astype(np.float32)
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    else:
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
            # Composite transparent pixels on black (air), not on undefined colour.
            from PIL import Image as PILImage

            rgba = img.convert("RGBA")
            background = PILImage.new("RGBA", rgba.size, (0, 0, 0, 255))
            background.alpha_composite(rgba)
            img = background
        if img.mode != "L":
            img = img.convert("L")  # ITU-R 601-2 luma for RGB, CMYK, palette, 1-bit
        arr = np.asarray(img, dtype=np.float32) / 255.0
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)
