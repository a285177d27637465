"""Opening X-ray files: PNG/JPEG/TIFF/BMP, the real DICOM set in ../shared, synthetic DICOM edge
cases, bad input and a fuzz test. No Qt.

Synthetic images are made here with Pillow and pydicom; the real DICOM files are read from the
shared folder (never copied into the repository).
"""

from __future__ import annotations

import csv
import io
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread, dcmwrite, uid
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate

from pneumo_desktop.core.errors import XRayLoadError
from pneumo_desktop.core.io import XRay, load_xray
from pneumo_desktop.core.io.dicom import load_dicom
from pneumo_desktop.core.io.dicom_display import window
from pneumo_desktop.core.quality import is_projection_radiograph
from tests.conftest import shared_path

# --------------------------------------------------------------------------------------------
# Helpers


def assert_valid(xray: XRay, shape: tuple[int, int] | None = None) -> None:
    p = xray.pixels
    assert isinstance(p, np.ndarray)
    assert p.dtype == np.float32
    assert p.ndim == 2
    assert p.flags.c_contiguous
    assert np.isfinite(p).all()
    assert p.min() >= 0.0 and p.max() <= 1.0
    if shape is not None:
        assert p.shape == shape
    assert (xray.height, xray.width) == p.shape


def save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


def gradient(h: int = 40, w: int = 64, top: int = 255, dtype: type = np.uint8) -> np.ndarray:
    return np.tile(np.linspace(0, top, w).round().astype(dtype), (h, 1))


def make_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    tsyntax: str = uid.ExplicitVRLittleEndian,
    frames: int | None = None,
    **attrs: object,
) -> Path:
    """A minimal valid DICOM file (Secondary Capture) holding ``pixels``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = uid.SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    meta.TransferSyntaxUID = tsyntax
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = uid.SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientName = "Test^Synthetic"
    ds.PatientID = "SYN001"
    shape = pixels.shape[1:] if frames else pixels.shape
    ds.Rows, ds.Columns = shape[0], shape[1]
    ds.SamplesPerPixel = 3 if len(shape) == 3 else 1
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if frames:
        ds.NumberOfFrames = frames
    ds.PixelData = pixels.tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def variant(src: Path, dst: Path, edit) -> Path:  # edit: Callable[[Dataset], None]
    """Copy a DICOM file with ``edit(ds)`` applied (into tmp_path)."""
    ds = dcmread(src)
    edit(ds)
    ds.save_as(dst)
    return dst


def expect_error(path: Path | str, code: str | None = None) -> XRayLoadError:
    with pytest.raises(XRayLoadError) as info:
        load_xray(path)
    err = info.value
    assert str(err).strip(), "the message must not be empty"
    if code is not None:
        assert err.code == code, (err.code, str(err))
    return err


def lung_vs_centre(pixels: np.ndarray) -> tuple[float, float, float]:
    """Mean of the left lung field, the right lung field and the central (spine/mediastinum) strip
    of a frontal chest film."""
    h, w = pixels.shape
    rows = slice(int(0.3 * h), int(0.6 * h))
    left = float(pixels[rows, int(0.2 * w) : int(0.35 * w)].mean())
    right = float(pixels[rows, int(0.65 * w) : int(0.8 * w)].mean())
    centre = float(pixels[int(0.3 * h) : int(0.7 * h), int(0.45 * w) : int(0.55 * w)].mean())
    return left, right, centre


# --------------------------------------------------------------------------------------------
# PNG, JPEG, TIFF, BMP (synthesised)


def test_png_8bit_gray(tmp_path: Path) -> None:
    arr = gradient()
    x = load_xray(save(Image.fromarray(arr), tmp_path / "g8.png"))
    assert_valid(x, arr.shape)
    assert x.format == "PNG" and x.bit_depth == 8
    np.testing.assert_allclose(x.pixels, arr / 255.0, atol=1e-6)


def test_png_16bit_gradient_maps_to_unit_range(tmp_path: Path) -> None:
    arr = gradient(top=65535, dtype=np.uint16)
    x = load_xray(save(Image.fromarray(arr), tmp_path / "g16.png"))
    assert_valid(x, arr.shape)
    assert x.bit_depth == 16
    assert x.pixels.min() == 0.0 and x.pixels.max() == 1.0
    np.testing.assert_allclose(x.pixels, arr / 65535.0, atol=1e-6)
    # A dark 12-bit-in-16 image is not stretched: 4095 stays at 4095/65535.
    dark = (arr >> 4).astype(np.uint16)
    x = load_xray(save(Image.fromarray(dark), tmp_path / "g12.png"))
    assert x.pixels.max() == pytest.approx(4095 / 65535, abs=1e-6)


def test_png_rgb_is_luma(tmp_path: Path) -> None:
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:, :10] = (255, 0, 0)
    arr[:, 10:20] = (0, 255, 0)
    arr[:, 20:] = (0, 0, 255)
    x = load_xray(save(Image.fromarray(arr), tmp_path / "rgb.png"))
    assert_valid(x, (20, 30))
    for col, weight in ((5, 0.299), (15, 0.587), (25, 0.114)):
        assert x.pixels[10, col] == pytest.approx(weight, abs=1.5 / 255)


def test_png_rgba_transparent_is_black(tmp_path: Path) -> None:
    arr = np.full((16, 16, 4), 255, np.uint8)
    arr[:, :8, 3] = 0  # left half transparent white
    x = load_xray(save(Image.fromarray(arr, "RGBA"), tmp_path / "rgba.png"))
    assert_valid(x, (16, 16))
    assert x.pixels[:, :8].max() == 0.0
    assert x.pixels[:, 8:].min() == 1.0


def test_png_palette(tmp_path: Path) -> None:
    img = Image.fromarray(gradient()).convert("P")
    x = load_xray(save(img, tmp_path / "pal.png"))
    assert_valid(x, (40, 64))
    assert x.pixels[0, 0] == 0.0 and x.pixels[0, -1] == 1.0


def test_png_1bit(tmp_path: Path) -> None:
    arr = np.zeros((16, 24), bool)
    arr[:, 12:] = True
    x = load_xray(save(Image.fromarray(arr), tmp_path / "bw.png"))
    assert_valid(x, (16, 24))
    assert set(np.unique(x.pixels)) == {0.0, 1.0}
    assert x.pixels[0, 0] == 0.0 and x.pixels[0, -1] == 1.0


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_jpeg_gray(tmp_path: Path, progressive: bool) -> None:
    arr = gradient(64, 96)
    path = save(Image.fromarray(arr), tmp_path / "g.jpg", quality=95, progressive=progressive)
    x = load_xray(path)
    assert_valid(x, arr.shape)
    assert x.format == "JPEG"
    assert np.abs(x.pixels - arr / 255.0).mean() < 0.02


def test_jpeg_rgb(tmp_path: Path) -> None:
    arr = np.stack([gradient(64, 96)] * 3, axis=-1)
    x = load_xray(save(Image.fromarray(arr), tmp_path / "rgb.jpg", quality=95))
    assert_valid(x, (64, 96))
    assert np.abs(x.pixels - arr[..., 0] / 255.0).mean() < 0.02


def test_jpeg_cmyk(tmp_path: Path) -> None:
    img = Image.new("CMYK", (48, 32), (0, 0, 0, 0))  # no ink: white
    img.paste((0, 0, 0, 255), (0, 0, 24, 32))  # left half full black ink
    x = load_xray(save(img, tmp_path / "cmyk.jpg", quality=95))
    assert_valid(x, (32, 48))
    assert x.pixels[:, :20].mean() < 0.1
    assert x.pixels[:, 28:].mean() > 0.9


def test_jpeg_exif_orientation_is_honoured(tmp_path: Path) -> None:
    arr = np.zeros((40, 80), np.uint8)  # stored landscape: 80 wide, 40 high
    arr[:10, :10] = 255  # a bright mark in the stored top-left corner
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = save(img, tmp_path / "rot.jpg", exif=exif, quality=95)
    x = load_xray(path)
    assert_valid(x, (80, 40))  # displayed portrait
    assert (x.width, x.height) == (40, 80)
    # rotating 90 degrees clockwise moves the top-left corner to the top-right
    assert x.pixels[:8, -8:].mean() > 0.8
    assert x.pixels[:8, :8].mean() < 0.2


@pytest.mark.parametrize("mode", ["L", "I;16", "F"])
def test_tiff(tmp_path: Path, mode: str) -> None:
    if mode == "L":
        arr, expected = gradient(), gradient() / 255.0
    elif mode == "I;16":
        arr = gradient(top=65535, dtype=np.uint16)
        expected = arr / 65535.0
    else:
        arr = gradient(dtype=np.float32) * 3.0 - 100.0  # float data: scaled to its own range
        expected = (arr - arr.min()) / (arr.max() - arr.min())
    x = load_xray(save(Image.fromarray(arr), tmp_path / "t.tif"))
    assert_valid(x, arr.shape)
    assert x.format == "TIFF"
    np.testing.assert_allclose(x.pixels, expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_bmp(tmp_path: Path, mode: str) -> None:
    arr = gradient()
    x = load_xray(save(Image.fromarray(arr).convert(mode), tmp_path / "b.bmp"))
    assert_valid(x, arr.shape)
    assert x.format == "BMP"
    np.testing.assert_allclose(x.pixels, arr / 255.0, atol=1.5 / 255)


def test_format_is_detected_by_content_not_extension(tmp_path: Path) -> None:
    png_named_jpg = save(Image.fromarray(gradient()), tmp_path / "really_a_png.jpg", format="PNG")
    assert load_xray(png_named_jpg).format == "PNG"


# --------------------------------------------------------------------------------------------
# The real DICOM set (../shared/dicom)


def _manifest_rows() -> list[dict[str, str]]:
    path = shared_path() / "dicom" / "MANIFEST.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


MANIFEST = _manifest_rows()
MANIFEST_PARAMS = [pytest.param(row, id=row["file"]) for row in MANIFEST] or [
    pytest.param(None, id="no-manifest", marks=pytest.mark.skip(reason="shared DICOM set not found"))
]
UNDECODABLE = {
    "dx_chest_mono2_8bit_implicit_le_truncated_60pct.dcm",
    "dx_chest_pa_mono1_12bit_j2k_lossless_bad_com_marker.dcm",
}
#: Frontal chest films, all to be shown as film is: bones bright, air dark.
CHEST_FILMS = [
    "dx_chest_pa_mono1_12bit_j2k_lossless.dcm",  # MONOCHROME1 + Presentation LUT Shape INVERSE
    "cr_chest_mono1_15bit_j2k_lossy.dcm",  # MONOCHROME1, no Presentation LUT Shape
    "dx_chest_mono2_8bit_implicit_le.dcm",  # MONOCHROME2
]


@pytest.mark.real_data
@pytest.mark.parametrize("row", MANIFEST_PARAMS)
def test_shared_dicom(dicom_dir: Path, row: dict[str, str]) -> None:
    path = dicom_dir / row["file"]
    if not row["rows"]:  # no pixel data: SR, RT Plan
        err = expect_error(path, "no_image")
        assert "no image" in str(err)
        return
    if row["file"] in UNDECODABLE:
        err = expect_error(path, "corrupt")
        assert "damaged" in str(err) or "truncated" in str(err)
        return
    x = load_xray(path)
    assert_valid(x, (int(row["rows"]), int(row["cols"])))
    assert x.format == "DICOM"
    assert x.pixels.std() > 0.02, "a real image is not flat"
    assert x.modality == row["modality"]
    assert x.bit_depth == int(row["bits_stored"])
    assert x.photometric == row["photometric"]
    assert x.frames == int(row["frames"])
    assert x.transfer_syntax and x.transfer_syntax in row["transfer_syntax"]
    assert is_projection_radiograph(x.modality, x.sop_class) == (row["modality"] not in ("CT", "MR"))
    if x.frames > 1:
        assert f"first of {x.frames} frames" in " ".join(x.notes)


@pytest.mark.real_data
@pytest.mark.parametrize("name", CHEST_FILMS)
def test_chest_films_show_bone_bright(dicom_dir: Path, name: str) -> None:
    x = load_xray(dicom_dir / name)
    left, right, centre = lung_vs_centre(x.pixels)
    # the mediastinum and spine (centre) are brighter than both lung fields
    assert centre > left + 0.05 and centre > right + 0.05, (left, right, centre)


@pytest.mark.real_data
def test_mono1_inverse_is_inverted_exactly_once(dicom_dir: Path) -> None:
    """MONOCHROME1 + INVERSE: high stored values (bone... or rather little exposure) show dark
    once, i.e. the display is anti-correlated with the stored values, not correlated."""
    from pydicom.pixels import pixel_array

    path = dicom_dir / "dx_chest_pa_mono1_12bit_j2k_lossless.dcm"
    x = load_xray(path)
    raw = pixel_array(str(path)).astype(np.float64)
    r = np.corrcoef(raw.ravel()[::101], x.pixels.astype(np.float64).ravel()[::101])[0, 1]
    assert r < -0.9


@pytest.mark.real_data
def test_lossless_variants_are_identical(dicom_dir: Path) -> None:
    names = ["j2k_lossless", "jpegls_lossless", "rle_lossless"]
    images = [load_xray(dicom_dir / f"cr_extremity_mono1_10bit_{n}.dcm").pixels for n in names]
    np.testing.assert_array_equal(images[0], images[1])
    np.testing.assert_array_equal(images[0], images[2])


@pytest.mark.real_data
def test_jpeg_extended_12bit_matches_lossless_original(dicom_dir: Path) -> None:
    lossy = load_xray(dicom_dir / "cr_hip_mono2_10bit_jpeg_extended_lossy.dcm")
    lossless = load_xray(dicom_dir / "cr_hip_mono2_10bit_jpeg_lossless_sv1.dcm")
    assert np.abs(lossy.pixels - lossless.pixels).mean() < 0.01
    assert "lossy compressed" in lossy.notes


@pytest.mark.real_data
def test_shared_dicom_metadata(dicom_dir: Path) -> None:
    x = load_xray(dicom_dir / "dx_chest_pa_mono1_12bit_j2k_lossless.dcm")
    assert x.view_position == "PA" and x.body_part == "CHEST"
    assert x.transfer_syntax == "JPEG 2000 Image Compression (Lossless Only)"
    assert isinstance(x.patient_name, str | None) and isinstance(x.patient_id, str | None)
    x = load_xray(dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm")
    assert x.patient_id == "Covid0000" and x.patient_name == "Covid0000"
    mg = load_xray(dicom_dir / "mg_mono2_12bit_jpeg_lossless_voi_lut_seq.dcm")
    assert "VOI LUT 1 of 3 used" in mg.notes


@pytest.mark.real_data
def test_voi_lut_sequence_is_used_before_window(dicom_dir: Path) -> None:
    """The mammogram has 3 VOI LUTs and 3 windows: the first LUT is the one applied."""
    from pydicom.pixels import pixel_array

    path = dicom_dir / "mg_mono2_12bit_jpeg_lossless_voi_lut_seq.dcm"
    ds = dcmread(path)
    item = ds.VOILUTSequence[0]
    n, first, _bits = item.LUTDescriptor
    lut = np.asarray(item.LUTData, dtype=np.float64)
    raw = pixel_array(str(path)).astype(np.int64)
    expected = lut[np.clip(raw - first, 0, n - 1)] / 4095.0
    np.testing.assert_allclose(load_xray(path).pixels, expected, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Synthetic DICOM variants made from the shared files


@pytest.fixture(scope="module")
def chest8(dicom_dir: Path) -> Path:
    return dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm"


@pytest.fixture(scope="module")
def chest8_pixels(chest8: Path) -> np.ndarray:
    return load_xray(chest8).pixels


@pytest.fixture(scope="module")
def chest8_raw(chest8: Path) -> np.ndarray:
    return dcmread(chest8).pixel_array


def _minmax(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return (a - a.min()) / (a.max() - a.min())


@pytest.mark.real_data
def test_acr_nema_no_preamble_no_file_meta(tmp_path: Path, chest8: Path, chest8_pixels: np.ndarray) -> None:
    ds = dcmread(chest8)
    ds.file_meta = FileMetaDataset()
    ds.preamble = None
    path = tmp_path / "acr_nema.dcm"
    ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    head = path.read_bytes()[:132]
    assert head[128:132] != b"DICM" and head[:2] == b"\x08\x00"
    x = load_xray(path)
    np.testing.assert_array_equal(x.pixels, chest8_pixels)
    assert x.transfer_syntax == "Implicit VR Little Endian"
    assert any("no File Meta" in n for n in x.notes)


@pytest.mark.real_data
@pytest.mark.parametrize("with_meta", [True, False], ids=["file-meta", "no-file-meta"])
def test_explicit_vr_big_endian(tmp_path: Path, dicom_dir: Path, with_meta: bool) -> None:
    src = dicom_dir / "ct_mono2_16bit_explicit_le.dcm"  # signed 16-bit with Rescale Intercept
    expected = load_xray(src).pixels
    ds = dcmread(src)
    ds.PixelData = ds.pixel_array.astype(">i2").tobytes()  # OW is not swapped by the writer
    path = tmp_path / "big_endian.dcm"
    if with_meta:
        ds.file_meta.TransferSyntaxUID = uid.ExplicitVRBigEndian
        dcmwrite(path, ds)
    else:
        ds.file_meta = FileMetaDataset()
        ds.preamble = None
        dcmwrite(path, ds, implicit_vr=False, little_endian=False)
    x = load_xray(path)
    assert x.transfer_syntax == "Explicit VR Big Endian"
    np.testing.assert_allclose(x.pixels, expected, atol=1e-6)
    assert is_projection_radiograph(x.modality, x.sop_class) is False  # CT


@pytest.mark.real_data
@pytest.mark.parametrize("lut_vr", ["OW", "US"])
def test_modality_lut_sequence(tmp_path: Path, chest8: Path, chest8_raw: np.ndarray, lut_vr: str) -> None:
    lut = np.round(np.sqrt(np.arange(256) / 255.0) * 4095).astype(np.uint16)  # non-linear, 12-bit

    def edit(ds: Dataset) -> None:
        item = Dataset()
        item.add_new(0x00283002, "US", [256, 0, 12])  # LUT Descriptor
        item.ModalityLUTType = "US"
        if lut_vr == "OW":
            item.add_new(0x00283006, "OW", lut.astype("<u2").tobytes())
        else:
            item.add_new(0x00283006, "US", [int(v) for v in lut])
        ds.ModalityLUTSequence = [item]
        ds.RescaleSlope, ds.RescaleIntercept = 5, 100  # must be ignored: the LUT wins

    x = load_xray(variant(chest8, tmp_path / "mlut.dcm", edit))
    np.testing.assert_allclose(x.pixels, _minmax(lut[chest8_raw]), atol=1e-6)

    def add_window(ds: Dataset) -> None:  # the window applies to the LUT's output values
        edit(ds)
        ds.WindowCenter, ds.WindowWidth = 2048, 4096

    x = load_xray(variant(chest8, tmp_path / "mlut_win.dcm", add_window))
    np.testing.assert_allclose(x.pixels, window(lut[chest8_raw], 2048, 4096), atol=1e-6)


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("photometric", "shape", "inverted"),
    [
        ("MONOCHROME2", None, False),
        ("MONOCHROME2", "IDENTITY", False),
        ("MONOCHROME2", "INVERSE", True),
        ("MONOCHROME1", None, True),
        ("MONOCHROME1", "INVERSE", True),  # the same inversion said twice: applied once
        ("MONOCHROME1", "IDENTITY", True),
    ],
)
@pytest.mark.parametrize("windowed", [False, True], ids=["no-window", "window"])
def test_inversion_happens_exactly_once(
    tmp_path: Path, chest8: Path, photometric: str, shape: str | None, inverted: bool, windowed: bool
) -> None:
    def edit(ds: Dataset, photometric: str = photometric, shape: str | None = shape) -> None:
        ds.PhotometricInterpretation = photometric
        if shape:
            ds.PresentationLUTShape = shape
        if windowed:
            ds.WindowCenter, ds.WindowWidth = 120, 160

    base = load_xray(variant(chest8, tmp_path / "mono2.dcm", lambda ds: edit(ds, "MONOCHROME2", None)))
    x = load_xray(variant(chest8, tmp_path / "v.dcm", edit))
    expected = 1.0 - base.pixels if inverted else base.pixels
    np.testing.assert_allclose(x.pixels, expected, atol=1e-6)


@pytest.mark.real_data
def test_signed_pixels(
    tmp_path: Path, chest8: Path, chest8_raw: np.ndarray, chest8_pixels: np.ndarray
) -> None:
    signed = chest8_raw.astype(np.int16) - 1000  # -1000 .. -745

    def edit(ds: Dataset) -> None:
        ds.PixelRepresentation = 1
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelData = signed.tobytes()

    x = load_xray(variant(chest8, tmp_path / "signed.dcm", edit))
    np.testing.assert_allclose(x.pixels, chest8_pixels, atol=1e-6)  # min..max: shift invariant

    def with_rescale_and_window(ds: Dataset) -> None:
        edit(ds)
        ds.RescaleSlope, ds.RescaleIntercept = 1, 1000  # back to 0..255
        ds.WindowCenter, ds.WindowWidth = 128, 256

    x = load_xray(variant(chest8, tmp_path / "signed_win.dcm", with_rescale_and_window))
    np.testing.assert_allclose(x.pixels, window(chest8_raw, 128, 256), atol=1e-6)


@pytest.mark.real_data
def test_first_of_multiple_windows_is_used(tmp_path: Path, chest8: Path, chest8_raw: np.ndarray) -> None:
    def edit(ds: Dataset) -> None:
        ds.WindowCenter = [100, 30]
        ds.WindowWidth = [50, 200]

    x = load_xray(variant(chest8, tmp_path / "windows.dcm", edit))
    np.testing.assert_allclose(x.pixels, window(chest8_raw, 100, 50), atol=1e-6)
    assert not np.allclose(x.pixels, window(chest8_raw, 30, 200), atol=1e-3)
    assert "window 1 of 2 used" in x.notes


@pytest.mark.real_data
@pytest.mark.parametrize("bits", [8, 10, 12, 14, 15, 16])
def test_bits_stored(
    tmp_path: Path, chest8: Path, chest8_raw: np.ndarray, chest8_pixels: np.ndarray, bits: int
) -> None:
    scaled = chest8_raw.astype(np.uint16) << (bits - 8)
    allocated = 8 if bits == 8 else 16
    data = scaled.astype(np.uint8 if allocated == 8 else np.uint16)
    if bits < allocated:
        data = data | np.uint16(1 << (allocated - 1))  # garbage in an unused high bit: ignored

    def edit(ds: Dataset) -> None:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, bits, bits - 1
        ds.PixelData = data.tobytes()

    x = load_xray(variant(chest8, tmp_path / f"b{bits}.dcm", edit))
    assert x.bit_depth == bits
    np.testing.assert_allclose(x.pixels, chest8_pixels, atol=1e-6)

    def windowed(ds: Dataset) -> None:
        edit(ds)
        ds.WindowCenter, ds.WindowWidth = 2 ** (bits - 1), 2**bits

    x = load_xray(variant(chest8, tmp_path / f"bw{bits}.dcm", windowed))
    np.testing.assert_allclose(x.pixels, window(scaled, 2 ** (bits - 1), 2**bits), atol=1e-6)


@pytest.mark.real_data
def test_window_outside_data_is_ignored(tmp_path: Path, chest8: Path, chest8_pixels: np.ndarray) -> None:
    def edit(ds: Dataset) -> None:
        ds.WindowCenter, ds.WindowWidth = 40000, 100  # far above the 8-bit data

    x = load_xray(variant(chest8, tmp_path / "off.dcm", edit))
    np.testing.assert_array_equal(x.pixels, chest8_pixels)
    assert any("window outside" in n for n in x.notes)


# --------------------------------------------------------------------------------------------
# Synthetic DICOM from scratch: colour, multi-frame, VOI functions, codecs


def test_dicom_rgb_and_ybr_become_luma(tmp_path: Path) -> None:
    from pydicom.pixels import convert_color_space

    rgb = np.zeros((16, 30, 3), np.uint8)
    rgb[:, :10] = (255, 0, 0)
    rgb[:, 10:20] = (0, 255, 0)
    rgb[:, 20:] = (0, 0, 255)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    for name, arr, photometric in (("rgb", rgb, "RGB"), ("ybr", ybr, "YBR_FULL")):
        x = load_xray(make_dicom(tmp_path / f"{name}.dcm", arr, photometric=photometric))
        assert_valid(x, (16, 30))
        assert x.photometric == photometric
        for col, weight in ((5, 0.299), (15, 0.587), (25, 0.114)):
            assert x.pixels[8, col] == pytest.approx(weight, abs=0.01), (name, col)


def test_dicom_multiframe_uses_first_frame(tmp_path: Path) -> None:
    frames = np.stack([gradient(32, 48, 200), 255 - gradient(32, 48, 200), np.full((32, 48), 7, np.uint8)])
    x = load_xray(make_dicom(tmp_path / "mf.dcm", frames, frames=3))
    assert_valid(x, (32, 48))
    np.testing.assert_allclose(x.pixels, _minmax(frames[0]), atol=1e-6)
    assert x.frames == 3 and "multi-frame: first of 3 frames used" in x.notes


@pytest.mark.parametrize(
    "tsyntax",
    [uid.RLELossless, uid.JPEG2000Lossless, uid.JPEGLSLossless, uid.DeflatedExplicitVRLittleEndian],
    ids=lambda t: t.name,
)
def test_dicom_codecs_round_trip(tmp_path: Path, tsyntax: uid.UID) -> None:
    arr = (gradient(48, 64, 4095, np.uint16) + np.arange(48, dtype=np.uint16)[:, None] * 7) & 0x0FFF
    path = make_dicom(tmp_path / "plain.dcm", arr, bits_stored=12)
    ds = dcmread(path)
    if tsyntax == uid.DeflatedExplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = tsyntax
    else:
        ds.compress(tsyntax)
    ds.save_as(tmp_path / "c.dcm")
    x = load_xray(tmp_path / "c.dcm")
    assert x.transfer_syntax == tsyntax.name
    np.testing.assert_allclose(x.pixels, _minmax(arr), atol=1e-6)


@pytest.mark.parametrize("tsyntax", [uid.RLELossless, uid.JPEG2000Lossless, uid.JPEGLSLossless], ids=str)
def test_encapsulated_without_file_meta_guesses_codec(tmp_path: Path, tsyntax: uid.UID) -> None:
    """Stripped files (no File Meta) with compressed pixel data: the codec is sniffed."""
    arr = (gradient(48, 64, 4095, np.uint16) + np.arange(48, dtype=np.uint16)[:, None] * 7) & 0x0FFF
    ds = dcmread(make_dicom(tmp_path / "plain.dcm", arr, bits_stored=12))
    ds.compress(tsyntax)
    ds.file_meta = FileMetaDataset()
    ds.preamble = None
    dcmwrite(tmp_path / "stripped.dcm", ds, implicit_vr=False, little_endian=True)
    x = load_xray(tmp_path / "stripped.dcm")
    np.testing.assert_allclose(x.pixels, _minmax(arr), atol=1e-6)
    assert any("no File Meta" in n for n in x.notes)


def test_dicom_jpeg_baseline_from_pillow(tmp_path: Path) -> None:
    arr = gradient(48, 64)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    path = make_dicom(tmp_path / "plain.dcm", arr)
    ds = dcmread(path)
    ds.file_meta.TransferSyntaxUID = uid.JPEGBaseline8Bit
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].is_undefined_length = True
    ds.save_as(tmp_path / "jpeg.dcm")
    x = load_xray(tmp_path / "jpeg.dcm")
    assert np.abs(x.pixels - _minmax(arr)).mean() < 0.02


def test_window_functions() -> None:
    ramp = np.arange(4096, dtype=np.float64)
    linear = window(ramp, 2048, 4096)
    assert linear[0] == 0.0 and linear[-1] == 1.0 and linear[2048] == pytest.approx(0.5, abs=1e-3)
    assert np.all(np.diff(linear) >= 0)
    exact = window(ramp, 1000, 200, "LINEAR_EXACT")
    assert exact[900] == 0.0 and exact[1100] == 1.0 and exact[1000] == pytest.approx(0.5)
    sigmoid = window(ramp, 2048, 1000, "SIGMOID")
    assert sigmoid[2048] == pytest.approx(0.5) and sigmoid[0] < 0.001 and sigmoid[-1] > 0.999
    threshold = window(ramp, 100, 1)
    assert set(np.unique(threshold)) == {0.0, 1.0}
    np.testing.assert_allclose(window(ramp, 100, 0), ramp / 4095)  # invalid width: min..max


def test_voi_lut_sequence_synthetic(tmp_path: Path) -> None:
    arr = gradient(32, 256, 255)
    lut = (4095 - np.arange(256) * 16).astype(np.uint16)  # 12-bit, decreasing
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 0, 12])
    item.add_new(0x00283006, "OW", lut.tobytes())
    x = load_xray(make_dicom(tmp_path / "voi.dcm", arr, VOILUTSequence=[item]))
    np.testing.assert_allclose(x.pixels, lut[arr] / 4095.0, atol=1e-6)


def test_palette_color_dicom(tmp_path: Path) -> None:
    arr = gradient(16, 32, 255)
    path = make_dicom(tmp_path / "pal.dcm", arr, photometric="PALETTE COLOR")
    ds = dcmread(path)
    ramp = (np.arange(256, dtype=np.uint16) * 257).tobytes()
    for colour in ("Red", "Green", "Blue"):
        ds.add_new(_palette_tag(colour, "Descriptor"), "US", [256, 0, 16])
        ds.add_new(_palette_tag(colour, "Data"), "OW", ramp)
    ds.save_as(path)
    x = load_xray(path)
    np.testing.assert_allclose(x.pixels, arr / 255.0, atol=1e-3)


def _palette_tag(colour: str, kind: str) -> int:
    base = {"Descriptor": 0x00281101, "Data": 0x00281201}[kind]
    return base + ("Red", "Green", "Blue").index(colour)


def test_projection_flag() -> None:
    for modality in ("CR", "DX", "DR", "RG", "OT", None, "XA", "MG", "RF", "ZZ"):
        assert is_projection_radiograph(modality) is True, modality
    for modality in ("CT", "MR", "PT", "NM", "US", "OP", "XC"):
        assert is_projection_radiograph(modality) is False, modality
    assert is_projection_radiograph("OT", "CT Image Storage") is False


def test_patient_name_is_a_string(tmp_path: Path) -> None:
    x = load_dicom(str(make_dicom(tmp_path / "p.dcm", gradient())))
    assert x.patient_name == "Test^Synthetic" and x.patient_id == "SYN001"


# --------------------------------------------------------------------------------------------
# Bad input: every failure is an XRayLoadError with a message


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gradient(64, 64, 65535, np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gradient(64, 64)).save(buf, format="JPEG")
    return buf.getvalue()


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    expect_error(tmp_path / "empty.png", "empty")


def test_random_bytes(tmp_path: Path) -> None:
    (tmp_path / "noise.dcm").write_bytes(random.Random(0).randbytes(4096))
    expect_error(tmp_path / "noise.dcm")


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_truncated_image(tmp_path: Path, kind: str) -> None:
    data = _png_bytes() if kind == "png" else _jpeg_bytes()
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: len(data) // 2])
    expect_error(path, "corrupt")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("Patient notes: nothing to see here.\n" * 10)
    err = expect_error(tmp_path / "notes.png", "not_image")
    assert "text" in str(err)


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("name", "kind"),
    [("sr_comprehensive_no_pixel_data.dcm", "Structured Report"), ("rtplan_no_pixel_data.dcm", "RT Plan")],
)
def test_dicom_without_image(dicom_dir: Path, name: str, kind: str) -> None:
    err = expect_error(dicom_dir / name, "no_image")
    assert "no image" in str(err) and kind in str(err)


@pytest.mark.real_data
def test_undecodable_j2k(dicom_dir: Path) -> None:
    err = expect_error(dicom_dir / "dx_chest_pa_mono1_12bit_j2k_lossless_bad_com_marker.dcm", "corrupt")
    assert "cannot be decoded" in str(err)


def test_png_with_absurd_dimensions(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    expect_error(tmp_path / "bomb.png", "too_large")


def test_dicom_with_absurd_dimensions(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "bomb.dcm", gradient(16, 16))
    ds = dcmread(path)
    ds.Rows = ds.Columns = 65535  # but only 256 bytes of pixel data
    ds.save_as(path)
    expect_error(path, "too_large")


def test_dicom_without_rows(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "norows.dcm", gradient(16, 16))
    ds = dcmread(path)
    del ds.Rows
    ds.save_as(path)
    expect_error(path, "corrupt")


def test_dicom_with_unknown_compression(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "odd.dcm", gradient(16, 16))
    ds = dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.201"  # HTJ2K: pixel data is raw here
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path)
    expect_error(path)


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading the file")
    path = save(Image.fromarray(gradient()), tmp_path / "locked.png")
    path.chmod(0)
    try:
        expect_error(path, "permission")
    finally:
        path.chmod(0o644)


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "folder.dcm").mkdir()
    expect_error(tmp_path / "folder.dcm", "not_a_file")


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.png", "missing")


def test_load_dicom_directly_on_garbage(tmp_path: Path) -> None:
    (tmp_path / "g.dcm").write_bytes(b"\x08\x00\x05\x00" + random.Random(1).randbytes(300))
    with pytest.raises(XRayLoadError):
        load_dicom(str(tmp_path / "g.dcm"))


# --------------------------------------------------------------------------------------------
# Fuzzing: mutated real and synthetic files either load or raise XRayLoadError, nothing else


@pytest.fixture(scope="module")
def fuzz_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("fuzz_corpus")
    corpus = {"png16": _png_bytes(), "jpeg": _jpeg_bytes()}
    buf = io.BytesIO()
    Image.fromarray(gradient(40, 56)).convert("RGB").save(buf, format="JPEG", progressive=True)
    corpus["jpeg_progressive"] = buf.getvalue()
    arr = (gradient(40, 56, 4095, np.uint16) + np.arange(40, dtype=np.uint16)[:, None]) & 0x0FFF
    plain = make_dicom(tmp / "plain.dcm", arr, bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    corpus["dicom_plain"] = plain.read_bytes()
    for name, tsyntax in (
        ("rle", uid.RLELossless),
        ("j2k", uid.JPEG2000Lossless),
        ("jls", uid.JPEGLSLossless),
    ):
        ds = dcmread(plain)
        ds.compress(tsyntax)
        ds.save_as(tmp / f"{name}.dcm")
        corpus[f"dicom_{name}"] = (tmp / f"{name}.dcm").read_bytes()
    shared = shared_path() / "dicom"
    for name in ("ct_mono2_16bit_explicit_le.dcm", "ot_mono2_8bit_deflated_explicit_le.dcm"):
        if (shared / name).is_file():
            corpus[name] = (shared / name).read_bytes()
    return corpus


def _mutate(data: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for op, pos, payload in ops:
        pos = pos % (len(buf) + 1)
        if op == "flip" and buf:
            buf[min(pos, len(buf) - 1)] ^= payload[0] | 1
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = payload
        elif op == "overwrite":
            buf[pos : pos + len(payload)] = payload
    return bytes(buf)


def _check_outcome(path: Path, *, dicom: bool = False) -> None:
    """``path`` loads as a valid XRay or raises XRayLoadError with a message, nothing else.

    With ``dicom=True`` the DICOM loader is also called directly (load_xray only routes files
    that still look like DICOM to it)."""
    loaders = [load_xray, load_dicom] if dicom else [load_xray]
    for loader in loaders:
        try:
            x = loader(str(path))
        except XRayLoadError as err:
            assert str(err).strip()
            continue
        assert_valid(x)


def test_fuzz_mutated_files(tmp_path_factory: pytest.TempPathFactory, fuzz_corpus: dict[str, bytes]) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    target = tmp_path_factory.mktemp("fuzz") / "sample"
    position = st.one_of(st.integers(0, 600), st.integers(0, 2**31))  # headers get extra attention
    op = st.tuples(
        st.sampled_from(["flip", "truncate", "insert", "overwrite"]),
        position,
        st.binary(min_size=1, max_size=16),
    )

    crashed: list[bytes] = []

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(name=st.sampled_from(sorted(fuzz_corpus)), ops=st.lists(op, min_size=1, max_size=4))
    def check(name: str, ops: list[tuple[str, int, bytes]]) -> None:
        data = _mutate(fuzz_corpus[name], ops)
        target.write_bytes(data)
        if _native_crash(target, dicom="dicom" in name or name.endswith(".dcm")):
            crashed.append(data)

    check()
    # A native decoder (GDCM seen: an abort in GetBuffer) can die on a damaged stream; no Python
    # code can catch that. The app decodes in child processes for this reason: such a file must
    # become a 'decoder_crash' row there, and the next file must still decode.
    if crashed:
        _crash_is_contained(target, crashed[0])


def _native_crash(path: Path, *, dicom: bool) -> bool:
    """Run :func:`_check_outcome` in a forked child: True when a native decoder killed it (a
    signal); an assertion failure in the child fails the test with its message."""
    import os
    import signal
    import traceback

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running any of pytest's clean-up
        os.close(read_fd)
        code = 0
        try:
            _check_outcome(path, dicom=dicom)
        except BaseException:
            os.write(write_fd, traceback.format_exc().encode()[-4000:])
            code = 1
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        message = fh.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        assert sig in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL), sig
        return True
    assert os.WEXITSTATUS(status) == 0, message
    return False


def _crash_is_contained(path: Path, data: bytes) -> None:
    from pneumo_desktop.core.decoding import CRASH_CODE, DecoderPool
    from pneumo_desktop.core.preprocess import PreprocessSpec

    path.write_bytes(data)
    pool = DecoderPool(1)
    try:
        try:  # in the child the same crash is a row (GDCM's abort is deterministic in practice)
            pool.decode(str(path), PreprocessSpec(size=32))
        except XRayLoadError as err:
            assert err.code == CRASH_CODE or str(err).strip()
        good = path.with_name("good.png")
        Image.fromarray(np.full((256, 256), 128, np.uint8)).save(good)
        assert pool.decode(str(good), PreprocessSpec(size=32)) is not None  # a new child took over
    finally:
        pool.close()


@pytest.mark.real_data
@pytest.mark.parametrize(
    "name",
    [
        "ct_mono2_16bit_explicit_le.dcm",
        "ot_mono2_8bit_deflated_explicit_le.dcm",
        "sc_rgb_8bit_explicit_le.dcm",
    ],
)
def test_truncated_real_dicom(tmp_path: Path, dicom_dir: Path, name: str) -> None:
    data = (dicom_dir / name).read_bytes()
    for fraction in (0.02, 0.1, 0.3, 0.5, 0.9, 0.999):
        path = tmp_path / f"{fraction}.dcm"
        path.write_bytes(data[: max(1, int(len(data) * fraction))])
        _check_outcome(path, dicom=True)
