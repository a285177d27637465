"""The viewer's detail rows for one result, from that result (and its own decoded image) alone
(Qt-free; split out of ``gui.viewer``, #18)."""

from __future__ import annotations

from ..core import wording
from ..core.export import display_text
from ..core.io import XRay
from ..core.results import ERROR, REJECTED, ScanResult

#: The detail rows of the viewer, in order ("Patient" is the name, shown only on request).
DETAIL_KEYS = (
    "Threshold",
    "Reason",
    "File",
    "Format",
    "Size",
    "Modality",
    "View",
    "Patient ID",
    "Age",
    "Study date",
)


def detail_rows(
    r: ScanResult | None,
    x: XRay | None = None,
    changed: bool = False,
    age: str = "",
    card_threshold: float | None = None,
) -> dict[str, str]:
    """Every detail shown for one result, from that result (and its own decoded image) alone.

    Keys absent from the answer are hidden. Files that were not judged (unreadable, refused) get
    only their own name, format and reason. ``x`` must be the decoded image of ``r``'s file.
    """
    if r is None:
        return {}
    if x is not None and x.path != r.path:
        x = None
    judged = r.status not in (ERROR, REJECTED)
    rows: dict[str, str] = {"Result": wording.result_headline(r.label, r.probability, judged)}
    if judged and r.probability is not None:
        rows["Meaning"] = wording.PROBABILITY_MEANING
        rows["Threshold"] = threshold_line(r, card_threshold)
    reason = wording.reason_text(r.message, r.label)
    if changed and x is not None:
        reason = (
            "⚠ This file has changed since it was scanned: the result is for the earlier version, "
            "not the image shown. Scan it again."
        )
    if reason or not judged:
        rows["Reason"] = reason or "–"
    rows["File"] = display_text(r.path)  # a name that is not UTF-8: U+FFFD, not dropped
    fmt = (x.format if x else r.format) or "–"
    if x is not None and x.bit_depth:
        fmt += f", {x.bit_depth}-bit"
    if x is not None and x.transfer_syntax:
        fmt += f" ({x.transfer_syntax})"
    rows["Format"] = fmt
    if r.status in (ERROR, REJECTED):
        return rows
    w, h = (x.width, x.height) if x else (r.width, r.height)
    rows["Size"] = f"{w} × {h} pixels" if w and h else "–"
    rows["Modality"] = (x.modality if x else r.modality) or "–"
    view = (x.view_position if x else r.view_position) or ""
    body = (x.body_part if x else "") or ""
    rows["View"] = " · ".join(v for v in (view, body.title()) if v) or "–"
    is_dicom = (x.format if x else r.format) == "DICOM"
    if is_dicom:
        rows["Patient ID"] = (x.patient_id if x else r.patient_id) or wording.NOT_RECORDED
        rows["Age"] = age or "–"
        rows["Study date"] = wording.format_date((x.study_date if x else r.study_date) or "")
        rows["Patient"] = (x.patient_name if x else r.patient_name) or ""
    return rows


def threshold_line(r: ScanResult, card_threshold: float | None) -> str:
    """The threshold in force for this result and its source (one place to change)."""
    return wording.threshold_value(wording.threshold_in_force(r.threshold, card_threshold))
