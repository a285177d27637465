"""What kind of file is this? Decided from the content (the first 132 bytes), never the extension.

:func:`sniff_format` recognises PNG, JPEG, TIFF, BMP and DICOM, with or without the 128-byte
preamble (old ACR-NEMA files and stripped files start straight with a data element).
"""

from __future__ import annotations

import os

#: Bytes to read for :func:`sniff_format` (the preamble, then ``DICM``).
HEAD_SIZE = 132


def sniff_format(head: bytes) -> str | None:
    """The format name for the first bytes of a file ("DICOM", "PNG", "JPEG", "TIFF", "BMP"), or
    None if it is not recognised."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "DICOM"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head.startswith(b"BM"):
        return "BMP"
    if _dicom_without_preamble(head):
        return "DICOM"
    return None


def looks_like_dicom(head: bytes) -> bool:
    """True for DICOM files, with or without the 128-byte preamble."""
    return sniff_format(head) == "DICOM"


def _dicom_without_preamble(head: bytes) -> bool:
    """A small group number (0x0002 or 0x0008 in practice) in little or big endian, followed by an
    element number, then a VR (explicit) or a plausible 4-byte length (implicit)."""
    if len(head) < 8:
        return False
    group_le = int.from_bytes(head[0:2], "little")
    group_be = int.from_bytes(head[0:2], "big")
    if group_le in (0x0002, 0x0008) or group_be in (0x0002, 0x0008):
        # Explicit VR files carry two upper-case letters as VR; implicit ones a 4-byte length.
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            return True
        length = int.from_bytes(head[4:8], "little")
        return 0 < length < 1024
    return False


def looks_like_text(head: bytes) -> bool:
    """True when the first bytes are (almost all) printable UTF-8: a text file, not an image."""
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable / len(text) > 0.95


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """The image format of ``path`` by content, or None if it is no image we can read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_SIZE)
    except OSError:
        return None
    return sniff_format(head)
