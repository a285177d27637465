"""DICOM pixels to display: the grey-scale transforms, in the order of pydicom's
``pixels/processing.py`` and of DICOM PS3.3 C.11.

1. colour images (RGB, YBR_*, PALETTE COLOR) are converted to RGB ONCE (:func:`to_rgb`), then to
   gray (luma), and skip the grey-scale transforms below;
2. Modality LUT: the Modality LUT Sequence, or Rescale Slope/Intercept;
3. VOI: the first VOI LUT Sequence item, or else the first Window Center/Width pair (LINEAR,
   LINEAR_EXACT or SIGMOID); the result is scaled to [0, 1] over the VOI's output range. With no
   usable VOI the data's own min..max is used;
4. Presentation LUT (Sequence, or Shape), then MONOCHROME1: the image is inverted **once** when
   the photometric interpretation is MONOCHROME1 *or* the Presentation LUT Shape is INVERSE.
   MONOCHROME1 with INVERSE (what the DX IOD requires) is the same inversion said twice, not two
   inversions.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import XRayLoadError
from .dicom_elements import int_value, text_value

log = logging.getLogger(__name__)

def to_rgb(arr: np.ndarray, photometric: str) -> tuple[np.ndarray, str]:
    """A decoded 3-sample frame in RGB, and the photometric interpretation it now has. This is the
    one place YBR is converted (YBR_ICT and YBR_RCT are undone by the JPEG 2000 decoder itself)."""
    if photometric.startswith("YBR") and photometric not in ("YBR_ICT", "YBR_RCT"):
        from pydicom.pixels.processing import convert_color_space

        return convert_color_space(arr, photometric, "RGB"), "RGB"
    return arr, photometric


def to_display(arr: np.ndarray, ds: Any, photometric: str, notes: list[str]) -> np.ndarray:
    """Decoded frame -> 2-D float32 in [0, 1], bone bright. A 3-sample frame must already be RGB
    (:func:`to_rgb`)."""
    if arr.ndim == 3:
        out = _colour_to_gray(arr, ds, photometric, notes)
    elif arr.ndim != 2:
        raise XRayLoadError("The DICOM image has an unexpected shape.", code="corrupt")
    elif photometric == "PALETTE COLOR":
        from pydicom.pixels.processing import apply_color_lut

        out = _colour_to_gray(apply_color_lut(arr, ds), ds, "RGB", notes)
    elif arr.dtype.kind == "f":
        notes.append("floating-point pixel data: scaled to its own range")
        out = scale_min_max(arr.astype(np.float64))
    else:
        out = _grey_pipeline(arr, ds, photometric, notes)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)


def _colour_to_gray(arr: np.ndarray, ds: Any, photometric: str, notes: list[str]) -> np.ndarray:
    if arr.shape[-1] != 3:
        raise XRayLoadError(
            f"The DICOM image has an unsupported colour layout ({arr.shape[-1]} samples).",
            code="unsupported",
        )
    notes.append(f"colour image ({text_value(ds, 'PhotometricInterpretation') or photometric}) shown as gray")
    if arr.dtype.kind in "ui":
        top = float(np.iinfo(arr.dtype).max)
        bits = int_value(ds, "BitsStored")
        if arr.dtype.itemsize > 1 and bits and 8 <= bits < 16 and arr.max(initial=0) < 2**bits:
            top = float(2**bits - 1)
    else:
        top = float(arr.max(initial=1.0)) or 1.0
    rgb = arr.astype(np.float32)
    gray = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114  # ITU-R 601 luma
    return gray / top


def _grey_pipeline(arr: np.ndarray, ds: Any, photometric: str, notes: list[str]) -> np.ndarray:
    values = apply_modality_lut(arr, ds)
    out = apply_voi(values, ds, photometric, notes)
    if out is None:
        if (ds.get("VOILUTSequence") or "WindowCenter" in ds) and not any(
            n.startswith("window outside") for n in notes
        ):
            notes.append("window/VOI LUT unusable: scaled to the data range")
        out = scale_min_max(values)
    out = apply_presentation_lut(out, ds, notes)

    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    if shape not in ("", "IDENTITY", "INVERSE"):
        notes.append(f"Presentation LUT Shape {shape} ignored")
    # MONOCHROME1 and Presentation LUT Shape INVERSE say the same thing; invert once.
    if photometric == "MONOCHROME1" or shape == "INVERSE":
        out = 1.0 - out
    return out


# --------------------------------------------------------------------------------------------
# LUTs


def _lut_values(item: Any, ds: Any) -> tuple[np.ndarray, int, int]:
    """(LUT entries as int64, first stored value mapped, bits per entry) of a LUT item."""
    descriptor = [int(v) for v in item.LUTDescriptor]
    nr_entries = descriptor[0] or 2**16
    first_map = descriptor[1]
    bits = descriptor[2]
    elem = item["LUTData"]
    value = elem.value
    if isinstance(value, bytes | bytearray):
        little = _is_little_endian(ds)
        lut = np.frombuffer(value[: len(value) // 2 * 2], dtype="<u2" if little else ">u2")
        if bits <= 8 and len(lut) * 2 == nr_entries:  # two 8-bit entries packed per word
            lut = np.frombuffer(value, dtype=np.uint8)
    else:
        lut = np.atleast_1d(np.asarray(value, dtype=np.int64))
    lut = lut.astype(np.int64)
    if lut.size == 0:
        raise ValueError("empty LUT")
    if lut.size > nr_entries:
        lut = lut[:nr_entries]
    if first_map >= 2**15 and int(ds.get("PixelRepresentation", 0)) == 1:
        first_map -= 2**16  # US read for what is an SS value in signed images
    return lut, first_map, bits


def _is_little_endian(ds: Any) -> bool:
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if tsyntax:
        try:
            return bool(tsyntax.is_little_endian)
        except Exception:
            pass
    little = ds.original_encoding[1]
    return True if little is None else bool(little)


def _lookup(values: np.ndarray, lut: np.ndarray, first_map: int) -> np.ndarray:
    index = np.rint(values).astype(np.int64) - first_map
    np.clip(index, 0, lut.size - 1, out=index)
    return lut[index]


def apply_modality_lut(arr: np.ndarray, ds: Any) -> np.ndarray:
    """Stored values -> modality values (float64)."""
    seq = ds.get("ModalityLUTSequence")
    if seq:
        try:
            lut, first_map, _bits = _lut_values(seq[0], ds)
            return _lookup(arr, lut, first_map).astype(np.float64)
        except Exception:  # a broken LUT: fall through to the rescale
            log.debug("unusable Modality LUT Sequence", exc_info=True)
    values = arr.astype(np.float64)
    try:
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        return values
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0:
        return values
    if slope != 1.0:
        values *= slope
    if intercept != 0.0:
        values += intercept
    return values


def apply_voi(values: np.ndarray, ds: Any, photometric: str, notes: list[str]) -> np.ndarray | None:
    """Modality values -> [0, 1] through the first VOI LUT or window; None when there is none."""
    seq = ds.get("VOILUTSequence")
    if seq:
        try:
            lut, first_map, bits = _lut_values(seq[0], ds)
            top = _lut_top(lut, bits)
            if len(seq) > 1:
                notes.append(f"VOI LUT 1 of {len(seq)} used")
            return _lookup(values, lut, first_map) / top
        except Exception:  # a broken LUT: try the window instead
            log.debug("unusable VOI LUT Sequence", exc_info=True)

    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        return None
    try:
        centers = _floats(ds.WindowCenter)
        widths = _floats(ds.WindowWidth)
        center, width = centers[0], widths[0]
    except Exception:  # empty or non-numeric DS values
        return None
    if not (np.isfinite(center) and np.isfinite(width)):
        return None
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= center - width / 2 or lo > center + width / 2:
        # Seen in real files (e.g. data offset by 32768 with a window for the unshifted
        # values): the window would show a blank image, so it is ignored.
        notes.append("window outside the data range: ignored")
        return None
    if len(centers) > 1:
        notes.append(f"window 1 of {len(centers)} used")
    return window(values, center, width, function)


def _lut_top(lut: np.ndarray, bits: int) -> float:
    """The top of a LUT's output range: 2**bits - 1 from its descriptor, with two repairs for
    descriptors seen in the wild: entries above that range (descriptor too small) and a 12-bit
    LUT declared as 16-bit (every entry below 4096)."""
    lut_max = int(lut.max())
    if lut_max >= 2**bits:
        return float(2 ** lut_max.bit_length() - 1)
    if bits == 16 and 0 < lut_max < 2**12:
        return float(2**12 - 1)
    return float(max(2**bits - 1, 1))


def _floats(value: Any) -> list[float]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return [float(value)]
    return [float(v) for v in value]


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """DICOM windowing (PS3.3 C.11.2.1.2) of modality values straight to [0, 1].

    ``function`` is the VOI LUT Function: LINEAR (default, also for unknown values),
    LINEAR_EXACT or SIGMOID. An invalid width (< 1 for LINEAR, <= 0 otherwise) returns the
    data's min..max scaling instead.
    """
    values = np.asarray(values, dtype=np.float64)
    if function == "SIGMOID":
        if width <= 0:
            return scale_min_max(values)
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        if width <= 0:
            return scale_min_max(values)
        c, w = center, width
    else:
        if width < 1:
            return scale_min_max(values)
        c, w = center - 0.5, width - 1.0
    if w <= 0:  # width 1: a threshold
        return (values > c).astype(np.float64)
    out = (values - c) / w + 0.5
    np.clip(out, 0.0, 1.0, out=out)
    return out


def scale_min_max(values: np.ndarray) -> np.ndarray:
    lo = float(np.min(values))
    hi = float(np.max(values))
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return np.zeros(values.shape, dtype=np.float64)
    return (values - lo) / (hi - lo)


def apply_presentation_lut(out: np.ndarray, ds: Any, notes: list[str]) -> np.ndarray:
    """Apply a Presentation LUT Sequence (rare in images) to [0, 1] values."""
    seq = ds.get("PresentationLUTSequence")
    if not seq:
        return out
    try:
        lut, _first, bits = _lut_values(seq[0], ds)
        index = np.rint(out * (lut.size - 1)).astype(np.int64)
        top = _lut_top(lut, bits)
        return lut[index] / top
    except Exception:
        notes.append("Presentation LUT Sequence unusable: ignored")
        log.debug("unusable Presentation LUT Sequence", exc_info=True)
        return out
