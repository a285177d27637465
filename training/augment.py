"""Training augmentation that covers the shift-stress families, at milder, random levels.

Each family of :mod:`training.stress` has a training counterpart here, drawn at random levels that
stay strictly inside the stress levels (see :func:`ranges_disjoint_from_stress`, checked by the
tests): the stress validation measures extrapolation beyond what training saw, so it stays a test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import perturb as P


@dataclass(frozen=True)
class ShiftAugmentConfig:
    # geometry (always applied, random levels)
    rotation_deg: float = 6.0  # uniform in [-r, r]; stress: 9 degrees
    scale: tuple[float, float] = (0.95, 1.06)  # stress: 0.90 (zoom out) and a 10% border crop
    shift: float = 0.04  # fraction of the side
    aspect: tuple[float, float] = (0.92, 1.08)  # horizontal stretch (squash of other film shapes)
    # Shape matching (the film-shape shortcut, docs/model.md): with this probability a film gets a
    # class-conditional stretch instead, NORMAL squeezed by shape_normal and PNEUMONIA widened by
    # shape_pneumonia, so that the anatomy's apparent width no longer tells the classes apart (the
    # median film shapes differ by 0.81). Stress: 0.8 and 1.25, outside both ranges.
    p_shape_match: float = 0.0
    shape_normal: tuple[float, float] = (0.81, 1.0)
    shape_pneumonia: tuple[float, float] = (1.0, 1.23)
    # exposure and contrast
    p_intensity: float = 0.8
    gamma: tuple[float, float] = (0.78, 1.3)  # stress: 0.6 and 1.6
    contrast: tuple[float, float] = (0.8, 1.2)  # stress: 0.6
    brightness: float = 0.05
    p_window: float = 0.15
    window_cut: float = 0.08  # up to this fraction clipped at each end; stress: 0.15
    # detector / digitiser
    p_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.001, 0.004)  # of the side; stress: 0.007
    p_sharpen: float = 0.2
    sharpen_amount: tuple[float, float] = (0.2, 0.9)  # stress: 1.5
    sharpen_sigma: float = 0.006
    p_noise: float = 0.25
    noise_sigma: tuple[float, float] = (0.003, 0.02)  # stress: 0.035
    p_jpeg: float = 0.25
    jpeg_quality: tuple[int, int] = (45, 90)  # stress: 25
    p_histmatch: float = 0.15
    histmatch_alpha: tuple[float, float] = (0.2, 0.7)  # stress: 1.0 (full match)

    def to_dict(self) -> dict:
        return asdict(self)


def augment_shift(
    img: np.ndarray,
    rng: np.random.Generator,
    cfg: ShiftAugmentConfig,
    reference: np.ndarray | None = None,
    label: int | None = None,
) -> np.ndarray:
    """One random acquisition change of a resized [0, 1] training image (``reference``: another
    training image, for histogram matching; ``label``: the film's class, for shape matching)."""
    if label is not None and cfg.p_shape_match > 0 and rng.random() < cfg.p_shape_match:
        aspect = rng.uniform(*(cfg.shape_pneumonia if label else cfg.shape_normal))
    else:
        aspect = rng.uniform(*cfg.aspect)
    out = P.affine(
        img,
        angle_deg=rng.uniform(-cfg.rotation_deg, cfg.rotation_deg),
        scale=rng.uniform(*cfg.scale),
        shift=tuple(rng.uniform(-cfg.shift, cfg.shift, size=2)),
        aspect=aspect,
    )
    if reference is not None and rng.random() < cfg.p_histmatch:
        out = P.match_histogram(out, reference, rng.uniform(*cfg.histmatch_alpha))
    if rng.random() < cfg.p_intensity:
        out = P.gamma(out, rng.uniform(*cfg.gamma))
        out = P.contrast(out, rng.uniform(*cfg.contrast))
        out = P.brightness(out, rng.uniform(-cfg.brightness, cfg.brightness))
    if rng.random() < cfg.p_window:
        out = P.window(out, rng.uniform(0, cfg.window_cut), 1.0 - rng.uniform(0, cfg.window_cut))
    r = rng.random()
    if r < cfg.p_blur:
        out = P.blur(out, rng.uniform(*cfg.blur_sigma))
    elif r < cfg.p_blur + cfg.p_sharpen:
        out = P.sharpen(out, cfg.sharpen_sigma, rng.uniform(*cfg.sharpen_amount))
    if rng.random() < cfg.p_noise:
        out = P.noise(out, rng.uniform(*cfg.noise_sigma), rng)
    if rng.random() < cfg.p_jpeg:
        out = P.jpeg(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return out.astype(np.float32, copy=False)


def ranges_disjoint_from_stress(cfg: ShiftAugmentConfig | None = None) -> dict[str, bool]:
    """For each family: is every stress level outside the training range? (all True = stress is
    never a level training has seen)."""
    from .stress import STRESS_LEVELS as S

    cfg = cfg or ShiftAugmentConfig()
    return {
        "rotation": S["rotation_deg"] > cfg.rotation_deg,
        "scale": S["zoom_out_scale"] < cfg.scale[0] and 1 / (1 - 2 * S["crop_frac"]) > cfg.scale[1],
        "gamma": S["gamma_low"] < cfg.gamma[0] and S["gamma_high"] > cfg.gamma[1],
        "contrast": S["contrast_low"] < cfg.contrast[0],
        "window": S["window_cut"] > cfg.window_cut,
        "blur": S["blur_sigma"] > cfg.blur_sigma[1],
        "sharpen": S["sharpen_amount"] > cfg.sharpen_amount[1],
        "noise": S["noise_sigma"] > cfg.noise_sigma[1],
        "jpeg": S["jpeg_quality"] < cfg.jpeg_quality[0],
        "histmatch": S["histmatch_alpha"] > cfg.histmatch_alpha[1],
        "fov": S["fov_narrow"] < min(cfg.aspect[0], cfg.shape_normal[0])
        and S["fov_wide"] > max(cfg.aspect[1], cfg.shape_pneumonia[1]),
    }
