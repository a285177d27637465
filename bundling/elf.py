"""A minimal reader of little-endian ELF64 files: one dynamic symbol's bytes, and the loadable image.

Enough for :mod:`bundling.icu` (the data symbol of Qt's libicudata) and :mod:`bundling.strip`
(whether a stripped copy loads the same bytes at the same addresses); no other ELF flavour is read.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

SHT_DYNSYM = 11
PT_LOAD = 1
#: A loaded segment: (virtual address, size in memory, flags, the bytes the loader maps).
Segment = tuple[int, int, int, bytes]


def is_elf64_le(data: bytes) -> bool:
    return data[:4] == b"\x7fELF" and len(data) > 5 and data[4] == 2 and data[5] == 1


def data_symbol(path: str | Path, pattern: str) -> tuple[str, bytes] | None:
    """(name, bytes) of the first dynamic symbol whose name matches ``pattern``, or None."""
    data = Path(path).read_bytes()
    if not is_elf64_le(data):
        return None
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # name, type, flags, addr, offset, size, link, info, addralign, entsize
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] != SHT_DYNSYM:
            continue
        strtab = sections[sh[6]][4]
        for off in range(sh[4], sh[4] + sh[5], 24):
            st_name, _info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", data, off)
            name = data[strtab + st_name : data.index(b"\0", strtab + st_name)].decode("ascii")
            if re.fullmatch(pattern, name) and 0 < shndx < shnum:
                sec = sections[shndx]
                start = sec[4] + value - sec[3]
                return name, data[start : start + size]
    return None


def load_image(data: bytes) -> list[Segment] | None:
    """The PT_LOAD segments of an ELF64 little-endian file, or None (not one, or not loadable)."""
    if not is_elf64_le(data):
        return None
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segments = []
    for i in range(phnum):
        p_type, flags, offset, vaddr, _paddr, filesz, memsz, align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize
        )
        if p_type != PT_LOAD:
            continue
        if (align > 1 and offset % align != vaddr % align) or offset + filesz > len(data):
            return None  # the dynamic loader would refuse it
        # What the loader maps: the file bytes, then zeros up to memsz; without the fields that only
        # say where things are in the file, which stripping may change: the ELF header's e_shoff,
        # e_shnum and e_shstrndx, and the program headers (compared as the segments themselves).
        image = bytearray(data[offset : offset + filesz].ljust(memsz, b"\0"))
        for start, end in ((0x28, 0x30), (0x3C, 0x40), (phoff, phoff + phnum * phentsize)):
            lo, hi = max(start, offset), min(end, offset + filesz)
            if lo < hi:
                image[lo - offset : hi - offset] = bytes(hi - lo)
        segments.append((vaddr, memsz, flags, bytes(image)))
    return segments
