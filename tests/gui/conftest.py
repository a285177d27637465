"""GUI test fixtures: offscreen Qt, temporary settings, a window on the tiny model, a thread check."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

MODEL_TIMEOUT_MS = 120_000  # the first window of a run imports TensorFlow
SCAN_TIMEOUT_MS = 60_000


def write_images(folder: Path, n: int, size: int = 160, seed: int = 0, prefix: str = "img") -> list[Path]:
    """``n`` small gray PNGs that pass the quality gate, each a little different."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    paths = []
    for i in range(n):
        blob = np.exp(
            -(
                ((xx - rng.uniform(0.2, 0.8)) ** 2 + (yy - rng.uniform(0.2, 0.8)) ** 2)
                / rng.uniform(0.01, 0.2)
            )
        )
        img = 0.2 + 0.5 * blob + 0.1 * rng.random((size, size))
        path = folder / f"{prefix}{i:03d}.png"
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), mode="L").save(path)
        paths.append(path)
    return paths


@pytest.fixture(autouse=True)
def _temporary_settings(tmp_path: Path) -> None:
    """QSettings (INI, user scope) go to a fresh folder for every test."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


@pytest.fixture(autouse=True)
def _no_thread_left(qapp: QApplication) -> Iterator[None]:
    """Fail a test that leaves a model thread, an image loader or a Python thread running."""
    before = set(threading.enumerate())
    yield
    from pneumo_desktop.gui import MainWindow

    for widget in qapp.topLevelWidgets():
        if isinstance(widget, MainWindow):
            assert widget.service.thread.isFinished(), "the model QThread is still running after the test"
            assert widget.viewer.pool.activeThreadCount() == 0, "an image loader is still running"
    leftover = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    for t in leftover:  # a thread already told to stop may need a moment (a child process's pipe closing)
        t.join(timeout=3.0)
    leftover = [t for t in leftover if t.is_alive()]
    assert not leftover, f"threads left running: {leftover}"


@pytest.fixture
def make_window(qtbot, tiny_model_dir: Path) -> Iterator[Callable[..., object]]:
    """Factory for main windows on the tiny model; waits for the model unless ``ready=False``."""
    from pneumo_desktop.gui import MainWindow

    windows: list[MainWindow] = []

    def make(ready: bool = True, **kwargs: object) -> MainWindow:
        kwargs.setdefault("model_dir", tiny_model_dir)
        kwargs.setdefault("batch_size", 4)
        window = MainWindow(**kwargs)
        windows.append(window)
        window.resize(1280, 800)
        window.show()
        if ready:
            with qtbot.waitSignal(window.model_ready, timeout=MODEL_TIMEOUT_MS):
                pass
        return window

    yield make
    for window in windows:
        window.close()
        assert window.service.thread.isFinished()
        window.deleteLater()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return write_images(tmp_path / "images", 6)
