"""The window's actions, declared in one table: text, icon, shortcut, tip, where they appear
(menu, toolbar) and the window method they call. :func:`build_actions` makes the QActions
(``window.<name>_action``) and :func:`build_menus` the menus and the toolbar from the same table.
Actions owned by other parts (the DICOM network, the site, privacy, reviews) are placed by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QStyle, QToolBar

from .logs import log_dir

if TYPE_CHECKING:
    from .main_window import MainWindow

SP = QStyle.StandardPixmap
Key = QKeySequence.StandardKey
Role = QAction.MenuRole


@dataclass(frozen=True)
class ActionSpec:
    name: str  # window.<name>_action
    text: str
    slot: str = ""  # a method of the window ("" : connected elsewhere)
    icon: SP | None = None
    shortcut: str | Key | None = None
    tip: str = ""
    menu: str = ""  # &File, &Scan, &View, &Help
    toolbar: bool = False
    checkable: bool = False
    enabled: bool = True
    visible: bool = True
    role: Role | None = None
    separator_before: bool = False  # in its menu (and toolbar)


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_files", "Open files…", "choose_files", SP.SP_DialogOpenButton, Key.Open,
               "Open X-ray files (PNG, JPEG, DICOM…)", "&File", toolbar=True),
    ActionSpec("open_folder", "Open folder…", "choose_folder", SP.SP_DirOpenIcon, "Ctrl+Shift+O",
               "Scan every file in a folder and its subfolders", "&File", toolbar=True),
    ActionSpec("watch", "Watch folder…", "_on_watch_triggered", SP.SP_BrowserReload, None,
               "Scan new files as they appear in a folder", "&File", toolbar=True, checkable=True),
    ActionSpec("export_csv", "Export CSV…", "choose_export_csv", SP.SP_DialogSaveButton, "Ctrl+E",
               menu="&File", toolbar=True, separator_before=True),
    ActionSpec("export_pdf", "Export PDF report…", "choose_export_pdf", SP.SP_FileDialogDetailedView,
               Key.Print, menu="&File", toolbar=True),
    ActionSpec("preferences", "Preferences…", "show_preferences", shortcut=Key.Preferences, menu="&File",
               role=Role.PreferencesRole, separator_before=True),
    ActionSpec("quit", "Quit", "close", shortcut=Key.Quit, menu="&File", role=Role.QuitRole,
               separator_before=True),
    ActionSpec("cancel", "Cancel scan", "cancel_scan", SP.SP_BrowserStop, menu="&Scan", enabled=False),
    ActionSpec("reset_threshold", "Reset threshold to model default", "reset_threshold", menu="&Scan",
               enabled=False),
    ActionSpec("fit", "Fit image to window", "", shortcut="F", menu="&View", separator_before=True),
    ActionSpec("actual_size", "Actual size (1:1)", "", shortcut="1", menu="&View"),
    ActionSpec("reset_window", "Reset brightness/contrast", "", shortcut="R", menu="&View"),
    ActionSpec("heatmap", "Show heatmap", "", shortcut="H", menu="&View", checkable=True, visible=False),
    ActionSpec("about", "About Pneumo Desktop", "show_about", menu="&Help", role=Role.AboutRole),
    ActionSpec("diagnostics", "Copy diagnostics", "copy_diagnostics",
               tip="Copy version, model, device, system and recent log lines for support", menu="&Help",
               separator_before=True),
    ActionSpec("log_folder", "Open log folder", "open_log_folder", menu="&Help"),
)

#: Where actions made elsewhere go, by the name of the action they follow in their menu.
PLACED_AFTER = {"watch": ("dicom_settings", "dicom_send"), "reset_threshold": ("site",)}


def build_actions(window: MainWindow) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        icon = window.style().standardIcon(spec.icon) if spec.icon is not None else None
        action = QAction(icon, spec.text, window) if icon is not None else QAction(spec.text, window)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        if spec.tip:
            action.setToolTip(spec.tip)
        action.setCheckable(spec.checkable)
        action.setEnabled(spec.enabled)
        action.setVisible(spec.visible)
        if spec.role is not None:
            action.setMenuRole(spec.role)
        if spec.slot:
            action.triggered.connect(
                getattr(window, spec.slot) if hasattr(window, spec.slot) else _MODULE_SLOTS[spec.slot]
            )
        setattr(window, f"{spec.name}_action", action)
        actions[spec.name] = action
    return actions


def open_log_folder() -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))


_MODULE_SLOTS: dict[str, Callable[[], None]] = {"open_log_folder": open_log_folder}


def build_menus(window: MainWindow, actions: dict[str, QAction], toolbar: QToolBar,
                others: dict[str, QAction], recent_menu: Callable[[Any], Any]) -> None:
    """Menus and toolbar from :data:`ACTIONS`; ``others`` are placed per :data:`PLACED_AFTER`;
    ``recent_menu(file_menu)`` adds File > Recent folders after Open folder."""
    menus: dict[str, Any] = {}
    for spec in ACTIONS:
        if spec.menu not in menus:
            menus[spec.menu] = window.menuBar().addMenu(spec.menu)
            if spec.menu == "&View":
                menus[spec.menu].addAction(window.history_dock.toggleViewAction())
        menu = menus[spec.menu]
        if spec.separator_before:
            menu.addSeparator()
            if spec.toolbar:
                toolbar.addSeparator()
        menu.addAction(actions[spec.name])
        if spec.toolbar:
            toolbar.addAction(actions[spec.name])
        if spec.name == "open_folder":
            recent_menu(menu)
        for name in PLACED_AFTER.get(spec.name, ()):
            menu.addAction(others[name])
