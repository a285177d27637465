"""Site calibration: a clinic sets its own operating point from its own labelled films.

A threshold chosen on one hospital's films does not carry to another. A clinic scans films whose
outcome it knows (``NORMAL/`` and ``PNEUMONIA/`` folders, or a CSV of ``path,label``); the threshold
is chosen with the model card's own rule (:func:`pneumo_desktop.core.stats.threshold_for_sensitivity`
with the one-sided 95% Wilson lower bound), on the site's positives. The result is a *site
profile*, stored in the user's data folder, versioned and append-only: a new calibration adds a
new version (the latest one is the site's profile), nothing is overwritten. A profile applies only
to the model (name, version and weights sha256) it was made with.

Films the quality gate refuses, and unreadable files, take no part: they are counted and reported.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import stats
from .io import iter_image_files
from .results import ERROR, OK, REJECTED, ScanResult
from .site_profiles import ProfileStore, SiteError, SiteProfile, check_site_name, make_profile

__all__ = [  # the profiles moved to core.site_profiles (#18); their old names still work here
    "AUC_DROP_WARNING",
    "CALIBRATION_ADVICE",
    "CONFIDENCE",
    "Calibration",
    "LabelledFilm",
    "MIN_NEGATIVES",
    "ProfileStore",
    "ROC_POINTS",
    "SiteError",
    "SiteProfile",
    "calibrate",
    "card_auc",
    "check_site_name",
    "file_list_hash",
    "make_profile",
    "read_labelled",
    "scan_films",
]

#: The card's rule: the one-sided confidence of the Wilson lower bound of sensitivity.
CONFIDENCE = 0.95
#: The site's AUC this far below the card's suggests the films differ too much for this model.
AUC_DROP_WARNING = 0.05
#: Fewer normal films than this leave specificity (and so PPV) too uncertain to rely on.
MIN_NEGATIVES = 50
#: Points kept on the stored ROC curve (enough to draw it).
ROC_POINTS = 200

_POSITIVE_WORDS = {"1", "pneumonia", "positive", "pos", "yes", "true", "p"}
_NEGATIVE_WORDS = {"0", "normal", "negative", "neg", "no", "false", "n"}


#: For clinicians: when and how to calibrate, and how many films it takes (About box, dialog, README).
CALIBRATION_ADVICE = """\
Why: a threshold chosen on one hospital's films does not carry to another. Films from other X-ray \
machines, other ages or other ways of working give other probabilities, so the same threshold can \
miss more pneumonia or raise many more false alarms. Site calibration sets your own threshold from \
your own films.

When: before first use at a clinic or hospital; after new X-ray equipment or a change in who is \
screened (for example older children); and after installing a new model version (a profile made \
for another model is not applied, and the app says so).

How: gather films of children screened at your site whose outcome is known (pneumonia confirmed or \
excluded by your usual work-up). Put them in two folders, NORMAL and PNEUMONIA (or list them in a \
CSV file of path,label), and run Site calibration (Scan menu), or pneumo-scan calibrate FOLDER \
--site NAME. The app chooses the highest threshold that still finds the target share of pneumonia \
films (95% by default) with 95% confidence, using the model card's own rule, and shows the ROC curve \
and the predictive values at your prevalence. Films the quality gate refuses are not counted. Each \
calibration is kept as a new version; the latest version is used.

How many films: at least 52 pneumonia films for a 95% target (even if every one is found, fewer \
cannot show 95% sensitivity with 95% confidence), 25 for a 90% target. With 52 to 99 pneumonia \
films every one of them must be flagged, so one unusual film can set a low threshold; 200 or more \
pneumonia films let the threshold leave out the few most unusual ones (4 of 200) and give a steadier \
threshold. Add at least 100 normal films: specificity and the positive predictive value depend on \
them (with 50 normal films a 90% specificity is only known to lie between 79% and 96%)."""


# ---------------------------------------------------------------------------------------------
# Labelled films


@dataclass(frozen=True)
class LabelledFilm:
    path: str
    positive: bool  # True: pneumonia


def read_labelled(source: str | os.PathLike[str]) -> list[LabelledFilm]:
    """The films of a calibration set: a folder with ``NORMAL/`` and ``PNEUMONIA/`` subfolders
    (any case, searched recursively) or a CSV of ``path,label`` (label 1/0, PNEUMONIA/NORMAL,
    positive/negative; a header row is allowed; relative paths are relative to the CSV's folder)."""
    src = Path(source)
    if src.is_dir():
        subs = {p.name.upper(): p for p in src.iterdir() if p.is_dir()}
        if "NORMAL" not in subs or "PNEUMONIA" not in subs:
            raise SiteError(
                f"{src} needs two folders, NORMAL and PNEUMONIA, holding films whose outcome is known."
            )
        films = [LabelledFilm(str(p), False) for p in iter_image_files([subs["NORMAL"]])]
        films += [LabelledFilm(str(p), True) for p in iter_image_files([subs["PNEUMONIA"]])]
        return films
    if src.is_file():
        return _read_csv(src)
    raise SiteError(f"No such folder or CSV file: {src}")


def _read_csv(path: Path) -> list[LabelledFilm]:
    films: list[LabelledFilm] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError(f"The CSV file {path} cannot be read ({exc}).") from exc
    for i, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) < 2:
            raise SiteError(f"Line {i} of {path.name} should be: path,label")
        word = cells[1].lower()
        if word in _POSITIVE_WORDS:
            positive = True
        elif word in _NEGATIVE_WORDS:
            positive = False
        elif i == 1:
            continue  # a header row
        else:
            raise SiteError(f"Line {i} of {path.name}: label {cells[1]!r} is neither PNEUMONIA nor NORMAL.")
        p = Path(cells[0])
        films.append(LabelledFilm(str(p if p.is_absolute() else path.parent / p), positive))
    if not films:
        raise SiteError(f"{path.name} lists no films.")
    return films


# ---------------------------------------------------------------------------------------------
# Calibration


@dataclass(frozen=True)
class Calibration:
    """What a calibration found. Proportions are 0-1; intervals are two-sided 95%."""

    target: float
    threshold: float
    n_pos: int
    n_neg: int
    n_refused: int  # refused by the quality gate: not counted
    n_unreadable: int  # could not be read: not counted
    tp: int
    fn: int
    tn: int
    fp: int
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    auc: float
    auc_ci: tuple[float, float]
    prevalence: float
    prevalence_given: bool  # True: the clinic's own figure; False: the folder's share of positives
    ppv: float
    npv: float
    bound_reachable: bool
    positives_needed: int
    file_list_hash: str
    card_auc: float | None = None
    warnings: tuple[str, ...] = ()
    roc: tuple[tuple[float, float], ...] = field(default=(), repr=False)  # (1 - specificity, sensitivity)
    refused_reasons: dict[str, int] = field(default_factory=dict)
    confidence: float | None = CONFIDENCE  # of the Wilson bound; None: sample sensitivity only (no margin)

    def ppv_npv_at(self, prevalence: float) -> tuple[float, float]:
        return stats.predictive_values(self.sensitivity, self.specificity, prevalence)

    def metrics(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("roc")
        return d

    def _rule_words(self) -> str:
        if self.confidence is None:
            return "on these films (without the model card's confidence margin)"
        return f"with the model card's rule (reached with {self.confidence:.0%} confidence)"

    def report_lines(self) -> list[str]:
        """The calibration in plain words (the CLI prints these; the dialog shows them)."""
        se_lo, se_hi = self.sensitivity_ci
        sp_lo, sp_hi = self.specificity_ci
        prev = "the clinic's figure" if self.prevalence_given else "the share of pneumonia films in this set"
        lines = [
            f"Films counted: {self.n_pos + self.n_neg} ({self.n_pos} with pneumonia, {self.n_neg} normal).",
        ]
        if self.n_refused or self.n_unreadable:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.refused_reasons.items()))
            lines.append(
                f"Not counted: {_n(self.n_refused, 'film')} the quality gate refused"
                + (f" ({reasons})" if reasons else "")
                + f" and {_n(self.n_unreadable, 'unreadable file')}."
            )
        lines += [
            f"Site threshold: {self.threshold:.4f} (probability at or above it is labelled Pneumonia), "
            f"chosen for a target sensitivity of {self.target:.2f} {self._rule_words()}.",
            f"Sensitivity (pneumonia films found): {_pct(self.sensitivity)} "
            f"({self.tp} of {self.n_pos}; 95% interval {_pct(se_lo)} to {_pct(se_hi)}).",
            f"Specificity (normal films called normal): {_pct(self.specificity)} "
            f"({self.tn} of {self.n_neg}; 95% interval {_pct(sp_lo)} to {_pct(sp_hi)}).",
            f"Area under the ROC curve (AUC): {self.auc:.3f} "
            f"(95% bootstrap interval {self.auc_ci[0]:.3f} to {self.auc_ci[1]:.3f})"
            + (f"; the model card reports {self.card_auc:.3f}." if self.card_auc is not None else "."),
            f"At a prevalence of {_pct(self.prevalence)} ({prev}):",
            f"  positive predictive value (PPV): {_pct(self.ppv)} of children labelled Pneumonia have it;",
            f"  negative predictive value (NPV): {_pct(self.npv)} of children labelled Normal do not have it.",
        ]
        lines += [f"Warning: {w}" for w in self.warnings]
        return lines


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def file_list_hash(pairs: Iterable[tuple[str, bool]]) -> str:
    """sha256 of the sorted (content hash, label) pairs: the same films give the same hash wherever
    they are stored."""
    lines = sorted(f"{h}\t{int(pos)}" for h, pos in pairs)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def calibrate(
    results: Sequence[ScanResult],
    films: Sequence[LabelledFilm],
    target: float = 0.95,
    prevalence: float | None = None,
    card_auc: float | None = None,
    confidence: float | None = CONFIDENCE,
    bootstrap: int = 2000,
) -> Calibration:
    """Choose the site threshold from scanned films (``results`` matched to ``films`` by path).

    ``confidence``: of the one-sided Wilson lower bound of sensitivity (the card's rule, 0.95);
    ``None`` chooses the largest threshold whose sensitivity on these films reaches the target.
    """
    if not 0.0 < target < 1.0:
        raise SiteError("The target sensitivity must be between 0 and 1.")
    if prevalence is not None and not 0.0 < prevalence < 1.0:
        raise SiteError("The prevalence must be between 0 and 1 (e.g. 0.2 for 20%).")
    label_of = {_key(f.path): f.positive for f in films}
    y: list[int] = []
    p: list[float] = []
    hashes: list[tuple[str, bool]] = []
    refused: dict[str, int] = {}
    n_refused = n_unreadable = 0
    for r in results:
        positive = label_of.get(_key(r.path))
        if positive is None:
            continue
        if r.status == OK and r.probability is not None:
            y.append(int(positive))
            p.append(float(r.probability))
            hashes.append((r.content_hash or r.path, positive))
        elif r.status == REJECTED:
            n_refused += 1
            refused[r.reason_code or "other"] = refused.get(r.reason_code or "other", 0) + 1
        elif r.status == ERROR:
            n_unreadable += 1
    ya, pa = np.asarray(y, dtype=np.int64), np.asarray(p, dtype=np.float64)
    n_pos, n_neg = int(ya.sum()), int(ya.size - ya.sum())
    if n_pos == 0 or n_neg == 0:
        raise SiteError(
            f"Calibration needs films of both kinds; the quality gate accepted {n_pos} pneumonia and "
            f"{n_neg} normal films."
        )
    threshold = stats.threshold_for_sensitivity(ya, pa, target, confidence)
    c = stats.confusion(ya, pa, threshold)
    se, sp = c["tp"] / n_pos, c["tn"] / n_neg
    auc = stats.roc_auc(ya, pa)
    auc_ci = stats.bootstrap_auc_ci(ya, pa, n=bootstrap)
    prev = n_pos / (n_pos + n_neg) if prevalence is None else float(prevalence)
    ppv, npv = stats.predictive_values(se, sp, prev)
    reachable = stats.sensitivity_bound_reachable(n_pos, target, confidence)
    needed = stats.positives_needed(target, confidence) if confidence is not None else 1
    warnings: list[str] = []
    if not reachable:
        best = stats.wilson_lower_bound(n_pos, n_pos, confidence if confidence is not None else CONFIDENCE)
        warnings.append(
            f"{n_pos} pneumonia films cannot support a sensitivity of {target:.2f}: even with every one "
            f"found, we can only be 95% sure of {_pct(best)}. The threshold flags every pneumonia film "
            f"of this set; calibrate with at least {needed} pneumonia films."
        )
    if n_neg < MIN_NEGATIVES:
        warnings.append(
            f"Only {n_neg} normal films: specificity and the positive predictive value are uncertain "
            f"(see the interval); {MIN_NEGATIVES} or more normal films are advised."
        )
    if card_auc is not None and auc < card_auc - AUC_DROP_WARNING:
        warnings.append(
            f"The AUC on these films ({auc:.3f}) is far below the model card's ({card_auc:.3f}): these "
            "films may differ too much from the model's training films (other machines, ages or views) "
            "for this model to be reliable here, whatever the threshold."
        )
    fpr, tpr, _ = stats.roc_curve(ya, pa)
    keep = np.unique(np.linspace(0, fpr.size - 1, min(fpr.size, ROC_POINTS)).round().astype(int))
    return Calibration(
        target=float(target),
        threshold=float(threshold),
        n_pos=n_pos,
        n_neg=n_neg,
        n_refused=n_refused,
        n_unreadable=n_unreadable,
        tp=c["tp"],
        fn=c["fn"],
        tn=c["tn"],
        fp=c["fp"],
        sensitivity=se,
        sensitivity_ci=stats.wilson_interval(c["tp"], n_pos),
        specificity=sp,
        specificity_ci=stats.wilson_interval(c["tn"], n_neg),
        auc=float(auc),
        auc_ci=(float(auc_ci[0]), float(auc_ci[1])),
        prevalence=prev,
        prevalence_given=prevalence is not None,
        ppv=ppv,
        npv=npv,
        bound_reachable=reachable,
        positives_needed=needed,
        file_list_hash=file_list_hash(hashes),
        card_auc=card_auc,
        warnings=tuple(warnings),
        roc=tuple((float(fpr[i]), float(tpr[i])) for i in keep),
        refused_reasons=refused,
        confidence=confidence,
    )


def _key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def card_auc(card_raw: dict[str, Any]) -> float | None:
    """The validation AUC the model card reports, if any."""
    try:
        return float(card_raw["metrics"]["val"]["roc_auc"])
    except (KeyError, TypeError, ValueError):
        return None


def scan_films(
    scanner,  # core.scan.Scanner
    films: Sequence[LabelledFilm],
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ScanResult] | None:
    """Scan the films through the scanner (and so its results store: a rerun is a lookup).
    ``None`` when cancelled. Call from the thread that owns the model."""
    results: list[ScanResult] = []
    total = len(films)
    if progress is not None:
        progress(0, total)
    for batch, prog in scanner.scan([f.path for f in films], cancel):
        results.extend(batch)
        if progress is not None:
            progress(prog.done, prog.total)
    if cancel is not None and cancel.is_set() and len(results) < total:
        return None
    return results
