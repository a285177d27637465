"""Where and what to build: the platform, the optional environment variables, the version, the icon.

Environment variables (all optional):

``PNEUMO_BUNDLE_MODEL_DIR``  bundle the model from this folder instead of resources/model (testing)
``PNEUMO_BUNDLE_RUNTIME``    openvino, onnxruntime or tensorflow (default: openvino when the card
                             lists its export, else tensorflow; a lean bundle has no TensorFlow,
                             Keras or .keras)
``PNEUMO_BUNDLE_NO_STRIP``   set to 1 to keep symbols in the Linux shared libraries
``PNEUMO_BUNDLE_FULL_ICU``   set to 1 to keep Qt's complete ICU data on Linux
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP = "PneumoDesktop"


class BuildError(SystemExit):
    """A build that must stop; PyInstaller prints the message (``build.spec: ...``) and exits."""

    def __init__(self, message: str) -> None:
        super().__init__(f"build.spec: {message}")


@dataclass(frozen=True)
class BuildConfig:
    """One build: the checkout, PyInstaller's work and dist folders, the platform and the options."""

    repo: Path
    work: Path
    dist: Path
    model_dir: Path
    platform: str = sys.platform
    forced_runtime: str | None = None
    no_strip: bool = False
    full_icu: bool = False

    @classmethod
    def from_env(
        cls,
        repo: Path,
        work: Path,
        dist: Path,
        environ: Mapping[str, str] | None = None,
        platform: str = sys.platform,
    ) -> BuildConfig:
        env = os.environ if environ is None else environ
        repo = Path(repo).resolve()
        model_dir = Path(env.get("PNEUMO_BUNDLE_MODEL_DIR") or repo / "resources" / "model").resolve()
        return cls(
            repo=repo,
            work=Path(work),
            dist=Path(dist),
            model_dir=model_dir,
            platform=platform,
            forced_runtime=env.get("PNEUMO_BUNDLE_RUNTIME") or None,
            no_strip=env.get("PNEUMO_BUNDLE_NO_STRIP") == "1",
            full_icu=env.get("PNEUMO_BUNDLE_FULL_ICU") == "1",
        )

    @property
    def is_win(self) -> bool:
        return self.platform == "win32"

    @property
    def is_mac(self) -> bool:
        return self.platform == "darwin"

    @property
    def is_linux(self) -> bool:
        return self.platform.startswith("linux")

    @property
    def console(self) -> bool:
        """Windowed on Windows and macOS; a console executable on Linux (--self-test, --scan)."""
        return not (self.is_win or self.is_mac)

    @property
    def icons(self) -> Path:
        return self.repo / "resources" / "icons"

    @property
    def icon(self) -> str | None:
        """The executable's icon: .ico on Windows, .icns on macOS, none on Linux."""
        if self.is_win:
            return str(self.icons / "pneumo_desktop.ico")
        if self.is_mac:
            return str(self.icons / "pneumo_desktop.icns")
        return None

    @property
    def version(self) -> str:
        text = (self.repo / "pneumo_desktop" / "__init__.py").read_text()
        match = re.search(r'__version__ = "([^"]+)"', text)
        if match is None:
            raise BuildError("no __version__ in pneumo_desktop/__init__.py")
        return match.group(1)

    @property
    def out(self) -> Path:
        """The one-folder app: dist/PneumoDesktop."""
        return self.dist / APP

    @property
    def strip(self) -> bool:
        """Strip symbol tables (Linux, with binutils, unless PNEUMO_BUNDLE_NO_STRIP=1); see bundling.strip."""
        return self.is_linux and not self.no_strip and bool(shutil.which("strip") and shutil.which("readelf"))

    @property
    def trim_icu(self) -> bool:
        """Rebuild Qt's ICU data without what Qt never reads (Linux, unless PNEUMO_BUNDLE_FULL_ICU=1)."""
        return self.is_linux and not self.full_icu
