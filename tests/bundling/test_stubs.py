"""bundling.stubs and its stub modules: importing works, calling anything says what is missing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bundling.config import BuildError
from bundling.stubs import (
    PROFILER_MODULE,
    PROFILER_STUB,
    TFLITE_STUB,
    apply_stubs,
    in_tflite_dir,
    stub_modules,
    stub_tensorflow,
)
from bundling.trim import TocEntry


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_profiler_stub() -> None:
    stub = _load(PROFILER_STUB, "profiler_stub_test")
    for fn in (stub.trace, stub.monitor):
        with pytest.raises(RuntimeError, match="remote profiler is not included"):
            fn("grpc://localhost:6009", "/tmp", 1000)


def test_tflite_stub() -> None:
    stub = _load(TFLITE_STUB, "tflite_stub_test")
    placeholder = stub.InterpreterWrapper.CreateWrapperFromFile
    with pytest.raises(
        RuntimeError, match=r"TensorFlow Lite is not included in this build \(tflite_stub_test"
    ):
        placeholder("model.tflite")
    with pytest.raises(AttributeError):
        _ = stub.__wrapped__
    with pytest.raises(AttributeError):
        _ = placeholder.__wrapped__


def test_in_tflite_dir() -> None:
    assert (
        in_tflite_dir("tensorflow/lite/python/interpreter_wrapper/_pywrap_tensorflow_interpreter_wrapper.so")
        is False
    )
    assert in_tflite_dir("tensorflow/lite/python/_pywrap_tflite.so")
    assert in_tflite_dir("tensorflow\\lite\\python\\x.pyd")
    assert not in_tflite_dir("tensorflow/python/x.so")


TF_BINARIES: list[TocEntry] = [
    ("tensorflow/lite/python/_pywrap_analyzer_wrapper.so", "/s/a.so", "EXTENSION"),
    ("tensorflow/lite/python/libpywrap_tflite_common.so", "/s/c.so", "BINARY"),
    ("tensorflow/python/profiler/internal/_pywrap_profiler_plugin.so", "/s/p.so", "EXTENSION"),
    ("tensorflow/python/_pywrap_tensorflow_internal.so", "/s/tf.so", "EXTENSION"),
]
PURE: list[TocEntry] = [("tensorflow", "/s/tensorflow/__init__.py", "PYMODULE")]


def test_stub_modules() -> None:
    assert stub_modules(TF_BINARIES) == {
        PROFILER_MODULE: PROFILER_STUB,
        "tensorflow.lite.python._pywrap_analyzer_wrapper": TFLITE_STUB,
    }
    assert stub_modules([]) == {PROFILER_MODULE: PROFILER_STUB}  # a lean bundle still gets the profiler stub


def test_apply_stubs(tmp_path: Path) -> None:
    result = apply_stubs(TF_BINARIES, PURE, tmp_path)
    assert [e[0] for e in result.binaries] == ["tensorflow/python/_pywrap_tensorflow_internal.so"]
    assert result.dropped == {"_pywrap_analyzer_wrapper.so", "libpywrap_tflite_common.so"}
    modules = {e[0]: e for e in result.pure}
    assert modules["tensorflow"] == PURE[0]
    entry = modules["tensorflow.lite.python._pywrap_analyzer_wrapper"]
    assert entry[2] == "PYMODULE"
    assert Path(entry[1]) == tmp_path / "stubs" / "tensorflow.lite.python._pywrap_analyzer_wrapper.py"
    assert Path(entry[1]).read_bytes() == TFLITE_STUB.read_bytes()
    assert Path(modules[PROFILER_MODULE][1]).read_bytes() == PROFILER_STUB.read_bytes()


def test_stub_tensorflow_refuses_a_kept_binary_that_links_a_dropped_one(tmp_path: Path) -> None:
    def links_tflite(src: str) -> list[tuple[str, str | None]]:
        return [("libpywrap_tflite_common.so", None)]

    with pytest.raises(BuildError, match="links libpywrap_tflite_common.so"):
        stub_tensorflow(TF_BINARIES, PURE, tmp_path, links_tflite)
    binaries, pure = stub_tensorflow(TF_BINARIES, PURE, tmp_path, lambda src: [])
    assert len(binaries) == 1 and len(pure) == 3
