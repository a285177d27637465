"""Writing scan results to CSV and JSON files, with the review state beside each row (the results
module defines the rows and columns; review and export are imported here, so neither imports back)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .export import write_csv_rows, write_json_rows
from .results import CSV_COLUMNS, PATIENT_COLUMNS, ScanResult
from .review import CSV_COLUMNS as REVIEW_COLUMNS
from .review import csv_cells, review_key


def write_csv(
    results: Iterable[ScanResult], path: str | Path, include_patient: bool = False, reviews: Any = None
) -> int:
    """Write UTF-8 CSV (with BOM, so Excel detects the encoding) and return the number of rows.
    Atomic, owner-only, formula-safe, any file name (see :mod:`.export`). The review state
    (``reviews``: core.review's latest review per film) is in the last columns."""

    reviews = reviews or {}
    columns = CSV_COLUMNS + (PATIENT_COLUMNS if include_patient else [])

    def rows() -> Iterable[dict[str, Any]]:
        for r in results:
            d = r.to_dict()
            d.update(zip(REVIEW_COLUMNS, csv_cells(reviews.get(review_key(r))), strict=True))
            yield d

    return write_csv_rows(rows(), columns + REVIEW_COLUMNS, path)


def write_json(
    results: Iterable[ScanResult], path: str | Path, include_patient: bool = False, reviews: Any = None
) -> int:

    reviews = reviews or {}
    rows = []
    for r in results:
        d = r.to_dict()
        d.pop("heatmap", None)  # kept in the local store for the viewer and the report
        if not include_patient:
            for c in PATIENT_COLUMNS:
                d.pop(c, None)
        review = reviews.get(review_key(r))
        d["review"] = review.to_dict() if review is not None else None
        rows.append(d)
    return write_json_rows(rows, path)
