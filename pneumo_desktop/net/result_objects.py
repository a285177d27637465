"""The DICOM result objects for one film: a Comprehensive SR with the result, and a Secondary
Capture with the heatmap overlaid and the disclaimer burned in (split out of ``net.results_out``,
which saves and sends them, #18)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import __version__
from ..core import wording
from ..core.results import ERROR, OK, REJECTED, ScanResult

log = logging.getLogger(__name__)

MANUFACTURER = "Pneumo Desktop"
DISCLAIMER = wording.DISCLAIMER_DICOM
SERIES_DESCRIPTION_SR = "Pneumo Desktop result (decision support only)"
SERIES_DESCRIPTION_SC = "Pneumo Desktop heatmap (decision support only)"
#: Private coding scheme for the concepts no standard terminology has.
SCHEME = "99PNEUMO"
#: Series numbers high enough not to clash with the modality's own series.
SR_SERIES_NUMBER, SC_SERIES_NUMBER = 9901, 9902
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

#: (pixels in [0, 1], heatmap in [0, 1]) for a result, or None when unavailable.
HeatmapSource = Callable[[ScanResult], "tuple[np.ndarray, np.ndarray] | None"]


# ------------------------------------------------------------------------------------------------
# Which films


def exportable(result: ScanResult) -> str:
    """Why ``result`` cannot get a DICOM result (an empty string when it can)."""
    if result.status == ERROR:
        return "unreadable: nothing was judged"
    if result.status not in (OK, REJECTED):
        return f"status {result.status}"
    if result.format != "DICOM":
        return "not a DICOM file: a PACS could not place the result in a study"
    return ""


def read_source(result: ScanResult) -> Any:
    """The film's header (no pixels), as scanned. ValueError when it is gone, changed or not usable."""
    from pydicom import dcmread

    try:
        if result.file_changed():
            raise ValueError("the file changed since it was scanned")
        ds = dcmread(result.path, stop_before_pixels=True)
    except OSError as exc:
        raise ValueError(f"the file cannot be read ({exc.strerror or type(exc).__name__})") from exc
    except ValueError:
        raise
    except Exception as exc:  # a header pydicom cannot parse
        raise ValueError(f"the DICOM header cannot be read ({type(exc).__name__})") from exc
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not str(ds.get(keyword, "")).strip():
            raise ValueError(f"the film has no {keyword}")
    # Type 2 elements (present, possibly empty) that the result objects copy from the film.
    for keyword in _TYPE2_COPIED:
        if keyword not in ds:
            setattr(ds, keyword, "")
    return ds


_TYPE2_COPIED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)


# ------------------------------------------------------------------------------------------------
# Building


def _split_model(model_version: str) -> tuple[str, str]:
    name, _, version = model_version.rpartition(" ")
    return (name, version) if name else (model_version or "unknown", "")


def _code(value: str, scheme: str, meaning: str):
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


@contextlib.contextmanager
def _quiet_warnings(what: str) -> Iterator[None]:
    """highdicom's and pydicom's warnings quote element values (patient names): only their kinds
    reach the log."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    if caught:
        log.debug(
            "%d warning(s) (%s) while making %s",
            len(caught),
            ", ".join(sorted({w.category.__name__ for w in caught})),
            what,
        )


def build_sr(result: ScanResult, source: Any, series_uid: str | None = None) -> Any:
    """A Comprehensive SR in the film's study with the result, the model and the disclaimer."""
    with _quiet_warnings("an SR"):
        return _build_sr(result, source, series_uid)


def _build_sr(result: ScanResult, source: Any, series_uid: str | None) -> Any:
    from highdicom import UID
    from highdicom.sr import (
        CodeContentItem,
        ComprehensiveSR,
        ContainerContentItem,
        ImageContentItem,
        NumContentItem,
        TextContentItem,
    )

    contains = "CONTAINS"
    unit = _code("1", "UCUM", "no units")
    model_name, model_version = _split_model(result.model_version)
    items: list[Any] = [
        ImageContentItem(
            name=_code("121112", "DCM", "Source of Measurement"),
            referenced_sop_class_uid=source.SOPClassUID,
            referenced_sop_instance_uid=source.SOPInstanceUID,
            relationship_type=contains,
        )
    ]
    finding = _code("121071", "DCM", "Finding")
    if result.status == OK and result.label == "Pneumonia":
        items.append(
            CodeContentItem(finding, _code("233604007", "SCT", "Pneumonia"), relationship_type=contains)
        )
    elif result.status == OK and result.label == "Normal":
        items.append(CodeContentItem(finding, _code("17621005", "SCT", "Normal"), relationship_type=contains))
    else:
        items.append(TextContentItem(finding, result.label, relationship_type=contains))
    for value, code, meaning in (
        (result.probability, "P-PNEUMONIA", "Probability of pneumonia"),
        (result.threshold, "THRESHOLD", "Decision threshold"),
    ):
        if value is not None:
            items.append(
                NumContentItem(
                    _code(code, SCHEME, meaning), round(float(value), 4), unit, relationship_type=contains
                )
            )
    items.append(
        TextContentItem(_code("111001", "DCM", "Algorithm Name"), model_name, relationship_type=contains)
    )
    if model_version:
        items.append(
            TextContentItem(
                _code("111003", "DCM", "Algorithm Version"), model_version, relationship_type=contains
            )
        )
    if result.status == REJECTED:
        reason = result.message + (f" ({result.reason_code})" if result.reason_code else "")
        items.append(
            TextContentItem(
                _code("NOT-JUDGED", SCHEME, "Reason not judged"), reason, relationship_type=contains
            )
        )
    items.append(TextContentItem(_code("121106", "DCM", "Comment"), DISCLAIMER, relationship_type=contains))
    root = ContainerContentItem(name=_code("18748-4", "LN", "Diagnostic imaging report"))
    root.ContentSequence = items  # type: ignore[assignment]  # pydicom accepts a list of datasets
    sr = ComprehensiveSR(
        evidence=[source],
        content=root,
        series_instance_uid=series_uid or UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,  # PRELIMINARY: nobody verified it
        is_verified=False,
        series_description=SERIES_DESCRIPTION_SR,
        software_versions=__version__,
    )
    return sr


def overlay_rgb(pixels: np.ndarray, heatmap: np.ndarray | None, label: str) -> np.ndarray:
    """The film (gray, [0, 1]) with the heatmap blended in and the disclaimer burned in; uint8 RGB."""
    from PIL import Image, ImageDraw, ImageFont

    gray = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    if heatmap is not None:
        heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
        colour = np.stack([np.clip(1.5 - abs(4 * heat - k), 0, 1) for k in (3, 2, 1)], axis=-1)  # a jet ramp
        alpha = (0.45 * heat)[..., None]
        rgb = rgb * (1 - alpha) + colour * alpha
    img = Image.fromarray((rgb * 255 + 0.5).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(img)
    h = img.height
    size = max(12, h // 40)
    font = ImageFont.load_default(size=size)
    lines = [wording.DISCLAIMER_BURNED_IN, f"Pneumo Desktop: {label}"]
    band = int(size * 1.4 * len(lines) + size)
    draw.rectangle([0, h - band, img.width, h], fill=(0, 0, 0))
    for i, line in enumerate(lines):
        draw.text(
            (size // 2, h - band + size // 2 + int(i * size * 1.4)), line, fill=(255, 255, 0), font=font
        )
    return np.asarray(img)


def build_sc(
    result: ScanResult,
    source: Any,
    pixels: np.ndarray,
    heatmap: np.ndarray | None,
    series_uid: str | None = None,
) -> Any:
    """A Secondary Capture in the film's study: the heatmap overlay with the disclaimer burned in."""
    with _quiet_warnings("a Secondary Capture"):
        return _build_sc(result, source, pixels, heatmap, series_uid)


def _build_sc(
    result: ScanResult, source: Any, pixels: np.ndarray, heatmap: np.ndarray | None, series_uid: str | None
) -> Any:
    from highdicom import UID
    from highdicom.sc import SCImage
    from pydicom.dataset import Dataset

    prob = f" ({wording.format_percent(result.probability)})" if result.probability is not None else ""
    rgb = overlay_rgb(pixels, heatmap, f"{result.label}{prob}, threshold {result.threshold or 0:.2f}")
    sc = SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=rgb,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        patient_orientation=("L", "F"),  # replaced below by the film's own (or left empty, type 2)
        series_instance_uid=series_uid or UID(),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description=SERIES_DESCRIPTION_SC,
        software_versions=__version__,
    )
    sc.PatientOrientation = source.get("PatientOrientation", "") or ""  # type: ignore[assignment]
    sc.BurnedInAnnotation = "YES"
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.DerivationDescription = "Film with the model's heatmap overlaid; decision support only"
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    sc.SourceImageSequence = [ref]
    return sc


# ------------------------------------------------------------------------------------------------
# Saving and sending
