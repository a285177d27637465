"""bundling.icu: the ICU data package round trip, what is kept, and the rebuilt library."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bundling import elf, icu
from bundling.trim import TocEntry

from .conftest import make_shared_object, needs_binutils

ITEMS = [
    ("icudt73l/root.res", b"r" * 40),
    ("icudt73l/en.res", b"e" * 17),
    ("icudt73l/de.res", b"d" * 33),
    ("icudt73l/coll/de.res", b"c" * 5),
    ("icudt73l/coll/root.res", b"C" * 9),
    ("icudt73l/zone/en_GB.res", b"z" * 3),
    ("icudt73l/unit/en.res", b"u" * 7),
    ("icudt73l/brkitr/word.brk", b"b" * 12),
    ("icudt73l/unames.icu", b"n" * 20),
    ("icudt73l/ibm-437_P100-1995.cnv", b"s" * 100),
    ("icudt73l/ibm-943_P15A-2003.cnv", b"m" * (icu.ICU_MAX_CODEPAGE + 1)),
    ("icudt73l/cnvalias.icu", b"a" * 11),
]


def _header() -> bytes:
    """A 32-byte ICU data header: size, magic, little-endian, ASCII, format "CmnD"."""
    header = struct.pack("<HBB", 32, 0xDA, 0x27) + struct.pack("<HH", 20, 0) + bytes([0, 0, 2, 0]) + b"CmnD"
    return header + bytes([1, 0, 0, 0]) + bytes(12)


def _package(items: list[tuple[str, bytes]] = ITEMS) -> bytes:
    return icu.write_package(_header(), items)


def test_round_trip() -> None:
    header, items = icu.read_package(_package())
    assert header == _header()
    assert [n for n, _ in items] == sorted(n for n, _ in ITEMS)
    originals = dict(ITEMS)
    for name, data in items:  # items come back 16-aligned, padded with zeros
        assert data.rstrip(b"\0") == originals[name]
        assert len(data) % 16 == 0


def test_not_a_package() -> None:
    with pytest.raises(ValueError, match="not a little-endian ICU"):
        icu.read_package(b"\x20\x00\xda\x27" + bytes(8) + b"XXXX" + bytes(16))


@pytest.mark.parametrize(
    ("name", "size", "kept"),
    [
        ("icudt73l/root.res", 10, True),
        ("icudt73l/en_US_POSIX.res", 10, True),
        ("icudt73l/de.res", 10, False),
        ("icudt73l/coll/de.res", 10, False),
        ("icudt73l/coll/root.res", 10, True),
        ("icudt73l/zone/en_GB.res", 10, True),
        ("icudt73l/zone/fr.res", 10, False),
        ("icudt73l/zone/tzdbNames.res", 10, True),
        ("icudt73l/unit/en.res", 10, False),
        ("icudt73l/curr/root.res", 10, False),
        ("icudt73l/brkitr/word.brk", 10, False),
        ("icudt73l/translit/root.res", 10, False),
        ("icudt73l/unames.icu", 10, False),
        ("icudt73l/uts46.nrm", 10, False),
        ("icudt73l/rfc3491.spp", 10, False),
        ("icudt73l/confusables.cfu", 10, False),
        ("icudt73l/nfkc.nrm", 10, True),
        ("icudt73l/ibm-437_P100-1995.cnv", 4000, True),
        ("icudt73l/ibm-943_P15A-2003.cnv", 200_000, False),
        ("icudt73l/cnvalias.icu", 10, True),
        ("icudt73l/supplementalData.res", 10, True),
    ],
)
def test_keep_icu_item(name: str, size: int, kept: bool) -> None:
    assert icu.keep_icu_item(name, size) is kept


def test_trimmed_package() -> None:
    package, kept, total = icu.trimmed_package(_package())
    assert total == len(ITEMS)
    names = [n for n, _ in icu.read_package(package)[1]]
    assert names == sorted(
        ["icudt73l/root.res", "icudt73l/en.res", "icudt73l/coll/root.res", "icudt73l/zone/en_GB.res",
         "icudt73l/ibm-437_P100-1995.cnv", "icudt73l/cnvalias.icu"]
    )  # fmt: skip
    assert kept == len(names)


@needs_binutils
def test_trim_icu_data(tmp_path: Path) -> None:
    blob = _package()
    src = make_shared_object(tmp_path / "site", "libicudata.so.73", "icudt73_dat", blob)
    other = tmp_path / "site" / "libother.so"
    other.write_bytes(b"x")
    binaries: list[TocEntry] = [
        ("PySide6/Qt/lib/libicudata.so.73", str(src), "BINARY"),
        ("libicudata.so.73", "PySide6/Qt/lib/libicudata.so.73", "SYMLINK"),
        ("libother.so", str(other), "BINARY"),
    ]
    out = icu.trim_icu_data(binaries, tmp_path / "work")
    assert out[1:] == binaries[1:]
    dest, lib, typ = out[0]
    assert (dest, typ) == (binaries[0][0], "BINARY")
    assert Path(lib) == tmp_path / "work" / "icu" / "libicudata.so.73"
    symbol = elf.data_symbol(lib, r"icudt73_dat")
    assert symbol is not None
    assert symbol[1] == icu.trimmed_package(blob)[0]
    assert len(symbol[1]) < len(blob)


@needs_binutils
def test_library_without_the_symbol_is_left_alone(tmp_path: Path) -> None:
    src = make_shared_object(tmp_path, "libicudata.so.73", "something_else", b"x" * 32)
    binaries: list[TocEntry] = [("libicudata.so.73", str(src), "BINARY")]
    assert icu.trim_icu_data(binaries, tmp_path / "work") == binaries
