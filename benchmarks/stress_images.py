"""Images the gate must refuse, made in code (and a few from skimage.data and ../shared/dicom).

Used by ``benchmarks/gate_stress.py`` and by the gate's tests. Every image is a 2-D uint8 gray
array (or RGB for colour photographs), deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np


def _u8(a: np.ndarray) -> np.ndarray:
    return (np.clip(a, 0, 1) * 255).round().astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Synthetic patterns: gradients, checkerboards, noise, text pages


def gradient(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    kind = rng.integers(0, 3)
    if kind == 0:  # linear, any angle
        a = rng.uniform(0, 2 * np.pi)
        g = np.cos(a) * x + np.sin(a) * y
    elif kind == 1:  # radial
        cx, cy = rng.uniform(0.2, 0.8, 2)
        g = np.hypot(x - cx, y - cy)
    else:  # vertical ramp with a different curve
        g = y ** rng.uniform(0.5, 2.0)
    g = (g - g.min()) / max(float(np.ptp(g)), 1e-6)
    lo, hi = sorted(rng.uniform(0, 1, 2))
    g = lo + (hi - lo + 0.2) * g
    if rng.random() < 0.5:
        g = g + rng.normal(0, 0.01, g.shape)
    return _u8(g)


def checkerboard(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    n = int(rng.integers(4, 40))
    y, x = np.mgrid[0:size, 0:size] * n // size
    a, b = sorted(rng.uniform(0, 1, 2))
    img = np.where((x + y) % 2 == 0, a, b + 0.1)
    if rng.random() < 0.4:
        from PIL import Image

        img = (
            np.asarray(Image.fromarray(_u8(img)).rotate(float(rng.uniform(-30, 30)), fillcolor=int(a * 255)))
            / 255
        )
    return _u8(img)


def noise(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    kind = rng.integers(0, 4)
    if kind == 0:
        return _u8(rng.random((size, size)))
    if kind == 1:
        return _u8(rng.normal(0.5, 0.2, (size, size)))
    if kind == 2:  # smooth (blurred) noise: blobs
        from PIL import Image, ImageFilter

        img = Image.fromarray(_u8(rng.random((size, size))))
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(2, 12))))
        a = np.asarray(img, np.float32) / 255
        a = (a - a.min()) / max(float(np.ptp(a)), 1e-6)
        return _u8(a)
    sp = rng.random((size, size))  # salt and pepper on gray
    img = np.full((size, size), rng.uniform(0.3, 0.7))
    img[sp < 0.1] = 0
    img[sp > 0.9] = 1
    return _u8(img)


_WORDS = (
    "patient report chest radiograph findings impression the lungs are clear no focal consolidation "
    "heart size normal mediastinum within normal limits bones intact signed date page of referral "
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt labore"
).split()


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # old Pillow
        return ImageFont.load_default()


def text_page(rng: np.random.Generator, size: tuple[int, int] = (620, 800)) -> np.ndarray:
    from PIL import Image, ImageDraw

    w, h = size
    dark = rng.random() < 0.2
    img = Image.new("L", (w, h), 20 if dark else int(rng.integers(225, 256)))
    d = ImageDraw.Draw(img)
    fs = int(rng.integers(11, 26))
    font = _font(fs)
    y = int(rng.integers(20, 60))
    ink = 230 if dark else int(rng.integers(0, 60))
    while y < h - 40:
        words = " ".join(rng.choice(_WORDS, size=int(rng.integers(4, 14))))
        d.text((int(rng.integers(20, 50)), y), words, fill=ink, font=font)
        y += int(fs * rng.uniform(1.3, 2.2))
    return np.asarray(img)


# --------------------------------------------------------------------------------------------
# Screenshot of a viewer window with a small film in it


def screenshot(rng: np.random.Generator, film: np.ndarray, size: tuple[int, int] = (1280, 800)) -> np.ndarray:
    """A gray viewer UI (title bar, toolbar, side panel, text) with ``film`` small inside it."""
    from PIL import Image, ImageDraw

    w, h = size
    bg = int(rng.choice([30, 45, 200, 235]))
    img = Image.new("L", (w, h), bg)
    d = ImageDraw.Draw(img)
    fg = 230 if bg < 128 else 20
    d.rectangle([0, 0, w, 28], fill=bg + (25 if bg < 128 else -25))  # title bar
    d.rectangle([0, 28, w, 64], fill=bg + (12 if bg < 128 else -12))  # toolbar
    for i in range(10):
        d.rectangle([10 + 40 * i, 34, 38 + 40 * i, 58], outline=fg)
    panel = int(rng.integers(220, 360))
    d.rectangle([w - panel, 64, w, h], fill=bg + (8 if bg < 128 else -8))
    font = _font(14)
    for i in range(int(rng.integers(8, 25))):
        d.text((w - panel + 12, 80 + 22 * i), " ".join(rng.choice(_WORDS, size=3)), fill=fg, font=font)
    d.text((12, 6), "Viewer - " + " ".join(rng.choice(_WORDS, size=2)), fill=fg, font=font)
    # The film: 20-45% of the window's height, somewhere in the main area.
    fh = int(h * rng.uniform(0.2, 0.45))
    fw = int(fh * film.shape[1] / film.shape[0])
    small = Image.fromarray(film).resize((fw, fh), Image.Resampling.BILINEAR)
    x0 = int(rng.integers(20, max(21, w - panel - fw - 20)))
    y0 = int(rng.integers(80, max(81, h - fh - 20)))
    img.paste(small, (x0, y0))
    return np.asarray(img)


# --------------------------------------------------------------------------------------------
# Photographs and other modalities


SKIMAGE_NAMES = (
    "camera",
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "moon",
    "page",
    "horse",
    "brick",
    "grass",
    "gravel",
    "text",
    "clock",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "shepp_logan_phantom",
    "cat",
    "cell",
    "microaneurysms",
)


def skimage_photos() -> Iterator[tuple[str, np.ndarray]]:
    """skimage.data images that need no download (skipped when missing)."""
    import skimage.data

    for name in SKIMAGE_NAMES:
        try:
            a = getattr(skimage.data, name)()
        except Exception:  # an image that needs a download: skip it
            continue
        a = np.asarray(a)
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        if a.dtype != np.uint8:
            a = _u8((a - a.min()) / max(float(np.ptp(a)), 1e-6))
        if a.ndim == 3 and a.shape[-1] == 4:
            a = a[..., :3]
        yield name, a


#: Non-chest DICOMs in ../shared/dicom (modality or body part other than chest).
NON_CHEST_DICOMS = (
    "cr_extremity_mono1_10bit_j2k_lossless.dcm",
    "cr_hand_mono2_12bit_j2k_lossless_kakadu.dcm",
    "cr_hip_mono2_10bit_jpeg_lossless_sv1.dcm",
    "ct_mono2_16bit_explicit_le.dcm",
    "mg_mono2_12bit_jpeg_lossless_voi_lut_seq.dcm",
    "mr_mono2_12bit_jpeg_lossless_p14_nonsv1.dcm",
    "ot_mono2_8bit_voi_lut_seq_no_window.dcm",
    "xa_mono2_8bit_multiframe96_jpeg_baseline.dcm",
    "sc_ybr_full_8bit_jpeg_baseline.dcm",
)


def shared_non_chest(dicom_dir: Path) -> list[Path]:
    return [dicom_dir / n for n in NON_CHEST_DICOMS if (dicom_dir / n).is_file()]


def mr_like_slices(dicom_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    """The MR and CT slices of ../shared/dicom as plain PNG-like arrays (no DICOM tags to help)."""
    from pneumo_desktop.core.io import load_xray

    for n in (
        "mr_mono2_12bit_jpeg_lossless_p14_nonsv1.dcm",
        "ct_mono2_16bit_explicit_le.dcm",
        "cr_hand_mono2_12bit_j2k_lossless_kakadu.dcm",
        "cr_hip_mono2_10bit_jpeg_lossless_sv1.dcm",
    ):
        p = dicom_dir / n
        if p.is_file():
            yield n.split("_")[0] + "_" + n.split("_")[1] + "_as_png", _u8(load_xray(p).pixels)


SYNTHETIC = {"gradient": gradient, "checkerboard": checkerboard, "noise": noise, "text_page": text_page}


def synthetic_set(n_per_kind: int, seed: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(f"{k}_{i:02d}", f(rng)) for i in range(n_per_kind) for k, f in SYNTHETIC.items()]
