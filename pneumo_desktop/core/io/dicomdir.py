"""DICOMDIR: the index on a CD or USB stick written by an X-ray machine or a PACS.

Opening a DICOMDIR file, or a folder (a drive) holding one at its root, scans exactly the image
instances it references: structured reports, presentation states, key object selections and other
records that hold no image are skipped without a row. The DICOMDIR is read with pydicom's
``dcmread`` and its record tree walked here; a DICOMDIR that cannot be read leaves the folder to be
scanned file by file, as any folder (a log line says why).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DICOMDIR_NAME = "DICOMDIR"
#: Media Storage Directory Storage: the SOP class of a DICOMDIR file.
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
#: Directory record types that reference a single image (the others, SR DOCUMENT, PRESENTATION,
#: KEY OBJECT DOC, WAVEFORM, RT PLAN..., hold no film to judge).
IMAGE_RECORD_TYPES = frozenset({"IMAGE"})


@dataclass(frozen=True)
class DicomdirImage:
    """One image instance referenced by a DICOMDIR, with its place in the patient/study tree."""

    path: str
    patient_id: str = ""
    study_uid: str = ""
    study_date: str = ""
    series_uid: str = ""
    sop_class_uid: str = ""
    sop_instance_uid: str = ""


def find_dicomdir(path: str | os.PathLike[str]) -> Path | None:
    """The DICOMDIR that ``path`` names (the file itself or one at a folder's root), else None.

    On a CD (ISO 9660) the name can come back in lower case, so the name is matched without case.
    """
    p = Path(path)
    try:
        if p.is_file():
            return p if p.name.upper() == DICOMDIR_NAME and _is_dicomdir(p) else None
        if p.is_dir():
            with os.scandir(p) as entries:
                for entry in entries:
                    if entry.name.upper() == DICOMDIR_NAME and entry.is_file():
                        candidate = Path(entry.path)
                        return candidate if _is_dicomdir(candidate) else None
    except OSError:
        return None
    return None


def _is_dicomdir(path: Path) -> bool:
    """Whether the file's meta header says Media Storage Directory (read without the records)."""
    try:
        from pydicom import dcmread

        meta = dcmread(path, stop_before_pixels=True, specific_tags=["MediaStorageSOPClassUID"]).file_meta
    except Exception:  # anything unreadable is simply not a DICOMDIR we can use
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY


def read_dicomdir(path: str | os.PathLike[str]) -> list[DicomdirImage]:
    """The image instances a DICOMDIR references, in its own order (patient, study, series).

    The record tree (PATIENT > STUDY > SERIES > IMAGE, linked by offsets) is walked here rather
    than through :class:`pydicom.fileset.FileSet`, which silently drops records whose file is
    missing and cannot find files on a CD mounted with lower-case names. A referenced file that
    is missing from the medium is still listed: its scan row then says "File not found".
    Raises ``ValueError`` when the DICOMDIR cannot be read.
    """
    from pydicom import dcmread

    try:
        ds = dcmread(path)
        records = {int(r.seq_item_tell): r for r in ds.DirectoryRecordSequence}
        first = int(ds.get("OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity") or 0)
    except Exception as exc:  # pydicom raises many types for a damaged DICOMDIR
        raise ValueError(f"the DICOMDIR cannot be read ({type(exc).__name__})") from exc
    root = Path(path).parent
    leaves: list[tuple[Any, dict[str, str]]] = []  # (directory record, its context)
    seen: set[int] = set()

    def walk(offset: int, context: dict[str, str]) -> None:
        while offset and offset in records and offset not in seen:  # `seen`: no loop on a bad file
            seen.add(offset)
            record = records[offset]
            here = {**context, **_context_of(record)}
            if "ReferencedFileID" in record:
                leaves.append((record, here))
            lower = int(record.get("OffsetOfReferencedLowerLevelDirectoryEntity") or 0)
            if lower:
                walk(lower, here)
            offset = int(record.get("OffsetOfTheNextDirectoryRecord") or 0)

    walk(first, {})
    if not leaves:  # offsets missing (some writers): take the records in their written order
        context: dict[str, str] = {}
        for record in records.values():
            context = {**context, **_context_of(record)}
            if "ReferencedFileID" in record:
                leaves.append((record, context))
    images: list[DicomdirImage] = []
    skipped: dict[str, int] = {}
    for record, ctx in leaves:
        record_type = str(record.get("DirectoryRecordType", "")).strip().upper()
        sop_class = _text(record, "ReferencedSOPClassUIDInFile")
        if record_type not in IMAGE_RECORD_TYPES or not _is_image_class(sop_class):
            skipped[record_type or "untyped"] = skipped.get(record_type or "untyped", 0) + 1
            continue
        file_id = record.ReferencedFileID
        parts = [str(file_id)] if isinstance(file_id, str) else [str(c) for c in file_id]
        images.append(
            DicomdirImage(
                path=_existing_case(str(root.joinpath(*parts))),
                patient_id=ctx.get("PatientID", ""),
                study_uid=ctx.get("StudyInstanceUID", ""),
                study_date=ctx.get("StudyDate", ""),
                series_uid=ctx.get("SeriesInstanceUID", ""),
                sop_class_uid=sop_class,
                sop_instance_uid=_text(record, "ReferencedSOPInstanceUIDInFile"),
            )
        )
    log.info(
        "DICOMDIR: %d image(s)%s",
        len(images),
        "; skipped " + ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items())) if skipped else "",
    )
    return images


_CONTEXT = {
    "PATIENT": ("PatientID",),
    "STUDY": ("StudyInstanceUID", "StudyDate"),
    "SERIES": ("SeriesInstanceUID",),
}


def _context_of(record: Any) -> dict[str, str]:  # a pydicom Dataset (directory record)
    """The grouping values a PATIENT, STUDY or SERIES record sets for the records below it."""
    kind = str(record.get("DirectoryRecordType", "")).strip().upper()
    return {kw: _text(record, kw) for kw in _CONTEXT.get(kind, ())}


def _text(record: Any, keyword: str) -> str:  # a pydicom Dataset (directory record)
    try:
        value = record.get(keyword)
    except Exception:  # a badly encoded value in one record must not stop the others
        return ""
    return "" if value is None else str(value).strip()


def _is_image_class(sop_class_uid: str) -> bool:
    """True for image storage SOP classes, and for unknown (private) classes on an IMAGE record."""
    if not sop_class_uid:
        return True
    from pydicom.uid import UID

    name = UID(sop_class_uid).name
    if name == sop_class_uid:  # not in pydicom's dictionary: trust the record type
        return True
    return "Image" in name and "Storage" in name


def _existing_case(path: str) -> str:
    """``path`` as it exists on disk when only the letter case differs (a CD mounted with
    lower-case names), otherwise unchanged."""
    if os.path.exists(path):
        return path
    p = Path(path)
    parts = p.parts
    current = Path(parts[0])
    for part in parts[1:]:
        candidate = current / part
        if not candidate.exists():
            try:
                match = next((e.name for e in os.scandir(current) if e.name.upper() == part.upper()), None)
            except OSError:
                return path
            if match is None:
                return path
            candidate = current / match
        current = candidate
    return str(current)


def expand_dicomdirs(paths: Iterable[str | os.PathLike[str]]) -> list[str | os.PathLike[str]]:
    """Replace each DICOMDIR (or folder with one at its root) by the image files it references.

    Other paths pass through unchanged. A DICOMDIR that cannot be read leaves its path as given
    (a folder is then scanned file by file).
    """
    out: list[str | os.PathLike[str]] = []
    for p in paths:
        dicomdir = find_dicomdir(p)
        if dicomdir is None:
            out.append(p)
            continue
        try:
            images = read_dicomdir(dicomdir)
        except ValueError as exc:
            log.warning("%s; its folder is scanned file by file instead", exc)
            out.append(p if Path(p).is_dir() else dicomdir.parent)
            continue
        out.extend(i.path for i in images)
    return out
