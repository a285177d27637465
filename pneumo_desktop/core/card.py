"""The model card: everything the app needs to know about a model travels in ``model_card.json``.

Labels, input size, preprocessing, threshold and calibration are read from here, never
hard-coded. See ``resources/model/model_card.json`` for the shipped model's card.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .preprocess import PreprocessSpec

CARD_NAME = "model_card.json"


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    model_file: str  # relative to the card's folder
    sha256: str
    preprocessing: PreprocessSpec
    labels: tuple[str, str] = ("NORMAL", "PNEUMONIA")  # index 1 is the positive class
    threshold: float = 0.5  # on the calibrated probability
    temperature: float = 1.0  # calibrated p = sigmoid(logit(p_raw) / temperature)
    gradcam_layer: str = "block5_conv4"
    ood: dict[str, Any] | None = None  # out-of-distribution reference (file, layer, threshold)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole card
    folder: Path = Path(".")

    @property
    def model_path(self) -> Path:
        return self.folder / self.model_file

    @property
    def positive_label(self) -> str:
        return self.labels[1]

    @classmethod
    def load(cls, folder: str | Path) -> ModelCard:
        folder = Path(folder)
        path = folder / CARD_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelError(f"No model card found in {folder}.") from exc
        except (OSError, ValueError) as exc:
            raise ModelError(f"The model card {path} cannot be read: {exc}") from exc
        try:
            return cls(
                name=str(data["name"]),
                version=str(data["version"]),
                model_file=str(data["model_file"]),
                sha256=str(data["sha256"]).lower(),
                preprocessing=PreprocessSpec.from_dict(data["preprocessing"]),
                labels=tuple(data.get("labels", ("NORMAL", "PNEUMONIA"))),
                threshold=float(data.get("threshold", 0.5)),
                temperature=float(data.get("temperature", 1.0)),
                gradcam_layer=str(data.get("gradcam_layer", "block5_conv4")),
                ood=data.get("ood"),
                raw=data,
                folder=folder,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"The model card {path} is incomplete or invalid ({exc}).") from exc

    def verify(self) -> None:
        """Raise :class:`ModelError` unless the model file exists and matches the card's sha256, and
        the whole folder matches the card's manifest (:mod:`.integrity`)."""
        path = self.model_path
        if not path.is_file():
            raise ModelError(f"The model file {path.name} is missing from {self.folder}.")
        from .integrity import sha256_of, verify_manifest

        actual = sha256_of(path)
        if actual != self.sha256:
            raise ModelError(
                f"The model file {path.name} does not match its model card (sha256 {actual[:12]}... "
                f"instead of {self.sha256[:12]}...). It may be damaged or replaced; reinstall the app."
            )
        verify_manifest(self.folder, self.raw)  # every other file it uses, and the card's own fields


@dataclass(frozen=True)
class ModelInfo:
    """What a face (the window, the About box, a report) shows of the loaded model: its card's
    facts plus where it runs. Built from the card (:meth:`from_card`), never kept beside it."""

    name: str
    version: str
    device_name: str
    threshold: float  # the model card's operating point
    sha256: str
    heatmaps: bool  # the model gives a class activation map with each prediction
    card: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole card (ModelCard.raw)
    folder: str = ""

    @classmethod
    def from_card(cls, card: ModelCard, device_name: str, heatmaps: bool) -> ModelInfo:
        return cls(
            name=card.name,
            version=card.version,
            device_name=device_name,
            threshold=card.threshold,
            sha256=card.sha256,
            heatmaps=heatmaps,
            card=dict(card.raw),
            folder=str(card.folder),
        )

    @property
    def title(self) -> str:
        return f"{self.name} {self.version}"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_card(folder: str | Path, data: dict[str, Any]) -> Path:
    path = Path(folder) / CARD_NAME
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
