"""THE codecs table: which DICOM transfer syntaxes the app reads, which decoder (and which Python
package) decodes each, and under which licence that package is shipped.

It is plain data (importing it imports neither pydicom nor any decoder) and it feeds:

* the loader (:mod:`pneumo_desktop.core.io.dicom_decode`): the order in which pydicom's decoding
  plugins are tried for each syntax (:func:`plugin_order`);
* the self-test (:mod:`pneumo_desktop.selftest.codecs`): every syntax listed here is encoded, decoded
  by every plugin the app ships for it (:func:`shipped_plugins`) and loaded with ``load_xray``;
* the licence list of a build (``scripts/third_party_licenses.py``): the decoder packages, their
  licences, and the packages that must never be bundled (:data:`NOT_SHIPPED`).

All the decoders we ship have permissive licences: pydicom's own decoders (native, deflate, RLE),
pylibjpeg + pylibjpeg-openjpeg (JPEG 2000, HTJ2K), pyjpegls (JPEG-LS), python-gdcm (JPEG lossless,
JPEG-LS, JPEG 2000, JPEG baseline/extended) and Pillow (JPEG baseline, JPEG 2000). The GPL-licensed
pylibjpeg-libjpeg (and the optional pylibjpeg-rle) are used when a user installs them, but never
shipped. pydicom's plugins refuse 12-bit JPEG Extended (process 4), which GDCM itself decodes
correctly: the loader hands that one case to GDCM directly (decoder :data:`GDCM_DIRECT`).

=============================================  ================================================
Transfer syntax                                Decoders, in the order tried (only installed ones)
=============================================  ================================================
Implicit/explicit VR LE, explicit VR BE        numpy (pydicom native)
Deflated explicit VR LE                        zlib + numpy (pydicom native)
RLE Lossless                                   pylibjpeg-rle if installed, pydicom built-in
JPEG Baseline (process 1)                      gdcm, Pillow, (pylibjpeg-libjpeg)
JPEG Extended (process 2 and 4)                gdcm, Pillow (8-bit), (pylibjpeg-libjpeg);
                                               GDCM directly (12-bit)
JPEG Lossless process 14 and SV1               gdcm, (pylibjpeg-libjpeg)
JPEG-LS lossless and near-lossless             pyjpegls, gdcm, (pylibjpeg-libjpeg)
JPEG 2000 lossless and lossy                   pylibjpeg-openjpeg, gdcm, Pillow
HTJ2K                                          pylibjpeg-openjpeg
=============================================  ================================================
"""

from __future__ import annotations

from dataclasses import dataclass

#: The decoder label of pydicom's native (uncompressed) path: ``decoding_plugin=""``.
NATIVE = ""
#: Not a pydicom plugin: our own call into GDCM for 12-bit JPEG Extended (see dicom_decode).
GDCM_DIRECT = "gdcm-direct"


@dataclass(frozen=True)
class Package:
    """A Python distribution that decodes pixel data."""

    name: str  # distribution name, as pip and importlib.metadata know it
    licence: str  # SPDX expression (of the package and the library it wraps)
    shipped: bool = True  # False: used when installed, never bundled (GPL, or simply not needed)


@dataclass(frozen=True)
class Decoder:
    """One way to decode a transfer syntax: a pydicom decoding plugin (or NATIVE / GDCM_DIRECT)
    and the packages it needs."""

    plugin: str
    packages: tuple[str, ...]

    @property
    def shipped(self) -> bool:
        return all(PACKAGES[p].shipped for p in self.packages)

    @property
    def is_pydicom_plugin(self) -> bool:
        return self.plugin not in (NATIVE, GDCM_DIRECT)


@dataclass(frozen=True)
class Codec:
    """One transfer syntax the app reads, with its decoders in the order the loader tries them."""

    keyword: str  # the pydicom.uid attribute, e.g. "JPEG2000Lossless"
    uid: str
    decoders: tuple[Decoder, ...]
    lossy: bool = False

    @property
    def compressed(self) -> bool:
        return not any(d.plugin == NATIVE for d in self.decoders)


PACKAGES: dict[str, Package] = {
    p.name: p
    for p in (
        Package("numpy", "BSD-3-Clause"),
        Package("pydicom", "MIT"),
        Package("pylibjpeg", "MIT"),
        Package("pylibjpeg-openjpeg", "MIT AND BSD-2-Clause"),  # OpenJPEG is BSD-2
        Package("pyjpegls", "MIT AND BSD-3-Clause"),  # CharLS is BSD-3
        Package("python-gdcm", "Apache-2.0 AND BSD-3-Clause"),  # the wheel is Apache-2.0, GDCM is BSD-3
        Package("pillow", "MIT-CMU"),
        Package("pylibjpeg-libjpeg", "GPL-3.0-only", shipped=False),
        Package("pylibjpeg-rle", "MIT", shipped=False),
    )
}

_NATIVE = Decoder(NATIVE, ("pydicom", "numpy"))
_RLE_PYLIBJPEG = Decoder("pylibjpeg", ("pylibjpeg", "pylibjpeg-rle"))
_RLE_PYDICOM = Decoder("pydicom", ("pydicom",))
_GDCM = Decoder("gdcm", ("python-gdcm",))
_PILLOW = Decoder("pillow", ("pillow",))
_LIBJPEG = Decoder("pylibjpeg", ("pylibjpeg", "pylibjpeg-libjpeg"))
_OPENJPEG = Decoder("pylibjpeg", ("pylibjpeg", "pylibjpeg-openjpeg"))
_JPEGLS = Decoder("pyjpegls", ("pyjpegls",))
_GDCM_DIRECT = Decoder(GDCM_DIRECT, ("python-gdcm",))

CODECS: tuple[Codec, ...] = (
    Codec("ImplicitVRLittleEndian", "1.2.840.10008.1.2", (_NATIVE,)),
    Codec("ExplicitVRLittleEndian", "1.2.840.10008.1.2.1", (_NATIVE,)),
    Codec("ExplicitVRBigEndian", "1.2.840.10008.1.2.2", (_NATIVE,)),
    Codec("DeflatedExplicitVRLittleEndian", "1.2.840.10008.1.2.1.99", (_NATIVE,)),
    Codec("RLELossless", "1.2.840.10008.1.2.5", (_RLE_PYLIBJPEG, _RLE_PYDICOM)),
    Codec("JPEGBaseline8Bit", "1.2.840.10008.1.2.4.50", (_GDCM, _PILLOW, _LIBJPEG), lossy=True),
    Codec("JPEGExtended12Bit", "1.2.840.10008.1.2.4.51", (_GDCM, _PILLOW, _LIBJPEG, _GDCM_DIRECT), lossy=True),
    Codec("JPEGLossless", "1.2.840.10008.1.2.4.57", (_GDCM, _LIBJPEG)),
    Codec("JPEGLosslessSV1", "1.2.840.10008.1.2.4.70", (_GDCM, _LIBJPEG)),
    Codec("JPEGLSLossless", "1.2.840.10008.1.2.4.80", (_JPEGLS, _GDCM, _LIBJPEG)),
    Codec("JPEGLSNearLossless", "1.2.840.10008.1.2.4.81", (_JPEGLS, _GDCM, _LIBJPEG), lossy=True),
    Codec("JPEG2000Lossless", "1.2.840.10008.1.2.4.90", (_OPENJPEG, _GDCM, _PILLOW)),
    Codec("JPEG2000", "1.2.840.10008.1.2.4.91", (_OPENJPEG, _GDCM, _PILLOW), lossy=True),
    Codec("HTJ2KLossless", "1.2.840.10008.1.2.4.201", (_OPENJPEG,)),
    Codec("HTJ2KLosslessRPCL", "1.2.840.10008.1.2.4.202", (_OPENJPEG,)),
    Codec("HTJ2K", "1.2.840.10008.1.2.4.203", (_OPENJPEG,), lossy=True),
)

BY_UID: dict[str, Codec] = {c.uid: c for c in CODECS}
BY_KEYWORD: dict[str, Codec] = {c.keyword: c for c in CODECS}


def plugin_order(uid: str) -> tuple[str, ...]:
    """pydicom decoding plugins for ``uid`` in the order the loader tries them (shipped or not:
    a plugin a user installed is used too); empty for an unknown or uncompressed syntax."""
    codec = BY_UID.get(str(uid))
    if codec is None:
        return ()
    return tuple(dict.fromkeys(d.plugin for d in codec.decoders if d.is_pydicom_plugin))


def shipped_plugins(codec: Codec) -> tuple[str, ...]:
    """The pydicom plugins the app ships for ``codec``: each must decode it (the self-test checks)."""
    return tuple(dict.fromkeys(d.plugin for d in codec.decoders if d.is_pydicom_plugin and d.shipped))


def shipped_packages() -> tuple[str, ...]:
    """The decoder packages a build must bundle (with their metadata: pylibjpeg finds its plugins
    through entry points), sorted."""
    names = {p for c in CODECS for d in c.decoders if d.shipped for p in d.packages}
    return tuple(sorted(names))


#: Packages that a build must never bundle (licence or policy), sorted.
NOT_SHIPPED: tuple[str, ...] = tuple(sorted(p.name for p in PACKAGES.values() if not p.shipped))


def uses(package: str) -> tuple[str, ...]:
    """The keywords of the transfer syntaxes that ``package`` helps decode in a build (shipped
    decoders only), for the licence list."""
    return tuple(c.keyword for c in CODECS if any(d.shipped and package in d.packages for d in c.decoders))
