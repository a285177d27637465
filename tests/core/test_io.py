"""The core/io package: sniffing by content, the loader's one MemoryError mapping, YBR converted
once, the loader describing and the quality gate deciding, and a package without heavy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import uid

from pneumo_desktop.core import quality
from pneumo_desktop.core.errors import XRayLoadError
from pneumo_desktop.core.io import (
    MEMORY_MESSAGE,
    XRay,
    detect_format,
    dicom_decode,
    iter_image_files,
    load_xray,
    raster,
    sniff_format,
)
from pneumo_desktop.core.io import dicom as io_dicom
from tests.core.test_images import gradient, make_dicom

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------------------------
# Sniffing


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "PNG"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "JPEG"),
        (b"II*\x00" + b"\0" * 20, "TIFF"),
        (b"MM\x00*" + b"\0" * 20, "TIFF"),
        (b"BM" + b"\0" * 20, "BMP"),
        (b"\0" * 128 + b"DICM" + b"\0" * 8, "DICOM"),
        (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100", "DICOM"),  # no preamble, explicit VR
        (b"\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100", "DICOM"),  # no preamble, implicit VR
        (b"\x02\x00\x00\x00UL\x04\x00", "DICOM"),  # no preamble, starts with the File Meta group
        (b"hello, this is a text file\n" * 5, None),
        (b"", None),
        (b"\x00\x01", None),
    ],
)
def test_sniff_by_content(head: bytes, kind: str | None) -> None:
    assert sniff_format(head) == kind


def test_detect_format_reads_the_content_not_the_extension(tmp_path: Path) -> None:
    png_named_dcm = tmp_path / "film.dcm"
    Image.fromarray(gradient()).save(png_named_dcm, format="PNG")
    dicom_named_png = make_dicom(tmp_path / "film.png", gradient())
    text = tmp_path / "notes.png"
    text.write_text("not an image", encoding="utf-8")
    assert detect_format(png_named_dcm) == "PNG" and load_xray(png_named_dcm).format == "PNG"
    assert detect_format(dicom_named_png) == "DICOM" and load_xray(dicom_named_png).format == "DICOM"
    assert detect_format(text) is None
    assert detect_format(tmp_path / "missing.png") is None


# --------------------------------------------------------------------------------------------
# MemoryError: the decoders let it through, load_xray maps it once


def _assert_memory(path: Path) -> None:
    with pytest.raises(XRayLoadError) as info:
        load_xray(path)
    assert info.value.code == "memory" and str(info.value) == MEMORY_MESSAGE


def test_memory_error_in_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(gradient()).save(path)

    def boom(img):
        raise MemoryError

    monkeypatch.setattr(raster, "to_gray", boom)
    _assert_memory(path)


def test_memory_error_while_reading_a_dicom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_dicom(tmp_path / "a.dcm", gradient())

    def boom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("pydicom.dcmread", boom)
    _assert_memory(path)


def test_memory_error_in_a_decoder_plugin_is_not_a_damaged_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin that runs out of memory stops the load (no other plugin is tried, no 'corrupt')."""
    from pydicom.pixels.decoders.base import Decoder

    path = make_dicom(tmp_path / "a.dcm", gradient())
    calls: list[str] = []

    def boom(self, ds, *args, **kwargs):
        calls.append(kwargs.get("decoding_plugin", ""))
        raise MemoryError

    monkeypatch.setattr(Decoder, "as_array", boom)
    _assert_memory(path)
    assert len(calls) == 1


def test_memory_error_is_mapped_in_one_place() -> None:
    def files_with(text: str) -> list[str]:
        return [
            p.relative_to(REPO).as_posix()
            for p in sorted((REPO / "pneumo_desktop").rglob("*.py"))
            if text in p.read_text(encoding="utf-8")
        ]

    assert files_with("except MemoryError") == ["pneumo_desktop/core/io/loader.py"]
    assert files_with("MEMORY_MESSAGE, code=") == ["pneumo_desktop/core/io/failures.py"]


# --------------------------------------------------------------------------------------------
# DICOM


def test_ybr_is_converted_to_rgb_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels import processing

    rgb = np.zeros((40, 64, 3), np.uint8)
    rgb[..., 0] = gradient()
    rgb[..., 2] = 255 - gradient()
    ybr = processing.convert_color_space(rgb, "RGB", "YBR_FULL")
    path = make_dicom(tmp_path / "c.dcm", rgb, photometric="RGB")
    calls: list[str] = []
    real = processing.convert_color_space

    def counting(arr, current, desired, *args, **kwargs):
        calls.append(f"{current}->{desired}")
        return real(arr, current, desired, *args, **kwargs)

    monkeypatch.setattr(processing, "convert_color_space", counting)
    monkeypatch.setattr(io_dicom, "decode_first_frame", lambda ds, ts, frames: (ybr, "YBR_FULL"))
    x = load_xray(path)
    assert calls == ["YBR_FULL->RGB"]
    assert x.colourfulness > 0.3  # the gate sees the colour (measured on RGB, not on YBR)
    luma = (rgb[..., 0] * 0.299 + rgb[..., 2] * 0.114) / 255.0
    np.testing.assert_allclose(x.pixels, luma, atol=2 / 255)


def test_the_loader_describes_and_the_gate_decides(tmp_path: Path) -> None:
    ct = make_dicom(tmp_path / "ct.dcm", gradient(64, 128), Modality="OT", SOPClassUID=uid.CTImageStorage)
    x = load_xray(ct)  # a CT image loads: refusing it is not the loader's business
    assert isinstance(x, XRay) and not hasattr(x, "is_projection_radiograph")
    assert x.modality == "OT" and x.sop_class == "CT Image Storage"
    assert quality.is_projection_radiograph(x.modality, x.sop_class) is False
    issue = quality.check_xray(x)
    assert issue is not None and issue.code == "not_radiograph"


def test_decoding_uses_the_codecs_table_for_unknown_syntaxes() -> None:
    assert dicom_decode.plugin_order("1.2.840.10008.1.2.4.90")[0] == "pylibjpeg"


# --------------------------------------------------------------------------------------------
# Walking folders


def test_walk_enters_visible_folders_and_scans_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / ".cache").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"x")
    (tmp_path / "a" / ".0001.dcm").write_bytes(b"x")
    (tmp_path / ".cache" / "thumb.png").write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_image_files([tmp_path])]
    assert found == ["a/.0001.dcm", "a/x.png"]


# --------------------------------------------------------------------------------------------
# The package


def test_importing_core_io_is_light() -> None:
    code = (
        "import sys, pneumo_desktop.core.io, pneumo_desktop.core.io.codecs\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('pydicom', 'PIL', 'tensorflow', 'keras', 'PySide6', 'openvino')]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_old_module_paths_are_gone() -> None:
    for name in ("images", "dicom", "dicomdir"):
        assert not (REPO / "pneumo_desktop" / "core" / f"{name}.py").exists()
