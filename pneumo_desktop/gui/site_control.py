"""The window's side of site calibration: the controller that keeps the window's threshold in
force (card < site profile < the user's own) and names it in the status bar, the viewer and the
PDF report (split out of ``gui.site_dialog``, #18)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QLabel,
)

from ..core.site import (
    ProfileStore,
    SiteProfile,
)
from ..core.threshold import SITE, ThresholdInForce, resolve_threshold

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .site_dialog import SiteDialog

    DialogFactory = Callable[["SiteController", MainWindow], SiteDialog]

# ---------------------------------------------------------------------------------------------
# The window's side


def window_value(in_force: ThresholdInForce) -> float:
    """The threshold as the window keeps it (4 decimals). A site threshold is the probability of a
    calibration film, so it is rounded down: the film at the threshold stays flagged."""
    if in_force.source != SITE:
        return in_force.value
    return max(1e-4, math.floor(in_force.value * 1e4 + 1e-9) / 1e4)


class SiteController(QObject):
    """Owns the active site profile for a window and the one threshold in force it implies."""

    changed = Signal(object)  # ThresholdInForce

    def __init__(self, window: MainWindow, dialog_factory: DialogFactory) -> None:
        """``dialog_factory`` builds the dialog (``gui.site_dialog.SiteDialog``, which imports this
        module: passing it in keeps the two modules free of an import cycle)."""
        super().__init__(window)
        self.window = window
        self._dialog_factory = dialog_factory
        self.profiles = ProfileStore()
        self.active: SiteProfile | None = self.profiles.active()
        self.in_force: ThresholdInForce | None = None
        self.label = QLabel("", window)
        self.label.setObjectName("siteStatus")
        self.action = QAction("Site calibration…", window)
        self.action.setStatusTip("Set this site's threshold from its own films whose outcome is known")
        self.action.triggered.connect(self.open_dialog)
        self.dialog: SiteDialog | None = None

    def mismatch(self, profile: SiteProfile | None) -> str:
        info = self.window.model_info
        return profile.mismatch(info) if profile is not None and info is not None else ""

    def default_value(self) -> float | None:
        """The threshold without the user's own: the site's when it applies, else the card's."""
        info = self.window.model_info
        return window_value(resolve_threshold(info, self.active)) if info is not None else None

    def threshold_on_load(self, info: Any, saved: float | None) -> float:
        in_force = resolve_threshold(info, self.active, saved)
        if in_force.note:
            self.window.statusBar().showMessage(f"Site profile not applied: {in_force.note}", 15000)
        return window_value(in_force)

    def refresh(self) -> ThresholdInForce | None:
        """Recompute the threshold in force (the user's own is the one saved in the settings)."""
        info = self.window.model_info
        if info is None:
            return None
        override = self.window.settings.threshold(info.title)
        self.in_force = resolve_threshold(info, self.active, override)
        self.label.setText(self.in_force.short)
        self.label.setToolTip(self.in_force.describe())
        viewer = getattr(self.window, "viewer", None)
        if viewer is not None and hasattr(viewer, "set_operating_point"):
            viewer.set_operating_point(self.in_force.describe())
        self.changed.emit(self.in_force)
        return self.in_force

    def describe(self) -> str:
        return self.in_force.describe() if self.in_force is not None else ""

    def activate(self, site: str | None) -> None:
        """Make ``site``'s latest profile the active one (None: no site profile); the user's own
        threshold is cleared, so the profile's threshold is the one in force."""
        self.profiles.set_active(site)
        self.active = self.profiles.active()
        info = self.window.model_info
        if info is None:
            return
        self.window.settings.set_threshold(info.title, None)
        value = self.default_value()
        if value is not None:
            self.window.set_threshold(value, remember=False)
        in_force = self.refresh()
        if in_force is not None:
            self.window.statusBar().showMessage(f"Threshold in force: {in_force.describe()}", 10000)

    def open_dialog(self) -> SiteDialog:
        if self.dialog is None:
            self.dialog = self._dialog_factory(self, self.window)
            self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.dialog.destroyed.connect(self._forget_dialog)
        self.dialog.open()
        return self.dialog

    def _forget_dialog(self) -> None:
        self.dialog = None

    def close(self) -> None:
        if self.dialog is not None:
            self.dialog.cancel()
