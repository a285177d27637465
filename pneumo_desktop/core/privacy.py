"""Patient data at rest: kept out of the results store unless the user opts in, and forgettable.

- The store keeps patient names and IDs only when asked (``ResultsStore.keep_patient_data``:
  ``pneumo-scan --include-patient``). Otherwise they are blank in the stored rows; the viewer
  reads the name from the file itself when the user reveals it, and a scan that needs them for
  an export reads them back from the DICOM header (:func:`patient_fields`), not the pixels.
- :func:`forget_patient_data` blanks every stored name and ID (``pneumo-scan
  --forget-patient-data``, the app's File menu "Forget patient data").
- :func:`prune_history` deletes scans older than a number of days with their rows (the
  ``--retention-days`` option, the ``history/retention_days`` setting); cached results of files
  no longer in any scan go with them.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from typing import Any

log = logging.getLogger(__name__)

PATIENT_FIELDS = ("patient_id", "patient_name")


def without_patient(data: dict[str, Any]) -> dict[str, Any]:
    """A row's dict with its patient name and ID blanked."""
    for key in PATIENT_FIELDS:
        if data.get(key):
            data[key] = ""
    return data


def patient_fields(path: str) -> tuple[str, str]:
    """(patient id, patient name) from a DICOM file's header (no pixel data read); blanks when
    the file is not DICOM or cannot be read."""
    try:
        from pydicom import dcmread

        ds = dcmread(path, force=True, stop_before_pixels=True, specific_tags=["PatientID", "PatientName"])
    except Exception:  # a damaged header is simply no name
        log.debug("no patient fields for %s", os.path.basename(path), exc_info=True)
        return "", ""
    values = []
    for keyword in ("PatientID", "PatientName"):
        try:
            value = ds.get(keyword)
        except Exception:
            value = None
        values.append("" if value is None else str(value).strip().strip("\x00").strip())
    return values[0], values[1]


def _blank_rows(db: sqlite3.Connection, table: str, key_columns: str) -> int:
    changed = 0
    rows = db.execute(
        f"SELECT {key_columns}, data FROM {table} WHERE data LIKE '%patient_name\": \"_%' "
        "OR data LIKE '%patient_id\": \"_%'"
    ).fetchall()
    n_keys = len(key_columns.split(","))
    for row in rows:
        data = json.loads(row[n_keys])
        if not any(data.get(k) for k in PATIENT_FIELDS):
            continue
        where = " AND ".join(f"{c.strip()}=?" for c in key_columns.split(","))
        db.execute(
            f"UPDATE {table} SET data=? WHERE {where}", (json.dumps(without_patient(data)), *row[:n_keys])
        )
        changed += 1
    return changed


def forget_patient_data(db: sqlite3.Connection) -> int:
    """Blank every patient name and ID in the store (cache and History); return the rows changed.
    Freed pages are overwritten (``secure_delete``) and the WAL is checkpointed and truncated, so
    the old text does not linger in the file."""
    db.execute("PRAGMA secure_delete=ON")
    with db:
        n = _blank_rows(db, "results", "content_hash, model_sha") + _blank_rows(
            db, "scan_items", "scan_id, seq"
        )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("VACUUM")
    log.info("patient data forgotten in %d stored rows", n)
    return n


def prune_history(db: sqlite3.Connection, days: float) -> int:
    """Delete scans that started more than ``days`` ago (with their rows) and cached results not
    used by any remaining scan and older than that; return the number of scans deleted."""
    cutoff = time.time() - float(days) * 86400.0
    with db:
        old = [
            r[0]
            for r in db.execute("SELECT id FROM scans WHERE started < ? AND state != 'running'", (cutoff,))
        ]
        db.executemany("DELETE FROM scan_items WHERE scan_id=?", [(i,) for i in old])
        db.executemany("DELETE FROM scans WHERE id=?", [(i,) for i in old])
        db.execute("DELETE FROM results WHERE created < ?", (cutoff,))
    if old:
        log.info("history: %d scans older than %g days deleted", len(old), days)
    return len(old)
