"""``python -m training quality``: measure the quality gate and write the numbers into the card.

Two numbers (issue: quality gate):

* the share of validation chest X-rays wrongly rejected (target <= 2%);
* the share of non-chest-X-ray images rejected (target >= 95%), on a set assembled from real
  material: the non-chest DICOMs of ``../shared/dicom`` (hand, hip, extremity, CT, MR, mammogram,
  angiography, colour secondary captures), the sample photographs that scikit-image ships,
  rendered documents, and blank and noise images.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from pneumo_desktop.core.card import CARD_NAME
from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.results import OK, REJECTED
from pneumo_desktop.core.scan import Scanner

from . import data as D

log = logging.getLogger(__name__)

CHEST_DICOM_PREFIXES = ("cr_chest", "dx_chest")
SKIMAGE_SAMPLES = (
    "astronaut", "brick", "camera", "cat", "chelsea", "checkerboard", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
    "moon", "page", "rocket", "text", "retina", "eagle", "microaneurysms", "binary_blobs",
    "shepp_logan_phantom",
)


def make_synthetic_non_chest(folder: Path) -> list[Path]:
    """Photographs from scikit-image, rendered documents, blank and noise images (PNG/JPEG)."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    try:
        import skimage.data as skd

        for name in SKIMAGE_SAMPLES:
            try:
                arr = getattr(skd, name)()
            except Exception as exc:  # some samples need a download; skip those
                log.info("skimage sample %s unavailable: %s", name, exc)
                continue
            arr = np.asarray(arr)
            if arr.dtype == bool:
                arr = arr.astype(np.uint8) * 255
            if arr.dtype != np.uint8:
                arr = (255 * (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-9)).astype(np.uint8)
            if arr.ndim == 3 and arr.shape[-1] == 4:
                arr = arr[..., :3]
            if arr.ndim == 3 and arr.shape[-1] not in (3,):
                arr = arr[arr.shape[0] // 2]  # a 3-D stack: the middle slice
            p = folder / f"skimage_{name}.png"
            Image.fromarray(arr).save(p)
            out.append(p)
    except ImportError:
        log.warning("scikit-image not installed: no sample photographs")
    rng = np.random.default_rng(0)
    for i in range(5):  # documents: lines of text on white
        img = Image.new("L", (850, 1100), 255)
        draw = ImageDraw.Draw(img)
        for line in range(40):
            words = " ".join("".join(chr(97 + c) for c in rng.integers(0, 26, rng.integers(2, 9))) for _ in range(9))
            draw.text((60, 40 + line * 25), words, fill=int(rng.integers(0, 60)))
        p = folder / f"document_{i}.png"
        img.save(p)
        out.append(p)
    for i, value in enumerate((0, 255, 128)):
        p = folder / f"blank_{i}.png"
        Image.new("L", (512, 512), value).save(p)
        out.append(p)
    for i in range(4):
        noise = (rng.random((512, 512)) * 255).astype(np.uint8)
        p = folder / f"noise_{i}.jpg"
        Image.fromarray(noise).save(p)
        out.append(p)
    smooth = Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).resize((512, 512))
    p = folder / "noise_smooth.png"
    smooth.save(p)
    out.append(p)
    return out


def evaluate_gate(model_dir: str | Path, data_dir: str | Path, dicom_dir: str | Path | None,
                  split: str = "val", write: bool = True) -> dict:
    predictor = Predictor(model_dir, device="cpu")
    scanner = Scanner(predictor, store=None, batch_size=16)

    chest = [it.path for it in D.list_split(data_dir, split)]
    chest_results = scanner.scan_all(chest)
    wrongly = [r for r in chest_results if r.status != OK]
    reasons = Counter(r.reason_code for r in wrongly)

    non_chest_results = []
    with tempfile.TemporaryDirectory() as tmp:
        files = make_synthetic_non_chest(Path(tmp))
        if dicom_dir is not None:
            files += sorted(p for p in Path(dicom_dir).glob("*.dcm") if not p.name.startswith(CHEST_DICOM_PREFIXES))
        non_chest_results = scanner.scan_all(files)
    judged = [r for r in non_chest_results if r.status in (OK, REJECTED)]  # decodable images only
    accepted = [r for r in judged if r.status == OK]
    chest_dicoms = []
    if dicom_dir is not None:
        chest_dicoms = scanner.scan_all(sorted(p for p in Path(dicom_dir).glob("*.dcm")
                                               if p.name.startswith(CHEST_DICOM_PREFIXES)))
    chest_rate = len(wrongly) / max(len(chest_results), 1)
    non_chest_rejected = len(judged) - len(accepted)
    non_chest_rate = non_chest_rejected / max(len(judged), 1)
    report = {
        "val_chest_xrays": len(chest_results),
        "val_chest_xrays_rejected": len(wrongly),
        "val_chest_xray_rejection_rate": chest_rate,
        "val_rejection_reasons": dict(reasons),
        "non_chest_images": len(judged),
        "non_chest_rejected": non_chest_rejected,
        "non_chest_rejection_rate": non_chest_rate,
        "non_chest_accepted_files": [Path(r.path).name for r in accepted],
        "non_chest_undecodable_files": [Path(r.path).name for r in non_chest_results if r.status not in (OK, REJECTED)],
        "chest_dicoms": {Path(r.path).name: f"{r.status} {r.reason_code}".strip() for r in chest_dicoms},
        "non_chest_set": "scikit-image sample photographs, rendered documents, blank and noise images, and the "
        "non-chest DICOMs of the shared test set (hand, hip, extremity, CT, MR, mammogram, angiography, "
        "secondary captures)",
    }
    log.info("quality gate: %d/%d val chest X-rays rejected (%.1f%%); %d/%d non-chest images rejected (%.1f%%)",
             len(wrongly), len(chest_results), 100 * chest_rate, non_chest_rejected, len(judged), 100 * non_chest_rate)
    if write:
        card_path = Path(model_dir) / CARD_NAME
        card = json.loads(card_path.read_text())
        card["quality_gate"] = report
        card_path.write_text(json.dumps(card, indent=2) + "\n")
    return report
