"""The Qt binding itself must be sound: the app makes millions of Qt calls in a long session."""

import sys

import pytest
from PySide6.QtGui import QImage, QPainter, QPen
from PySide6.QtWidgets import QLabel


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12: its count cannot drift")
def test_void_qt_calls_keep_the_reference_count_of_none(qtbot):
    """PySide6 6.12.0 on Python 3.11 lost one reference to None per call of a method returning
    nothing (setText, setPen...): after a few thousand calls the process aborted with
    'Fatal Python error: none_dealloc'. pyproject.toml excludes it; this catches a relapse."""
    label = QLabel()
    qtbot.addWidget(label)
    image = QImage(8, 8, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    pen = QPen()
    before = sys.getrefcount(None)
    for i in range(500):  # few enough that a leaking binding fails here instead of aborting
        label.setText("x" if i % 2 else "y")
        painter.setPen(pen)
    drift = sys.getrefcount(None) - before
    painter.end()
    assert drift > -100, f"None lost {-drift} references over 1,000 Qt calls"  # gaining some is harmless
