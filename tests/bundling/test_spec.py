"""build.spec stays a short caller of bundling/; the launcher and the licences; bundling is not the app's."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from bundling import launcher, licences

REPO = Path(__file__).resolve().parents[2]


def test_build_spec_is_short_and_parses() -> None:
    text = (REPO / "build.spec").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    tree = ast.parse(text)
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {"bundling", "bundling.collect", "bundling.config"} <= imported
    defined = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert defined == []  # the logic lives in bundling/, where it is tested


def test_launcher(tmp_path: Path) -> None:
    path = launcher.write_launcher(tmp_path / "work")
    assert path.name == "pneumo_desktop_launcher.py"
    text = path.read_text(encoding="utf-8")
    assert "from pneumo_desktop.__main__ import main" in text and "sys.exit(main())" in text
    compile(text, str(path), "exec")


def test_licences_script_and_placement(tmp_path: Path) -> None:
    module = licences.load_script(REPO)
    assert callable(module.write_licences)
    out = tmp_path / "dist"
    out.mkdir()
    src = tmp_path / licences.NAME
    src.write_text("third parties\n")
    licences.place(src, REPO, out)
    assert (out / "THIRD_PARTY_LICENSES.txt").read_text() == "third parties\n"
    assert (out / "LICENSE.txt").read_bytes() == (REPO / "LICENSE").read_bytes()


def test_importing_the_app_does_not_import_bundling() -> None:
    code = "import sys, pneumo_desktop.cli, pneumo_desktop.core.integrity; print('bundling' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
