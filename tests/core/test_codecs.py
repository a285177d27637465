"""The one codecs table (core/io/codecs.py) and the three things it feeds: the loader's plugin
order, the self-test's list of syntaxes and the licence list of a build."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from pydicom import uid
from pydicom.pixels import get_decoder

from pneumo_desktop.core.io import codecs
from pneumo_desktop.core.io.codecs import CODECS, NOT_SHIPPED, PACKAGES, plugin_order, shipped_plugins
from pneumo_desktop.selftest.codecs import RECIPES, required_plugins

REPO = Path(__file__).resolve().parents[2]
#: The lossy transfer syntaxes of the DICOM standard (PS3.5 section 8 and 10) among the table's.
LOSSY = {"JPEGBaseline8Bit", "JPEGExtended12Bit", "JPEGLSNearLossless", "JPEG2000", "HTJ2K"}


def _licences_script():
    spec = importlib.util.spec_from_file_location("third_party_licenses", REPO / "scripts" / "third_party_licenses.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("third_party_licenses", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.keyword)
def test_each_codec_is_the_transfer_syntax_pydicom_knows(codec: codecs.Codec) -> None:
    ts = getattr(uid, codec.keyword)
    assert str(ts) == codec.uid and ts.is_transfer_syntax
    assert ts.is_compressed == codec.compressed
    assert codec.lossy == (codec.keyword in LOSSY)
    available = get_decoder(ts).available_plugins
    for plugin in shipped_plugins(codec):  # what the app ships is installed with the app
        assert plugin in available, (codec.keyword, plugin, available)


def test_the_loader_tries_plugins_in_the_order_of_the_table() -> None:
    assert plugin_order(uid.JPEG2000Lossless) == ("pylibjpeg", "gdcm", "pillow")
    assert plugin_order(uid.JPEGLSNearLossless) == ("pyjpegls", "gdcm", "pylibjpeg")
    assert plugin_order(uid.JPEGBaseline8Bit) == ("gdcm", "pillow", "pylibjpeg")
    assert plugin_order(uid.JPEGExtended12Bit) == ("gdcm", "pillow", "pylibjpeg")  # then GDCM directly
    assert plugin_order(uid.JPEGLosslessSV1) == ("gdcm", "pylibjpeg")
    assert plugin_order(uid.RLELossless) == ("pylibjpeg", "pydicom")
    assert plugin_order(uid.ExplicitVRLittleEndian) == ()
    assert plugin_order("1.2.3.4") == ()
    from pneumo_desktop.core.io import dicom_decode

    assert dicom_decode.plugin_order is plugin_order  # the loader reads this table, not a copy


def test_the_self_test_checks_every_codec_of_the_table() -> None:
    keywords = [c.keyword for c in CODECS]
    assert set(RECIPES) <= set(keywords)
    for codec in CODECS:
        recipe = RECIPES.get(codec.keyword)
        if recipe is not None:
            assert (recipe.max_error > 0) == codec.lossy, codec.keyword
    # what the self-test requires of each syntax is what the app ships (one documented exception)
    assert required_plugins(codecs.BY_KEYWORD["JPEG2000"]) == ("pylibjpeg", "gdcm", "pillow")
    assert required_plugins(codecs.BY_KEYWORD["RLELossless"]) == ("pydicom",)
    assert required_plugins(codecs.BY_KEYWORD["JPEGExtended12Bit"]) == ()  # GDCM directly


def test_shipped_packages_are_dependencies_and_the_gpl_decoder_is_not() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = {re.split(r"[<>=!;\[ ]", d, maxsplit=1)[0].lower() for d in deps}
    assert set(codecs.shipped_packages()) <= names
    assert not set(NOT_SHIPPED) & names
    assert "pylibjpeg-libjpeg" in NOT_SHIPPED and PACKAGES["pylibjpeg-libjpeg"].licence.startswith("GPL")


@pytest.mark.parametrize("name", sorted(codecs.shipped_packages()))
def test_table_licences_agree_with_the_installed_packages(name: str) -> None:
    script = _licences_script()
    declared = script.licence_of(metadata.distribution(name))
    first = re.split(r"\s+(?:AND|OR|WITH)\s+", PACKAGES[name].licence)[0]
    assert first.split("-")[0].lower() in declared.lower(), (name, first, declared)


def test_the_licence_list_summarises_the_decoders_and_refuses_gpl(monkeypatch) -> None:
    script = _licences_script()
    dists = [metadata.distribution(n) for n in ("pydicom", "pylibjpeg-openjpeg", "python-gdcm", "numpy")]
    text = script.render(dists)
    assert "DICOM image decoders in this build" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("pylibjpeg-openjpeg ") and "JPEG2000" in x)
    assert PACKAGES["pylibjpeg-openjpeg"].licence in line and "HTJ2K" in line
    assert script.check_codecs(dists) == ["pillow", "pyjpegls", "pylibjpeg"]  # missing from this "build"

    class _Gpl:
        metadata = {"Name": "pylibjpeg-libjpeg"}

    with pytest.raises(ValueError, match="pylibjpeg-libjpeg"):
        script.check_codecs([*dists, _Gpl()])
