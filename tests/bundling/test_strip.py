"""bundling.strip: symbol tables go when the stripped copy loads the same bytes."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from bundling import elf
from bundling.strip import needs_strip, strip_file, strip_symbols

from .conftest import make_shared_object, needs_binutils

pytestmark = [needs_binutils, pytest.mark.skipif(not shutil.which("readelf"), reason="no readelf")]


def test_strip_symbols(tmp_path: Path) -> None:
    folder = tmp_path / "_internal"
    lib = make_shared_object(folder / "pkg", "libdata.so.1", "data_sym", b"d" * 500)
    lib.chmod(0o755)
    image = elf.load_image(lib.read_bytes())
    size = lib.stat().st_size
    stripped_already = make_shared_object(folder, "libclean.so", "clean_sym", b"c" * 50, keep_symbols=False)
    (folder / "libfake.so.2").write_bytes(b"not an ELF file")
    (folder / "libalias.so").symlink_to(lib)
    assert needs_strip(lib) and not needs_strip(stripped_already) and not needs_strip(folder / "libfake.so.2")

    result = strip_symbols(folder)
    assert result.stripped == ("libdata.so.1",) and result.kept == ()
    assert result.saved == size - lib.stat().st_size > 0
    assert elf.load_image(lib.read_bytes()) == image
    assert not needs_strip(lib)
    assert stat.S_IMODE(lib.stat().st_mode) == 0o755
    assert (folder / "libfake.so.2").read_bytes() == b"not an ELF file"
    assert not list(folder.rglob("*.stripped"))


def test_a_copy_that_loads_differently_is_not_used(tmp_path: Path) -> None:
    lib = make_shared_object(tmp_path, "libz.so", "z_sym", b"z" * 100)
    original = lib.read_bytes()
    fake = tmp_path / "fake-strip"
    # A "strip" that writes a non-ELF file: its copy never loads the same, so the file stays as it was.
    fake.write_text('#!/bin/sh\nprintf broken > "$2"\n')
    fake.chmod(0o755)
    assert strip_file(lib, [str(fake)]) is None
    assert lib.read_bytes() == original
    assert not (tmp_path / "libz.so.stripped").exists()
    result = strip_symbols(tmp_path, [str(fake)])
    assert result.kept == ("libz.so",) and result.saved == 0
