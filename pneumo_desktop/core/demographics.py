"""The patient's age for a DICOM study, read from its header (never from the pixels).

Ages in the wild: ``003Y``, ``018M``, ``081`` or ``81`` without a unit, empty; birth dates
``19000101``, ``00000000`` or hashed. Unknown is an answer (:func:`wording.format_age`).
"""

from __future__ import annotations

import logging
import os

from .wording import NOT_RECORDED, format_age

log = logging.getLogger(__name__)

_TAGS = ["PatientAge", "PatientBirthDate", "StudyDate"]


def read_age(path: str | os.PathLike[str]) -> str:
    """The age in words for a DICOM file, "" for other files, "Not recorded" when unknown."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return ""
    if head[128:132] != b"DICM" and not head.startswith(b"\x08\x00"):
        return ""
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS, force=True)
        return format_age(
            str(ds.get("PatientAge", "") or ""),
            str(ds.get("PatientBirthDate", "") or ""),
            str(ds.get("StudyDate", "") or ""),
        )
    except Exception:  # a damaged header: the age is simply not known
        log.debug("no age read from %s", path, exc_info=True)
        return NOT_RECORDED
