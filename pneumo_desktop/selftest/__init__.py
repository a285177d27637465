"""``PneumoDesktop --self-test``: a headless check that an installation (frozen or not) is complete.

It runs without a display and without any file from the user, and checks what a PyInstaller build
most often loses, one module per job:

* :mod:`.files`: the bundle's folders; PNG (16-bit) and JPEG files through Pillow;
* :mod:`.model`: the bundled model (the card loads, the file's sha256 matches the card, the backend
  loads it), one inference on a synthetic chest X-ray, Grad-CAM, and a two-file scan through the
  Scanner and the SQLite results store;
* :mod:`.codecs`: every DICOM transfer syntax of the codecs table
  (:mod:`pneumo_desktop.core.io.codecs`), encoded, decoded by each plugin the app ships, loaded;
* :mod:`.qt`: the native platform plugin is present and a window can be shown (off screen), and
  the GUI package imports;
* :mod:`.report` prints the report as it runs; :mod:`.synthetic` makes the test images;
  :mod:`.probe` is ``--startup-probe`` (see there).

It prints a short report (and writes it to ``--report`` / ``--json`` when asked: windowed builds
have no console) and returns 0 when every check passed or was skipped, 1 otherwise. The same check
functions run in pytest (``tests/test_selftest.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.io.codecs import CODECS
from .codecs import check_codec
from .files import check_bundle, check_pil_formats
from .model import check_heatmap, check_inference, check_model, check_scan
from .probe import startup_probe
from .qt import check_qt
from .report import FAIL, PASS, SKIP, Check, Outcome, Report, emit, ensure_streams

__all__ = ["FAIL", "PASS", "SKIP", "Check", "Report", "build_parser", "checks", "main", "run_checks"]


def checks(folder: Path, model_dir: Path | None, gui: bool = True) -> list[tuple[str, Callable[[], Outcome]]]:
    """The self-test's checks in the order they run: (name, function of no argument)."""
    holder: dict[str, Any] = {}
    out: list[tuple[str, Callable[[], Outcome]]] = [
        ("bundle", check_bundle),
        ("model (card, sha256, load)", partial(check_model, model_dir, holder)),
    ]
    out += [(f"DICOM {codec.keyword}", partial(check_codec, codec, folder)) for codec in CODECS]
    out += [
        ("PNG / JPEG (Pillow)", partial(check_pil_formats, folder)),
        ("inference (synthetic X-ray)", partial(check_inference, holder, folder)),
        ("heatmap (Grad-CAM)", partial(check_heatmap, holder, folder)),
        ("scan + results store", partial(check_scan, holder, folder)),
    ]
    if gui:
        out.append(("Qt", check_qt))
    return out


def run_checks(report: Report, folder: Path, model_dir: Path | None, gui: bool = True) -> Report:
    """Run every check into ``report`` (``gui=False``: the Qt check is reported as SKIP)."""
    for name, fn in checks(folder, model_dir, gui):
        report.run(name, fn)
    if not gui:
        report.add("Qt", SKIP, "--no-gui")
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="PneumoDesktop --self-test", description="Check this installation.")
    p.add_argument("--model-dir", type=Path, help="model folder (default: the bundled model)")
    p.add_argument("--report", type=Path, help="also write the report to this text file")
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    p.add_argument("--no-gui", action="store_true", help="skip the Qt check")
    p.add_argument(
        "--startup-probe",
        action="store_true",
        help="benchmark mode: open the main window off screen, quit once its model is ready, "
        "print the times as JSON",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    t_start = time.time()
    ensure_streams()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.startup_probe:
        return startup_probe(args.model_dir, t_start)

    report = Report()
    report.info = {
        "app": "frozen" if getattr(sys, "frozen", False) else "source",
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
    }
    emit(
        f"Pneumo Desktop {__version__} self-test ({report.info['app']}, Python {report.info['python']}, "
        f"{report.info['platform']})"
    )
    with tempfile.TemporaryDirectory(prefix="pneumo-selftest-") as tmp:
        run_checks(report, Path(tmp), args.model_dir, gui=not args.no_gui)
    report.info["seconds"] = round(time.time() - t_start, 2)
    emit(f"{report.summary()} in {report.info['seconds']:.1f} s")
    if args.report:
        args.report.write_text(report.text(), encoding="utf-8")
    if args.json:
        data = {
            "ok": report.ok,
            "version": __version__,
            **report.info,
            "checks": [asdict(c) for c in report.checks],
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0 if report.ok else 1
