from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from pneumo_desktop.core import quality
from pneumo_desktop.core.io import XRay, load_xray


def _xray(**kw) -> XRay:
    rng = np.random.default_rng(0)
    base = XRay(pixels=rng.random((300, 300), dtype=np.float32), path="x", format="DICOM", width=300, height=300,
                bit_depth=12, modality="DX")
    return replace(base, **kw)


def test_plausible_chest_film_passes():
    assert quality.check_xray(_xray()) is None
    assert quality.check_xray(_xray(modality="CR", body_part="CHEST", view_position="PA")) is None


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"modality": "CT"}, "not_radiograph"),
        ({"modality": "MG"}, "not_radiograph"),
        ({"body_part": "HAND"}, "body_part"),
        ({"view_position": "LL"}, "lateral_view"),
        ({"width": 60, "height": 80}, "too_small"),
        ({"pixels": np.full((300, 300), 0.4, np.float32)}, "blank"),
        ({"pixels": (np.random.default_rng(1).random((300, 300)) > 0.5).astype(np.float32)}, "saturated"),
        ({"colourfulness": 0.3}, "colour"),
    ],
)
def test_rules(kw, code):
    issue = quality.check_xray(_xray(**kw))
    assert issue is not None and issue.code == code and issue.message


def test_colour_photo_is_rejected_and_gray_rgb_is_not(tmp_path):
    rng = np.random.default_rng(2)
    colour = (rng.random((200, 200, 3)) * 255).astype(np.uint8)
    Image.fromarray(colour).save(tmp_path / "photo.png")
    Image.fromarray(colour).save(tmp_path / "photo.jpg", quality=90)  # JPEG decodes via YCbCr
    gray = np.repeat((rng.random((200, 200, 1)) * 255).astype(np.uint8), 3, axis=2)
    Image.fromarray(gray).save(tmp_path / "gray_rgb.jpg", quality=90)
    assert quality.check_xray(load_xray(tmp_path / "photo.png")).code == "colour"
    assert quality.check_xray(load_xray(tmp_path / "photo.jpg")).code == "colour"
    gray_rgb = load_xray(tmp_path / "gray_rgb.jpg")
    assert gray_rgb.photometric == "RGB"  # stored as colour, so the check really ran on three channels
    assert gray_rgb.colourfulness < quality.MAX_COLOURFULNESS


def test_ood_reference_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    train = rng.normal(size=(500, 8))
    ref = quality.OODReference.fit(train, "gap").with_threshold(5.0)
    near, far = ref.score(rng.normal(size=(20, 8))), ref.score(rng.normal(loc=6.0, size=(20, 8)))
    assert near.mean() < 4 < far.min()
    ref.save(tmp_path / "ood.npz")
    loaded = quality.OODReference.load(tmp_path, {"file": "ood.npz", "layer": "gap", "threshold": 5.0})
    np.testing.assert_allclose(loaded.score(train[:5]), ref.score(train[:5]))
    assert loaded.is_out(6.0) and not loaded.is_out(4.0)
