"""Stripping symbol tables and debug sections from the built folder's ELF files (Linux).

TensorFlow's libraries alone carry ~250 MB of symbols; but not with PyInstaller's strip=True:
stripping some of the libraries that auditwheel repaired with patchelf (numpy's OpenBLAS, for one)
breaks them ("ELF load command address/offset not page-aligned"). So every stripped copy is checked
to load exactly the same bytes at the same addresses as the original (:func:`bundling.elf.load_image`)
before it replaces it; the frozen self-test loads every library that matters.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .elf import load_image

log = logging.getLogger(__name__)

TOOLS = ("strip", "llvm-strip")


@dataclass(frozen=True)
class StripResult:
    saved: int  # bytes
    stripped: tuple[str, ...]  # file names
    kept: tuple[str, ...]  # file names left as they were: no stripped copy loads the same


def needs_strip(f: Path) -> bool:
    """True for an ELF file with a symbol table or debug sections."""
    with open(f, "rb") as fh:
        if fh.read(4) != b"\x7fELF":
            return False
    sections = subprocess.run(["readelf", "-S", "-W", str(f)], capture_output=True, text=True).stdout
    return ".symtab" in sections or ".debug_" in sections


def strip_file(f: Path, tools: Sequence[str]) -> int | None:
    """Strip ``f`` in place with the first tool whose copy loads the same; bytes saved, or None."""
    original = f.read_bytes()
    image = load_image(original)
    tmp = f.with_name(f.name + ".stripped")
    try:
        for tool in tools:
            subprocess.run([tool, "-o", str(tmp), str(f)], check=True)
            if image is not None and load_image(tmp.read_bytes()) == image:
                saved = len(original) - tmp.stat().st_size
                shutil.copymode(f, tmp)
                os.replace(tmp, f)
                return saved
        return None
    finally:
        tmp.unlink(missing_ok=True)


def strip_symbols(folder: Path, tools: Sequence[str] | None = None) -> StripResult:
    """Strip the symbol tables and debug sections of the ELF files (``*.so*``) under ``folder``.

    GNU strip first, then llvm-strip, which lays out some patchelf-repaired files correctly where
    GNU strip does not.
    """
    if tools is None:
        tools = [t for t in TOOLS if shutil.which(t)]
    saved, stripped, kept = 0, [], []
    for f in sorted(Path(folder).rglob("*.so*")):
        if f.is_symlink() or not f.is_file() or not needs_strip(f):
            continue
        result = strip_file(f, tools)
        if result is None:
            kept.append(f.name)
        else:
            saved += result
            stripped.append(f.name)
    log.info("stripped symbols: %.0f MB saved; left as they were (no stripped copy loads the same): %s",
             saved / 2**20, ", ".join(kept) or "none")  # fmt: skip
    return StripResult(saved, tuple(stripped), tuple(kept))
