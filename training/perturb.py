"""Acquisition changes of a chest film, as pure functions of a 2-D float32 [0, 1] gray image.

What a different X-ray machine, exposure, digitiser or export path does to a film: exposure and
gamma, windowing and contrast, blur and sharpening, noise, lossy re-compression, small rotations,
scale and border crops, histogram differences. Both the shift-stress validation
(:mod:`training.stress`, fixed, harsher levels) and the training augmentation
(:mod:`training.augment`, random, milder ranges) are built from these primitives, with different
parameters, so that the stress set stays a test.

Lengths (blur sigma, shifts) are fractions of the image side, so a level means the same at 160 px
as at 224 px.
"""

from __future__ import annotations

import io
import math

import numpy as np


def _clip(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0.0, 1.0).astype(np.float32, copy=False)


def gamma(img: np.ndarray, g: float) -> np.ndarray:
    """Exposure / detector response curve: ``img ** g`` (g < 1 brighter, g > 1 darker)."""
    return _clip(np.clip(img, 0.0, 1.0) ** g)


def brightness(img: np.ndarray, delta: float) -> np.ndarray:
    return _clip(img + delta)


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Contrast around the image mean (factor < 1 flatter, > 1 steeper)."""
    mean = float(img.mean())
    return _clip((img - mean) * factor + mean)


def window(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Display window: [lo, hi] stretched to [0, 1], values outside clipped (as a viewer exports)."""
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError("window needs 0 <= lo < hi <= 1")
    return _clip((img - lo) / (hi - lo))


def blur(img: np.ndarray, sigma_frac: float) -> np.ndarray:
    """Gaussian blur with sigma = ``sigma_frac`` x the image side (a softer detector or scan)."""
    from scipy.ndimage import gaussian_filter

    sigma = sigma_frac * max(img.shape)
    if sigma <= 0:
        return img.astype(np.float32, copy=True)
    return _clip(gaussian_filter(img.astype(np.float32), sigma, mode="nearest"))


def sharpen(img: np.ndarray, sigma_frac: float, amount: float) -> np.ndarray:
    """Unsharp mask, as vendors' edge enhancement: ``img + amount * (img - blur(img))``."""
    soft = blur(img, sigma_frac)
    return _clip(img + amount * (img - soft))


def noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of standard deviation ``sigma`` (in [0, 1] gray units)."""
    return _clip(img + rng.normal(0.0, sigma, img.shape).astype(np.float32))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """8-bit JPEG re-compression at ``quality`` (PIL), as a PACS export or a messenger app does."""
    from PIL import Image

    u8 = np.round(np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8, mode="L").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L"), dtype=np.float32) / 255.0


def affine(
    img: np.ndarray,
    angle_deg: float = 0.0,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
    aspect: float = 1.0,
) -> np.ndarray:
    """Rotation (degrees), isotropic scale, shift (fractions of the side) and horizontal stretch
    ``aspect`` about the centre; uncovered border is black, as on a film rotated on the detector."""
    from PIL import Image

    h, w = img.shape
    angle = math.radians(angle_deg)
    sx, sy = scale * aspect, scale
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    tx, ty = shift[0] * w, shift[1] * h
    cos, sin = math.cos(angle), math.sin(angle)
    # Inverse map (output -> input), as PIL expects: undo the shift, the rotation, then the scale.
    a, b = cos / sx, sin / sx
    d, e = -sin / sy, cos / sy
    c0 = cx - a * (cx + tx) - b * (cy + ty)
    f0 = cy - d * (cx + tx) - e * (cy + ty)
    pil = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32), mode="F").transform(
        (w, h), Image.Transform.AFFINE, (a, b, c0, d, e, f0), Image.Resampling.BILINEAR
    )
    return _clip(np.asarray(pil, dtype=np.float32))


def border_crop(img: np.ndarray, top: float, bottom: float, left: float, right: float) -> np.ndarray:
    """Cut the given fractions off each border and resize back to the same shape (a tighter
    collimation or a cropped export)."""
    from PIL import Image

    h, w = img.shape
    y0, y1 = round(top * h), h - round(bottom * h)
    x0, x1 = round(left * w), w - round(right * w)
    if y1 - y0 < 2 or x1 - x0 < 2:
        raise ValueError("crop leaves no image")
    part = np.ascontiguousarray(img[y0:y1, x0:x1], dtype=np.float32)
    out = Image.fromarray(part, mode="F").resize((w, h), resample=Image.Resampling.BILINEAR)
    return _clip(np.asarray(out, dtype=np.float32))


def letterbox(img: np.ndarray) -> np.ndarray:
    """Aspect-kept square: the image centred on a black square of its longer side."""
    h, w = img.shape
    side = max(h, w)
    out = np.zeros((side, side), np.float32)
    y0, x0 = (side - h) // 2, (side - w) // 2
    out[y0 : y0 + h, x0 : x0 + w] = img
    return out


def match_histogram(img: np.ndarray, reference: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Gray levels mapped so that the histogram matches ``reference`` (quantile mapping); ``alpha``
    blends the mapped image with the original (1 = full match)."""
    flat = img.reshape(-1)
    order = np.argsort(flat, kind="stable")
    ref_sorted = np.sort(reference.reshape(-1))
    # The k-th smallest pixel of img takes the value of the same quantile of the reference.
    q = (np.arange(flat.size) + 0.5) / flat.size
    mapped_sorted = np.interp(q, (np.arange(ref_sorted.size) + 0.5) / ref_sorted.size, ref_sorted)
    mapped = np.empty_like(flat, dtype=np.float32)
    mapped[order] = mapped_sorted
    out = alpha * mapped.reshape(img.shape) + (1.0 - alpha) * img
    return _clip(out)
