"""The quality gate: can the model judge this image?

Two layers, each giving a reason code and a human message:

* :func:`check_xray`, before inference, from what the file says about itself and its pixels:
  not a projection radiograph, another body part, a lateral view, too small, blank or saturated.
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

from .images import XRay

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
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "TORSO", "WHOLEBODY", "PORT CHEST"}
LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "LLD", "RLD"}


@dataclass(frozen=True)
class QualityIssue:
    code: str
    message: str


def check_xray(xray: XRay) -> QualityIssue | None:
    """Rule-based checks that need no model. Returns the first problem found, or None."""
    modality = (xray.modality or "").upper().strip()
    if modality in NON_CHEST_MODALITIES:
        return QualityIssue(
            "not_radiograph",
            f"Not a chest X-ray: the file is {NON_CHEST_MODALITIES[modality]} ({modality}).",
        )
    if not xray.is_projection_radiograph:
        return QualityIssue("not_radiograph", f"Not a projection radiograph (modality {modality or 'unknown'}).")
    body = (xray.body_part or "").upper().strip()
    if body and body not in CHEST_BODY_PARTS:
        return QualityIssue("body_part", f"Not a chest image: the file says body part {body.title()}.")
    view = (xray.view_position or "").upper().strip()
    if view in LATERAL_VIEWS:
        return QualityIssue("lateral_view", "Lateral view: the model only judges frontal (AP/PA) chest films.")
    if xray.colourfulness > MAX_COLOURFULNESS:
        return QualityIssue("colour", "Not an X-ray: this is a colour image (radiographs are grayscale).")
    if min(xray.width, xray.height) < MIN_SIDE_FOR_MODEL:
        return QualityIssue(
            "too_small",
            f"Image too small to judge ({xray.width} x {xray.height} pixels; at least "
            f"{MIN_SIDE_FOR_MODEL} needed).",
        )
    return check_pixels(xray.pixels)


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
