"""Where things live: the bundled model (source tree or frozen app) and the user's data folder.

User data (settings, results store, logs) always goes to the user's data folder, never into the
install folder. Both can be overridden with environment variables (tests use this).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "PneumoDesktop"


def resources_dir() -> Path:
    """The ``resources/`` folder: next to the package in a checkout, inside a frozen app."""
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def default_model_dir() -> Path:
    env = os.environ.get("PNEUMO_MODEL_DIR")
    return Path(env) if env else resources_dir() / "model"


def user_data_dir() -> Path:
    """Per-user writable folder for the results store and logs (created on demand)."""
    env = os.environ.get("PNEUMO_DATA_DIR")
    if env:
        path = Path(env)
    elif sys.platform == "win32":
        path = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / APP_NAME
    elif sys.platform == "darwin":
        path = Path.home() / "Library" / "Application Support" / APP_NAME
    else:
        path = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "pneumo-desktop"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)  # owner-only: the store may hold patient data
    return path
