"""The installation itself and the non-DICOM image formats."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .synthetic import as_uint, synthetic_chest


def check_bundle() -> str:
    """The resources folder is there (frozen), and user data is not written into the app folder."""
    from ..core.paths import default_model_dir, resources_dir, user_data_dir

    frozen = bool(getattr(sys, "frozen", False))
    model_dir = default_model_dir()
    if frozen and not resources_dir().is_dir():
        raise FileNotFoundError(f"no resources folder in the bundle ({resources_dir()})")
    data = user_data_dir().resolve()
    if frozen:
        app_dir = Path(sys.executable).resolve().parent
        if data == app_dir or app_dir in data.parents:
            raise AssertionError(f"the user data folder {data} is inside the app folder")
    return f"{'frozen' if frozen else 'source'}; model folder {model_dir}; user data {data}"


def check_pil_formats(folder: Path) -> str:
    """A 16-bit PNG (exact) and an 8-bit JPEG (within the codec's error) through load_xray."""
    from PIL import Image

    from ..core.io import load_xray

    img16 = as_uint(synthetic_chest(seed=2), 16)
    png = folder / "selftest16.png"
    Image.fromarray(img16).save(png)
    got = load_xray(png)
    if got.bit_depth != 16 or float(np.abs(got.pixels - img16 / 65535.0).max()) > 1e-6:
        raise AssertionError("16-bit PNG pixels differ")
    img8 = as_uint(synthetic_chest(seed=3), 8)
    jpg = folder / "selftest.jpg"
    Image.fromarray(img8, mode="L").save(jpg, quality=95)
    got = load_xray(jpg)
    if float(np.abs(got.pixels - img8 / 255.0).max()) > 0.15:
        raise AssertionError("JPEG pixels differ")
    return "16-bit PNG exact, 8-bit JPEG within codec error"
