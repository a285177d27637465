"""``PneumoDesktop --self-test``: a headless check that an installation (frozen or not) is complete.

It runs without a display and without any file from the user, and checks what a PyInstaller build
most often loses:

* the bundled model: the card loads, the file's sha256 matches the card (the Predictor checks it),
  the backend loads it;
* every DICOM transfer syntax the app claims to read: a synthetic image is encoded in memory with
  the encoders that are installed (pydicom's RLE, pyjpegls, pylibjpeg-openjpeg, Pillow, GDCM),
  written to a temporary file, decoded by every decoder plugin the app relies on for that syntax
  (a plugin that pydicom cannot find, e.g. because the package metadata that pylibjpeg's entry points
  need was not bundled, is a failure) and loaded through :func:`~pneumo_desktop.core.io.load_xray`,
  whose pixels must match the source. Syntaxes for which no encoder is installed are reported as
  SKIP, never as a pass;
* PNG (16-bit) and JPEG files through Pillow;
* one inference on a synthetic chest X-ray, and a two-file scan through the Scanner and the SQLite
  results store;
* Qt: the native platform plugin is present and a window can be shown (off screen), and the GUI
  package imports.

It prints a short report (and writes it to ``--report`` / ``--json`` when asked: windowed builds
have no console) and returns 0 when every check passed or was skipped, 1 otherwise.

``--startup-probe`` is a different mode for ``benchmarks/bundle_bench.py``: it opens the real main
window off screen, waits until the window reports its model ready, quits, and prints one JSON line
with the wall-clock times (``time.time()``) of both events.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__

log = logging.getLogger(__name__)

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass
class Check:
    name: str
    status: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def add(self, name: str, status: str, detail: str = "", seconds: float = 0.0) -> Check:
        check = Check(name, status, detail, seconds)
        self.checks.append(check)
        _emit(f"  {status}  {name:<34} {detail}" + (f"  ({seconds:.2f} s)" if seconds >= 0.01 else ""))
        return check

    def run(self, name: str, fn: Callable[[], tuple[str, str] | str | None]) -> Check:
        """Run one check; ``fn`` returns a detail (PASS) or (status, detail); exceptions are FAIL."""
        t0 = time.perf_counter()
        try:
            out = fn()
        except Exception as exc:  # a self-test reports every failure, it never crashes
            log.debug("check %s failed", name, exc_info=True)
            detail = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            return self.add(name, FAIL, detail[:400], time.perf_counter() - t0)
        status, detail = out if isinstance(out, tuple) else (PASS, out or "")
        return self.add(name, status, detail, time.perf_counter() - t0)

    def text(self) -> str:
        lines = [f"Pneumo Desktop {__version__} self-test"]
        lines += [f"  {k}: {v}" for k, v in self.info.items()]
        for c in self.checks:
            lines.append(f"  {c.status}  {c.name:<34} {c.detail}")
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        counts = {s: sum(c.status == s for c in self.checks) for s in (PASS, FAIL, SKIP)}
        verdict = "SELF-TEST PASSED" if self.ok else "SELF-TEST FAILED"
        return f"{verdict}: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped"


# --------------------------------------------------------------------------------------------
# Output: windowed builds (Windows/macOS) start with sys.stdout and sys.stderr set to None.


def _ensure_streams() -> None:
    """Give a windowed build somewhere to print: the parent console on Windows, else nowhere."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    if sys.platform == "win32":
        try:
            import ctypes

            if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
                if sys.stdout is None:
                    sys.stdout = open("CONOUT$", "w", encoding="utf-8", errors="replace")
                if sys.stderr is None:
                    sys.stderr = open("CONOUT$", "w", encoding="utf-8", errors="replace")
                return
        except Exception:  # no console to attach to: stay silent
            log.debug("AttachConsole failed", exc_info=True)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")


def _emit(line: str) -> None:
    print(line, flush=True)


# --------------------------------------------------------------------------------------------
# Synthetic images


def synthetic_chest(height: int = 320, width: int = 288, seed: int = 0) -> np.ndarray:
    """A chest-X-ray-like float64 image in [0, 1]: bright body and spine, dark lungs, ribs, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    yn, xn = y / (height - 1), x / (width - 1)
    img = 0.15 + 0.55 * np.exp(-(((xn - 0.5) / 0.42) ** 4))  # body
    for cx in (0.3, 0.7):  # lungs
        lung = ((xn - cx) / 0.16) ** 2 + ((yn - 0.5) / 0.3) ** 2 < 1
        img = np.where(lung, img - 0.35, img)
    img += 0.06 * (np.sin(yn * 40 + np.abs(xn - 0.5) * 12) > 0.7)  # ribs
    img += 0.25 * np.exp(-(((xn - 0.5) / 0.05) ** 2))  # spine / mediastinum
    img += 0.02 * rng.standard_normal(img.shape)
    return np.clip(img, 0.0, 1.0)


def _as_uint(img: np.ndarray, bits: int) -> np.ndarray:
    top = 2**bits - 1
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.rint(img * top).astype(dtype)


def _display(arr: np.ndarray) -> np.ndarray:
    """What load_xray should show for a MONOCHROME2 image with no window: min..max scaling."""
    values = arr.astype(np.float64)
    lo, hi = values.min(), values.max()
    return ((values - lo) / (hi - lo)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# DICOM


@dataclass(frozen=True)
class Syntax:
    """One transfer syntax the app claims to read, and how the self-test produces it."""

    keyword: str  # pydicom.uid attribute
    bits: int  # bits stored of the synthetic source
    encoder: str  # "native", "pydicom:<plugin>", "pillow", "gdcm", "" (no encoder available)
    plugins: tuple[str, ...]  # pydicom decoder plugins the app relies on (all must work)
    max_error: float = 0.0  # allowed |decoded - source| in stored values (0: lossless)
    options: tuple[tuple[str, Any], ...] = ()
    #: Fraction of the stored range the source spans (below 1: no saturated pixels).
    span: tuple[float, float] = (0.0, 1.0)


SYNTAXES: tuple[Syntax, ...] = (
    Syntax("ImplicitVRLittleEndian", 16, "native", ()),
    Syntax("ExplicitVRLittleEndian", 16, "native", ()),
    Syntax("ExplicitVRBigEndian", 16, "native", ()),
    Syntax("DeflatedExplicitVRLittleEndian", 16, "native", ()),
    Syntax("RLELossless", 16, "pydicom:pydicom", ("pydicom",)),
    Syntax("JPEGBaseline8Bit", 8, "pillow", ("gdcm", "pillow"), max_error=24),
    # pydicom's plugins refuse 12-bit process 4; the app decodes it with GDCM directly. GDCM's lossy
    # 12-bit round trip turns saturated (4095) pixels into ~0, so the source keeps clear of the top.
    Syntax("JPEGExtended12Bit", 12, "gdcm", (), max_error=400, span=(0.02, 0.98)),
    Syntax("JPEGLossless", 16, "gdcm", ("gdcm",)),
    Syntax("JPEGLosslessSV1", 16, "gdcm", ("gdcm",)),
    Syntax("JPEGLSLossless", 16, "pydicom:pyjpegls", ("pyjpegls", "gdcm")),
    Syntax(
        "JPEGLSNearLossless",
        16,
        "pydicom:pyjpegls",
        ("pyjpegls", "gdcm"),
        max_error=2,
        options=(("jls_error", 2),),
    ),
    Syntax("JPEG2000Lossless", 16, "pydicom:pylibjpeg", ("pylibjpeg", "gdcm", "pillow")),
    Syntax(
        "JPEG2000",
        16,
        "pydicom:pylibjpeg",
        ("pylibjpeg", "gdcm", "pillow"),
        max_error=4000,
        options=(("j2k_cr", [8]),),
    ),
    # No encoder for HTJ2K is installed (OpenJPEG decodes it but cannot write it).
    Syntax("HTJ2KLossless", 16, "", ("pylibjpeg",)),
    Syntax("HTJ2KLosslessRPCL", 16, "", ("pylibjpeg",)),
    Syntax("HTJ2K", 16, "", ("pylibjpeg",)),
)

_GDCM_SYNTAX = {
    "JPEGExtended12Bit": "JPEGExtendedProcess2_4",
    "JPEGLossless": "JPEGLosslessProcess14",
    "JPEGLosslessSV1": "JPEGLosslessProcess14_1",
}


def _dataset(arr: np.ndarray, bits: int) -> Any:
    from pydicom import uid
    from pydicom.dataset import Dataset, FileMetaDataset

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = uid.DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PatientID = "SELFTEST"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8 if arr.dtype == np.uint8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()
    return ds


def _encode(syntax: Syntax, arr: np.ndarray, folder: Path) -> Path:
    """Write ``arr`` in ``syntax`` to a file in ``folder``; return its path."""
    from pydicom import uid
    from pydicom.encaps import encapsulate

    ts = getattr(uid, syntax.keyword)
    ds = _dataset(arr, syntax.bits)
    path = folder / f"{syntax.keyword}.dcm"
    if syntax.encoder == "native":
        ds.file_meta.TransferSyntaxUID = ts
        if ts == uid.ExplicitVRBigEndian:
            ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        ds.save_as(path, enforce_file_format=True)  # pydicom deflates for the deflated syntax
    elif syntax.encoder.startswith("pydicom:"):
        ds.compress(ts, arr, encoding_plugin=syntax.encoder.split(":", 1)[1], **dict(syntax.options))
        ds.save_as(path, enforce_file_format=True)
    elif syntax.encoder == "pillow":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(arr, mode="L").save(buf, format="JPEG", quality=95)
        ds.file_meta.TransferSyntaxUID = ts
        ds.PixelData = encapsulate([buf.getvalue()])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.LossyImageCompression = "01"
        ds.save_as(path, enforce_file_format=True)
    elif syntax.encoder == "gdcm":
        _encode_with_gdcm(
            ds, _GDCM_SYNTAX[syntax.keyword], lossless=syntax.max_error == 0, folder=folder, out=path
        )
    else:
        raise ValueError(f"no encoder for {syntax.keyword}")
    return path


def _encode_with_gdcm(ds: Any, gdcm_syntax: str, lossless: bool, folder: Path, out: Path) -> None:
    import gdcm

    src = folder / f"gdcm_source_{gdcm_syntax}.dcm"
    ds.save_as(src, enforce_file_format=True)
    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    if not reader.Read():
        raise RuntimeError("GDCM could not read the uncompressed source")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, gdcm_syntax)))
    codec = None
    if not lossless:
        codec = gdcm.JPEGCodec()
        codec.SetLossless(False)
        codec.SetQuality(95)
        change.SetUserCodec(codec)
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise RuntimeError(f"GDCM could not encode {gdcm_syntax}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(out))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise RuntimeError("GDCM could not write the encoded file")


def _decoder_check(syntax: Syntax, path: Path, source: np.ndarray) -> list[str]:
    """Decode ``path`` with each plugin the app relies on; return problems (empty: all good)."""
    from pydicom import dcmread, uid
    from pydicom.pixels import get_decoder

    ts = getattr(uid, syntax.keyword)
    decoder = get_decoder(ts)
    available = set(decoder.available_plugins)
    problems = []
    ds = dcmread(path)
    for plugin in syntax.plugins:
        if plugin not in available:
            missing = decoder.missing_dependencies
            problems.append(f"decoder plugin {plugin} unavailable ({'; '.join(missing) or 'not installed'})")
            continue
        try:
            arr, _meta = decoder.as_array(ds, index=0, decoding_plugin=plugin)
        except Exception as exc:
            problems.append(f"{plugin}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        err = int(np.abs(arr.astype(np.int64) - source.astype(np.int64)).max())
        if err > syntax.max_error:
            problems.append(f"{plugin}: pixel error {err} > {syntax.max_error:g}")
    return problems


def check_syntax(syntax: Syntax, folder: Path) -> tuple[str, str]:
    from pydicom import uid
    from pydicom.pixels import get_decoder

    from .core.io import load_xray

    if not syntax.encoder:
        try:
            plugins = get_decoder(getattr(uid, syntax.keyword)).available_plugins
        except NotImplementedError:
            plugins = ()
        have = ", ".join(plugins) or "none"
        status = SKIP if all(p in plugins for p in syntax.plugins) else FAIL
        return status, f"no encoder installed to make a test file; decoder plugins available: {have}"

    lo, hi = syntax.span
    source = _as_uint(lo + (hi - lo) * synthetic_chest(seed=1), syntax.bits)
    path = _encode(syntax, source, folder)
    problems = _decoder_check(syntax, path, source)
    xray = load_xray(path)
    expected = _display(source)
    diff = np.abs(xray.pixels - expected)
    # Lossless: identical up to float32 rounding. Lossy: the codec's error, relative to the range.
    tolerance = 1e-6 if syntax.max_error == 0 else 2.0 * syntax.max_error / float(np.ptp(source)) + 1e-6
    if float(diff.max()) > tolerance:
        problems.append(f"load_xray pixels differ by {float(diff.max()):.2e} (allowed {tolerance:.1e})")
    if xray.transfer_syntax != getattr(uid, syntax.keyword).name:
        problems.append(f"load_xray read it as {xray.transfer_syntax}")
    if problems:
        raise AssertionError("; ".join(problems))
    kind = "lossless" if syntax.max_error == 0 else f"lossy, max err {float(diff.max()):.1e}"
    via = ", ".join(syntax.plugins) or ("GDCM direct" if syntax.encoder == "gdcm" else "native")
    return PASS, f"{syntax.bits}-bit via {syntax.encoder}; decoded by {via}; load_xray {kind}"


# --------------------------------------------------------------------------------------------
# Other checks


def check_bundle() -> str:
    from .core.paths import default_model_dir, resources_dir, user_data_dir

    frozen = bool(getattr(sys, "frozen", False))
    model_dir = default_model_dir()
    if frozen and not resources_dir().is_dir():
        raise FileNotFoundError(f"no resources folder in the bundle ({resources_dir()})")
    data = user_data_dir().resolve()
    if frozen:
        app_dir = Path(sys.executable).resolve().parent
        if data == app_dir or app_dir in data.parents:
            raise AssertionError(f"the user data folder {data} is inside the app folder")
    return f"{'frozen' if frozen else 'source'}; model folder {model_dir}; user data {data}"


def check_pil_formats(folder: Path) -> str:
    from PIL import Image

    from .core.io import load_xray

    img16 = _as_uint(synthetic_chest(seed=2), 16)
    png = folder / "selftest16.png"
    Image.fromarray(img16).save(png)
    got = load_xray(png)
    if got.bit_depth != 16 or float(np.abs(got.pixels - img16 / 65535.0).max()) > 1e-6:
        raise AssertionError("16-bit PNG pixels differ")
    img8 = _as_uint(synthetic_chest(seed=3), 8)
    jpg = folder / "selftest.jpg"
    Image.fromarray(img8, mode="L").save(jpg, quality=95)
    got = load_xray(jpg)
    if float(np.abs(got.pixels - img8 / 255.0).max()) > 0.15:
        raise AssertionError("JPEG pixels differ")
    return "16-bit PNG exact, 8-bit JPEG within codec error"


def check_qt() -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a headless check never opens a window
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtWidgets import QApplication, QLabel

    native = {"win32": "qwindows", "darwin": "qcocoa"}.get(sys.platform, "qxcb")
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    found = sorted(p.name for p in plugins.glob("*")) if plugins.is_dir() else []
    if not any(native in name for name in found):
        raise FileNotFoundError(f"the {native} platform plugin is missing from {plugins} (found: {found})")
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "PneumoDesktop"])
    label = QLabel("Pneumo Desktop self-test")
    label.show()
    app.processEvents()
    if not label.isVisible():
        raise AssertionError("a window could not be shown")
    label.close()
    import importlib

    for module in ("pneumo_desktop.gui.app", "pneumo_desktop.gui.main_window"):
        importlib.import_module(module)
    return f"PySide6 {pyside_version} on {app.platformName()}; {native} plugin present; GUI imports"


def check_model(model_dir: Path | None, holder: dict[str, Any]) -> str:
    from .core.model import Predictor

    predictor = Predictor(model_dir)  # loads the card and verifies the model file's sha256
    holder["predictor"] = predictor
    card = predictor.card
    return (
        f"{card.name} {card.version}, sha256 {card.sha256[:12]}... verified, "
        f"on {predictor.device_name}, loaded in {predictor.load_seconds:.1f} s"
    )


def check_inference(holder: dict[str, Any], folder: Path) -> str:
    from PIL import Image

    from .core.io import load_xray

    predictor = holder.get("predictor")
    if predictor is None:
        raise RuntimeError("no model (see the model check)")
    path = folder / "synthetic_chest.png"
    Image.fromarray(_as_uint(synthetic_chest(seed=4), 16)).save(path)
    xray = load_xray(path)
    first = predictor.predict_xrays([xray])[0]
    again = predictor.predict_xrays([xray])[0]
    p = first.probability
    if not (np.isfinite(p) and 0.0 <= p <= 1.0):
        raise AssertionError(f"probability {p} out of range")
    if again.probability != p:
        raise AssertionError(f"two runs on the same image differ ({p} vs {again.probability})")
    return f"probability {p:.4f} (raw {first.raw_probability:.4f}), repeatable"


def check_heatmap(holder: dict[str, Any], folder: Path) -> str:
    """Grad-CAM needs TensorFlow's gradient machinery, which a trimmed bundle could lose."""
    from .core.explain import gradcam
    from .core.io import load_xray

    predictor = holder.get("predictor")
    path = folder / "synthetic_chest.png"
    if predictor is None or not path.is_file():
        raise RuntimeError("no model or no test image (see the checks above)")
    xray = load_xray(path)
    t0 = time.perf_counter()
    heat = gradcam(predictor, xray)
    seconds = time.perf_counter() - t0
    if heat.shape != xray.pixels.shape or not np.isfinite(heat).all() or heat.min() < 0 or heat.max() > 1:
        raise AssertionError(f"heatmap {heat.shape} (image {xray.pixels.shape}), range {heat.min()}..{heat.max()}")
    return f"Grad-CAM {heat.shape[1]} x {heat.shape[0]} in {seconds:.2f} s (first call, graph built)"


def check_scan(holder: dict[str, Any], folder: Path) -> str:
    from .core.scan import Scanner
    from .core.store import ResultsStore

    predictor = holder.get("predictor")
    if predictor is None:
        raise RuntimeError("no model (see the model check)")
    scan_dir = folder / "scan"
    scan_dir.mkdir()
    for name in ("synthetic_chest.png", "JPEG2000Lossless.dcm"):
        if (folder / name).is_file():
            (scan_dir / name).write_bytes((folder / name).read_bytes())
    store = ResultsStore(folder / "results.sqlite3")
    try:
        results = Scanner(predictor, store=store, batch_size=2).scan_all([scan_dir])
    finally:
        store.close()
    bad = [r for r in results if r.probability is None]
    if len(results) < 1 or bad:
        raise AssertionError(
            f"{len(bad)} of {len(results)} files got no probability: {bad[0].message if bad else ''}"
        )
    return f"{len(results)} files scanned and stored ({', '.join(sorted({r.label for r in results}))})"


# --------------------------------------------------------------------------------------------
# Entry points


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
    _ensure_streams()
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
    _emit(
        f"Pneumo Desktop {__version__} self-test ({report.info['app']}, Python {report.info['python']}, "
        f"{report.info['platform']})"
    )
    holder: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pneumo-selftest-") as tmp:
        folder = Path(tmp)
        report.run("bundle", check_bundle)
        report.run("model (card, sha256, load)", lambda: check_model(args.model_dir, holder))
        for syntax in SYNTAXES:
            report.run(f"DICOM {syntax.keyword}", lambda s=syntax: check_syntax(s, folder))
        report.run("PNG / JPEG (Pillow)", lambda: check_pil_formats(folder))
        report.run("inference (synthetic X-ray)", lambda: check_inference(holder, folder))
        report.run("heatmap (Grad-CAM)", lambda: check_heatmap(holder, folder))
        report.run("scan + results store", lambda: check_scan(holder, folder))
        if args.no_gui:
            report.add("Qt", SKIP, "--no-gui")
        else:
            report.run("Qt", check_qt)
    report.info["seconds"] = round(time.time() - t_start, 2)
    _emit(f"{report.summary()} in {report.info['seconds']:.1f} s")
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


def startup_probe(model_dir: Path | None, t_start: float, timeout_s: float = 600.0) -> int:
    """Open the real main window off screen, wait for its model, print wall-clock times as JSON.

    ``window_shown``: the main window is shown and its first events processed; ``model_ready``:
    the window's ``model_ready`` signal (the model is loaded in its worker thread). Times are
    ``time.time()`` values so that a caller can subtract the moment it started the process.
    """
    stamps: dict[str, Any] = {"main_entered": t_start}
    try:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        from .gui.main_window import MainWindow
        from .gui.settings import APPLICATION, ORGANISATION

        app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "PneumoDesktop"])
        app.setOrganizationName(ORGANISATION)
        app.setApplicationName(APPLICATION)
        window = MainWindow(str(model_dir) if model_dir else None)

        def ready(info: Any) -> None:
            stamps["model_ready"] = time.time()
            stamps["model"] = str(getattr(info, "title", ""))
            stamps["device"] = str(getattr(info, "device_name", ""))
            app.quit()

        def failed(message: str) -> None:
            stamps["error"] = f"model failed: {message}"
            app.quit()

        def too_slow() -> None:
            stamps["error"] = f"no model after {timeout_s:.0f} s"
            app.quit()

        window.model_ready.connect(ready)
        window.model_failed.connect(failed)
        window.show()
        app.processEvents()
        stamps["window_shown"] = time.time()
        QTimer.singleShot(int(timeout_s * 1000), too_slow)
        if "model_ready" not in stamps and "error" not in stamps:
            app.exec()
        window.shutdown()
    except Exception as exc:
        stamps["error"] = f"{type(exc).__name__}: {exc}"
        stamps["traceback"] = traceback.format_exc()
    _emit(json.dumps(stamps))
    return 0 if "error" not in stamps else 1


if __name__ == "__main__":
    sys.exit(main())
