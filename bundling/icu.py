"""Qt's ICU data, rebuilt without what Qt never reads (Linux).

PySide6's Qt for Linux links ICU 73, whose data library (libicudata.so.73) is 31 MB. Qt 6 uses ICU
for collation (QCollator: QFileDialog's sorting), time-zone names (QTimeZone), case mapping
(QLocale::toUpper, data compiled into libicuuc) and legacy text codecs (QStringConverter); it has
its own CLDR tables for everything else QLocale does, and its own text segmentation and IDNA. So the
data is rebuilt without what Qt never reads: the display names of units, currencies, languages and
regions, transliteration, spelled-out numbers, break iterators and their dictionaries,
StringPrep/IDNA/confusables/character-name tables, multi-byte (East Asian) legacy code pages, and the
collation, time-zone-name and locale bundles of languages other than English. ICU falls back to its
root data for those (root collation order; English time-zone names), as for any locale it has no
data for. Kept: everything else, checked with a QCollator/QTimeZone/QLocale/QStringDecoder
comparison against the complete data (identical for English and C).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

from . import elf
from .collect import posix
from .config import BuildError
from .trim import TocEntry

log = logging.getLogger(__name__)

ICU_DROP_TREES = {"unit", "curr", "lang", "region", "translit", "rbnf", "brkitr"}
ICU_LOCALE_TREES = {"", "coll", "zone"}  # "" = the top level
ICU_LOCALE_BUNDLE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]*)*\.res$")
ICU_KEEP_LOCALES = {
    "root.res", "res_index.res", "pool.res",
    "en.res", "en_001.res", "en_150.res", "en_GB.res", "en_US.res", "en_US_POSIX.res",
}  # fmt: skip
ICU_DROP_TOP = re.compile(r"\.(spp|cfu)$|^(unames|ulayout|uemoji)\.icu$|^uts46\.nrm$")
ICU_MAX_CODEPAGE = 16 * 1024  # single-byte code pages (3-4 KB each) stay; multi-byte ones are 15-550 KB
LIBRARY = re.compile(r"libicudata\.so\.\d+")
SYMBOL = r"icudt\d+_dat"

Item = tuple[str, bytes]


def keep_icu_item(name: str, size: int) -> bool:
    """Whether Qt may read the package item ``name`` ("icudt73l/coll/de.res") of ``size`` bytes."""
    rel = name.split("/", 1)[1]  # "icudt73l/coll/de.res" -> "coll/de.res"
    tree, _, leaf = rel.rpartition("/")
    if tree in ICU_DROP_TREES:
        return False
    if tree == "" and (ICU_DROP_TOP.search(leaf) or (leaf.endswith(".cnv") and size > ICU_MAX_CODEPAGE)):
        return False
    if tree in ICU_LOCALE_TREES and ICU_LOCALE_BUNDLE.match(leaf):
        return leaf in ICU_KEEP_LOCALES
    return True


def read_package(blob: bytes) -> tuple[bytes, list[Item]]:
    """Header and (name, bytes) items of an ICU common data package (format "CmnD")."""
    header_size = struct.unpack_from("<H", blob, 0)[0]
    if blob[2:4] != b"\xda\x27" or blob[12:16] != b"CmnD" or blob[8] != 0:
        raise ValueError("not a little-endian ICU common data package")
    count = struct.unpack_from("<I", blob, header_size)[0]
    toc = [struct.unpack_from("<II", blob, header_size + 4 + 8 * i) for i in range(count)]
    items = []
    for i, (name_off, data_off) in enumerate(toc):
        start = header_size + name_off
        end = header_size + toc[i + 1][1] if i + 1 < count else len(blob)
        items.append(
            (blob[start : blob.index(b"\0", start)].decode("ascii"), blob[header_size + data_off : end])
        )
    return blob[:header_size], items


def write_package(header: bytes, items: list[Item]) -> bytes:
    """The inverse of :func:`read_package`: names sorted (ICU looks items up by binary search), 16-aligned."""
    items = sorted(items, key=lambda item: item[0].encode("ascii"))
    names = b"".join(name.encode("ascii") + b"\0" for name, _ in items)
    toc_size = 4 + 8 * len(items)
    body_start = (toc_size + len(names) + 15) & ~15
    entries, body, name_off = [], bytearray(), toc_size
    for name, data in items:
        entries.append(struct.pack("<II", name_off, body_start + len(body)))
        name_off += len(name) + 1
        body += data + b"\0" * (-len(data) % 16)
    toc = struct.pack("<I", len(items)) + b"".join(entries) + names
    return bytes(header) + toc + b"\0" * (body_start - len(toc)) + bytes(body)


def trimmed_package(blob: bytes) -> tuple[bytes, int, int]:
    """(the package without what Qt never reads, items kept, items before); checked to read back."""
    header, items = read_package(blob)
    kept = [(n, d) for n, d in items if keep_icu_item(n, len(d))]
    package = write_package(header, kept)
    if [n for n, _ in read_package(package)[1]] != sorted(n for n, _ in kept):
        raise BuildError("the trimmed ICU data package does not read back")
    return package, len(kept), len(items)


def build_library(symbol: str, package: bytes, name: str, folder: Path) -> Path:
    """A shared library ``folder/name`` (soname ``name``) whose data symbol ``symbol`` is ``package``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "icudata.dat").write_bytes(package)
    (folder / "icudata.S").write_text(
        f"    .section .rodata\n    .globl {symbol}\n    .type {symbol}, @object\n    .balign 16\n{symbol}:\n"
        f'    .incbin "{folder / "icudata.dat"}"\n    .size {symbol}, . - {symbol}\n'
        '    .section .note.GNU-stack,"",@progbits\n',
        encoding="utf-8",
    )
    lib = folder / name
    subprocess.run(["as", "-o", str(folder / "icudata.o"), str(folder / "icudata.S")], check=True)
    subprocess.run(["ld", "-shared", "-soname", name, "-z", "noexecstack", "-o", str(lib),
                    str(folder / "icudata.o")], check=True)  # fmt: skip
    if elf.data_symbol(lib, re.escape(symbol)) != (symbol, package):
        raise BuildError(f"{lib} does not hold the trimmed ICU data")
    return lib


def trim_icu_data(binaries: list[TocEntry], work: Path) -> list[TocEntry]:
    """Replace PySide6's libicudata.so.NN with one holding only the ICU data Qt reads (see above)."""
    if not (shutil.which("as") and shutil.which("ld")):
        log.warning("ICU data not trimmed: binutils (as, ld) not found")
        return binaries
    out = []
    for dest, src, typ in binaries:
        name = os.path.basename(posix(dest))
        if typ == "SYMLINK" or not LIBRARY.fullmatch(name):
            out.append((dest, src, typ))
            continue
        found = elf.data_symbol(src, SYMBOL)
        if found is None:
            log.warning("ICU data not trimmed: no icudt*_dat symbol in %s", src)
            out.append((dest, src, typ))
            continue
        symbol, blob = found
        package, kept, total = trimmed_package(blob)
        lib = build_library(symbol, package, name, Path(work) / "icu")
        log.info("ICU data: kept %d of %d items, %.1f of %.1f MB", kept, total,
                 len(package) / 2**20, len(blob) / 2**20)  # fmt: skip
        out.append((dest, str(lib), typ))
    return out
