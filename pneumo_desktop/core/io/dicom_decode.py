"""Decoding DICOM pixel data: the transfer syntax (guessed when the file does not say), then the
first frame through pydicom's decoding plugins in the order of the codecs table
(:mod:`pneumo_desktop.core.io.codecs`), with GDCM called directly for 12-bit JPEG Extended.

If one plugin fails the next one is tried; only installed plugins are used.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import XRayLoadError
from .codecs import plugin_order
from .dicom_elements import int_value
from .failures import PASS_THROUGH
from .xray import MAX_PIXELS

log = logging.getLogger(__name__)

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

CORRUPT_MESSAGE = "The DICOM image data is damaged or truncated and cannot be decoded."


# --------------------------------------------------------------------------------------------
# Transfer syntax


def ensure_transfer_syntax(ds: Any, notes: list[str]) -> Any:
    """The dataset's Transfer Syntax UID; guessed (and stored in file_meta) when absent."""
    from pydicom import uid
    from pydicom.dataset import FileMetaDataset

    file_meta = getattr(ds, "file_meta", None)
    tsyntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if tsyntax:
        tsyntax = uid.UID(str(tsyntax).strip().strip("\x00"))
        if tsyntax.is_transfer_syntax:
            return tsyntax
        log.debug("unknown transfer syntax %s: guessing from the data", tsyntax)
        notes.append(f"unknown transfer syntax {tsyntax}: guessed from the data")
    implicit, little = ds.original_encoding
    if implicit is None:
        implicit, little = True, True
    if implicit and not little:
        raise XRayLoadError(
            "The DICOM file uses an invalid encoding (implicit VR big endian).", code="unsupported"
        )
    if implicit:
        guess = uid.ImplicitVRLittleEndian
    elif little:
        guess = uid.ExplicitVRLittleEndian
    else:
        guess = uid.ExplicitVRBigEndian
    pixel_elem = next((ds[kw] for kw in PIXEL_KEYWORDS if kw in ds), None)
    if pixel_elem is not None and pixel_elem.is_undefined_length:
        encapsulated = _guess_encapsulated_syntax(pixel_elem.value)
        if encapsulated is None:
            raise XRayLoadError(
                f"This DICOM compression ({tsyntax or 'unknown'}) is not supported.", code="unsupported"
            )
        guess = encapsulated
    if file_meta is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = guess
    if not tsyntax:
        notes.append(f"no File Meta: transfer syntax guessed as {guess.name}")
    return guess


def _guess_encapsulated_syntax(data: bytes) -> Any:
    """Guess the codec of encapsulated pixel data from its first fragment's bytes."""
    from pydicom import uid
    from pydicom.encaps import generate_fragments

    try:
        fragment = next(generate_fragments(data[8 + int.from_bytes(data[4:8], "little") :]))
    except Exception:
        return None
    if fragment.startswith(b"\xff\x4f\xff\x51") or fragment[4:8] == b"jP  ":
        return uid.JPEG2000
    if fragment.startswith(b"\xff\xd8"):
        for marker, syntax in (
            (b"\xff\xc0", uid.JPEGBaseline8Bit),
            (b"\xff\xc1", uid.JPEGExtended12Bit),
            (b"\xff\xc3", uid.JPEGLossless),
            (b"\xff\xf7", uid.JPEGLSLossless),
        ):
            if marker in fragment[:4096]:
                return syntax
        return None
    if len(fragment) >= 64 and 1 <= int.from_bytes(fragment[:4], "little") <= 15:
        return uid.RLELossless
    return None


def fill_missing_pixel_module(ds: Any, notes: list[str]) -> None:
    """Old ACR-NEMA files may lack elements that pydicom needs to decode; supply the defaults."""
    if "SamplesPerPixel" not in ds:
        ds.SamplesPerPixel = 1
    if "PhotometricInterpretation" not in ds and int(ds.SamplesPerPixel) == 1:
        ds.PhotometricInterpretation = "MONOCHROME2"
        notes.append("no Photometric Interpretation: MONOCHROME2 assumed")
    if "PixelRepresentation" not in ds:
        ds.PixelRepresentation = 0
    if "BitsAllocated" in ds and "BitsStored" not in ds:
        ds.BitsStored = ds.BitsAllocated
    if "BitsStored" in ds and "HighBit" not in ds:
        ds.HighBit = int(ds.BitsStored) - 1


# --------------------------------------------------------------------------------------------
# Decoding


def decode_first_frame(ds: Any, tsyntax: Any, frames: int) -> tuple[np.ndarray, str]:
    """Decode frame 0. Returns the array and the photometric interpretation of that array."""
    from pydicom.pixels import get_decoder

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise XRayLoadError(
            f"This DICOM compression ({tsyntax.name}) is not supported.", code="unsupported"
        ) from exc

    gdcm_direct = _gdcm_jpeg_extended_applies(ds, tsyntax)
    if not tsyntax.is_compressed:
        labels: list[str] = [""]  # native: numpy only
    else:
        available = list(decoder.available_plugins)
        preferred = plugin_order(str(tsyntax))
        labels = [p for p in preferred if p in available] + [p for p in available if p not in preferred]
        if gdcm_direct:
            # pydicom's GDCM and Pillow plugins refuse 12-bit JPEG Extended outright (and log
            # the refusal as an error): go straight to GDCM unless pylibjpeg-libjpeg is there.
            labels = [p for p in labels if p not in ("gdcm", "pillow")]
        if not labels and not gdcm_direct:
            raise XRayLoadError(
                f"This DICOM compression ({tsyntax.name}) cannot be decoded: no decoder is installed.",
                code="unsupported",
            )

    failures: list[str] = []
    for label in labels:
        try:
            arr, meta = decoder.as_array(ds, index=0, decoding_plugin=label)
        except PASS_THROUGH:
            raise
        except Exception as exc:  # plugins raise anything on bad streams
            failures.append(f"{label or 'native'}: {type(exc).__name__}: {exc}")
            continue
        log.debug("decoded %s with %s", tsyntax.name, label or "native")
        return arr, str(meta.get("photometric_interpretation", photometric)).upper()

    if gdcm_direct:
        try:
            arr = _decode_jpeg_extended_with_gdcm(ds, frames)
        except PASS_THROUGH:
            raise
        except Exception as exc:
            failures.append(f"gdcm (direct): {type(exc).__name__}: {exc}")
        else:
            log.debug("decoded %s with GDCM directly", tsyntax.name)
            return arr, photometric

    if frames > 1 and tsyntax.is_compressed:
        # Some multi-frame files have fragments pydicom cannot map to frames one by one; decoding
        # all of them is the last resort (bounded: the frames are small enough in total).
        if frames * int(ds.Rows) * int(ds.Columns) <= 4 * MAX_PIXELS:
            try:
                arr, meta = decoder.as_array(ds)
                return arr[0], str(meta.get("photometric_interpretation", photometric)).upper()
            except PASS_THROUGH:
                raise
            except Exception as exc:
                failures.append(f"all frames: {type(exc).__name__}: {exc}")

    log.debug("decoding failed for %s: %s", tsyntax.name, " | ".join(failures))
    raise XRayLoadError(CORRUPT_MESSAGE, code="corrupt")


def _gdcm_jpeg_extended_applies(ds: Any, tsyntax: Any) -> bool:
    from pydicom import uid

    if tsyntax != uid.JPEGExtended12Bit or (int_value(ds, "SamplesPerPixel") or 1) != 1:
        return False
    if (int_value(ds, "BitsStored") or 8) <= 8:
        return False  # 8-bit process 2: the ordinary plugins handle it
    try:
        import gdcm  # noqa: F401
    except ImportError:
        return False
    return True


def _decode_jpeg_extended_with_gdcm(ds: Any, frames: int) -> np.ndarray:
    """Decode frame 0 of 12-bit JPEG Extended (process 4) grey-scale data with GDCM directly.

    pydicom's GDCM plugin refuses 12-bit JPEG Extended; GDCM itself decodes it correctly (it
    first tries its 8-bit codec and prints "Unsupported JPEG data precision 12" to stderr, then
    retries with its 12-bit codec).
    """
    import gdcm
    from pydicom.encaps import get_frame

    rows, cols = int(ds.Rows), int(ds.Columns)
    bits_stored = int(ds.BitsStored)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    src = get_frame(ds.PixelData, 0, number_of_frames=frames)

    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(src)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    elem = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    elem.SetValue(fragments.__ref__())

    img = gdcm.Image()
    img.SetNumberOfDimensions(2)
    img.SetDimensions((cols, rows, 1))
    img.SetDataElement(elem)
    img.SetPhotometricInterpretation(
        gdcm.PhotometricInterpretation(gdcm.PhotometricInterpretation.MONOCHROME2)
    )
    img.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGExtendedProcess2_4))
    img.SetPixelFormat(gdcm.PixelFormat(1, 16, bits_stored, bits_stored - 1, int(signed)))
    buffer = img.GetBuffer()
    if not buffer:
        raise ValueError("GDCM returned no pixel data")
    data = buffer.encode("utf-8", "surrogateescape")
    if len(data) < rows * cols * 2:
        raise ValueError(f"GDCM returned {len(data)} bytes, expected {rows * cols * 2}")
    arr = np.frombuffer(data, dtype="<u2", count=rows * cols).reshape(rows, cols)
    arr = arr & np.uint16((1 << bits_stored) - 1)
    if signed:
        shift = 16 - bits_stored
        arr = (arr.astype(np.int16) << shift) >> shift
    return arr
