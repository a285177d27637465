"""bundling.elf: dynamic data symbols and the loadable image of tiny ELF files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bundling import elf

from .conftest import make_shared_object, needs_binutils

TRUE = Path("/bin/true")


@needs_binutils
def test_data_symbol(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 3
    lib = make_shared_object(tmp_path, "libdata.so.1", "icudt99_dat", payload)
    assert elf.data_symbol(lib, r"icudt\d+_dat") == ("icudt99_dat", payload)
    assert elf.data_symbol(lib, r"nothing") is None


def test_not_elf(tmp_path: Path) -> None:
    f = tmp_path / "x.so"
    f.write_bytes(b"MZ not an ELF file")
    assert elf.data_symbol(f, ".*") is None
    assert elf.load_image(f.read_bytes()) is None
    assert elf.load_image(b"\x7fELF\x01\x01") is None  # 32-bit


@pytest.mark.skipif(not TRUE.is_file(), reason="no /bin/true")
def test_load_image_of_an_executable() -> None:
    data = TRUE.read_bytes()
    if not elf.is_elf64_le(data):
        pytest.skip("/bin/true is not ELF64 little-endian")
    segments = elf.load_image(data)
    assert segments
    for vaddr, memsz, _flags, image in segments:
        assert len(image) == memsz and vaddr >= 0


@needs_binutils
@pytest.mark.skipif(not shutil.which("strip"), reason="no strip")
def test_stripping_keeps_the_image(tmp_path: Path) -> None:
    lib = make_shared_object(tmp_path, "libx.so", "data_x", b"hello" * 100)
    stripped = tmp_path / "libx.stripped"
    subprocess.run(["strip", "-o", str(stripped), str(lib)], check=True)
    assert stripped.stat().st_size < lib.stat().st_size
    assert elf.load_image(stripped.read_bytes()) == elf.load_image(lib.read_bytes())


@needs_binutils
def test_misaligned_segment_is_refused(tmp_path: Path) -> None:
    import struct

    lib = make_shared_object(tmp_path, "liby.so", "data_y", b"y" * 64)
    data = bytearray(lib.read_bytes())
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        if struct.unpack_from("<I", data, off)[0] == elf.PT_LOAD:
            vaddr = struct.unpack_from("<Q", data, off + 16)[0]
            struct.pack_into("<Q", data, off + 16, vaddr + 1)  # offset % align != vaddr % align
            struct.pack_into("<Q", data, off + 48, 0x1000)
            break
    assert elf.load_image(bytes(data)) is None
