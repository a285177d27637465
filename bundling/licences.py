"""Licences of what is bundled: ``THIRD_PARTY_LICENSES`` from the Analysis (scripts/third_party_licenses.py),
and the licence files next to the executable, where users look for them.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from .trim import TocEntry

log = logging.getLogger(__name__)

NAME = "THIRD_PARTY_LICENSES"


def load_script(repo: Path) -> ModuleType:
    """scripts/third_party_licenses.py of the checkout, as a module (scripts/ is not a package)."""
    path = Path(repo) / "scripts" / "third_party_licenses.py"
    spec = importlib.util.spec_from_file_location("third_party_licenses", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_third_party(
    repo: Path, work: Path, pure: Sequence[TocEntry], binaries: Sequence[TocEntry], datas: Sequence[TocEntry]
) -> Path:
    """Write work/THIRD_PARTY_LICENSES for every module, binary and data file bundled; its path."""
    out = Path(work) / NAME
    listed = load_script(repo).write_licences(
        [src for _d, src, _t in [*pure, *binaries, *datas]], out, binaries=[src for _d, src, _t in binaries]
    )
    log.info("THIRD_PARTY_LICENSES lists %d packages", len(listed))
    return out


def place(licences: Path, repo: Path, out: Path) -> None:
    """THIRD_PARTY_LICENSES.txt and LICENSE.txt next to the executable in the folder ``out``."""
    shutil.copyfile(licences, Path(out) / f"{NAME}.txt")
    if (Path(repo) / "LICENSE").is_file():
        shutil.copyfile(Path(repo) / "LICENSE", Path(out) / "LICENSE.txt")
