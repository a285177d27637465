"""Helpers for the build-logic tests: tiny ELF shared objects made with binutils, in the test."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

BINUTILS = bool(shutil.which("as") and shutil.which("ld"))
needs_binutils = pytest.mark.skipif(not BINUTILS, reason="binutils (as, ld) not found")


def make_shared_object(
    folder: Path, name: str, symbol: str, payload: bytes, keep_symbols: bool = True
) -> Path:
    """A tiny ELF shared object (soname ``name``) exporting ``symbol`` whose bytes are ``payload``."""
    folder.mkdir(parents=True, exist_ok=True)
    lib = folder / name
    with tempfile.TemporaryDirectory() as scratch:
        _assemble(Path(scratch), lib, symbol, payload)
    if not keep_symbols:
        subprocess.run(["strip", str(lib)], check=True)
    return lib


def _assemble(scratch: Path, lib: Path, symbol: str, payload: bytes) -> None:
    dat = scratch / "payload.dat"
    dat.write_bytes(payload)
    src = scratch / "lib.S"
    src.write_text(
        f"    .section .rodata\n    .globl {symbol}\n    .type {symbol}, @object\n    .balign 16\n{symbol}:\n"
        f'    .incbin "{dat}"\n    .size {symbol}, . - {symbol}\n'
        "    .text\n    .globl f\n    .type f, @function\nf:\n    ret\n"
        '    .section .note.GNU-stack,"",@progbits\n',
        encoding="utf-8",
    )
    obj = scratch / "lib.o"
    subprocess.run(["as", "-o", str(obj), str(src)], check=True)
    subprocess.run(["ld", "-shared", "-soname", lib.name, "-o", str(lib), str(obj)], check=True)
