"""Stub modules for the TensorFlow parts an offline app never uses (the stubs: ``stub_modules/``).

* TensorFlow imports its remote-profiler client (tf.profiler.experimental.client: trace/monitor of
  a profiler server) at start-up; its extension module is 29 MB (21 MB stripped) and an offline app
  never profiles a server. A stub with the same name keeps ``import tensorflow`` working and says so
  if anything ever calls it.
* ``import tensorflow`` imports tf.lite (through tf.compat.v1), whose metrics, interpreter and
  analyzer wrappers load TensorFlow Lite's native library (libpywrap_tflite_common, 11 MB). The app
  never converts or runs a .tflite model. Every extension module in tensorflow/lite/python/ becomes
  a stub whose attributes are placeholders: importing works, calling anything raises RuntimeError.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .collect import posix
from .trim import GetImports, TocEntry, bindepend_imports, check_not_needed

log = logging.getLogger(__name__)

STUB_DIR = Path(__file__).resolve().parent / "stub_modules"
PROFILER_MODULE = "tensorflow.python.profiler.internal._pywrap_profiler_plugin"
PROFILER_STUB = STUB_DIR / "profiler_plugin.py"
TFLITE_STUB = STUB_DIR / "tflite.py"
TFLITE_DIR = "tensorflow/lite/python/"


@dataclass(frozen=True)
class Stubbed:
    """The Analysis's binaries and pure modules with the stubs in, and what was replaced."""

    binaries: list[TocEntry]
    pure: list[TocEntry]
    stubs: dict[str, Path]  # module -> stub source
    dropped: frozenset[str]  # file names of the TensorFlow Lite binaries left out


def in_tflite_dir(dest: str) -> bool:
    """True for a file directly in tensorflow/lite/python/."""
    p = posix(dest)
    return p.startswith(TFLITE_DIR) and "/" not in p[len(TFLITE_DIR) :]


def stub_modules(binaries: list[TocEntry]) -> dict[str, Path]:
    """Module name -> stub file: the profiler client, and every TensorFlow Lite extension collected."""
    stubs = {PROFILER_MODULE: PROFILER_STUB}
    for dest, _src, typ in binaries:
        if typ == "EXTENSION" and in_tflite_dir(dest):
            stubs[posix(dest).split(".")[0].replace("/", ".")] = TFLITE_STUB
    return stubs


def apply_stubs(binaries: list[TocEntry], pure: list[TocEntry], work: Path) -> Stubbed:
    """Replace the stubbed extension modules by their stubs, copied into ``work/stubs/<module>.py``."""
    stubs = stub_modules(binaries)
    dropped = frozenset(os.path.basename(posix(e[0])) for e in binaries if in_tflite_dir(e[0]))
    binaries = [e for e in binaries if not in_tflite_dir(e[0])]
    for module, source in stubs.items():
        stub = Path(work) / "stubs" / (module + ".py")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_bytes(source.read_bytes())
        path = module.replace(".", "/")
        binaries = [e for e in binaries if not posix(e[0]).startswith(path + ".")]
        pure = [e for e in pure if e[0] != module] + [(module, str(stub), "PYMODULE")]
    return Stubbed(binaries, pure, stubs, dropped)


def stub_tensorflow(
    binaries: list[TocEntry], pure: list[TocEntry], work: Path, get_imports: GetImports = bindepend_imports
) -> tuple[list[TocEntry], list[TocEntry]]:
    """:func:`apply_stubs`, then fail the build if a kept TensorFlow binary links what was dropped."""
    result = apply_stubs(binaries, pure, work)
    check_not_needed(result.binaries, set(result.dropped), "TensorFlow Lite", get_imports)
    log.info("TensorFlow Lite: stubbed %d modules, dropped %s",
             sum(v == TFLITE_STUB for v in result.stubs.values()), ", ".join(sorted(result.dropped)))  # fmt: skip
    return result.binaries, result.pure
