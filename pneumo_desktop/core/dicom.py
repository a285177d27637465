"""The DICOM path of the X-ray loader: decode, then make the pixels display-ready.

:func:`load_dicom` turns a DICOM file into an :class:`~pneumo_desktop.core.images.XRay` whose
pixels are a 2-D float32 array in [0, 1] with bone bright and air dark, exactly as a reading
workstation would show the image.

Display pipeline (the order of pydicom's ``pixels/processing.py`` and of DICOM PS3.3 C.11):

1. decode the first frame (multi-frame files: only the first frame is decoded when possible);
2. colour images (RGB, YBR_*, PALETTE COLOR) are converted to RGB, then to gray (luma), and
   skip the grey-scale transforms below;
3. Modality LUT: the Modality LUT Sequence, or Rescale Slope/Intercept;
4. VOI: the first VOI LUT Sequence item, or else the first Window Center/Width pair (LINEAR,
   LINEAR_EXACT or SIGMOID); the result is scaled to [0, 1] over the VOI's output range. With no
   usable VOI the data's own min..max is used;
5. Presentation LUT (Sequence, or Shape), then MONOCHROME1: the image is inverted **once** when
   the photometric interpretation is MONOCHROME1 *or* the Presentation LUT Shape is INVERSE.
   MONOCHROME1 with INVERSE (what the DX IOD requires) is the same inversion said twice, not two
   inversions.

Compressed pixel data is decoded by pydicom's plugins, all with permissive licences: pydicom's
own RLE decoder, pylibjpeg + pylibjpeg-openjpeg (JPEG 2000), pyjpegls (JPEG-LS), python-gdcm
(JPEG lossless, JPEG-LS, JPEG 2000, JPEG baseline/extended) and Pillow (JPEG baseline, JPEG 2000).
The GPL-licensed pylibjpeg-libjpeg is deliberately not used. pydicom's GDCM plugin refuses 12-bit
JPEG Extended (process 4), which GDCM itself decodes correctly, so that one case is handed to GDCM
directly (:func:`_decode_jpeg_extended_with_gdcm`). If one plugin fails the next one is tried.

Which plugin decodes which transfer syntax, in the order tried (only installed ones are used):

=============================================  ================================================
Transfer syntax                                Plugins
=============================================  ================================================
Implicit/explicit VR LE, explicit VR BE        numpy (pydicom native)
Deflated explicit VR LE                        zlib + numpy (pydicom native)
RLE Lossless                                   pylibjpeg-rle if installed, pydicom built-in
JPEG Baseline (process 1)                      gdcm, Pillow
JPEG Extended (process 2 and 4)                gdcm, Pillow (8-bit); GDCM directly (12-bit)
JPEG Lossless process 14 and SV1               gdcm
JPEG-LS lossless and near-lossless             pyjpegls, gdcm
JPEG 2000 lossless and lossy                   pylibjpeg-openjpeg, gdcm, Pillow
HTJ2K                                          pylibjpeg-openjpeg
=============================================  ================================================

Patient names are never logged.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import numpy as np

from .errors import XRayLoadError
from .images import MAX_PIXELS, MEMORY_MESSAGE, XRay, check_dimensions, colourfulness, load_error_from_os

log = logging.getLogger(__name__)


def without_pydicom_logs(record: logging.LogRecord) -> bool:
    """A filter for the applications' log handlers: pydicom logs a traceback for every decoder
    plugin that fails on a damaged file, and the file's row already says what went wrong. (A
    filter, not a level: importing pydicom resets its logger's level, and importing it early
    would cost start-up time.)"""
    return not (record.name == "pydicom" or record.name.startswith("pydicom."))

#: Modalities whose images are not projection radiographs (cross-sectional, ultrasound,
#: photographs, non-image objects). Everything else, including an absent or unknown modality,
#: is treated as a projection radiograph. MG, XA, RF, PX and IO *are* projection X-ray techniques
#: and so count as projection radiographs here, although they are not chest films: the quality
#: gate refuses them by modality.
NON_PROJECTION_MODALITIES = frozenset(
    {
        "CT", "MR", "PT", "NM", "US", "IVUS", "OCT", "OPT", "OP", "OPM", "OAM", "OPV", "OSS",
        "ES", "XC", "GM", "SM", "VL", "BI", "DG", "TG", "ECG", "EPS", "HD", "EEG", "EMG",
        "RTDOSE", "RTIMAGE", "RTSTRUCT", "RTPLAN", "RTRECORD", "SEG", "REG", "FID", "RWV",
        "SR", "PR", "KO", "DOC", "AU", "LS", "SMR", "IOL", "KER", "LEN", "VA", "SRF", "PLAN",
        "BDUS", "MS", "ST", "CD", "DD", "EC", "FA", "DM", "LP", "MA", "CP", "CS",
    }
)  # fmt: skip

#: SOP classes (by words in their name) that are cross-sectional whatever the Modality says.
_CROSS_SECTIONAL_SOP_WORDS = (
    "CT Image", "MR Image", "PET Image", "Positron Emission", "Ultrasound", "Nuclear Medicine",
    "MR Spectroscopy", "Ophthalmic", "Segmentation", "Breast Tomosynthesis", "Parametric Map",
    "Photographic", "Microscopic", "Endoscopic", "X-Ray 3D",
)  # fmt: skip

#: Human names for the DICOM objects that carry no image, by Modality.
_NO_IMAGE_KINDS = {
    "SR": "Structured Report",
    "RTPLAN": "RT Plan",
    "RTSTRUCT": "RT Structure Set",
    "RTRECORD": "RT Treatment Record",
    "RTDOSE": "RT Dose",
    "PR": "Presentation State",
    "KO": "Key Object Selection",
    "DOC": "Encapsulated Document",
    "SEG": "Segmentation",
    "REG": "Registration",
    "ECG": "ECG waveform",
    "HD": "Hemodynamic waveform",
    "AU": "Audio",
    "PLAN": "Plan",
}

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

_CORRUPT_MESSAGE = "The DICOM image data is damaged or truncated and cannot be decoded."


# --------------------------------------------------------------------------------------------
# Public entry point


def load_dicom(path: str) -> XRay:
    """Load the DICOM file at ``path`` as a display-ready :class:`XRay`.

    Raises :class:`XRayLoadError` (code ``"no_image"``, ``"corrupt"``, ``"unsupported"``,
    ``"too_large"``, ...) for anything that cannot be shown; nothing else escapes for bad data.
    """
    path = str(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            xray = _load(path)
        except XRayLoadError:
            raise
        except MemoryError as exc:
            raise XRayLoadError(MEMORY_MESSAGE, code="memory") from exc
        except Exception as exc:  # damaged headers break the pipeline in many ways
            log.debug("cannot display %s", os.path.basename(path), exc_info=True)
            raise XRayLoadError(_CORRUPT_MESSAGE, code="corrupt") from exc
        finally:
            # pydicom warns freely about odd-but-readable files; keep them out of the user's
            # console but in the debug log. Only the category and the file name are logged:
            # warning texts can quote element values, patient data included.
            if caught:
                kinds = sorted({w.category.__name__ for w in caught})
                log.debug(
                    "%d warning(s) (%s) while reading %s",
                    len(caught),
                    ", ".join(kinds),
                    os.path.basename(path),
                )
    return xray


def _load(path: str) -> XRay:
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(path, force=True)
    except (InvalidDicomError, EOFError) as exc:
        raise XRayLoadError("The DICOM file is damaged and cannot be read.", code="corrupt") from exc
    except MemoryError as exc:
        raise XRayLoadError(MEMORY_MESSAGE, code="memory") from exc
    except OSError as exc:
        raise load_error_from_os(exc) from exc
    except Exception as exc:  # the parser raises many types on garbage
        log.debug("dcmread failed for %s", os.path.basename(path), exc_info=True)
        raise XRayLoadError("The DICOM file is damaged and cannot be read.", code="corrupt") from exc

    if len(ds) == 0:
        raise XRayLoadError("The file is not a readable DICOM file.", code="corrupt")

    notes: list[str] = []
    modality = _text(ds, "Modality")
    sop_name = _sop_class_name(ds)

    if not any(kw in ds for kw in _PIXEL_KEYWORDS):
        kind = _no_image_kind(modality, sop_name)
        raise XRayLoadError(f"DICOM file has no image ({kind}).", code="no_image")

    rows = _int(ds, "Rows")
    cols = _int(ds, "Columns")
    if rows is None or cols is None:
        raise XRayLoadError("The DICOM file has pixel data but no image size (Rows/Columns).", code="corrupt")
    check_dimensions(cols, rows)  # before anything is decoded: decompression bombs

    tsyntax = _ensure_transfer_syntax(ds, notes)
    frames = max(_int(ds, "NumberOfFrames") or 1, 1)
    if frames > 1:
        notes.append(f"multi-frame: first of {frames} frames used")
    _fill_missing_pixel_module(ds, notes)

    raw, photometric = _decode_first_frame(ds, tsyntax, frames)
    colour = 0.0
    if raw.ndim == 3 and raw.shape[-1] == 3:
        from pydicom.pixels.processing import convert_color_space

        rgb = raw
        if photometric.startswith("YBR") and photometric not in ("YBR_ICT", "YBR_RCT"):
            rgb = convert_color_space(raw, photometric, "RGB")
        colour = colourfulness(rgb)
    pixels = _to_display(raw, ds, photometric, notes)

    bits = _int(ds, "BitsStored") or _int(ds, "BitsAllocated") or 8
    if str(ds.get("LossyImageCompression", "")).strip() == "01":
        notes.append("lossy compressed")
    return XRay(
        pixels=pixels,
        path=path,
        format="DICOM",
        width=cols,
        height=rows,
        bit_depth=bits,
        modality=modality,
        body_part=_text(ds, "BodyPartExamined"),
        view_position=_text(ds, "ViewPosition"),
        photometric=_text(ds, "PhotometricInterpretation"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        study_date=_text(ds, "StudyDate"),
        study_uid=_text(ds, "StudyInstanceUID"),
        patient_age=_text(ds, "PatientAge"),
        patient_birth_date=_text(ds, "PatientBirthDate"),
        acquisition_date=_text(ds, "AcquisitionDate"),
        content_date=_text(ds, "ContentDate"),
        transfer_syntax=tsyntax.name,
        frames=frames,
        is_projection_radiograph=is_projection_radiograph(modality, sop_name),
        colourfulness=colour,
        notes=tuple(notes),
    )


def is_projection_radiograph(modality: str | None, sop_class_name: str | None = None) -> bool:
    """True unless the modality or SOP class is cross-sectional, ultrasound, photographic, ...

    Unknown and absent modalities (OT, secondary captures, digitised films) count as projection
    radiographs: many chest films arrive that way.
    """
    if modality and modality.strip().upper() in NON_PROJECTION_MODALITIES:
        return False
    if sop_class_name and any(word in sop_class_name for word in _CROSS_SECTIONAL_SOP_WORDS):
        return False
    return True


# --------------------------------------------------------------------------------------------
# Metadata helpers


def _text(ds: Any, keyword: str) -> str | None:
    """An element as a stripped string, None when absent, empty or unreadable."""
    from pydicom.multival import MultiValue

    try:
        value = ds.get(keyword)
    except Exception:  # a badly encoded value must not stop the load
        return None
    if value is None:
        return None
    if isinstance(value, list | tuple | MultiValue):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _int(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        return int(value)
    except Exception:  # IS/US values may be garbage in damaged files
        return None


def _sop_class_name(ds: Any) -> str | None:
    try:
        uid = ds.get("SOPClassUID")
        if not uid:
            return None
        name = str(uid.name)
    except Exception:
        return None
    return None if name == str(uid) else name


def _no_image_kind(modality: str | None, sop_name: str | None) -> str:
    if modality and modality.upper() in _NO_IMAGE_KINDS:
        return _NO_IMAGE_KINDS[modality.upper()]
    if sop_name:
        return sop_name.removesuffix(" Storage")
    if modality:
        return f"modality {modality}"
    return "unknown object type"


# --------------------------------------------------------------------------------------------
# Transfer syntax and decoding


def _ensure_transfer_syntax(ds: Any, notes: list[str]) -> Any:
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
    pixel_elem = next((ds[kw] for kw in _PIXEL_KEYWORDS if kw in ds), None)
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


#: Plugins in the order we try them; installed plugins not named here are tried afterwards.
_PLUGIN_ORDER: dict[str, tuple[str, ...]] = {
    "1.2.840.10008.1.2.4.90": ("pylibjpeg", "gdcm", "pillow"),  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": ("pylibjpeg", "gdcm", "pillow"),  # JPEG 2000
    "1.2.840.10008.1.2.4.80": ("pyjpegls", "gdcm", "pylibjpeg"),  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": ("pyjpegls", "gdcm", "pylibjpeg"),  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.50": ("gdcm", "pillow", "pylibjpeg"),  # JPEG baseline
    "1.2.840.10008.1.2.4.51": ("gdcm", "pillow", "pylibjpeg"),  # JPEG extended
    "1.2.840.10008.1.2.4.57": ("gdcm", "pylibjpeg"),  # JPEG lossless process 14
    "1.2.840.10008.1.2.4.70": ("gdcm", "pylibjpeg"),  # JPEG lossless SV1
    "1.2.840.10008.1.2.5": ("pylibjpeg", "pydicom"),  # RLE lossless
}


def _decode_first_frame(ds: Any, tsyntax: Any, frames: int) -> tuple[np.ndarray, str]:
    """Decode frame 0. Returns the array and the photometric interpretation of that array."""
    from pydicom.pixels import get_decoder

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise XRayLoadError(
            f"This DICOM compression ({tsyntax.name}) is not supported.", code="unsupported"
        ) from exc

    if not tsyntax.is_compressed:
        labels: list[str] = [""]  # native: numpy only
    else:
        available = list(decoder.available_plugins)
        preferred = _PLUGIN_ORDER.get(str(tsyntax), ())
        labels = [p for p in preferred if p in available] + [p for p in available if p not in preferred]
        if _gdcm_jpeg_extended_applies(ds, tsyntax):
            # pydicom's GDCM and Pillow plugins refuse 12-bit JPEG Extended outright (and log
            # the refusal as an error): go straight to GDCM unless pylibjpeg-libjpeg is there.
            labels = [p for p in labels if p not in ("gdcm", "pillow")]
        if not labels and not _gdcm_jpeg_extended_applies(ds, tsyntax):
            raise XRayLoadError(
                f"This DICOM compression ({tsyntax.name}) cannot be decoded: no decoder is installed.",
                code="unsupported",
            )

    failures: list[str] = []
    for label in labels:
        try:
            arr, meta = decoder.as_array(ds, index=0, decoding_plugin=label)
        except MemoryError as exc:
            raise XRayLoadError(MEMORY_MESSAGE, code="memory") from exc
        except Exception as exc:  # plugins raise anything on bad streams
            failures.append(f"{label or 'native'}: {type(exc).__name__}: {exc}")
            continue
        log.debug("decoded %s with %s", tsyntax.name, label or "native")
        return arr, str(meta.get("photometric_interpretation", photometric)).upper()

    if _gdcm_jpeg_extended_applies(ds, tsyntax):
        try:
            arr = _decode_jpeg_extended_with_gdcm(ds, frames)
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
            except Exception as exc:
                failures.append(f"all frames: {type(exc).__name__}: {exc}")

    log.debug("decoding failed for %s: %s", tsyntax.name, " | ".join(failures))
    raise XRayLoadError(_CORRUPT_MESSAGE, code="corrupt")


def _gdcm_jpeg_extended_applies(ds: Any, tsyntax: Any) -> bool:
    from pydicom import uid

    if tsyntax != uid.JPEGExtended12Bit or (_int(ds, "SamplesPerPixel") or 1) != 1:
        return False
    if (_int(ds, "BitsStored") or 8) <= 8:
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


def _fill_missing_pixel_module(ds: Any, notes: list[str]) -> None:
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
# Display pipeline


def _to_display(arr: np.ndarray, ds: Any, photometric: str, notes: list[str]) -> np.ndarray:
    """Decoded frame -> 2-D float32 in [0, 1], bone bright."""
    if arr.ndim == 3:
        out = _colour_to_gray(arr, ds, photometric, notes)
    elif arr.ndim != 2:
        raise XRayLoadError("The DICOM image has an unexpected shape.", code="corrupt")
    elif photometric == "PALETTE COLOR":
        from pydicom.pixels.processing import apply_color_lut

        out = _colour_to_gray(apply_color_lut(arr, ds), ds, "RGB", notes)
    elif arr.dtype.kind == "f":
        notes.append("floating-point pixel data: scaled to its own range")
        out = _scale_min_max(arr.astype(np.float64))
    else:
        out = _grey_pipeline(arr, ds, photometric, notes)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)


def _colour_to_gray(arr: np.ndarray, ds: Any, photometric: str, notes: list[str]) -> np.ndarray:
    from pydicom.pixels.processing import convert_color_space

    if arr.shape[-1] != 3:
        raise XRayLoadError(
            f"The DICOM image has an unsupported colour layout ({arr.shape[-1]} samples).",
            code="unsupported",
        )
    if photometric.startswith("YBR") and photometric not in ("YBR_ICT", "YBR_RCT"):
        arr = convert_color_space(arr, photometric, "RGB")
    notes.append(f"colour image ({_text(ds, 'PhotometricInterpretation') or photometric}) shown as gray")
    if arr.dtype.kind in "ui":
        top = float(np.iinfo(arr.dtype).max)
        bits = _int(ds, "BitsStored")
        if arr.dtype.itemsize > 1 and bits and 8 <= bits < 16 and arr.max(initial=0) < 2**bits:
            top = float(2**bits - 1)
    else:
        top = float(arr.max(initial=1.0)) or 1.0
    rgb = arr.astype(np.float32)
    gray = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114  # ITU-R 601 luma
    return gray / top


def _grey_pipeline(arr: np.ndarray, ds: Any, photometric: str, notes: list[str]) -> np.ndarray:
    values = _apply_modality_lut(arr, ds)
    out = _apply_voi(values, ds, photometric, notes)
    if out is None:
        if (ds.get("VOILUTSequence") or "WindowCenter" in ds) and not any(
            n.startswith("window outside") for n in notes
        ):
            notes.append("window/VOI LUT unusable: scaled to the data range")
        out = _scale_min_max(values)
    out = _apply_presentation_lut(out, ds, notes)

    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    if shape not in ("", "IDENTITY", "INVERSE"):
        notes.append(f"Presentation LUT Shape {shape} ignored")
    # MONOCHROME1 and Presentation LUT Shape INVERSE say the same thing; invert once.
    if photometric == "MONOCHROME1" or shape == "INVERSE":
        out = 1.0 - out
    return out


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


def _apply_modality_lut(arr: np.ndarray, ds: Any) -> np.ndarray:
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


def _apply_voi(values: np.ndarray, ds: Any, photometric: str, notes: list[str]) -> np.ndarray | None:
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
            return _scale_min_max(values)
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        if width <= 0:
            return _scale_min_max(values)
        c, w = center, width
    else:
        if width < 1:
            return _scale_min_max(values)
        c, w = center - 0.5, width - 1.0
    if w <= 0:  # width 1: a threshold
        return (values > c).astype(np.float64)
    out = (values - c) / w + 0.5
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _scale_min_max(values: np.ndarray) -> np.ndarray:
    lo = float(np.min(values))
    hi = float(np.max(values))
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return np.zeros(values.shape, dtype=np.float64)
    return (values - lo) / (hi - lo)


def _apply_presentation_lut(out: np.ndarray, ds: Any, notes: list[str]) -> np.ndarray:
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
