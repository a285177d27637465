"""Every DICOM transfer syntax of the codecs table (:mod:`pneumo_desktop.core.io.codecs`), end to end.

For each syntax a synthetic image is encoded in memory with an encoder that is installed
(pydicom's RLE, pyjpegls, pylibjpeg-openjpeg, Pillow, GDCM; :data:`RECIPES`), written to a temporary
file, decoded by every decoder plugin the app ships for that syntax (a plugin that pydicom cannot
find, e.g. because the package metadata that pylibjpeg's entry points need was not bundled, is a
failure) and loaded through :func:`~pneumo_desktop.core.io.load_xray`, whose pixels must match the
source. Syntaxes for which no encoder is installed are reported as SKIP, never as a pass.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.io.codecs import Codec, shipped_plugins
from .report import FAIL, PASS, SKIP
from .synthetic import as_uint, min_max_display, synthetic_chest


@dataclass(frozen=True)
class Recipe:
    """How the self-test makes a test file for one transfer syntax."""

    bits: int  # bits stored of the synthetic source
    encoder: str  # "native", "pydicom:<plugin>", "pillow", "gdcm"
    max_error: float = 0.0  # allowed |decoded - source| in stored values (0: lossless)
    options: tuple[tuple[str, Any], ...] = ()
    #: Fraction of the stored range the source spans (below 1: no saturated pixels).
    span: tuple[float, float] = (0.0, 1.0)
    #: The plugins that must decode this file; None: every plugin the app ships for the syntax.
    plugins: tuple[str, ...] | None = None


#: By transfer syntax keyword. A syntax of the codecs table with no recipe has no encoder installed
#: (HTJ2K: OpenJPEG decodes it but cannot write it): its check is SKIP when its decoders are there.
RECIPES: dict[str, Recipe] = {
    "ImplicitVRLittleEndian": Recipe(16, "native"),
    "ExplicitVRLittleEndian": Recipe(16, "native"),
    "ExplicitVRBigEndian": Recipe(16, "native"),
    "DeflatedExplicitVRLittleEndian": Recipe(16, "native"),
    "RLELossless": Recipe(16, "pydicom:pydicom"),
    "JPEGBaseline8Bit": Recipe(8, "pillow", max_error=24),
    # pydicom's plugins refuse 12-bit process 4; the app decodes it with GDCM directly. GDCM's lossy
    # 12-bit round trip turns saturated (4095) pixels into ~0, so the source keeps clear of the top.
    "JPEGExtended12Bit": Recipe(12, "gdcm", max_error=400, span=(0.02, 0.98), plugins=()),
    "JPEGLossless": Recipe(16, "gdcm"),
    "JPEGLosslessSV1": Recipe(16, "gdcm"),
    "JPEGLSLossless": Recipe(16, "pydicom:pyjpegls"),
    "JPEGLSNearLossless": Recipe(16, "pydicom:pyjpegls", max_error=2, options=(("jls_error", 2),)),
    "JPEG2000Lossless": Recipe(16, "pydicom:pylibjpeg"),
    "JPEG2000": Recipe(16, "pydicom:pylibjpeg", max_error=4000, options=(("j2k_cr", [8]),)),
}

_GDCM_SYNTAX = {
    "JPEGExtended12Bit": "JPEGExtendedProcess2_4",
    "JPEGLossless": "JPEGLosslessProcess14",
    "JPEGLosslessSV1": "JPEGLosslessProcess14_1",
}


def required_plugins(codec: Codec) -> tuple[str, ...]:
    """The decoder plugins that must decode the self-test's file for ``codec``."""
    recipe = RECIPES.get(codec.keyword)
    if recipe is not None and recipe.plugins is not None:
        return recipe.plugins
    return shipped_plugins(codec)


def dataset(arr: np.ndarray, bits: int) -> Any:
    """A minimal DX dataset (explicit VR little endian) holding ``arr``."""
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


def encode(keyword: str, recipe: Recipe, arr: np.ndarray, folder: Path) -> Path:
    """Write ``arr`` in the transfer syntax ``keyword`` to a file in ``folder``; return its path."""
    from pydicom import uid
    from pydicom.encaps import encapsulate

    ts = getattr(uid, keyword)
    ds = dataset(arr, recipe.bits)
    path = folder / f"{keyword}.dcm"
    if recipe.encoder == "native":
        ds.file_meta.TransferSyntaxUID = ts
        if ts == uid.ExplicitVRBigEndian:
            ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        ds.save_as(path, enforce_file_format=True)  # pydicom deflates for the deflated syntax
    elif recipe.encoder.startswith("pydicom:"):
        ds.compress(ts, arr, encoding_plugin=recipe.encoder.split(":", 1)[1], **dict(recipe.options))
        ds.save_as(path, enforce_file_format=True)
    elif recipe.encoder == "pillow":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(arr, mode="L").save(buf, format="JPEG", quality=95)
        ds.file_meta.TransferSyntaxUID = ts
        ds.PixelData = encapsulate([buf.getvalue()])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.LossyImageCompression = "01"
        ds.save_as(path, enforce_file_format=True)
    elif recipe.encoder == "gdcm":
        _encode_with_gdcm(ds, _GDCM_SYNTAX[keyword], lossless=recipe.max_error == 0, folder=folder, out=path)
    else:
        raise ValueError(f"no encoder for {keyword}")
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


def decoder_problems(codec: Codec, recipe: Recipe, path: Path, source: np.ndarray) -> list[str]:
    """Decode ``path`` with each plugin the app relies on; return problems (empty: all good)."""
    from pydicom import dcmread, uid
    from pydicom.pixels import get_decoder

    decoder = get_decoder(getattr(uid, codec.keyword))
    available = set(decoder.available_plugins)
    problems = []
    ds = dcmread(path)
    for plugin in required_plugins(codec):
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
        if err > recipe.max_error:
            problems.append(f"{plugin}: pixel error {err} > {recipe.max_error:g}")
    return problems


def check_codec(codec: Codec, folder: Path) -> tuple[str, str]:
    """One transfer syntax end to end (see the module's docstring)."""
    from pydicom import uid
    from pydicom.pixels import get_decoder

    from ..core.io import load_xray

    recipe = RECIPES.get(codec.keyword)
    plugins = required_plugins(codec)
    if recipe is None:
        try:
            available = get_decoder(getattr(uid, codec.keyword)).available_plugins
        except NotImplementedError:
            available = ()
        have = ", ".join(available) or "none"
        status = SKIP if all(p in available for p in plugins) else FAIL
        return status, f"no encoder installed to make a test file; decoder plugins available: {have}"

    lo, hi = recipe.span
    source = as_uint(lo + (hi - lo) * synthetic_chest(seed=1), recipe.bits)
    path = encode(codec.keyword, recipe, source, folder)
    problems = decoder_problems(codec, recipe, path, source)
    xray = load_xray(path)
    expected = min_max_display(source)
    diff = np.abs(xray.pixels - expected)
    # Lossless: identical up to float32 rounding. Lossy: the codec's error, relative to the range.
    tolerance = 1e-6 if recipe.max_error == 0 else 2.0 * recipe.max_error / float(np.ptp(source)) + 1e-6
    if float(diff.max()) > tolerance:
        problems.append(f"load_xray pixels differ by {float(diff.max()):.2e} (allowed {tolerance:.1e})")
    if xray.transfer_syntax != getattr(uid, codec.keyword).name:
        problems.append(f"load_xray read it as {xray.transfer_syntax}")
    if problems:
        raise AssertionError("; ".join(problems))
    kind = "lossless" if recipe.max_error == 0 else f"lossy, max err {float(diff.max()):.1e}"
    via = ", ".join(plugins) or ("GDCM direct" if recipe.encoder == "gdcm" else "native")
    return PASS, f"{recipe.bits}-bit via {recipe.encoder}; decoded by {via}; load_xray {kind}"

