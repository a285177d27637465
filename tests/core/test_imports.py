import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout
    return set(out.split())


def test_importing_the_package_is_cheap():
    mods = _modules_after("import pneumo_desktop, pneumo_desktop.core.io, pneumo_desktop.core.scan, "
                          "pneumo_desktop.core.model, pneumo_desktop.cli")
    assert "tensorflow" not in mods and "keras" not in mods
    assert not any(m.startswith("PySide6") for m in mods)


def test_core_never_imports_qt_or_training():
    mods = _modules_after("import pneumo_desktop.core.explain, pneumo_desktop.core.quality, "
                          "pneumo_desktop.core.store, pneumo_desktop.core.io.dicom")
    assert not any(m.startswith(("PySide6", "training")) for m in mods)
