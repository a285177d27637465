"""Open any X-ray file (PNG, JPEG, TIFF, BMP, DICOM) as an :class:`XRay`.

``XRay.pixels`` is always a 2-D float32 array in [0, 1], display-ready: bone bright, air dark.
The file type is detected from its content, never from its extension. Every failure is raised as
:class:`~pneumo_desktop.core.errors.XRayLoadError` with a short human message.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import XRayLoadError

log = logging.getLogger(__name__)

#: Largest image (in pixels) we agree to decode. Real radiographs are below 20 MP; this stops
#: decompression bombs before they allocate gigabytes.
MAX_PIXELS = 60_000_000
#: Running out of memory says nothing about the file: its row is not cached, a rescan retries.
MEMORY_MESSAGE = "There was not enough memory to open this image; close other programs and scan it again."
#: Smallest side we agree to load at all (the quality gate has its own, stricter, limit).
MIN_SIDE = 8


@dataclass(frozen=True, eq=False)
class XRay:
    """A decoded X-ray image plus the metadata a user and the model need."""

    pixels: np.ndarray  # 2-D float32 in [0, 1], bone bright
    path: str
    format: str  # "PNG", "JPEG", "TIFF", "BMP", "DICOM"
    width: int  # original size, before any resizing
    height: int
    bit_depth: int
    modality: str | None = None  # DICOM (0008,0060), e.g. "DX", "CR", "CT"
    body_part: str | None = None  # DICOM (0018,0015)
    view_position: str | None = None  # DICOM (0018,5101), e.g. "AP", "PA", "LL"
    photometric: str | None = None  # DICOM (0028,0004) or the PIL mode for other formats
    patient_id: str | None = None
    patient_name: str | None = None  # never logged or exported unless the user asks
    study_date: str | None = None
    study_uid: str | None = None  # DICOM (0020,000D): groups the films of one study
    #: DICOM (0010,1010) Patient's Age as written (e.g. "003Y", "81"); the quality gate parses it.
    patient_age: str | None = None
    patient_birth_date: str | None = None  # DICOM (0010,0030)
    acquisition_date: str | None = None  # DICOM (0008,0022)
    content_date: str | None = None  # DICOM (0008,0023)
    transfer_syntax: str | None = None
    frames: int = 1
    #: False for CT, MR, ... that load fine but are not projection radiographs.
    is_projection_radiograph: bool = True
    #: Mean chroma (max - min channel, 0..1) of a colour file; radiographs are gray (about 0).
    colourfulness: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


# --------------------------------------------------------------------------------------------
# Content sniffing


def sniff_format(head: bytes) -> str | None:
    """Return the format name for the first bytes of a file, or None if it is not recognised.

    DICOM without preamble is not detected here (see :func:`looks_like_dicom`).
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "DICOM"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head.startswith(b"BM"):
        return "BMP"
    return None


def looks_like_dicom(head: bytes) -> bool:
    """True for DICOM files with no 128-byte preamble (old ACR-NEMA style or stripped files).

    Such files start directly with a data element: a small group number (0x0002 or 0x0008 in
    practice) in little or big endian, followed by an element number.
    """
    if sniff_format(head) == "DICOM":
        return True
    if len(head) < 8:
        return False
    group_le = int.from_bytes(head[0:2], "little")
    group_be = int.from_bytes(head[0:2], "big")
    if group_le in (0x0002, 0x0008) or group_be in (0x0002, 0x0008):
        # Explicit VR files carry two upper-case letters as VR; implicit ones a 4-byte length.
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            return True
        length = int.from_bytes(head[4:8], "little")
        return 0 < length < 1024
    return False


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """The image format of ``path`` by content, or None if it is no image we can read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    fmt = sniff_format(head)
    if fmt is None and looks_like_dicom(head):
        fmt = "DICOM"
    return fmt


# --------------------------------------------------------------------------------------------
# Loading


def load_xray(path: str | os.PathLike[str]) -> XRay:
    """Load ``path`` as an X-ray. Raises :class:`XRayLoadError` (and nothing else) on bad input."""
    path = str(path)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            with os.scandir(path):  # PermissionError: a folder the scan could not list
                pass
            raise IsADirectoryError(21, "Is a directory", path)
        if not stat.S_ISREG(mode):  # opening a pipe would wait for a writer forever
            raise XRayLoadError("Not an image file: this is a device or a pipe.", code="not_a_file")
        with open(path, "rb") as fh:
            head = fh.read(132)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise load_error_from_os(exc) from exc

    if size == 0:
        raise XRayLoadError("The file is empty (0 bytes).", code="empty")
    fmt = sniff_format(head)
    if fmt is None and looks_like_dicom(head):
        fmt = "DICOM"
    if fmt is None:
        if _looks_like_text(head):
            raise XRayLoadError("Not an image: the file contains text.", code="not_image")
        raise XRayLoadError("Not an image file that Pneumo Desktop can read.", code="not_image")

    try:
        if fmt == "DICOM":
            from .dicom import load_dicom  # pydicom is imported only when needed

            xray = load_dicom(path)
        else:
            xray = _load_pil(path, fmt)
    except XRayLoadError:
        raise
    except MemoryError as exc:
        raise XRayLoadError(MEMORY_MESSAGE, code="memory") from exc
    except Exception as exc:  # a decoder may raise anything on corrupt data
        log.debug("decoder failure for %s", path, exc_info=True)
        raise XRayLoadError(
            f"The {fmt} file is damaged or truncated and cannot be decoded.", code="corrupt"
        ) from exc
    _check_pixels(xray.pixels)
    return xray


def load_error_from_os(exc: OSError) -> XRayLoadError:
    """The human error for a file that the operating system would not let us read."""
    if isinstance(exc, PermissionError):
        if exc.filename and os.path.isdir(exc.filename):
            return XRayLoadError(
                "Permission denied: the folder cannot be read, so its files were not scanned.", code="permission"
            )
        return XRayLoadError("Permission denied: the file cannot be read.", code="permission")
    if isinstance(exc, IsADirectoryError):
        return XRayLoadError("This is a folder, not a file.", code="not_a_file")
    if isinstance(exc, FileNotFoundError):
        return XRayLoadError("File not found.", code="missing")
    return XRayLoadError(f"The file cannot be read ({exc.strerror or exc}).", code="io")


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable / len(text) > 0.95


def check_dimensions(width: int, height: int) -> None:
    """Refuse absurd sizes before decoding (decompression bombs, corrupt headers)."""
    if width <= 0 or height <= 0:
        raise XRayLoadError("The image has no pixels (zero width or height).", code="corrupt")
    if width * height > MAX_PIXELS:
        raise XRayLoadError(
            f"The image is implausibly large ({width} x {height} pixels) and was not opened.",
            code="too_large",
        )
    if min(width, height) < MIN_SIDE:
        raise XRayLoadError(
            f"The image is too small to be an X-ray ({width} x {height} pixels).", code="too_small"
        )


def _check_pixels(pixels: np.ndarray) -> None:
    if pixels.ndim != 2 or pixels.dtype != np.float32:
        raise AssertionError(f"loader returned {pixels.dtype} {pixels.shape}")  # programming error
    if not np.isfinite(pixels).all():
        raise XRayLoadError("The image contains invalid pixel values.", code="corrupt")


def _load_pil(path: str, fmt: str) -> XRay:
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        # Our own MAX_PIXELS check runs first; turn PIL's bomb warning into an error just in case.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            opened = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # PIL refuses absurd sizes while reading the header, before our own check can run.
            raise XRayLoadError(
                "The image is implausibly large and was not opened.", code="too_large"
            ) from exc
        with opened as img:
            check_dimensions(*img.size)
            mode = img.mode
            bits = _bit_depth(img)
            # No draft("L") for JPEG: decoding a colour JPEG straight to gray would hide its colour
            # from the quality gate, and a colour photo would get a pneumonia label.
            img.load()
            img = ImageOps.exif_transpose(img) or img
            width, height = img.size  # as displayed, i.e. after the EXIF rotation
            colour = colourfulness(np.asarray(img.convert("RGB"))) if img.mode not in GRAY_MODES else 0.0
            pixels = _pil_to_gray(img)
    return XRay(
        colourfulness=colour,
        pixels=pixels,
        path=path,
        format=fmt,
        width=width,
        height=height,
        bit_depth=bits,
        photometric=mode,
        modality=None,
    )


GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def colourfulness(rgb: np.ndarray) -> float:
    """Mean of (max - min) over the colour channels, scaled to [0, 1], on a subsample of pixels."""
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        return 0.0
    step = max(1, min(rgb.shape[:2]) // 256)
    sub = rgb[::step, ::step, :3].astype(np.float32)
    top = 255.0 if rgb.dtype == np.uint8 else float(max(sub.max(initial=1.0), 1.0))
    return float((sub.max(axis=-1) - sub.min(axis=-1)).mean() / top)


def _bit_depth(img) -> int:  # PIL.Image.Image
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return 16
    if img.mode == "F":
        return 32
    if img.mode == "1":
        return 1
    return 8


def _pil_to_gray(img) -> np.ndarray:  # PIL.Image.Image
    """Any PIL image -> 2-D float32 gray in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.float32) / 65535.0
    elif mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit PNGs open as mode "I" in PIL: scale by the container's range.
        top = 65535.0 if arr.max(initial=0) <= 65535 and arr.min(initial=0) >= 0 else None
        if top is None:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        else:
            arr = arr / top
        arr = arr.astype(np.float32)
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    else:
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
            # Composite transparent pixels on black (air), not on undefined colour.
            rgba = img.convert("RGBA")
            background = _black_rgba(rgba.size)
            background.alpha_composite(rgba)
            img = background
        if img.mode != "L":
            img = img.convert("L")  # ITU-R 601-2 luma for RGB, CMYK, palette, 1-bit
        arr = np.asarray(img, dtype=np.float32) / 255.0
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)


def _black_rgba(size: tuple[int, int]):
    from PIL import Image

    return Image.new("RGBA", size, (0, 0, 0, 255))


def iter_image_files(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into the list of candidate files.

    Hidden files are scanned like any other (a clinic's export may name its files ``.0001.dcm``;
    a scan's own outputs are left out by ``core.outputs`` instead). Hidden folders inside a
    scanned folder (``.git``, ``.Trash-1000``, thumbnail caches) are not entered unless named
    themselves. Every regular file is returned, image or not: the
    scanner gives files that turn out not to be images a row of their own. So does a folder that
    cannot be listed (its row says so), and a pipe, socket or device (its row says what it is;
    it is never opened). Paths named explicitly are returned as given. A DICOMDIR, or a
    folder with one at its root (a CD), stands for the image files it references
    (:mod:`pneumo_desktop.core.dicomdir`).
    """
    from .dicomdir import expand_dicomdirs

    return [p for p, _ in walk_files(expand_dicomdirs(paths))]


_UNLISTABLE_WARNED: set[str] = set()  # a watched folder is walked every 2 s: warn once per folder


def walk_files(paths: list[str | os.PathLike[str]]) -> Iterator[tuple[Path, os.stat_result | None]]:
    """:func:`iter_image_files` with each file's ``os.stat`` (one call per file). The stat is None
    for paths named explicitly, folders that cannot be listed and files that cannot be stat'ed."""
    unlistable: list[Path] = []

    def on_error(exc: OSError) -> None:
        if exc.filename:
            unlistable.append(Path(exc.filename))
            if str(exc.filename) not in _UNLISTABLE_WARNED:
                _UNLISTABLE_WARNED.add(str(exc.filename))
                log.warning("cannot list a folder: %s", exc.strerror or exc)

    for p in paths:
        p = Path(p)
        if not p.is_dir():
            yield p, None
            continue
        for root, dirs, files in os.walk(p, onerror=on_error):
            while unlistable:
                yield unlistable.pop(0), None
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # hidden files are scanned, see above
            for name in sorted(files):
                path = Path(root) / name
                try:
                    st = path.stat()
                except OSError:
                    yield path, None  # a broken link: its row says why
                    continue
                if not stat.S_ISDIR(st.st_mode):  # a pipe too: load_xray gives it a row unopened
                    yield path, st
        while unlistable:
            yield unlistable.pop(0), None
