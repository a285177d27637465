"""bundling.model: the card's sha256 check, the runtime, the files bundled."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePath
from typing import Any

import pytest

from bundling.config import BuildError
from bundling.model import model_bundle, runtime_skip, select_runtime


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _model_dir(tmp_path: Path, export: bool = True, **card_fields: Any) -> Path:
    folder = tmp_path / "model"
    (folder / "eval").mkdir(parents=True)
    (folder / "m.keras").write_bytes(b"weights")
    (folder / "m.xml").write_bytes(b"<xml/>")
    (folder / "m.bin").write_bytes(b"ir")
    (folder / "m.onnx").write_bytes(b"onnx")
    (folder / "eval" / "metrics.json").write_text("{}")
    (folder / ".hidden").write_text("x")
    card: dict[str, Any] = {"name": "m", "version": "1", "model_file": "m.keras", "sha256": _sha(b"weights")}
    if export:
        card["runtimes"] = {
            "openvino": {
                "source_sha256": _sha(b"weights"),
                "files": {"m.xml": _sha(b"<xml/>"), "m.bin": _sha(b"ir")},
            },
            "onnxruntime": {"source_sha256": _sha(b"weights"), "files": {"m.onnx": _sha(b"onnx")}},
        }
    card.update(card_fields)
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder


def _bundled(folder: Path, bundle_datas: tuple[tuple[str, str], ...]) -> set[str]:
    return {Path(src).relative_to(folder).as_posix() for src, _dest in bundle_datas}


def test_openvino_by_default_without_keras_or_other_exports(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    bundle = model_bundle(folder)
    assert bundle.runtime == "openvino"
    assert _bundled(folder, bundle.datas) == {"m.xml", "m.bin", "model_card.json", "eval/metrics.json"}
    dests = dict((Path(s).name, d) for s, d in bundle.datas)
    assert dests["metrics.json"] == str(PurePath("resources", "model", "eval"))
    assert dests["m.xml"] == str(PurePath("resources", "model"))


def test_tensorflow_bundles_the_keras_file_only(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    bundle = model_bundle(folder, "tensorflow")
    assert bundle.runtime == "tensorflow"
    assert _bundled(folder, bundle.datas) == {"m.keras", "model_card.json", "eval/metrics.json"}


def test_without_export_tensorflow(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path, export=False)
    assert model_bundle(folder).runtime == "tensorflow"


def test_forced_onnxruntime(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    bundle = model_bundle(folder, "onnxruntime")
    assert _bundled(folder, bundle.datas) == {"m.onnx", "model_card.json", "eval/metrics.json"}


def test_runtime_skip() -> None:
    card = {
        "model_file": "m.keras",
        "runtimes": {"openvino": {"files": {"a": ""}}, "onnxruntime": {"files": {"b": ""}}},
    }
    assert runtime_skip(card, "tensorflow") == {"a", "b"}
    assert runtime_skip(card, "openvino") == {"b", "m.keras"}
    assert runtime_skip({"model_file": "m.keras"}, "tensorflow") == set()


def test_missing_card(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no model card"):
        model_bundle(tmp_path)


def test_missing_model_file(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    (folder / "m.keras").unlink()
    with pytest.raises(BuildError, match="which is not in"):
        model_bundle(folder)


def test_sha_mismatch(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path, sha256="0" * 64)
    with pytest.raises(BuildError, match=r"m.keras does not match its card \(sha256 "):
        model_bundle(folder)


def test_export_of_another_model(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    card = json.loads((folder / "model_card.json").read_text())
    card["runtimes"]["openvino"]["source_sha256"] = "1" * 64
    with pytest.raises(BuildError, match="no openvino export of m.keras"):
        select_runtime(card, folder)


def test_damaged_export(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    (folder / "m.bin").write_bytes(b"damaged")
    with pytest.raises(BuildError, match="m.bin does not match its card"):
        model_bundle(folder)


def test_forced_export_missing(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path, export=False)
    with pytest.raises(BuildError, match="no openvino export"):
        model_bundle(folder, "openvino")
