"""bundling.trim: what the app never loads is dropped; orphaned libraries and dangling links too."""

from __future__ import annotations

import pytest

from bundling.config import BuildError
from bundling.trim import (
    GetImports,
    TocEntry,
    check_not_needed,
    drop_dangling_symlinks,
    keep,
    prune_orphan_libraries,
    qt_plugin,
    trim,
)


@pytest.mark.parametrize(
    ("dest", "kept"),
    [
        ("PySide6/Qt/translations/qt_de.qm", False),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/platforms/libqlinuxfb.so", False),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
        ("PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", True),
        ("PySide6/Qt/plugins/imageformats/libqjpeg.so", True),
        ("PySide6/Qt/plugins/imageformats/libqwebp.so", False),
        ("PySide6/Qt/plugins/tls/libqopensslbackend.so", False),
        ("PySide6/Qt/plugins/styles/libqfusion.so", True),
        ("PySide6/Qt/lib/libQt6Core.so.6", True),
        ("tensorflow/include/tensorflow/core/x.h", False),
        ("tensorflow/python/_pywrap_tfcompile.so", False),
        ("tensorflow/python/_pywrap_tensorflow_internal.so", True),
        ("nvidia/cublas/lib/libcublas.so.12", False),
        ("libcudnn.so.9", False),
        ("openvino/libs/libopenvino_intel_gpu_plugin.so", False),
        ("openvino/libs/libopenvino.so.2541", True),
        ("openvino/include/openvino/openvino.hpp", False),
        ("numpy/tests/test_x.py", False),
        ("numpy/testing/__init__.py", False),
        ("keras-3.5.0.dist-info/RECORD", False),
        ("keras-3.5.0.dist-info/METADATA", True),
        ("resources/model/model_card.json", True),
    ],
)
def test_keep(dest: str, kept: bool) -> None:
    assert keep(dest) is kept


def test_keep_windows_paths() -> None:
    assert not keep("PySide6\\translations\\qt_de.qm", is_win=True)
    assert keep("PySide6\\plugins\\platforms\\qwindows.dll", is_win=True)
    assert not keep("PySide6\\plugins\\platforms\\qdirect2d.dll", is_win=True)


def test_qt_plugin() -> None:
    assert qt_plugin("PySide6/Qt/plugins/platforms/libqxcb.so") == ("platforms", "qxcb")
    assert qt_plugin("PySide6/plugins/platforms/libqxcb.dll", is_win=True) == ("platforms", "libqxcb")
    assert qt_plugin("PySide6/Qt/plugins/README") is None
    assert qt_plugin("numpy/plugins/x/y.so") is None


def _imports(table: dict[str, list[tuple[str, str | None]]]) -> GetImports:
    def get(src: str) -> list[tuple[str, str | None]]:
        if src not in table:
            raise OSError(src)
        return table[src]

    return get


BINARIES: list[TocEntry] = [
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "/s/libqxcb.so", "BINARY"),
    ("libxcb-cursor.so.0", "/s/libxcb-cursor.so.0", "BINARY"),
    ("libgtk-3.so.0", "/s/libgtk-3.so.0", "BINARY"),
    ("PySide6/Qt/lib/libQt6Network.so.6", "/s/libQt6Network.so.6", "BINARY"),
    ("numpy/_core/_multiarray.cpython-311-x86_64-linux-gnu.so", "/s/multiarray.so", "EXTENSION"),
    ("libpython3.11.so.1.0", "/s/libpython3.11.so.1.0", "BINARY"),
]


def test_prune_orphan_libraries() -> None:
    get = _imports({
        "/s/libqxcb.so": [("libxcb-cursor.so.0", "/usr/lib/libxcb-cursor.so.0")],
        "/s/multiarray.so": [("libpython3.11.so.1.0", None)],
        "/s/libpython3.11.so.1.0": [],
    })  # fmt: skip
    kept, dropped = prune_orphan_libraries(BINARIES, get)
    assert dropped == ["libgtk-3.so.0", "PySide6/Qt/lib/libQt6Network.so.6"]
    assert [e[0] for e in kept] == [e[0] for e in BINARIES if e[0] not in dropped]


def test_prune_keeps_everything_when_a_binary_is_unreadable() -> None:
    kept, dropped = prune_orphan_libraries(BINARIES, _imports({}))
    assert kept == BINARIES and dropped == []


def test_drop_dangling_symlinks() -> None:
    toc: list[TocEntry] = [
        ("libopenvino.so.2541", "openvino/libs/libopenvino.so.2541", "SYMLINK"),
        ("libgone.so.1", "gone/libgone.so.1", "SYMLINK"),
        ("openvino/libs/libopenvino.so.2541", "/s/libopenvino.so", "BINARY"),
    ]
    present = {"openvino/libs/libopenvino.so.2541"}
    assert drop_dangling_symlinks(toc, present) == [toc[0], toc[2]]


def test_check_not_needed() -> None:
    binaries: list[TocEntry] = [
        ("tensorflow/python/_pywrap_tensorflow_internal.so", "/s/tf.so", "BINARY"),
        ("numpy/x.so", "/s/numpy.so", "BINARY"),
        ("tensorflow/libalias.so", "x", "SYMLINK"),
    ]
    get = _imports(
        {"/s/tf.so": [("libtensorflow_framework.so.2", None)], "/s/numpy.so": [("libtflite.so", None)]}
    )
    check_not_needed(binaries, {"libtflite.so"}, "TensorFlow Lite", get)  # numpy is not TensorFlow's
    with pytest.raises(BuildError, match=r"links libtensorflow_framework.so.2 \(TensorFlow\), now dropped"):
        check_not_needed(binaries, {"libtensorflow_framework.so.2"}, "TensorFlow", get)


def test_trim_linux_and_other_platforms() -> None:
    binaries: list[TocEntry] = [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/s/libqxcb.so", "BINARY"),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/s/libqgtk3.so", "BINARY"),
        ("libgtk-3.so.0", "/s/libgtk-3.so.0", "BINARY"),
        ("libqgtk3.so", "PySide6/Qt/plugins/platformthemes/libqgtk3.so", "SYMLINK"),
    ]
    datas: list[TocEntry] = [
        ("PySide6/Qt/translations/qt_de.qm", "/s/qt_de.qm", "DATA"),
        ("a/b.txt", "/s/b", "DATA"),
    ]
    get = _imports({"/s/libqxcb.so": []})
    kept_b, kept_d = trim(binaries, datas, is_linux=True, get_imports=get)
    assert kept_b == [binaries[0]] and kept_d == [datas[1]]
    kept_b, kept_d = trim(binaries, datas, is_linux=False, get_imports=get)
    assert kept_b == [binaries[0], binaries[2], binaries[3]] and kept_d == [datas[1]]
