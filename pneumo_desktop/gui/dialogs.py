"""Preferences, export options and the About box."""

from __future__ import annotations

import html
import sys
from typing import Any

from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core.card import ModelInfo
from ..core.model import DEVICES, PRECISIONS
from ..core.wording import (
    DASH,
    DATASET_CREDIT,
    DATASET_LICENCE_URL,
    DATASET_NOTE,
    DEVICE_WORDS,
    DISCLAIMER,
    PRECISION_WORDS,
    format_threshold,
)

LICENCES = (
    ("Pneumo Desktop", "MIT"),
    ("Qt / PySide6", "LGPL-3.0"),
    ("TensorFlow, Keras", "Apache-2.0"),
    ("pydicom, pylibjpeg, pylibjpeg-openjpeg, pyjpegls", "MIT"),
    ("python-gdcm", "BSD"),
    ("pynetdicom, highdicom", "MIT"),
    ("NumPy", "BSD"),
    ("Pillow", "MIT-CMU"),
)
#: What the quality gate refuses, in plain words (pneumo_desktop.core.quality; measured in docs/gate.md).
REFUSALS = (
    "The model was trained and validated on frontal chest X-rays of children aged 1 to 5. It only "
    "gives a result for images like those; anything else is marked Needs review, with the reason:",
    (
        "films of adults (age 18 or over, from the DICOM header); older children (6-17) are judged "
        "with a warning, and for PNG/JPEG files, which carry no age, the result says so",
        "lateral views, other body parts and other kinds of scan (CT, MRI, ultrasound, mammography...)",
        "films that are rotated, upside down, inverted (a negative) or cropped so that the lungs are "
        "not fully in view (checked by a small network trained for this)",
        "images that are not radiographs: photographs, screenshots, documents, drawings, patterns, "
        "colour images, blank or tiny images",
        "images that do not look like the films the model was trained on",
    ),
)
DEVICE_CHOICES = tuple((d, DEVICE_WORDS[d]) for d in DEVICES)
PRECISION_CHOICES = tuple((p, PRECISION_WORDS[p]) for p in PRECISIONS)


def threshold_spin(parent: QWidget | None = None) -> QDoubleSpinBox:
    """The one way the app edits a threshold: a percentage with one decimal."""
    spin = QDoubleSpinBox(parent)
    spin.setRange(0.1, 99.9)
    spin.setDecimals(1)
    spin.setSingleStep(0.5)
    spin.setSuffix(" %")
    spin.setKeyboardTracking(False)
    spin.setAccelerated(True)
    return spin


class PreferencesDialog(QDialog):
    def __init__(
        self,
        device: str,
        threshold: float,
        default_threshold: float | None,
        current_device: str = "",
        parent: QWidget | None = None,
        precision: str = "auto",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(460)
        self._default = default_threshold

        model_box = QGroupBox("Model", self)
        form = QFormLayout(model_box)
        self.device_combo = QComboBox(model_box)
        for key, text in DEVICE_CHOICES:
            self.device_combo.addItem(text, key)
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(device)))
        form.addRow("Run the model on", self.device_combo)
        self.precision_combo = QComboBox(model_box)
        for key, text in PRECISION_CHOICES:
            self.precision_combo.addItem(text, key)
        self.precision_combo.setCurrentIndex(max(0, self.precision_combo.findData(precision)))
        form.addRow("Precision", self.precision_combo)
        now = QLabel(
            f"In use now: {current_device}" if current_device else "The model is not loaded.", model_box
        )
        now.setStyleSheet("color: palette(mid);")
        form.addRow("", now)

        threshold_box = QGroupBox("Operating point", self)
        tform = QFormLayout(threshold_box)
        row = QHBoxLayout()
        self.threshold_spin = threshold_spin(threshold_box)
        self.threshold_spin.setValue(threshold * 100)
        self.reset_button = QPushButton(
            "Reset to default"
            + (f" ({format_threshold(default_threshold)})" if default_threshold is not None else ""),
            threshold_box,
        )
        self.reset_button.setEnabled(default_threshold is not None)
        self.reset_button.clicked.connect(self.reset_threshold)
        row.addWidget(self.threshold_spin)
        row.addWidget(self.reset_button)
        row.addStretch(1)
        tform.addRow("Threshold", row)
        help_text = QLabel(
            "Images whose pneumonia probability is at or above the threshold are labelled Pneumonia. A lower "
            "threshold finds more pneumonia but raises more false alarms. Changing it relabels the "
            "results at once; the model is not run again.",
            threshold_box,
        )
        help_text.setWordWrap(True)
        tform.addRow(help_text)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addWidget(threshold_box)
        layout.addStretch(1)
        layout.addWidget(buttons)

    def reset_threshold(self) -> None:
        if self._default is not None:
            self.threshold_spin.setValue(self._default * 100)

    def device(self) -> str:
        return str(self.device_combo.currentData())

    def precision(self) -> str:
        return str(self.precision_combo.currentData())

    def threshold(self) -> float:
        return round(self.threshold_spin.value() / 100, 4)


class ExportDialog(QDialog):
    """Which rows to export and whether patient names go with them."""

    def __init__(self, kind: str, total: int, shown: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export PDF report" if kind == "pdf" else "Export CSV")
        self.setMinimumWidth(400)
        layout = QVBoxLayout(self)
        if kind == "pdf":
            intro = QLabel(
                "A summary page, then every file (three to a page) with its result, review status and a "
                "line for the reviewer's signature. Saved in your documents folder by default.",
                self,
            )
            intro.setWordWrap(True)
            layout.addWidget(intro)
        self.all_rows = QRadioButton(f"All results ({total})", self)
        self.shown_rows = QRadioButton(f"Only the results shown by the current filter ({shown})", self)
        group = QButtonGroup(self)
        group.addButton(self.all_rows)
        group.addButton(self.shown_rows)
        self.all_rows.setChecked(True)
        self.shown_rows.setEnabled(shown != total)
        layout.addWidget(self.all_rows)
        layout.addWidget(self.shown_rows)
        layout.addSpacing(8)
        self.patient_box = QCheckBox(
            "Include patient names (patient IDs, ages and study dates are always printed)"
            if kind == "pdf"
            else "Include patient names and IDs",
            self,
        )
        self.patient_box.setToolTip(
            "Off by default: the export can then be shared without identifying anyone."
        )
        layout.addWidget(self.patient_box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Choose file…")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @property
    def only_shown(self) -> bool:
        return self.shown_rows.isChecked()

    @property
    def include_patient(self) -> bool:
        return self.patient_box.isChecked()


# ---------------------------------------------------------------------------------------------
# About


def _h(value: Any) -> str:
    return html.escape(str(value))


def _value_html(value: Any, depth: int = 0) -> str:
    if isinstance(value, dict):
        if depth >= 2:
            return _h(", ".join(f"{k}: {v}" for k, v in value.items()))
        rows = "".join(
            f"<tr><td style='padding-right:10px;color:#5b6168'>{_h(_pretty_key(k))}</td>"
            f"<td>{_value_html(v, depth + 1)}</td></tr>"
            for k, v in value.items()
        )
        return f"<table cellspacing='0' cellpadding='1'>{rows}</table>"
    if isinstance(value, list | tuple):
        if all(not isinstance(v, dict | list | tuple) for v in value):
            return _h(", ".join(_plain(v) for v in value))
        return (
            "<ul style='margin:0'>"
            + "".join(f"<li>{_value_html(v, depth + 1)}</li>" for v in value)
            + "</ul>"
        )
    return _h(_plain(value))


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _pretty_key(key: Any) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _pct(value: Any) -> str:
    return format_threshold(float(value)) if isinstance(value, int | float) else DASH  # a rate, one decimal


def _section(title: str, body: str) -> str:
    return f"<p style='margin-bottom:2px'><b>{_h(title)}</b></p>{body}"


def _metrics_html(m: dict[str, Any]) -> str:
    """Validation metrics as a clinician reads them (whatever of them the card has)."""
    rows: list[tuple[str, str]] = []
    if "n" in m:
        split = f" ({m['n_pos']} pneumonia, {m['n_neg']} normal)" if "n_pos" in m and "n_neg" in m else ""
        rows.append(("Images", f"{m['n']}{split}"))
    for key, title in (
        ("sensitivity", "Sensitivity"),
        ("specificity", "Specificity"),
        ("ppv", "PPV"),
        ("npv", "NPV"),
        ("accuracy", "Accuracy"),
    ):
        if key in m:
            rows.append((title, _pct(m[key])))
    if "roc_auc" in m:
        auc = _plain(m["roc_auc"])
        ci = m.get("roc_auc_ci")
        if isinstance(ci, list | tuple) and len(ci) == 2 and all(isinstance(v, int | float) for v in ci):
            auc += f" (95% CI {_plain(ci[0])}–{_plain(ci[1])})"
        rows.append(("ROC AUC", auc))
    if "threshold" in m:
        rows.append(("At threshold", _pct(m["threshold"])))
    if not rows:
        return _value_html(m)
    return (
        "<table cellspacing='0' cellpadding='1'>"
        + "".join(
            f"<tr><td style='padding-right:12px;color:#5b6168'>{_h(k)}</td><td>{_h(v)}</td></tr>"
            for k, v in rows
        )
        + "</table>"
    )


def model_card_html(info: ModelInfo | None) -> str:
    """The model card's summary: intended use, limitations, validation, training data (what exists)."""
    if info is None:
        return "<p>The model is not loaded yet.</p>"
    card = info.card
    created = str(card.get("created", ""))[:10]
    parts = [
        f"<p><b>{_h(info.title)}</b>{' (' + _h(created) + ')' if created else ''} on {_h(info.device_name)} · "
        f"default threshold {_h(format_threshold(info.threshold))}</p>"
    ]
    if card.get("intended_use"):
        parts.append(_section("Intended use", f"<p>{_value_html(card['intended_use'])}</p>"))
    limitations = card.get("limitations")
    if isinstance(limitations, list) and limitations:
        items = "".join(f"<li>{_h(v)}</li>" for v in limitations)
        parts.append(_section("Limitations", f"<ul style='margin-top:0'>{items}</ul>"))
    elif limitations:
        parts.append(_section("Limitations", f"<p>{_value_html(limitations)}</p>"))
    metrics = card.get("metrics") or card.get("validation_metrics")
    if isinstance(metrics, dict) and metrics:
        val = metrics.get("val", metrics.get("validation"))
        body = _metrics_html(val) if isinstance(val, dict) else _value_html(metrics)
        for note in (metrics.get("note"), card.get("threshold_rule_history")):
            if isinstance(note, str):
                body += f"<p style='color:#5b6168'>{_h(note)}</p>"
        parts.append(_section("Validation", body))
    training = card.get("training") or card.get("training_data")
    if isinstance(training, dict):
        keep = {
            k: training[k]
            for k in ("data", "train_count", "tune_count", "val_count", "epochs")
            if k in training
        }
        parts.append(_section("Training", _value_html(keep or training)))
    elif training:
        parts.append(_section("Training", f"<p>{_value_html(training)}</p>"))
    for key, title in (
        ("threshold_rule", "Threshold"),
        ("architecture", "Architecture"),
        ("weights_init", "Initial weights"),
    ):
        if card.get(key):
            parts.append(_section(title, f"<p>{_value_html(card[key])}</p>"))
    calibration = card.get("calibration")
    if isinstance(calibration, dict) and calibration.get("method"):
        parts.append(_section("Calibration", f"<p>{_h(calibration['method'])}</p>"))
    if len(parts) == 1:
        parts.append("<p>The model card has no further description.</p>")
    return "".join(parts)


def plain_words_html(info: ModelInfo | None) -> str:
    """The About box's first part: plain words for a clinician (core.wording.plain_words)."""
    from ..core.wording import plain_words

    card = info.card if info is not None else {}
    threshold = info.threshold if info is not None else None
    return "<h2>In plain words</h2>" + "".join(
        f"<p><b>{_h(title)}.</b> {_h(text)}</p>" for title, text in plain_words(card, threshold)
    )


def calibration_html() -> str:
    from ..core.site import CALIBRATION_ADVICE

    return "".join(f"<p>{_h(par)}</p>" for par in CALIBRATION_ADVICE.split("\n\n"))


def about_html(info: ModelInfo | None) -> str:
    licences = "".join(
        f"<tr><td style='padding-right:12px'>{_h(a)}</td><td>{_h(b)}</td></tr>" for a, b in LICENCES
    )
    url = _h(DATASET_LICENCE_URL)
    credit = _h(DATASET_CREDIT).replace(url, f"<a href='{url}'>{url}</a>")
    return f"""
<h2 style='margin-bottom:0'>Pneumo Desktop {_h(__version__)}</h2>
<p style='margin-top:2px'>Offline screening of pediatric chest X-rays for pneumonia.</p>
<p style='background:#fff6e5;border:1px solid #c77c0e;padding:6px'><b>{_h(DISCLAIMER)}</b>
Every result must be reviewed by a qualified clinician.</p>
{plain_words_html(info)}
<h3>What it refuses, and why</h3>
<p>{_h(REFUSALS[0])}</p>
<ul style='margin-top:0'>{"".join(f"<li>{_h(v)}</li>" for v in REFUSALS[1])}</ul>
<h2>Technical details</h2>
<h3>Model</h3>
{model_card_html(info)}
<h3>Site calibration</h3>
{calibration_html()}
<h3>Training data</h3>
<p>{credit}</p>
<p>{_h(DATASET_NOTE)}</p>
<h3>Licences</h3>
<table cellspacing='0' cellpadding='1'>{licences}</table>
<p style='color:#5b6168'>Python {_h(sys.version.split()[0])} · Qt {_h(qVersion())} · PySide6 {_h(PYSIDE_VERSION)}</p>
"""


class AboutDialog(QDialog):
    def __init__(self, info: ModelInfo | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Pneumo Desktop")
        self.resize(620, 640)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(about_html(info))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.browser.setFocus(Qt.FocusReason.OtherFocusReason)
