"""Dropping collected files the app never loads: Qt translations and plugins, TensorFlow parts,
GPU libraries, OpenVINO's other plugins, third-party tests, RECORD files; on Linux the shared
libraries nothing needs any more and the symbolic links left dangling.

Works on PyInstaller's tables of contents: lists of ``(dest, src, typecode)``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from .collect import keep_openvino, openvino_lib, posix
from .config import BuildError

log = logging.getLogger(__name__)

TocEntry = tuple[str, str, str]
#: (name, resolved path or None) of the libraries a binary links, as PyInstaller's bindepend reports them.
GetImports = Callable[[str], Iterable[tuple[str, str | None]]]

#: Qt plugin folders dropped entirely (none of them serves a QtWidgets desktop app).
QT_DROP_CATEGORIES = {
    "egldeviceintegrations", "generic", "networkinformation", "tls", "sqldrivers", "multimedia",
    "position", "qmltooling", "designer", "virtualkeyboard", "canbus", "sensors", "texttospeech",
    "webview", "renderers", "scenegraph", "geometryloaders", "sceneparsers", "assetimporters",
    "help", "qmllint", "renderplugins",
}  # fmt: skip
#: Qt plugin folders where only the named plugins are kept.
QT_KEEP_ONLY = {
    "platforms": {"qxcb", "qwayland", "qwayland-egl", "qwayland-generic", "qoffscreen", "qwindows", "qcocoa"},
    "imageformats": {"qjpeg", "qico", "qgif", "qsvg"},
    "platformthemes": {"qxdgdesktopportal"},  # not qgtk3: it pulls in the build machine's GTK stack
}
#: Files TensorFlow's hook collects that inference never loads (measured with /proc/self/maps
#: after loading a model, predicting in float32 and bfloat16 and computing Grad-CAM).
TF_DROP = (
    "tensorflow/compiler/mlir/stablehlo/stablehlo_extension",
    "tensorflow/compiler/tf2xla/ops/_xla_ops",
    "tensorflow/python/framework/lib_native_proto_caster",
    "tensorflow/include/",
    "tensorflow/xla_aot_runtime_src/",
    # Extension modules that `import tensorflow` does not load and that only tools and APIs the app
    # never calls import (found with strace: never opened by --self-test, --scan or the GUI).
    "tensorflow/python/_pywrap_tfcompile",  # XLA ahead-of-time compilation (saved_model_cli)
    "tensorflow/python/_pywrap_toco_api",  # the old TFLite converter
    "tensorflow/python/tpu/_pywrap_tpu_embedding",
    "tensorflow/python/util/_pywrap_transform_graph",  # graph_transforms tool
    "tensorflow/python/util/_pywrap_stat_summarizer",  # benchmark tool
    "tensorflow/python/framework/_python_memory_checker_helper",  # test helper
    "tensorflow/python/data/experimental/service/_pywrap_snapshot_utils",  # tf.data service
    "tensorflow/compiler/mlir/tensorflow_to_stablehlo/",
)
#: CUDA/TensorRT wheels (a CPU build never loads them; tensorflow-cpu does not install them).
GPU_DIRS = {"nvidia", "tensorrt", "tensorrt_libs"}
GPU_LIBS = ("libcuda", "libcudnn", "libcublas", "libcufft", "libcusparse", "libcusolver", "libcurand", "libnccl",
            "libnvinfer", "libnvrtc")  # fmt: skip


def bindepend_imports(src: str) -> Iterable[tuple[str, str | None]]:
    from PyInstaller.depend import bindepend

    return bindepend.get_imports(src)


def qt_plugin(dest: str, is_win: bool = False) -> tuple[str, str] | None:
    """(category, plugin name) for a Qt plugin file, else None."""
    parts = posix(dest).split("/")
    if not parts or parts[0] != "PySide6" or "plugins" not in parts:
        return None
    i = parts.index("plugins")
    if len(parts) < i + 3:
        return None
    stem = parts[-1].split(".")[0]
    if stem.startswith("lib") and not is_win:
        stem = stem[3:]
    return parts[i + 1], stem


def keep(dest: str, is_win: bool = False) -> bool:
    """False for a collected file (by its destination in the bundle) that the app never loads."""
    p = posix(dest)
    parts = p.split("/")
    if parts[0] == "PySide6" and "translations" in parts:
        return False  # the app is English only
    plugin = qt_plugin(p, is_win)
    if plugin is not None:
        category, name = plugin
        if category in QT_DROP_CATEGORIES:
            return False
        if category in QT_KEEP_ONLY and name not in QT_KEEP_ONLY[category]:
            return False
    if any(p.startswith(prefix) for prefix in TF_DROP):
        return False
    if parts[0] in GPU_DIRS or parts[-1].startswith(GPU_LIBS):
        return False
    if openvino_lib(p) and not keep_openvino(p):
        return False  # OpenVINO's GPU/NPU plugins, frontends, headers, GPU kernel cache
    if parts[0] == "openvino" and parts[1:2] == ["include"]:
        return False
    if "tests" in parts[:-1] or "testing" in parts[:-1]:
        return False  # test data and helpers of third-party packages
    if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "RECORD":
        return False  # file lists (TensorFlow's is 1.7 MB); metadata and entry points stay
    return True


def prune_orphan_libraries(
    binaries: list[TocEntry], get_imports: GetImports = bindepend_imports
) -> tuple[list[TocEntry], list[str]]:
    """Linux: drop top-level shared libraries that no kept binary needs any more.

    Dropping plugins (e.g. the GTK theme, EGLFS) leaves their dependencies behind in the Analysis:
    system libraries at the top level and Qt libraries (QtNetwork, EGLFS support). ldd lists
    transitive dependencies, so one pass over the binaries that stay is enough.
    """

    def candidate(dest: str) -> bool:
        p = posix(dest)
        name = p.rsplit("/", 1)[-1]
        return (
            ("/" not in p or p.startswith("PySide6/Qt/lib/"))
            and (".so." in name or name.endswith(".so"))
            and ".cpython-" not in name
            and ".abi3." not in name
            and not name.startswith("libpython")
        )

    needed = set()
    for dest, src, _typ in binaries:
        if candidate(dest):
            continue
        try:
            imports = get_imports(src)
        except Exception:  # unreadable: keep everything it might need
            log.warning("cannot analyse %s; not pruning", src)
            return binaries, []
        for name, path in imports:
            needed.add(os.path.basename(name))
            if path:
                needed.add(os.path.basename(path))
    kept = [e for e in binaries if not candidate(e[0]) or os.path.basename(posix(e[0])) in needed]
    dropped = [e[0] for e in binaries if e not in kept]
    return kept, dropped


def drop_dangling_symlinks(toc: list[TocEntry], present: set[str]) -> list[TocEntry]:
    """Symbolic links (top-level aliases of package libraries) whose target was trimmed away."""
    kept = []
    for dest, src, typ in toc:
        if typ == "SYMLINK":
            target = posix(os.path.normpath(os.path.join(os.path.dirname(posix(dest)), posix(src))))
            if target not in present:
                continue
        kept.append((dest, src, typ))
    return kept


def check_not_needed(
    binaries: list[TocEntry], names: set[str], what: str, get_imports: GetImports = bindepend_imports
) -> None:
    """Fail the build if a kept TensorFlow binary links one of the dropped libraries."""
    for dest, src, typ in binaries:
        if typ == "SYMLINK" or not posix(dest).startswith("tensorflow/"):
            continue
        try:
            imports = get_imports(src)
        except Exception:  # not a binary PyInstaller can read
            continue
        needed = {os.path.basename(n) for n, _p in imports} & names
        if needed:
            raise BuildError(f"{dest} links {', '.join(sorted(needed))} ({what}), now dropped")


def trim(
    binaries: list[TocEntry],
    datas: list[TocEntry],
    is_linux: bool,
    is_win: bool = False,
    get_imports: GetImports = bindepend_imports,
) -> tuple[list[TocEntry], list[TocEntry]]:
    """The Analysis's binaries and datas without what the app never loads (see :func:`keep`)."""
    binaries = [e for e in binaries if keep(e[0], is_win)]
    datas = [e for e in datas if keep(e[0], is_win)]
    if is_linux:
        binaries, orphans = prune_orphan_libraries(binaries, get_imports)
        log.info("dropped %d orphaned shared libraries: %s", len(orphans), ", ".join(sorted(orphans)))
        # Only Linux has the top-level library aliases this is for. On macOS the links inside Qt's and
        # Python's .framework bundles point to folders (Versions/Current -> A) and must stay: code
        # signing needs them.
        present = {posix(d) for d, _s, t in binaries + datas if t != "SYMLINK"}
        binaries = drop_dangling_symlinks(binaries, present)
        datas = drop_dangling_symlinks(datas, present)
    return binaries, datas
