"""The app's persistent preferences (QSettings, an INI file in the user's config folder).

Tests point QSettings somewhere temporary with ``QSettings.setPath(IniFormat, UserScope, tmp)``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from ..core.options import DEVICES, PRECISIONS  # the one list of each (without the model's imports)

ORGANISATION = "PneumoDesktop"
APPLICATION = "Pneumo Desktop"
MAX_RECENT = 8


class Settings:
    """Typed access to the few things the app remembers between sessions."""

    def __init__(self) -> None:
        self._q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)

    def sync(self) -> None:
        self._q.sync()

    # -- threshold: per model, because an operating point only means something for one model ----
    @staticmethod
    def _threshold_key(model_key: str) -> str:
        return f"threshold/{model_key.replace('/', '_').replace(' ', '_')}"

    def threshold(self, model_key: str) -> float | None:
        value = self._q.value(self._threshold_key(model_key))
        try:
            t = float(value) if value is not None else None
        except (TypeError, ValueError):
            return None
        return t if t is not None and 0.0 <= t <= 1.0 else None

    def set_threshold(self, model_key: str, value: float | None) -> None:
        if value is None:
            self._q.remove(self._threshold_key(model_key))
        else:
            self._q.setValue(self._threshold_key(model_key), float(value))

    # -- device -----------------------------------------------------------------------------
    @property
    def device(self) -> str:
        value = str(self._q.value("model/device", "auto"))
        return value if value in DEVICES else "auto"

    @device.setter
    def device(self, value: str) -> None:
        self._q.setValue("model/device", value if value in DEVICES else "auto")

    # -- reviewer: set once, recorded with every review -----------------------------------------
    @property
    def reviewer(self) -> str:
        return str(self._q.value("review/reviewer", "") or "").strip()

    @reviewer.setter
    def reviewer(self, name: str) -> None:
        self._q.setValue("review/reviewer", name.strip())

    @property
    def precision(self) -> str:
        """auto (bfloat16 where the hardware has it and it matches float32), float32 or bfloat16."""
        value = str(self._q.value("model/precision", "auto"))
        return value if value in PRECISIONS else "auto"

    @precision.setter
    def precision(self, value: str) -> None:
        self._q.setValue("model/precision", value if value in PRECISIONS else "auto")

    # -- recent folders --------------------------------------------------------------------------
    def recent_folders(self) -> list[str]:
        value = self._q.value("recent/folders", [])
        if isinstance(value, str):  # a one-element list comes back as a plain string from INI files
            value = [value]
        items = value if isinstance(value, list | tuple) else []
        return [str(v) for v in items if v][:MAX_RECENT]

    def add_recent_folder(self, folder: str | Path) -> list[str]:
        folder = str(Path(folder))
        items = [folder] + [f for f in self.recent_folders() if f != folder]
        self._q.setValue("recent/folders", items[:MAX_RECENT])
        return items[:MAX_RECENT]

    def clear_recent_folders(self) -> None:
        self._q.remove("recent/folders")

    # -- window layout ---------------------------------------------------------------------------
    def window_state(self) -> tuple[object, object, object]:
        return (
            self._q.value("window/geometry"),
            self._q.value("window/state"),
            self._q.value("window/splitter"),
        )

    def save_window_state(self, geometry: object, state: object, splitter: object) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.setValue("window/state", state)
        self._q.setValue("window/splitter", splitter)

    def last_dir(self) -> str:
        return str(self._q.value("recent/last_dir", "") or "")

    def set_last_dir(self, folder: str | Path) -> None:
        self._q.setValue("recent/last_dir", str(folder))

    # -- history retention (issue 16): scans older than this many days are deleted at start --------
    def retention_days(self) -> float | None:
        value = self._q.value("history/retention_days", None)
        try:
            days = float(value) if isinstance(value, str | int | float) and value != "" else None
        except (TypeError, ValueError):
            return None
        return days if days is not None and days >= 0 else None

    def set_retention_days(self, days: float | None) -> None:
        if days is None:
            self._q.remove("history/retention_days")
        else:
            self._q.setValue("history/retention_days", float(days))
