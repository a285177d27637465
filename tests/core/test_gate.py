"""The quality gate's learned / measured parts: image statistics, the presentation network, the wiring
into the scan. Each reason code is produced here at least once."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import stress_images as si
from pneumo_desktop.core import imagestats, orientation, quality
from pneumo_desktop.core.io import load_xray
from pneumo_desktop.core.orientation import PresentationThresholds, PresentationVerdict, presentation_issue
from pneumo_desktop.core.paths import default_model_dir

BUNDLED = default_model_dir()
HAS_GATE = (BUNDLED / imagestats.CONFIG_NAME).is_file() and (BUNDLED / orientation.CONFIG_NAME).is_file()
needs_gate = pytest.mark.skipif(not HAS_GATE, reason="the gate's files are not in resources/model")


# --------------------------------------------------------------------------------------------
# Messages and codes of the presentation network (no network needed)


def _verdict(o=(1.0, 0.0, 0.0, 0.0), inv=0.0, crop=0.0) -> PresentationVerdict:
    return PresentationVerdict(orientation=tuple(o), inverted=inv, cropped=crop)


@pytest.mark.parametrize(
    ("verdict", "code", "words"),
    [
        (_verdict((0.02, 0.97, 0.01, 0.0)), "rotated", "clockwise"),
        (_verdict((0.02, 0.01, 0.97, 0.0)), "rotated", "anticlockwise"),
        (_verdict((0.02, 0.0, 0.0, 0.98)), "upside_down", "upside down"),
        (_verdict(inv=0.99), "inverted", "inverted"),
        (_verdict(crop=0.99), "cropped", "fully in view"),
        (_verdict((0.3, 0.3, 0.2, 0.2)), "rotated", "rotated"),  # not upright, no clear rotation
    ],
)
def test_presentation_codes_and_plain_messages(verdict, code, words):
    issue = presentation_issue(verdict, PresentationThresholds())
    assert issue is not None and issue.code == code and words in issue.message


def test_a_well_presented_film_has_no_issue():
    assert presentation_issue(_verdict((0.9, 0.05, 0.03, 0.02), 0.1, 0.2), PresentationThresholds()) is None


def test_prepare_gives_the_network_input():
    x = orientation.prepare(np.random.default_rng(0).random((120, 90), dtype=np.float32), 64)
    assert x.shape == (64, 64, 1) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2


# --------------------------------------------------------------------------------------------
# Image statistics


def test_statistics_separate_patterns_from_a_smooth_textured_image():
    rng = np.random.default_rng(1)
    text = imagestats.compute(si.text_page(rng) / 255.0)
    board = imagestats.compute(si.checkerboard(rng) / 255.0)
    assert text["mode_fraction"] > 0.5 and text["entropy"] < 3.5  # a white page, few gray levels
    assert board["edge_fraction"] > 0.05 and board["smooth_fit"] < 0.1  # sharp edges, no large-scale shape
    grad = np.tile(np.linspace(0, 1, 300, dtype=np.float32), (300, 1))
    assert imagestats.compute(grad)["smooth_fit"] > 0.99


def test_limits_fit_and_violations():
    rng = np.random.default_rng(2)
    samples = [
        {"entropy": float(v), "roughness": float(r)}
        for v, r in zip(rng.normal(5, 0.2, 500), rng.normal(0.07, 0.01, 500), strict=True)
    ]
    limits = imagestats.fit_limits(samples, {"entropy": "low", "roughness": "both"})
    assert limits.violations({"entropy": 5.0, "roughness": 0.07}) == []
    assert limits.violations({"entropy": 1.0, "roughness": 0.07}) == ["entropy<"]
    assert limits.violations({"entropy": 5.0, "roughness": 0.5}) == ["roughness>"]
    again = imagestats.StatLimits.from_dict(limits.to_dict())
    assert again == limits


@needs_gate
def test_bundled_limits_refuse_synthetic_images_and_screenshots():
    limits = imagestats.StatLimits.load(BUNDLED)
    assert limits is not None
    rng = np.random.default_rng(7)
    for name, arr in si.synthetic_set(3, seed=99):
        assert limits.violations(imagestats.compute(arr / 255.0)), name
    film = (np.clip(rng.normal(0.5, 0.15, (400, 360)), 0, 1) * 255).astype(np.uint8)
    assert limits.violations(imagestats.compute(si.screenshot(rng, film) / 255.0))


@pytest.mark.real_data
@needs_gate
def test_bundled_limits_pass_validation_films(shared_dir):
    films = sorted((shared_dir / "data" / "chest_xray_224sq" / "val" / "PNEUMONIA").glob("*.jpeg"))[:10]
    films += sorted((shared_dir / "data" / "chest_xray_224sq" / "val" / "NORMAL").glob("*.jpeg"))[:10]
    if not films:
        pytest.skip("no validation films")
    limits = imagestats.StatLimits.load(BUNDLED)
    refused = [p.name for p in films if limits.violations(imagestats.compute(load_xray(p).pixels))]
    assert len(refused) <= 1, refused


# --------------------------------------------------------------------------------------------
# The bundled network on real validation films, and the wiring through the Scanner


def _val_films(shared_dir: Path, n: int) -> list[Path]:
    root = shared_dir / "data" / "chest_xray_224sq" / "val"
    films = (
        sorted((root / "NORMAL").glob("*.jpeg"))[: n // 2]
        + sorted((root / "PNEUMONIA").glob("*.jpeg"))[: n // 2]
    )
    if len(films) < n:
        pytest.skip("validation films missing")
    return films


KINDS = {
    "upright": (lambda a: a, None),
    "rot90": (lambda a: np.rot90(a, -1), "rotated"),
    "rot270": (lambda a: np.rot90(a, 1), "rotated"),
    "rot180": (lambda a: np.rot90(a, 2), "upside_down"),
    "vflip": (lambda a: a[::-1], "upside_down"),
    "inverted": (lambda a: 1.0 - a, "inverted"),
    "top_half": (lambda a: a[: a.shape[0] // 2], "cropped"),
}


@pytest.mark.real_data
@needs_gate
def test_bundled_network_on_validation_films(shared_dir):
    gate = quality.Gate(BUNDLED)
    films = [load_xray(p).pixels for p in _val_films(shared_dir, 8)]
    for kind, (fn, code) in KINDS.items():
        thumbs = [orientation.prepare(np.ascontiguousarray(fn(f)), gate.net.size) for f in films]
        got = [i.code if i else None for i in gate.judge(thumbs)]
        if code is None:
            assert got.count(None) >= 7, (kind, got)
        else:  # handled = refused for any presentation reason; the named reason for most
            assert got.count(None) == 0, (kind, got)
            assert got.count(code) >= 6, (kind, got)


@pytest.fixture(scope="module")
def gated_tiny_model(tiny_model_dir, tmp_path_factory):
    """The tiny test model with the bundled gate's files next to it."""
    folder = tmp_path_factory.mktemp("gated")
    for p in tiny_model_dir.iterdir():
        shutil.copy(p, folder / p.name)
    for name in (imagestats.CONFIG_NAME, orientation.CONFIG_NAME):
        shutil.copy(BUNDLED / name, folder / name)
    net = __import__("json").loads((BUNDLED / orientation.CONFIG_NAME).read_text())["model_file"]
    shutil.copy(BUNDLED / net, folder / net)
    return folder


@pytest.mark.real_data
@needs_gate
def test_scanner_refuses_with_each_code(gated_tiny_model, shared_dir, tmp_path):
    from pneumo_desktop.core.model import Predictor
    from pneumo_desktop.core.results import NEEDS_REVIEW, OK, REJECTED
    from pneumo_desktop.core.scan import Scanner

    predictor = Predictor(gated_tiny_model, device="cpu")
    assert predictor.gate is not None and predictor.gate.net is not None
    film = np.asarray(Image.open(_val_films(shared_dir, 2)[1]).convert("L"))
    files = {
        "upright.png": film,
        "rot90.png": np.rot90(film, -1),
        "rot180.png": np.rot90(film, 2),
        "inverted.png": 255 - film,
        "top.png": film[: film.shape[0] // 2],
        "gradient.png": si.gradient(np.random.default_rng(0)),
        "text.png": si.text_page(np.random.default_rng(1)),
    }
    for name, arr in files.items():
        Image.fromarray(np.ascontiguousarray(arr)).save(tmp_path / name)
    rows = {r.name: r for r in Scanner(predictor, batch_size=4).scan_all([tmp_path])}
    assert rows["upright.png"].status == OK and "could not be checked" in rows["upright.png"].message
    want = {
        "rot90.png": "rotated",
        "rot180.png": "upside_down",
        "inverted.png": "inverted",
        "top.png": "cropped",
        "gradient.png": "not_radiograph",
        "text.png": "not_radiograph",
    }
    for name, code in want.items():
        r = rows[name]
        assert (r.status, r.label, r.reason_code) == (REJECTED, NEEDS_REVIEW, code), (
            name,
            r.reason_code,
            r.message,
        )
        assert r.message


def test_the_orientation_networks_openvino_export_matches_keras(monkeypatch):
    """The lean bundle has no Keras: the gate's network runs from its OpenVINO export, with the
    same verdicts as the Keras file it was made from."""
    pytest.importorskip("openvino")
    from pneumo_desktop.core import orientation
    from pneumo_desktop.core.paths import default_model_dir

    folder = default_model_dir()
    rng = np.random.default_rng(0)
    thumbs = rng.normal(size=(6, 64, 64, 1)).astype(np.float32)
    thumbs[3:] = np.rot90(thumbs[3:], axes=(1, 2))
    lean = orientation.OrientationNet(folder)
    assert lean.runtime == "openvino"
    monkeypatch.setenv("PNEUMO_RUNTIME", "tensorflow")
    ref = orientation.OrientationNet(folder)
    assert ref.runtime == "keras"
    for a, b in zip(lean.predict(thumbs), ref.predict(thumbs), strict=True):
        assert np.allclose(a.orientation, b.orientation, atol=1e-4)
        assert abs(a.inverted - b.inverted) < 1e-4 and abs(a.cropped - b.cropped) < 1e-4
