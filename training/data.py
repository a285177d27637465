"""Reading the Kermany layout, patient-level splits, an in-memory cache, augmentation, batches."""

from __future__ import annotations

import hashlib
import logging
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pneumo_desktop.core.errors import XRayLoadError
from pneumo_desktop.core.io import load_xray
from pneumo_desktop.core.preprocess import PreprocessSpec, finish, resize_gray

if TYPE_CHECKING:  # for the annotation only: augment is imported where it is used
    from .augment import ShiftAugmentConfig

log = logging.getLogger(__name__)

CLASSES = ("NORMAL", "PNEUMONIA")  # label 0, label 1
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".dcm", ".tif", ".tiff", ".bmp"}


@dataclass(frozen=True)
class Item:
    path: Path
    label: int  # 1 = PNEUMONIA

    @property
    def group(self) -> str:
        return patient_group(self.path.name, self.label)


def list_split(data_dir: Path | str, split: str, limit_per_class: int | None = None) -> list[Item]:
    """All images of ``data_dir/split/{NORMAL,PNEUMONIA}``, sorted by name (deterministic)."""
    items: list[Item] = []
    for label, cls in enumerate(CLASSES):
        folder = Path(data_dir) / split / cls
        if not folder.is_dir():
            raise FileNotFoundError(f"missing folder {folder}")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if limit_per_class is not None:
            files = files[:limit_per_class]
        items.extend(Item(p, label) for p in files)
    return items


def patient_group(filename: str, label: int) -> str:
    """Patient id as in the data set's README: ``personN`` for PNEUMONIA, ``IM-XXXX`` for NORMAL."""
    if label == 1:
        m = re.match(r"person(\d+)", filename)
        return f"P:{m.group(1)}" if m else f"P:{filename}"
    m = re.search(r"IM-(\d+)", filename)
    return f"N:{m.group(1)}" if m else f"N:{filename}"


def carve_tune_split(items: list[Item], frac: float, seed: int = 0) -> tuple[list[Item], list[Item]]:
    """Split ``items`` into (train, tune) by whole patients, stratified by class.

    The tune part is used for early stopping, temperature and threshold, so that the official
    validation split stays untouched for an honest report.
    """
    train: list[Item] = []
    tune: list[Item] = []
    for label in (0, 1):
        cls_items = [it for it in items if it.label == label]
        groups: dict[str, list[Item]] = {}
        for it in cls_items:
            groups.setdefault(it.group, []).append(it)
        order = sorted(
            groups, key=lambda g: hashlib.sha256(f"tune{seed}:{label}:{g}".encode()).hexdigest()
        )
        target = round(frac * len(cls_items))
        taken = 0
        for g in order:
            if taken < target:
                tune.extend(groups[g])
                taken += len(groups[g])
            else:
                train.extend(groups[g])
    return train, tune


def file_list_hash(items: list[Item]) -> str:
    h = hashlib.sha256()
    for it in sorted(items, key=lambda i: (i.label, i.path.name)):
        h.update(f"{CLASSES[it.label]}/{it.path.name}\n".encode())
    return h.hexdigest()


def load_resized(items: list[Item], size: int, workers: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize every item with the core loader: (N, size, size) float32, labels (N,).

    Files the core cannot read are skipped with a warning (the data set should have none).
    """

    def one(it: Item) -> np.ndarray | None:
        try:
            return resize_gray(load_xray(it.path).pixels, size)
        except XRayLoadError as exc:
            log.warning("skipping %s: %s", it.path, exc)
            return None

    with ThreadPoolExecutor(workers) as pool:
        arrays = list(pool.map(one, items))
    kept = [(it, a) for it, a in zip(items, arrays, strict=True) if a is not None]
    x = np.stack([a for _, a in kept]).astype(np.float32)
    y = np.array([it.label for it, _ in kept], dtype=np.float32)
    return x, y


def to_inputs(resized: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """(N, s, s) resized images -> (N, s, s, c) model input, via the core's preprocessing."""
    return np.stack([finish(r, spec) for r in resized]).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Augmentation: plausible variation of AP chest films, applied to the resized [0, 1] image before
# the core's normalisation.


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 8.0
    shift: float = 0.06  # fraction of the side
    zoom: float = 0.10  # scale in [1 - zoom, 1 + zoom]
    brightness: float = 0.08  # additive
    contrast: float = 0.15  # multiplicative around the mean
    gamma: float = 0.20  # exponent in [1 - g, 1 + g]


def augment(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    from PIL import Image

    s = img.shape[0]
    angle = math.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    scale = rng.uniform(1 - cfg.zoom, 1 + cfg.zoom)
    tx, ty = rng.uniform(-cfg.shift, cfg.shift, size=2) * s
    # Inverse affine map (output -> input) about the centre, as PIL expects.
    c = (s - 1) / 2.0
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    a, b, d, e = cos, sin, -sin, cos
    cx = c - a * (c + tx) - b * (c + ty)
    cy = c - d * (c + tx) - e * (c + ty)
    pil = Image.fromarray(img, mode="F").transform(
        (s, s), Image.Transform.AFFINE, (a, b, cx + 0.0, d, e, cy + 0.0), Image.Resampling.BILINEAR
    )
    out = np.asarray(pil, dtype=np.float32)
    out = np.clip(out, 0.0, 1.0) ** rng.uniform(1 - cfg.gamma, 1 + cfg.gamma)
    mean = out.mean()
    out = (out - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    out = out + rng.uniform(-cfg.brightness, cfg.brightness)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Balanced weights: each class contributes half of the loss."""
    n = len(y)
    pos = float(y.sum())
    neg = n - pos
    return {0: n / (2 * max(neg, 1)), 1: n / (2 * max(pos, 1))}


def make_sequence(
    resized: np.ndarray,
    y: np.ndarray,
    spec: PreprocessSpec,
    batch_size: int,
    seed: int,
    augment_cfg: AugmentConfig | ShiftAugmentConfig | None,
    weights: dict[int, float] | None,
    workers: int = 1,
):
    """A ``keras.utils.PyDataset`` (backend-neutral) of (x, y[, sample_weight]) batches."""
    import keras

    class _Seq(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=workers, use_multiprocessing=False)
            self.epoch = 0
            self.order = np.arange(len(y))
            self.on_epoch_end()

        def __len__(self) -> int:
            return math.ceil(len(y) / batch_size)

        def on_epoch_end(self) -> None:
            if augment_cfg is not None:
                self.order = np.random.default_rng([seed, self.epoch]).permutation(len(y))
            self.epoch += 1

        def __getitem__(self, idx: int):
            sel = self.order[idx * batch_size : (idx + 1) * batch_size]
            rng = np.random.default_rng([seed, self.epoch, idx])
            imgs = resized[sel]
            if isinstance(augment_cfg, AugmentConfig):
                imgs = np.stack([augment(im, rng, augment_cfg) for im in imgs])
            elif augment_cfg is not None:  # training.augment.ShiftAugmentConfig
                from .augment import augment_shift

                refs = rng.integers(len(resized), size=len(imgs))
                imgs = np.stack(
                    [
                        augment_shift(im, rng, augment_cfg, resized[r], int(lab))
                        for im, r, lab in zip(imgs, refs, y[sel], strict=True)
                    ]
                )
            xb = to_inputs(imgs, spec)
            yb = y[sel].reshape(-1, 1)
            if weights is None:
                return xb, yb
            wb = np.array([weights[int(v)] for v in y[sel]], dtype=np.float32)
            return xb, yb, wb

    return _Seq()
