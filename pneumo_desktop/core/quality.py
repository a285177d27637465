"""The quality gate: can the model judge this image?

Two layers, each giving a reason code and a human message:

* :func:`check_xray`, before inference, from what the file says about itself and its pixels:
  not a projection radiograph, another body part, a lateral view, an adult patient (``population``),
  too small, blank or saturated.
* :class:`Gate`, the parts learned or measured on the training films, shipped next to the model:
  cheap image statistics (screenshots, text, patterns, noise; ``imagestats``) before inference,
  and a small network for orientation, polarity and field of view (``orientation``) beside it.
* :class:`OODReference`, beside inference, learned from the model: the Mahalanobis distance of the
  model's pooled last-block features to the training distribution ("does not look like the chest
  X-rays the model was trained on"). The reference statistics are computed by the training package
  and shipped next to the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .io import XRay
from .population import NOT_CHECKED, Population, adult_message, population_of, warning_message
from .quality_issue import QualityIssue

#: Shortest side (pixels) that the model can judge; downsized training images were >= 224 px, the model input is smaller.
MIN_SIDE_FOR_MODEL = 100

#: Mean chroma above which an image is a colour picture, not a radiograph (gray films stored as
#: RGB, or JPEG colour noise, stay far below this).
MAX_COLOURFULNESS = 0.04

NON_CHEST_MODALITIES = {
    "CT": "a CT scan",
    "MR": "an MRI scan",
    "PT": "a PET scan",
    "NM": "a nuclear medicine image",
    "US": "an ultrasound image",
    "MG": "a mammogram",
    "XA": "an angiography image",
    "RF": "a fluoroscopy image",
    "IO": "an intra-oral dental image",
    "PX": "a panoramic dental image",
    "OP": "an ophthalmic photograph",
    "XC": "a photograph",
    "ES": "an endoscopy image",
    "SM": "a microscopy slide",
    "OCT": "an OCT scan",
    "BMD": "a bone densitometry image",
    "ECG": "an ECG",
}
#: Modalities whose images are not projection radiographs (cross-sectional, ultrasound,
#: photographs, non-image objects). Everything else, including an absent or unknown modality,
#: is treated as a projection radiograph. MG, XA, RF, PX and IO *are* projection X-ray techniques
#: and so count as projection radiographs here, although they are not chest films: the gate
#: refuses them by modality (NON_CHEST_MODALITIES).
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
CROSS_SECTIONAL_SOP_WORDS = (
    "CT Image", "MR Image", "PET Image", "Positron Emission", "Ultrasound", "Nuclear Medicine",
    "MR Spectroscopy", "Ophthalmic", "Segmentation", "Breast Tomosynthesis", "Parametric Map",
    "Photographic", "Microscopic", "Endoscopic", "X-Ray 3D",
)  # fmt: skip

CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "TORSO", "WHOLEBODY", "PORT CHEST"}
LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "LLD", "RLD"}


def check_xray(xray: XRay) -> QualityIssue | None:
    """Rule-based checks that need no model. Returns the first problem found, or None."""
    modality = (xray.modality or "").upper().strip()
    if modality in NON_CHEST_MODALITIES:
        return QualityIssue(
            "not_radiograph",
            f"Not a chest X-ray: the file is {NON_CHEST_MODALITIES[modality]} ({modality}).",
        )
    if not is_projection_radiograph(xray.modality, xray.sop_class):
        return QualityIssue(
            "not_radiograph", f"Not a projection radiograph (modality {modality or 'unknown'})."
        )
    body = (xray.body_part or "").upper().strip()
    if body and body not in CHEST_BODY_PARTS:
        return QualityIssue("body_part", f"Not a chest image: the file says body part {body.title()}.")
    view = (xray.view_position or "").upper().strip()
    if view in LATERAL_VIEWS or view.startswith("LATERAL"):
        return QualityIssue(
            "lateral_view", "Lateral view: the model only judges frontal (AP/PA) chest films."
        )
    pop = population_of_xray(xray)
    if pop.adult:
        return QualityIssue("adult", adult_message(pop))
    if xray.colourfulness > MAX_COLOURFULNESS:
        return QualityIssue("colour", "Not an X-ray: this is a colour image (radiographs are grayscale).")
    if min(xray.width, xray.height) < MIN_SIDE_FOR_MODEL:
        return QualityIssue(
            "too_small",
            f"Image too small to judge ({xray.width} x {xray.height} pixels; at least "
            f"{MIN_SIDE_FOR_MODEL} needed).",
        )
    return check_pixels(xray.pixels)


def is_projection_radiograph(modality: str | None, sop_class_name: str | None = None) -> bool:
    """True unless the modality or SOP class is cross-sectional, ultrasound, photographic, ...

    Unknown and absent modalities (OT, secondary captures, digitised films) count as projection
    radiographs: many chest films arrive that way.
    """
    if modality and modality.strip().upper() in NON_PROJECTION_MODALITIES:
        return False
    if sop_class_name and any(word in sop_class_name for word in CROSS_SECTIONAL_SOP_WORDS):
        return False
    return True


def check_pixels(pixels: np.ndarray) -> QualityIssue | None:
    """Blank, nearly uniform or saturated images."""
    step = max(1, min(pixels.shape) // 256)  # a subsample is plenty and keeps this fast
    sub = pixels[::step, ::step]
    if float(sub.std()) < 0.02:
        return QualityIssue("blank", "The image is blank or nearly uniform.")
    saturated = float(np.mean((sub <= 0.002) | (sub >= 0.998)))
    if saturated > 0.85:
        return QualityIssue("saturated", "The image is almost entirely black or white (saturated).")
    return None


@dataclass(frozen=True)
class OODReference:
    """Mahalanobis reference of pooled features of the training images."""

    layer: str
    mean: np.ndarray  # (d,)
    precision: np.ndarray  # (d, d) inverse of the shrunk covariance
    threshold: float  # distances above this are out of distribution

    @classmethod
    def fit(cls, features: np.ndarray, layer: str, shrinkage: float = 0.1) -> OODReference:
        feats = np.asarray(features, dtype=np.float64)
        mean = feats.mean(axis=0)
        cov = np.cov(feats - mean, rowvar=False)
        # Ledoit-Wolf style shrinkage towards a scaled identity keeps the inverse well-conditioned.
        target = np.eye(cov.shape[0]) * np.trace(cov) / cov.shape[0]
        cov = (1 - shrinkage) * cov + shrinkage * target
        return cls(layer=layer, mean=mean, precision=np.linalg.inv(cov), threshold=float("inf"))

    def with_threshold(self, threshold: float) -> OODReference:
        return OODReference(self.layer, self.mean, self.precision, float(threshold))

    def score(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of ``features`` (N, d) to the training mean."""
        diff = np.asarray(features, dtype=np.float64).reshape(len(features), -1) - self.mean
        return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", diff, self.precision, diff), 0.0))

    def is_out(self, score: float) -> bool:
        return bool(score > self.threshold)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, mean=self.mean, precision=self.precision)

    @classmethod
    def load(cls, folder: Path, entry: dict[str, Any]) -> OODReference:
        with np.load(Path(folder) / entry["file"]) as data:
            return cls(
                layer=str(entry["layer"]),
                mean=data["mean"],
                precision=data["precision"],
                threshold=float(entry["threshold"]),
            )


OOD_ISSUE = QualityIssue(
    "out_of_distribution",
    "Does not look like the chest X-rays the model was trained on; the result is unreliable.",
)


# ---------------------------------------------------------------------------------------------
# Population (DICOM header)


def population_of_xray(xray: XRay) -> Population:
    """The patient's age as far as the file tells it (PNG/JPEG: unknown)."""
    return population_of(
        getattr(xray, "patient_age", None),
        getattr(xray, "patient_birth_date", None),
        xray.study_date,
        getattr(xray, "acquisition_date", None),
        getattr(xray, "content_date", None),
    )


def population_note(xray: XRay) -> str:
    """What a judged row says about the population: a warning outside ages 1-5, or that the age
    could not be checked; '' for a child of 1 to 5."""
    pop = population_of_xray(xray)
    if not pop.known:
        return NOT_CHECKED
    return warning_message(pop)


# ---------------------------------------------------------------------------------------------
# The learned / measured gate shipped next to the model


@dataclass(frozen=True)
class GatePrep:
    """The gate's per-file part: the image statistics check and the network's thumbnail. Runs where
    the file is decoded (a loader thread, or a decoder process: it pickles), on the full pixels."""

    limits: Any  # imagestats.StatLimits | None
    thumb_size: int | None  # the orientation network's input size (None: no network)

    def prepare(
        self, xray: XRay, issue: QualityIssue | None
    ) -> tuple[QualityIssue | None, np.ndarray | None]:
        """The statistics check (when no rule already refused the image) and the net's thumbnail."""
        from . import imagestats, orientation

        if issue is None and self.limits is not None:
            bad = self.limits.violations(imagestats.compute(xray.pixels))
            if bad:
                issue = QualityIssue(
                    "not_radiograph",
                    f"Not a radiograph: the image has {imagestats.describe(bad)}. The model only judges "
                    "chest X-ray films (a screenshot, a document, a pattern or a photograph cannot be judged).",
                )
        thumb = (
            orientation.prepare(xray.pixels, self.thumb_size)
            if self.thumb_size is not None and issue is None
            else None
        )
        return issue, thumb


class Gate:
    """Image statistics limits and the orientation/polarity/field-of-view network of a model folder.

    :meth:`prepare` runs in a loader thread (cheap: statistics and a 64 px thumbnail); :meth:`judge`
    runs in the thread that owns the model, once per batch. Both parts are optional: a folder
    without ``gate_imagestats.json`` / ``gate_orientation.json`` has no such check.
    """

    def __init__(self, folder: Path) -> None:
        from . import imagestats, orientation

        self.folder = Path(folder)
        self.limits = imagestats.StatLimits.load(self.folder)
        self.net = (
            orientation.OrientationNet(self.folder)
            if orientation.OrientationNet.available(self.folder)
            else None
        )

    @classmethod
    def load(cls, folder: Path) -> Gate | None:
        from . import imagestats, orientation

        folder = Path(folder)
        if not ((folder / imagestats.CONFIG_NAME).is_file() or orientation.OrientationNet.available(folder)):
            return None
        return cls(folder)

    def preparer(self) -> GatePrep:
        """What a loader thread or a decoder process needs of the gate (small and picklable)."""
        return GatePrep(self.limits, self.net.size if self.net is not None else None)

    def prepare(
        self, xray: XRay, issue: QualityIssue | None
    ) -> tuple[QualityIssue | None, np.ndarray | None]:
        return self.preparer().prepare(xray, issue)

    def judge(self, thumbs: list[np.ndarray | None]) -> list[QualityIssue | None]:
        """One network call for the thumbnails of a batch (None entries are skipped)."""
        out: list[QualityIssue | None] = [None] * len(thumbs)
        present = [(i, t) for i, t in enumerate(thumbs) if t is not None]
        if self.net is None or not present:
            return out
        found_all = self.net.judge([t for _, t in present])
        for (i, _), found in zip(present, found_all, strict=True):
            out[i] = found
        return out
