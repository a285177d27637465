"""Result rows: a frozen dataclass per file, labels from a threshold, CSV and JSON export."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .card import sha256_file

OK, ERROR, REJECTED = "ok", "error", "rejected"
PNEUMONIA, NORMAL, NEEDS_REVIEW, UNREADABLE = "Pneumonia", "Normal", "Needs review", "Unreadable"
LABELS = (PNEUMONIA, NORMAL, NEEDS_REVIEW, UNREADABLE)
#: The labels that ask for a clinician's attention first ("Flagged": the table's bold labels and
#: its filter). Unreadable files are listed, not flagged: nothing was judged.
FLAGGED_LABELS = frozenset({PNEUMONIA, NEEDS_REVIEW})


def is_flagged(label: str) -> bool:
    """Whether a row with this label is flagged (the one definition; see FLAGGED_LABELS)."""
    return label in FLAGGED_LABELS


#: Error codes that depend on the file's bytes alone, so the same bytes always give the same row.
#: Others (permission, io, missing, memory, unsupported: no decoder installed, inference, internal)
#: depend on the machine or the moment and are retried on the next scan.
FILE_ERRORS = frozenset({"corrupt", "empty", "no_image", "not_image", "too_large", "too_small"})


def label_for(status: str, probability: float | None, threshold: float) -> str:
    """The label a clinician sees. Rejected images are never called Normal or Pneumonia."""
    if status == ERROR:
        return UNREADABLE
    if status == REJECTED or probability is None:
        return NEEDS_REVIEW
    return PNEUMONIA if probability >= threshold else NORMAL


@dataclass(frozen=True)
class ScanResult:
    """The outcome for one file."""

    path: str
    status: str  # ok | error | rejected
    probability: float | None  # calibrated probability of pneumonia (also for rejected images)
    label: str  # Pneumonia | Normal | Needs review | Unreadable
    message: str  # human reason for errors / rejections, empty when ok
    reason_code: str = ""  # machine-readable: corrupt, not_image, not_radiograph, out_of_distribution...
    seconds: float = 0.0  # decode + inference time attributed to this file
    model_version: str = ""
    threshold: float | None = None
    raw_probability: float | None = None
    ood_score: float | None = None
    content_hash: str = ""
    format: str = ""
    width: int | None = None
    height: int | None = None
    modality: str = ""
    view_position: str = ""
    study_date: str = ""
    patient_id: str = ""
    patient_name: str = ""  # kept only in the local store; exported only when the user opts in
    notes: str = ""
    cached: bool = False  # came from the results store, not recomputed
    study_uid: str = ""  # DICOM Study Instance UID: groups a patient's films by study (exported with patient data)
    heatmap: str = ""  # judged films: the class activation map of the scan's forward pass (core.heatmap)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def cacheable(self) -> bool:
        """Whether a rescan of the same bytes with the same model would give this row again."""
        return bool(self.content_hash) and not self.cached and (self.status != ERROR or self.reason_code in FILE_ERRORS)

    def file_changed(self) -> bool:
        """Whether the file at ``path`` no longer holds the bytes that were scanned (export folders
        reuse names; History rows can be old). False when no hash was kept; OSError if unreadable."""
        return bool(self.content_hash) and sha256_file(self.path) != self.content_hash

    def relabel(self, threshold: float) -> ScanResult:
        """The same result at another operating point (no model run)."""
        if threshold == self.threshold:
            return self
        return replace(self, threshold=threshold, label=label_for(self.status, self.probability, threshold))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


#: Columns of the CSV export, in order. Patient columns are added only on request.
CSV_COLUMNS = [
    "path", "status", "probability", "label", "message", "reason_code", "threshold", "ood_score",
    "format", "width", "height", "modality", "view_position", "study_date", "model_version",
    "seconds", "content_hash",
]
PATIENT_COLUMNS = ["patient_id", "patient_name", "study_uid"]


def summarise(results: Iterable[ScanResult]) -> dict[str, int]:
    counts = dict.fromkeys(LABELS, 0)
    for r in results:
        counts[r.label] = counts.get(r.label, 0) + 1
    counts["total"] = sum(counts[k] for k in LABELS)
    return counts
