"""What the Analysis collects: the app's modules, package metadata, the model, OpenVINO's libraries,
and what it excludes (other Qt bindings and modules, developer tools, TensorFlow in a lean bundle).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

from .config import BuildConfig
from .model import TENSORFLOW, model_bundle

log = logging.getLogger(__name__)

Data = tuple[str, str]  # (source, destination folder), as PyInstaller's datas and binaries take them

#: pylibjpeg finds its decoders through entry points, i.e. through the plugins' dist-info; pydicom
#: and Keras read versions from metadata. TensorFlow is tensorflow-cpu on Windows/Linux, tensorflow
#: on macOS. "a|b" = the first installed of the alternatives.
METADATA = (
    "pydicom", "pylibjpeg", "pylibjpeg-openjpeg", "pyjpegls", "python-gdcm", "keras",
    "tensorflow-cpu|tensorflow|tensorflow-intel|tensorflow-macos", "numpy", "h5py", "pillow",
    "pneumo-desktop",
)  # fmt: skip
#: Metadata (and so licences) a lean bundle leaves out with TensorFlow.
LEAN_DROPPED_METADATA = re.compile(r"(keras|tensorflow\w*|h5py)-[^/\\]*\.dist-info$")
#: Decoder back ends, imported by pydicom on demand.
DECODERS = ["pylibjpeg", "openjpeg", "jpeg_ls", "gdcm"]

EXCLUDES = [
    # Other Qt bindings, and Qt modules the app does not use (QtCore, QtGui, QtWidgets, and
    # QtNetwork for QLocalServer: gui/single.py's one-instance guard).
    "PyQt5", "PyQt6", "PySide2", "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib",
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2", "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets",
    "PySide6.QtWebEngineQuick", "PySide6.QtWebChannel", "PySide6.QtWebSockets", "PySide6.QtWebView",
    "PySide6.Qt3DCore", "PySide6.Qt3DRender", "PySide6.Qt3DInput", "PySide6.Qt3DLogic",
    "PySide6.Qt3DAnimation", "PySide6.Qt3DExtras", "PySide6.QtMultimedia", "PySide6.QtMultimediaWidgets",
    "PySide6.QtSpatialAudio", "PySide6.QtCharts", "PySide6.QtDataVisualization", "PySide6.QtGraphs",
    "PySide6.QtBluetooth", "PySide6.QtNfc", "PySide6.QtPositioning", "PySide6.QtLocation",
    "PySide6.QtSensors", "PySide6.QtSerialPort", "PySide6.QtSerialBus", "PySide6.QtSql",
    "PySide6.QtTest", "PySide6.QtDesigner", "PySide6.QtUiTools", "PySide6.QtHelp",
    "PySide6.QtRemoteObjects", "PySide6.QtScxml", "PySide6.QtStateMachine", "PySide6.QtTextToSpeech",
    "PySide6.QtHttpServer", "PySide6.QtNetworkAuth", "PySide6.QtPdf", "PySide6.QtPdfWidgets",
    "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets", "PySide6.QtQuick3D", "PySide6.QtAxContainer",
    "PySide6.QtConcurrent", "PySide6.QtXml",
    # Pillow parts the app never uses (X-rays are PNG, JPEG, TIFF, BMP or DICOM; no text, no Tk).
    "PIL.ImageQt", "PIL.ImageTk", "PIL._imagingtk", "PIL._avif", "PIL.AvifImagePlugin", "PIL._webp",
    "PIL.WebPImagePlugin", "PIL._imagingft",
    # Developer and test tools; training code; notebooks; this build logic.
    "pytest", "_pytest", "pytestqt", "hypothesis", "IPython", "ipykernel", "jupyter", "notebook",
    "setuptools", "pkg_resources", "pip", "PyInstaller", "ruff", "grimp", "importlinter",
    "training", "tests", "pydoc_data", "lib2to3", "bundling",
    # Interactive-terminal modules: readline links GNU Readline (GPL-3.0), which must not ship.
    "readline", "curses", "_curses",
    # Optional imports of Keras/TensorFlow the app never uses.
    "matplotlib", "scipy", "skimage", "pandas", "sklearn", "tensorboard", "tensorboard_data_server",
    "tensorflow_datasets", "tensorflow_hub", "grpc", "jax", "jaxlib", "torch", "openvino", "cv2",
    "pygments", "markdown_it", "mdurl",  # rich's syntax highlighting and Markdown (Keras uses neither)
    # Keras's other back ends: the app runs Keras on TensorFlow (JAX and torch are excluded above).
    "keras.src.backend.jax", "keras.src.backend.torch", "keras.src.backend.numpy",
    "keras.src.backend.openvino",
    # GPU-only libraries: this is the CPU build (TensorFlow has no native GPU on Windows).
    "tensorrt", "nvidia",
]  # fmt: skip
#: A lean bundle: no TensorFlow, no Keras (the app imports them only on the TensorFlow path), no
#: converters; of OpenVINO only the runtime (not its model conversion tools and frontends).
LEAN_EXCLUDES = [
    "tensorflow", "keras", "h5py", "tf2onnx", "onnx", "ml_dtypes", "tensorboard", "optree", "rich",
    "openvino.tools", "openvino.frontend.tensorflow", "openvino.frontend.pytorch",
    "openvino.frontend.jax", "openvino.frontend.onnx", "openvino.frontend.paddle",
]  # fmt: skip

#: OpenVINO's libraries that inference on the CPU needs (its CPU plugin and the IR reader are
#: loaded at run time, so PyInstaller cannot see them): not the GPU/NPU plugins, not the
#: converters' frontends (TensorFlow, ONNX, PyTorch, ...), not the C API.
OPENVINO_KEEP = ("openvino.", "openvino_intel_cpu_plugin", "openvino_ir_frontend", "tbb", "hwloc")
_SHARED_LIBRARY = re.compile(r"\.(so(\.\d+)*|dll|dylib)$")


def posix(dest: str | os.PathLike[str]) -> str:
    return str(dest).replace("\\", "/")


def excludes(runtime: str) -> list[str]:
    """Modules the Analysis must not collect for a bundle running ``runtime``."""
    if runtime == TENSORFLOW:
        return list(EXCLUDES)
    return (
        [m for m in EXCLUDES if m != runtime]
        + LEAN_EXCLUDES
        + [n for n in ("openvino", "onnxruntime") if n != runtime]
    )


def app_modules(repo: Path) -> list[str]:
    """Every module of the app package (the GUI loads some with importlib), found without importing."""
    root = Path(repo) / "pneumo_desktop"
    mods = []
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(repo).with_suffix("").parts)
        if "__pycache__" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods.append(".".join(parts))
    return mods


def _copy_metadata(name: str) -> list[Data]:
    from PyInstaller.utils.hooks import copy_metadata

    return [(str(s), str(d)) for s, d in copy_metadata(name)]


def optional_metadata(
    names: Iterable[str], copy_metadata: Callable[[str], list[Data]] = _copy_metadata
) -> list[Data]:
    """Package metadata (dist-info) for the first installed name of each alternative ("a|b")."""
    datas: list[Data] = []
    for alternatives in names:
        for name in alternatives.split("|"):
            try:
                datas += copy_metadata(name)
                break
            except Exception:  # not installed under this name
                continue
        else:
            log.warning("no metadata found for %s", alternatives)
    return datas


def openvino_lib(dest: str | os.PathLike[str]) -> bool:
    """True for a file of OpenVINO's libs/ folder, or a top-level alias of one."""
    p = posix(dest)
    return p.startswith("openvino/libs/") or (p.count("/") == 0 and "openvino" in p)


def keep_openvino(path: str | os.PathLike[str]) -> bool:
    """True for the OpenVINO libraries CPU inference needs (see OPENVINO_KEEP)."""
    name = os.path.basename(posix(path)).lower()
    stem = name[3:] if name.startswith("lib") else name
    return stem.startswith(OPENVINO_KEEP) and not stem.startswith(("openvino_c.", "tbbmalloc_proxy"))


def openvino_binaries(libs: Path | None = None) -> list[Data]:
    """The kept libraries of OpenVINO's libs/ folder (versioned names too: libopenvino_ir_frontend.so.2641)."""
    if libs is None:
        spec = importlib.util.find_spec("openvino")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("openvino")
        libs = Path(next(iter(spec.submodule_search_locations))) / "libs"
    found = [f for f in sorted(libs.iterdir()) if f.is_file() and keep_openvino(f)]
    return [(str(f), "openvino/libs") for f in found if _SHARED_LIBRARY.search(f.name)]


def _highdicom_data() -> list[Data]:
    from PyInstaller.utils.hooks import collect_data_files

    return [(str(s), str(d)) for s, d in collect_data_files("highdicom")]


@dataclass(frozen=True)
class AnalysisInputs:
    """The arguments of build.spec's Analysis that depend on the model and the platform."""

    runtime: str
    datas: list[Data]
    binaries: list[Data]
    hiddenimports: list[str]
    excludes: list[str]


def analysis_inputs(cfg: BuildConfig) -> AnalysisInputs:
    model = model_bundle(cfg.model_dir, cfg.forced_runtime)
    datas = list(model.datas) + optional_metadata(METADATA)
    if model.runtime != TENSORFLOW:  # lean: not the metadata (nor the licences) of what it leaves out
        datas = [d for d in datas if not LEAN_DROPPED_METADATA.match(str(d[1]))]
        datas += optional_metadata([model.runtime])
    datas += [(str(cfg.icons / "pneumo_desktop.png"), str(PurePath("resources", "icons")))]
    # highdicom's IOD/module maps (JSON) and sRGB profile: DICOM results read them. Not GDCM's XML
    # resource files (_gdcm/XML, 3 MB): only gdcm::Global::LoadResourcesFiles() reads them (IOD
    # definitions for validation and anonymisation, which the app never uses), and a frozen gdcm looks
    # for them next to the executable anyway; the DICOM dictionaries are compiled into libgdcmDICT.
    datas += _highdicom_data()
    return AnalysisInputs(
        runtime=model.runtime,
        datas=datas,
        binaries=openvino_binaries() if model.runtime == "openvino" else [],
        hiddenimports=app_modules(cfg.repo) + DECODERS,
        excludes=excludes(model.runtime),
    )
