"""Every user-facing phrase and format, in one place (Qt-free: the table, the viewer, the report and
``pneumo-scan`` all use it, so a number reads the same everywhere).

Probabilities are always named: "pneumonia probability 93.4 %", never a bare number, and never
"0.0 %" or "100.0 %", which would claim a certainty no model has. Plain text only: callers that
draw rich text escape it themselves (``html.escape``), so "< 0.1 %" is never swallowed as a tag.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

DISCLAIMER = "Decision support only, not a diagnostic device."
#: The disclaimer in a DICOM result (SR comment): nobody verified it before it was sent.
DISCLAIMER_DICOM = (
    f"{DISCLAIMER} The result is a screening aid for a clinician, who decides; it was not verified by a person."
)
#: Burned into a Secondary Capture's pixels (ASCII: any font draws it).
DISCLAIMER_BURNED_IN = "DECISION SUPPORT ONLY - not a diagnosis"
DISCLAIMER_DETAIL = (
    "Every result must be reviewed by a qualified clinician together with the clinical picture. "
    "The model was trained on pediatric anterior-posterior chest X-rays; results on other images "
    "may be unreliable."
)
DATASET_LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
DATASET_CREDIT = (
    "Kermany DS, Zhang K, Goldbaum M. Labeled Optical Coherence Tomography (OCT) and Chest X-Ray Images "
    "for Classification. Mendeley Data, v2, 2018, doi:10.17632/rscbjbr9sj.2 — CC BY 4.0 "
    f"({DATASET_LICENCE_URL})"
)
DATASET_NOTE = (
    "The bundled model was trained on a modified copy of this data set (downsized, re-encoded as "
    "grayscale and re-split); its authors do not endorse Pneumo Desktop."
)
NOT_RECORDED = "Not recorded"
DASH = "–"

#: What a probability means, in plain words (viewer, report).
PROBABILITY_MEANING = (
    "The model's estimate that this film shows pneumonia. At or above the threshold the film is "
    "labelled Pneumonia; below it, Normal. It is not a diagnosis: a clinician decides."
)
#: One line under every heatmap, in the viewer and in the report (only judged films get one).
HEATMAP_CAVEAT = (
    "Heatmap: where the model's features raised its pneumonia score, coarse (10 x 10 regions); "
    "not a lesion outline, and it can highlight the heart and spine rather than the lungs."
)
#: The colour legend's title and its two ends (viewer and report).
HEATMAP_LEGEND_TITLE = "Influence on the pneumonia score"
HEATMAP_LEGEND = ("less", "most")


#: The device and precision choices (``core.model.DEVICES`` / ``PRECISIONS``), in words.
DEVICE_WORDS = {"auto": "Auto (GPU when available)", "cpu": "CPU", "gpu": "GPU"}
PRECISION_WORDS = {
    "auto": "Auto (bfloat16 where the processor has it and it matches float32)",
    "float32": "float32 (exact reference)",
    "bfloat16": "bfloat16 (fast on CPUs with AMX or AVX-512 BF16)",
}


# ---------------------------------------------------------------------------------------------
# Numbers


def format_percent(p: float | None) -> str:
    """A probability in [0, 1] as a percent with one decimal; "< 0.1 %" and "> 99.9 %" at the ends."""
    if p is None:
        return DASH
    p = float(p)
    if p >= 0.9995:
        return "> 99.9 %"
    if p < 0.0005:
        return "< 0.1 %"
    return f"{p * 100:.1f} %"


def probability_phrase(p: float | None, capital: bool = False) -> str:
    """ "pneumonia probability 93.4 %" (or "no pneumonia probability" when there is none)."""
    text = "no pneumonia probability" if p is None else f"pneumonia probability {format_percent(p)}"
    return text[:1].upper() + text[1:] if capital else text


def format_threshold(t: float | None) -> str:
    return DASH if t is None else f"{float(t) * 100:.1f} %"


class ThresholdError(ValueError):
    """A threshold the user typed that is not a probability."""


_THRESHOLD_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


def parse_threshold(text: str) -> float:
    """ "0.8", "80%" or "80 %" -> 0.8. A bare number above 1 is refused (did "80" mean 80 %?)."""
    m = _THRESHOLD_RE.match(str(text))
    if not m:
        raise ThresholdError(f"{text!r} is not a threshold: write 0.8 or 80%")
    value = float(m.group(1))
    if m.group(2):
        value /= 100.0
    elif value > 1.0:
        raise ThresholdError(f"{text!r} is not between 0 and 1: write 0.8 or 80%")
    if not 0.0 <= value <= 1.0:
        raise ThresholdError(f"{text!r} is out of range: the threshold must be between 0 % and 100 %")
    return value


@dataclass(frozen=True)
class ThresholdInForce:
    value: float
    source: str  # plain words: "model card", "set at this site", "--threshold"


def threshold_in_force(
    result_threshold: float | None, card_threshold: float | None, override: str = "set at this site"
) -> ThresholdInForce | None:
    """The threshold a result was labelled with and where it comes from.

    The one place that decides the source; a site calibration profile plugs in here.
    """
    if result_threshold is None:
        if card_threshold is None:
            return None
        return ThresholdInForce(float(card_threshold), "model card")
    # The app keeps thresholds to 0.01 % (4 decimals): a card's 0.78491 is the same operating point.
    if card_threshold is not None and abs(float(result_threshold) - float(card_threshold)) < 5e-5:
        return ThresholdInForce(float(result_threshold), "model card")
    return ThresholdInForce(float(result_threshold), override)


def threshold_value(t: ThresholdInForce | None) -> str:
    """ "52.3 % (model card)"."""
    return "not known" if t is None else f"{format_threshold(t.value)} ({t.source})"


def threshold_text(t: ThresholdInForce | None) -> str:
    """ "threshold 52.3 % (model card)"."""
    if t is None:
        return "threshold not known"
    return f"threshold {format_threshold(t.value)} ({t.source})"


# ---------------------------------------------------------------------------------------------
# Dates, names, ages


def format_date(value: str | None) -> str:
    """DICOM dates (YYYYMMDD, or YYYY.MM.DD) as YYYY-MM-DD; anything else as is."""
    value = (value or "").strip()
    digits = value.replace(".", "")
    if len(digits) == 8 and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    return value or DASH


def format_datetime(ts: float | _dt.datetime) -> str:
    when = ts if isinstance(ts, _dt.datetime) else _dt.datetime.fromtimestamp(ts).astimezone()
    return f"{when:%Y-%m-%d %H:%M}"


def format_person_name(value: str | None) -> str:
    """DICOM person names (Family^Given^Middle, with = between representations) as plain words."""
    return " ".join(part for part in (value or "").replace("=", "^").split("^") if part.strip())


_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_UNITS = {"D": ("day", "days"), "W": ("week", "weeks"), "M": ("month", "months"), "Y": ("year", "years")}


def _parse_dicom_date(value: str | None) -> _dt.date | None:
    digits = (value or "").strip().replace(".", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        day = _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
    return None if day <= _dt.date(1900, 1, 1) else day  # 19000101: a placeholder, not a birthday


def format_age(age: str | None, birth_date: str | None = None, study_date: str | None = None) -> str:
    """A DICOM age (``003Y``, ``018M``, ``81``) in words; else from the birth and study dates.

    Unknown is an answer: "Not recorded". A number without a unit is shown as recorded.
    """
    m = _AGE_RE.match(age or "")
    if m:
        n, unit = int(m.group(1)), m.group(2).upper()
        if not unit:
            return f"{n} (unit not recorded)"
        if n == 0:
            return f"under 1 {_UNITS[unit][0]}"
        one, many = _UNITS[unit]
        return f"{n} {one if n == 1 else many}"
    born, studied = _parse_dicom_date(birth_date), _parse_dicom_date(study_date)
    if born is not None and studied is not None and born <= studied:
        months = (studied.year - born.year) * 12 + studied.month - born.month - (studied.day < born.day)
        if months < 24:
            return f"{months} {'month' if months == 1 else 'months'} (from the birth date)"
        return f"{months // 12} years (from the birth date)"
    return NOT_RECORDED


# ---------------------------------------------------------------------------------------------
# Results


def reason_text(message: str | None, label: str = "") -> str:
    """Why a file was refused or could not be read, as a sentence."""
    message = (message or "").strip()
    if message:
        return message
    if label == "Unreadable":
        return "The file could not be read."
    if label == "Needs review":
        return "The image did not pass the quality check."
    return ""


def result_headline(label: str, probability: float | None, judged: bool) -> str:
    """The viewer's first line: "Pneumonia · pneumonia probability 93.4 %" (plain text).

    Refused films show no probability here: it is not a judgement of that film.
    """
    if not judged or probability is None:
        return label
    return f"{label} · {probability_phrase(probability)}"


def cli_line(name: str, label: str, probability: float | None, judged: bool, reason: str) -> str:
    """One line per file for ``pneumo-scan``: file, label, pneumonia probability or reason."""
    detail = probability_phrase(probability) if judged and probability is not None else reason
    return f"{name}  {label}" + (f"  {detail}" if detail else "")


def format_eta(seconds: float | None) -> str:
    """Time left in words, for a progress line ("" when unknown)."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "almost done"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min left"
    return f"about {seconds / 3600:.1f} h left"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# ---------------------------------------------------------------------------------------------
# Reviews

AGREE, DISAGREE = "agree", "disagree"
REVIEW_CALLS = ("Pneumonia", "Normal", "Cannot tell")


def review_status(decision: str | None, reviewer: str = "", call: str = "", when: float | None = None) -> str:
    """ "Not yet reviewed" / "Agreed (J. Smith, 2026-12-02 14:03)" / "Disagreed: Normal (...)"."""
    if not decision:
        return "Not yet reviewed"
    who = ", ".join(v for v in (reviewer, format_datetime(when) if when else "") if v)
    tail = f" ({who})" if who else ""
    if decision == AGREE:
        return f"Agreed{tail}"
    return f"Disagreed: {call or 'no call given'}{tail}"


# ---------------------------------------------------------------------------------------------
# About, in plain words (from the model card: numbers are read, never written here)


def _pct0(v: object) -> str:
    return f"{float(v) * 100:.0f} %" if isinstance(v, int | float) else "?"


def _section(data: dict, key: str) -> dict:
    """``data[key]`` when it is a mapping, else an empty one (cards are read defensively)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def plain_words(card: dict, threshold: float | None) -> list[tuple[str, str]]:
    """(title, paragraph) pairs for a clinician: what it does, what it learned from, how accurate
    on which films, what it refuses. Only what the card states."""
    out: list[tuple[str, str]] = []
    t = f" ({format_threshold(threshold)})" if threshold is not None else ""
    out.append(
        (
            "What it does",
            "Pneumo Desktop looks at a chest X-ray and estimates how likely it is that the film shows "
            f"pneumonia: the pneumonia probability. At or above the threshold{t} the film is labelled "
            "Pneumonia, below it Normal. It is a second pair of eyes, not a diagnosis: a clinician decides, "
            "with the patient in front of them.",
        )
    )
    limitations = (
        [str(v) for v in card.get("limitations", []) if v]
        if isinstance(card.get("limitations"), list)
        else []
    )
    training = _section(card, "training")
    counts = _section(training, "train_count")
    data = ""
    if counts:
        pos, neg = int(counts.get("PNEUMONIA", 0)), int(counts.get("NORMAL", 0))
        data = f"It learned from {pos + neg:,} chest X-rays ({pos:,} with pneumonia, {neg:,} without). "
    if limitations:
        data += limitations[0]
    if data:
        out.append(("What it learned from", data))
    val = _section(_section(card, "metrics"), "val") or None
    if val and all(k in val for k in ("n", "n_pos", "n_neg", "sensitivity", "specificity")):
        found = f" ({val['tp']} of {val['n_pos']})" if "tp" in val else ""
        normal = f" ({val['tn']} of {val['n_neg']})" if "tn" in val else ""
        accuracy = (
            f"On {val['n']} films it never saw while learning ({val['n_pos']} with pneumonia, "
            f"{val['n_neg']} without), from the same hospital, it found {_pct0(val['sensitivity'])} of the "
            f"pneumonias{found} and called {_pct0(val['specificity'])} of the normal films normal{normal}."
        )
        if len(limitations) > 2:
            accuracy += " " + limitations[2]
        out.append(("How accurate, on which films", accuracy))
    refuses = (
        "It does not judge films it was not made for, and marks them Needs review with the reason: "
        "films that are not frontal chest X-rays (lateral views, other body parts, CT or MR images), "
        "colour photographs, and images that look unlike the films it learned from. Files it cannot "
        "read at all are marked Unreadable."
    )
    if len(limitations) > 1:
        refuses += " " + limitations[1]
    out.append(("What it refuses", refuses))
    return out
