"""The DICOM path of the loader: read the dataset, decode its first frame, make it display-ready.

:func:`load_dicom` turns a DICOM file into an :class:`~pneumo_desktop.core.io.xray.XRay` whose
pixels are a 2-D float32 array in [0, 1] with bone bright and air dark, exactly as a reading
workstation would show the image. Decoding is :mod:`.dicom_decode` (transfer syntaxes and plugins:
:mod:`.codecs`), the LUTs and MONOCHROME1 are :mod:`.dicom_display`. Multi-frame files: only the
first frame is decoded when possible.

The XRay says what the file is (modality, SOP class, view, ages...); whether the model can judge
it is the quality gate's decision (:mod:`pneumo_desktop.core.quality`). Patient names are never
logged.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from ..errors import XRayLoadError
from .dicom_decode import (
    CORRUPT_MESSAGE,
    PIXEL_KEYWORDS,
    decode_first_frame,
    ensure_transfer_syntax,
    fill_missing_pixel_module,
)
from .dicom_display import to_display, to_rgb
from .dicom_elements import int_value, sop_class_name, text_value
from .failures import PASS_THROUGH, load_error_from_os
from .xray import XRay, check_dimensions, colourfulness

log = logging.getLogger(__name__)


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

_UNREADABLE_MESSAGE = "The DICOM file is damaged and cannot be read."


def load_dicom(path: str) -> XRay:
    """Load the DICOM file at ``path`` as a display-ready :class:`XRay`.

    Raises :class:`XRayLoadError` (code ``"no_image"``, ``"corrupt"``, ``"unsupported"``,
    ``"too_large"``, ...) for anything that cannot be shown; nothing else escapes for bad data
    (``MemoryError`` passes through: :func:`~pneumo_desktop.core.io.loader.load_xray` maps it).
    """
    path = str(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return _load(path)
        except PASS_THROUGH:
            raise
        except Exception as exc:  # damaged headers break the pipeline in many ways
            log.debug("cannot display %s", os.path.basename(path), exc_info=True)
            raise XRayLoadError(CORRUPT_MESSAGE, code="corrupt") from exc
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


def read_dataset(path: str) -> Any:
    """The whole dataset (pixel data included, not decoded); XRayLoadError when unreadable."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(path, force=True)
    except (InvalidDicomError, EOFError) as exc:
        raise XRayLoadError(_UNREADABLE_MESSAGE, code="corrupt") from exc
    except PASS_THROUGH:
        raise
    except OSError as exc:
        raise load_error_from_os(exc) from exc
    except Exception as exc:  # the parser raises many types on garbage
        log.debug("dcmread failed for %s", os.path.basename(path), exc_info=True)
        raise XRayLoadError(_UNREADABLE_MESSAGE, code="corrupt") from exc
    if len(ds) == 0:
        raise XRayLoadError("The file is not a readable DICOM file.", code="corrupt")
    return ds


def _load(path: str) -> XRay:
    ds = read_dataset(path)
    notes: list[str] = []
    modality = text_value(ds, "Modality")
    sop_name = sop_class_name(ds)

    if not any(kw in ds for kw in PIXEL_KEYWORDS):
        kind = _no_image_kind(modality, sop_name)
        raise XRayLoadError(f"DICOM file has no image ({kind}).", code="no_image")

    rows = int_value(ds, "Rows")
    cols = int_value(ds, "Columns")
    if rows is None or cols is None:
        raise XRayLoadError("The DICOM file has pixel data but no image size (Rows/Columns).", code="corrupt")
    check_dimensions(cols, rows)  # before anything is decoded: decompression bombs

    tsyntax = ensure_transfer_syntax(ds, notes)
    frames = max(int_value(ds, "NumberOfFrames") or 1, 1)
    if frames > 1:
        notes.append(f"multi-frame: first of {frames} frames used")
    fill_missing_pixel_module(ds, notes)

    raw, photometric = decode_first_frame(ds, tsyntax, frames)
    colour = 0.0
    if raw.ndim == 3 and raw.shape[-1] == 3:
        raw, photometric = to_rgb(raw, photometric)  # the one YBR -> RGB conversion
        colour = colourfulness(raw)
    pixels = to_display(raw, ds, photometric, notes)

    bits = int_value(ds, "BitsStored") or int_value(ds, "BitsAllocated") or 8
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
        body_part=text_value(ds, "BodyPartExamined"),
        view_position=text_value(ds, "ViewPosition"),
        photometric=text_value(ds, "PhotometricInterpretation"),
        patient_id=text_value(ds, "PatientID"),
        patient_name=text_value(ds, "PatientName"),
        study_date=text_value(ds, "StudyDate"),
        study_uid=text_value(ds, "StudyInstanceUID"),
        patient_age=text_value(ds, "PatientAge"),
        patient_birth_date=text_value(ds, "PatientBirthDate"),
        acquisition_date=text_value(ds, "AcquisitionDate"),
        content_date=text_value(ds, "ContentDate"),
        transfer_syntax=tsyntax.name,
        frames=frames,
        sop_class=sop_name,
        colourfulness=colour,
        notes=tuple(notes),
    )


def _no_image_kind(modality: str | None, sop_name: str | None) -> str:
    if modality and modality.upper() in _NO_IMAGE_KINDS:
        return _NO_IMAGE_KINDS[modality.upper()]
    if sop_name:
        return sop_name.removesuffix(" Storage")
    if modality:
        return f"modality {modality}"
    return "unknown object type"
