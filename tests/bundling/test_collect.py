"""bundling.collect: app modules, metadata, OpenVINO's libraries, excludes, the Analysis inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bundling import collect
from bundling.collect import (
    EXCLUDES,
    LEAN_DROPPED_METADATA,
    app_modules,
    excludes,
    keep_openvino,
    openvino_binaries,
    openvino_lib,
    optional_metadata,
)
from bundling.config import BuildConfig


def test_app_modules(tmp_path: Path) -> None:
    pkg = tmp_path / "pneumo_desktop"
    for rel in ("__init__.py", "cli.py", "core/__init__.py", "core/model.py", "__pycache__/x.py"):
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("")
    (pkg / "notes.txt").write_text("")
    assert app_modules(tmp_path) == [
        "pneumo_desktop",
        "pneumo_desktop.cli",
        "pneumo_desktop.core",
        "pneumo_desktop.core.model",
    ]


def test_app_modules_of_this_checkout() -> None:
    mods = app_modules(Path(__file__).resolve().parents[2])
    assert "pneumo_desktop.gui" in mods and "pneumo_desktop.core.integrity" in mods
    assert not any(m.startswith(("bundling", "training")) for m in mods)


def test_optional_metadata_takes_the_first_installed_alternative() -> None:
    calls: list[str] = []

    def copy(name: str) -> list[tuple[str, str]]:
        calls.append(name)
        if name not in {"b", "c"}:
            raise ValueError(name)
        return [(f"/site/{name}-1.dist-info", f"{name}-1.dist-info")]

    assert optional_metadata(["a|b|c", "c", "missing"], copy) == [
        ("/site/b-1.dist-info", "b-1.dist-info"),
        ("/site/c-1.dist-info", "c-1.dist-info"),
    ]
    assert calls == ["a", "b", "c", "missing"]


def test_lean_metadata_filter() -> None:
    for dest in ("keras-3.5.0.dist-info", "tensorflow_cpu-2.16.dist-info", "h5py-3.1.dist-info"):
        assert LEAN_DROPPED_METADATA.match(dest)
    assert not LEAN_DROPPED_METADATA.match("pydicom-3.0.dist-info")
    assert not LEAN_DROPPED_METADATA.match("kerasx")


def test_excludes() -> None:
    assert excludes("tensorflow") == EXCLUDES
    assert "openvino" in EXCLUDES and "bundling" in EXCLUDES and "training" in EXCLUDES
    lean = excludes("openvino")
    assert "openvino" not in lean and "onnxruntime" in lean
    assert {"tensorflow", "keras", "h5py", "openvino.tools"} <= set(lean)
    onnx = excludes("onnxruntime")
    assert "openvino" in onnx and "onnxruntime" not in onnx


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("libopenvino.so.2541", True),
        ("libopenvino_intel_cpu_plugin.so", True),
        ("libopenvino_ir_frontend.so.2541", True),
        ("libtbb.so.12", True),
        ("libhwloc.so.15", True),
        ("openvino.dll", True),
        ("libopenvino_c.so.2541", False),
        ("libtbbmalloc_proxy.so.2", False),
        ("libopenvino_intel_gpu_plugin.so", False),
        ("libopenvino_tensorflow_frontend.so.2541", False),
    ],
)
def test_keep_openvino(name: str, kept: bool) -> None:
    assert keep_openvino(f"openvino/libs/{name}") is kept


def test_openvino_lib() -> None:
    assert openvino_lib("openvino/libs/libopenvino.so")
    assert openvino_lib("openvino\\libs\\x.dll")
    assert openvino_lib("libopenvino.so.2541")  # a top-level alias
    assert not openvino_lib("openvino/runtime/__init__.py")
    assert not openvino_lib("numpy/libopenvino.so")


def test_openvino_binaries(tmp_path: Path) -> None:
    for name in (
        "libopenvino.so.2541",
        "libopenvino_c.so",
        "libtbb.so.12",
        "plugins.xml",
        "libopenvino.so.2541.debug",
    ):
        (tmp_path / name).write_text("")
    (tmp_path / "libtbb_dir.so").mkdir()
    assert openvino_binaries(tmp_path) == [
        (str(tmp_path / "libopenvino.so.2541"), "openvino/libs"),
        (str(tmp_path / "libtbb.so.12"), "openvino/libs"),
    ]


def test_analysis_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "pneumo_desktop").mkdir(parents=True)
    (repo / "pneumo_desktop" / "__init__.py").write_text("")
    model = repo / "resources" / "model"
    model.mkdir(parents=True)
    (model / "m.keras").write_bytes(b"w")
    (model / "model_card.json").write_text(
        json.dumps({"model_file": "m.keras", "sha256": hashlib.sha256(b"w").hexdigest()})
    )
    copied: list[str] = []

    def fake_metadata(names: list[str]) -> list[tuple[str, str]]:
        copied.extend(names)
        return [("/site/keras.dist-info", "keras-3.dist-info")]

    monkeypatch.setattr(collect, "optional_metadata", fake_metadata)
    monkeypatch.setattr(collect, "_highdicom_data", lambda: [("/site/highdicom/x.json", "highdicom")])
    cfg = BuildConfig.from_env(repo, tmp_path / "build", tmp_path / "dist", environ={}, platform="linux")
    inputs = collect.analysis_inputs(cfg)
    assert inputs.runtime == "tensorflow" and inputs.binaries == []
    assert inputs.hiddenimports == ["pneumo_desktop", "pylibjpeg", "openjpeg", "jpeg_ls", "gdcm"]
    assert inputs.excludes == EXCLUDES
    dests = [d for _s, d in inputs.datas]
    assert dests[0] == str(Path("resources", "model"))
    assert "keras-3.dist-info" in dests and "highdicom" in dests
    assert dests[-2] == str(Path("resources", "icons"))
    assert copied == list(collect.METADATA)
