"""House rules, checked with every test run: ruff, the import contracts (core is Qt-free), and mypy."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else (shutil.which(name) or name)


def test_ruff_clean():
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_contracts():
    proc = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean():
    """The type checker over pneumo_desktop and training ([tool.mypy] in pyproject.toml) finds nothing."""
    proc = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_import_time_cycle():
    """No two modules import each other when imported (scripts/import_cycles.py; deferred imports
    inside functions are reported by the script, not failed here)."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "import_cycles.py"), "pneumo_desktop", "training"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("import time: 0 cycle(s)"), proc.stdout


def test_no_deferred_import_cycle_in_the_app():
    """pneumo_desktop has no cycle even through imports inside functions (only ``if TYPE_CHECKING``
    annotations may point back, e.g. a window's helpers naming ``MainWindow``)."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "import_cycles.py"), "pneumo_desktop"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert "runtime: 0 cycle(s)" in proc.stdout, proc.stdout
